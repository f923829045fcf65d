use smmap::MappedRecord;

#[derive(MappedRecord)]
#[repr(C)]
#[mapped(endian = "big")]
struct Header {
    #[mapped(default = 0)]
    version: u8,
}

fn main() {}
