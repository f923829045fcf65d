use smmap::MappedRecord;

#[derive(MappedRecord)]
#[repr(C)]
struct Header {
    #[mapped(magic = b"PACK!")]
    magic: [u8; 4],
}

fn main() {}
