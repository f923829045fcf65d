use smmap::MappedRecord;

#[derive(MappedRecord)]
#[repr(C)]
struct Name {
    tag: u8,
    bytes: [u8],
}

#[derive(MappedRecord)]
#[repr(C)]
struct Text {
    tag: u8,
    text: str,
}

fn main() {}
