use smmap::MappedRecord;

type Len = u32;

#[derive(MappedRecord)]
#[repr(C)]
struct Header {
    tag: u8,
    len: Len,
}

fn main() {}
