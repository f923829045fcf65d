use smmap::MappedRecord;

#[derive(MappedRecord)]
#[repr(C)]
struct Header {
    check: u8,
    as_bytes: [u8; 2],
}

fn main() {}
