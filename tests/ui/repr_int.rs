use smmap::MappedRecord;

#[derive(MappedRecord)]
#[repr(u8)]
struct Header {
    version: u8,
}

fn main() {}
