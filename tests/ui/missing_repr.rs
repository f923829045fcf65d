use smmap::MappedRecord;
use smmap::byteorder::{BigEndian, U32};

#[derive(MappedRecord)]
struct Header {
    version: U32<BigEndian>,
}

fn main() {}
