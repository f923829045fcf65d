use smmap::MappedRecord;

struct Plain {
    x: u8,
}

#[derive(MappedRecord)]
#[repr(C)]
struct Header {
    tag: u8,
    inner: Plain,
}

fn main() {}
