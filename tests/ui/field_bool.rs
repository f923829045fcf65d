use smmap::MappedRecord;

#[derive(MappedRecord)]
#[repr(C)]
struct Flags {
    deleted: bool,
}

fn main() {}
