use smmap::MappedRecord;

#[derive(MappedRecord)]
#[repr(C)]
struct Wrapper<T> {
    tag: u8,
    value: T,
}

fn main() {
    let bytes = [0u8; 5];
    let _ = Wrapper::<u32>::ref_from_bytes(&bytes);
}
