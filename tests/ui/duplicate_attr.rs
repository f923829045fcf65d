use smmap::MappedRecord;

fn ok(_: &Header) -> Result<(), String> {
    Ok(())
}

#[derive(MappedRecord)]
#[repr(C)]
#[mapped(validate = ok, crate = smmap)]
#[mapped(validate = ok)]
#[mapped(crate = "smmap")]
struct Header {
    #[mapped(magic = b"AB", magic = b"AB")]
    magic: [u8; 2],
}

fn main() {}
