use smmap::MappedRecord;

fn takes_value(_: Header) -> Result<(), String> {
    Ok(())
}

#[derive(MappedRecord)]
#[repr(C)]
#[mapped(validate = takes_value)]
struct Header {
    version: u8,
}

fn main() {}
