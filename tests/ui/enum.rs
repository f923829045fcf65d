use smmap::MappedRecord;

#[derive(MappedRecord)]
#[repr(u8)]
enum Kind {
    Commit = 1,
    Tree = 2,
}

fn main() {}
