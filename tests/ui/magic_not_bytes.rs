use smmap::MappedRecord;

#[derive(MappedRecord)]
#[repr(C)]
struct Header {
    #[mapped(magic = "PACK")]
    magic: [u8; 4],
}

fn main() {}
