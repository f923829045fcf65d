use smmap::MappedRecord;

#[derive(MappedRecord)]
#[repr(C)]
union Either {
    a: u8,
    b: i8,
}

fn main() {}
