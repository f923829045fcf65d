use smmap::MappedRecord;

#[derive(MappedRecord)]
#[repr(C)]
struct Borrowed<'a> {
    tag: u8,
    marker: std::marker::PhantomData<&'a ()>,
}

fn main() {}
