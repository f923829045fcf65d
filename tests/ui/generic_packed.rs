use smmap::MappedRecord;

#[derive(MappedRecord)]
#[repr(C, packed)]
struct Wrapper<T> {
    tag: u8,
    value: T,
}

fn main() {}
