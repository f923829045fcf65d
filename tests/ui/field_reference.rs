use smmap::MappedRecord;

#[derive(MappedRecord)]
#[repr(C)]
struct Node {
    next: &'static [u8; 4],
}

fn main() {}
