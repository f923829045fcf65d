use smmap::MappedRecord;

#[derive(MappedRecord)]
#[repr(C)]
struct Empty {}

#[derive(MappedRecord)]
#[repr(C)]
struct EmptyTuple();

fn main() {}
