use smmap::MappedRecord;

fn ok(_: &Header) -> Result<(), String> {
    Ok(())
}

#[derive(MappedRecord)]
#[repr(C)]
#[mapped(magic = b"AB")]
struct Header {
    magic: [u8; 2],
    #[mapped(validate = ok)]
    version: u8,
}

fn main() {}
