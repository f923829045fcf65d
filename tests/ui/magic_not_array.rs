use smmap::MappedRecord;
use smmap::byteorder::{BigEndian, U32};

#[derive(MappedRecord)]
#[repr(C)]
struct Header {
    #[mapped(magic = b"\xfftOc")]
    magic: U32<BigEndian>,
    #[mapped(magic = b"ab")]
    pair: [i8; 2],
}

fn main() {}
