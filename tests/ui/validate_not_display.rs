use smmap::MappedRecord;

struct NotDisplay;

fn check_version(_: &Header) -> Result<(), NotDisplay> {
    Ok(())
}

#[derive(MappedRecord)]
#[repr(C)]
#[mapped(validate = check_version)]
struct Header {
    version: u8,
}

fn main() {}
