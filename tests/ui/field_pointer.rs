use smmap::MappedRecord;

#[derive(MappedRecord)]
#[repr(C)]
struct Node {
    next: *const u8,
}

fn main() {}
