use smmap::MappedRecord;

#[derive(MappedRecord)]
#[repr(Rust)]
struct Header {
    version: u8,
}

fn main() {}
