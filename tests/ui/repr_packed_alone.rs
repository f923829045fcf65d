use smmap::MappedRecord;

#[derive(MappedRecord)]
#[repr(packed)]
struct Header {
    version: u8,
    flags: u8,
}

fn main() {}
