use smmap::MappedRecord;

#[derive(MappedRecord)]
#[repr(C)]
struct Point {
    xy: (u8, u8),
    nothing: (),
}

fn main() {}
