use smmap::MappedRecord;

#[derive(MappedRecord)]
#[repr(C)]
struct Header {
    len: u32,
    offsets: [u64; 2],
    ratio: core::primitive::f32,
    count: usize,
}

fn main() {}
