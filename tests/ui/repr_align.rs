use smmap::MappedRecord;

#[derive(MappedRecord)]
#[repr(C, align(8))]
struct Header {
    version: u8,
}

fn main() {}
