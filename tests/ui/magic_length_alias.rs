use smmap::MappedRecord;

type Magic = [u8; 4];

#[derive(MappedRecord)]
#[repr(C)]
struct Header {
    #[mapped(magic = b"PACK!")]
    magic: Magic,
}

fn main() {}
