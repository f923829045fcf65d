use smmap::MappedRecord;

#[derive(MappedRecord)]
#[repr(C)]
struct Marker;

fn main() {}
