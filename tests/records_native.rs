//! `Native<T>` (feature `bytemuck`): native-endian `Pod` records at any offset, against the
//! bytes `std::fs::read` returns.
#![cfg(feature = "bytemuck")]

mod common;

use bytemuck::{Pod, Zeroable};
use common::random_file;
use smmap::{MapMode, MappedRecord, Native, RecordTable, SlidingWindowMapManager};

#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
struct Wide {
    a: u64,
    b: u32,
    c: u16,
    d: [u8; 2],
}

fn wide_at(bytes: &[u8]) -> Wide {
    bytemuck::pod_read_unaligned(&bytes[..16])
}

/// A derived record may hold native fields next to fixed-order ones; their getters return
/// the value.
#[derive(MappedRecord)]
#[repr(C)]
struct Mixed {
    tag: [u8; 3],
    wide: Native<Wide>,
    be: smmap::byteorder::U32<smmap::byteorder::BigEndian>,
}

#[test]
fn native_records_at_every_offset_through_tiny_windows() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f", 50_000, 1);
    assert_eq!(<Native<Wide> as MappedRecord>::SIZE, 16);
    let man = SlidingWindowMapManager::builder()
        .window_size(1)
        .max_memory_size(1)
        .build()
        .unwrap();
    let mut c = man.make_cursor(&path).unwrap();
    let half = man.window_size() / 2;
    let mut offsets: Vec<usize> = (0..data.len() - 16).step_by(97).collect();
    for b in (half..data.len()).step_by(half) {
        offsets.extend(b.saturating_sub(17)..(b + 2).min(data.len() - 16));
    }
    for o in offsets {
        assert_eq!(
            c.record::<Native<Wide>>(o as u64).unwrap().get(),
            wide_at(&data[o..])
        );
        let m = c.record::<Mixed>(o as u64).unwrap();
        assert_eq!(m.tag(), <&[u8; 3]>::try_from(&data[o..o + 3]).unwrap());
        assert_eq!(m.wide(), wide_at(&data[o + 3..]));
    }
    assert!(c.record::<Native<Wide>>(data.len() as u64 - 15).is_err());
    let u = c.records::<Native<u32>>(3, 100).unwrap();
    for (i, x) in u.iter().enumerate() {
        let at = 3 + 4 * i;
        assert_eq!(
            x.get(),
            u32::from_ne_bytes(data[at..at + 4].try_into().unwrap())
        );
    }
}

#[test]
fn tables_and_writes_of_native_records() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut data) = random_file(dir.path(), "f", 16 * 5000 + 5, 2);
    let man = SlidingWindowMapManager::builder()
        .window_size(1)
        .mode(MapMode::ReadWrite)
        .build()
        .unwrap();
    let mut t = RecordTable::<Native<Wide>>::new(man.make_cursor(&path).unwrap(), 5, 5000).unwrap();
    for i in [0u64, 1, 255, 256, 4999] {
        let at = 5 + 16 * i as usize;
        assert_eq!(t.get(i).unwrap().get(), wide_at(&data[at..]));
    }
    let all: Vec<Wide> = t.iter().map(|r| r.unwrap().get()).collect();
    let want: Vec<Wide> = (0..5000).map(|i| wide_at(&data[5 + 16 * i..])).collect();
    assert_eq!(all, want);
    drop(t);

    let mut c = man.make_cursor(&path).unwrap();
    let w = Wide {
        a: 0x0102_0304_0506_0708,
        b: 9,
        c: 10,
        d: [11, 12],
    };
    c.record_mut::<Native<Wide>>(7).unwrap().set(w);
    data[7..23].copy_from_slice(bytemuck::bytes_of(&w));
    c.flush().unwrap();
    drop(c);
    man.flush().unwrap();
    assert!(std::fs::read(&path).unwrap() == data);
}
