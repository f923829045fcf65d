use smmap::MappedRecord;

#[derive(MappedRecord)]
#[repr(C)]
struct Letter {
    c: char,
}

fn main() {}
