//! Records read through cursors (`record`, `records`, `pin`, `pin_records`, `iter_records`),
//! compared against a manual decoding of the file's bytes (`std::fs::read`), with tiny windows
//! so that records straddle windows, and with the static manager.

mod common;

use std::path::Path;

use rand::RngExt;
use smmap::byteorder::{BE, BigEndian, I32, I64, LE, LittleEndian, U16, U32, U64, U128};
use smmap::{
    Error, MapMode, MappedRecord, MappedRef, SlidingWindowMapManager, StaticWindowMapManager,
    WindowCursor,
};

use common::{random_file, rng};

// ---- records ------------------------------------------------------------------------------

/// 24 bytes, little-endian.
#[derive(MappedRecord, Clone, Copy, Debug)]
#[repr(C)]
struct Rec24 {
    a: U64<LE>,
    b: U32<LE>,
    c: I32<LE>,
    d: U64<LittleEndian>,
}

/// 37 bytes: odd-sized, both byte orders, bytes.
#[derive(MappedRecord, Clone, Copy)]
#[repr(C)]
struct Odd37 {
    a: U16<BE>,
    b: U32<LE>,
    c: [u8; 5],
    d: I64<BE>,
    e: U16<LE>,
    f: u8,
    g: i8,
    h: U64<LittleEndian>,
    i: [u8; 3],
    j: U16<BigEndian>,
    k: i8,
}

/// Nested records and arrays of them.
#[derive(MappedRecord, Clone, Copy)]
#[repr(C)]
struct Nested {
    tag: u8,
    inner: Rec24,
    odds: [Odd37; 2],
    wide: U128<BE>,
}

/// A tuple struct.
#[derive(MappedRecord, Clone, Copy)]
#[repr(C)]
struct Pair(U32<BE>, [u8; 3]);

/// The header of a git pack index, version 2.
#[derive(MappedRecord, Clone, Copy, Debug)]
#[repr(C)]
struct IdxHeader {
    #[mapped(magic = b"\xfftOc")]
    magic: [u8; 4],
    version: U32<BigEndian>,
}

/// A header nested at field offset 3, to check the offset reported for its magic.
#[derive(MappedRecord, Clone, Copy, Debug)]
#[repr(C)]
struct Wrapped {
    pad: [u8; 3],
    header: IdxHeader,
}

fn even_version(r: &Versioned) -> Result<(), String> {
    if r.version().is_multiple_of(2) {
        Ok(())
    } else {
        Err(format!("odd version {}", r.version()))
    }
}

/// A record with a validation hook.
#[derive(MappedRecord, Clone, Copy, Debug)]
#[repr(C)]
#[mapped(validate = even_version)]
struct Versioned {
    version: U16<LE>,
    body: [u8; 6],
}

/// Larger than half the tiny window (4 KiB): gets a region of its own.
#[derive(MappedRecord, Clone, Copy)]
#[repr(C)]
struct Big {
    head: U32<LE>,
    data: [u8; 12000 * K],
    tail: U64<BE>,
}

type Words = [U64<LE>; 2000 * K];

/// 4 KiB pages per allocation granule (16 on Windows, whose granule is 64 KiB; 4 on Apple
/// silicon, whose pages are 16 KiB): the sizes and offsets of these tests, laid out in 4 KiB
/// pages, are scaled by it.
const K: usize = if cfg!(windows) {
    16
} else if cfg!(all(target_vendor = "apple", target_arch = "aarch64")) {
    4
} else {
    1
};

// ---- reference decoding -------------------------------------------------------------------

fn arr<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    b[at..at + N].try_into().unwrap()
}

fn check_rec24(r: &Rec24, b: &[u8]) {
    assert_eq!(r.a(), u64::from_le_bytes(arr(b, 0)));
    assert_eq!(r.b(), u32::from_le_bytes(arr(b, 8)));
    assert_eq!(r.c(), i32::from_le_bytes(arr(b, 12)));
    assert_eq!(r.d(), u64::from_le_bytes(arr(b, 16)));
}

fn check_odd37(r: &Odd37, b: &[u8]) {
    assert_eq!(r.a(), u16::from_be_bytes(arr(b, 0)));
    assert_eq!(r.b(), u32::from_le_bytes(arr(b, 2)));
    assert_eq!(r.c(), &arr::<5>(b, 6));
    assert_eq!(r.d(), i64::from_be_bytes(arr(b, 11)));
    assert_eq!(r.e(), u16::from_le_bytes(arr(b, 19)));
    assert_eq!(r.f(), b[21]);
    assert_eq!(r.g(), b[22] as i8);
    assert_eq!(r.h(), u64::from_le_bytes(arr(b, 23)));
    assert_eq!(r.i(), &arr::<3>(b, 31));
    assert_eq!(r.j(), u16::from_be_bytes(arr(b, 34)));
    assert_eq!(r.k(), b[36] as i8);
}

fn check_nested(r: &Nested, b: &[u8]) {
    assert_eq!(r.tag(), b[0]);
    check_rec24(r.inner(), &b[1..]);
    check_odd37(&r.odds()[0], &b[25..]);
    check_odd37(&r.odds()[1], &b[62..]);
    assert_eq!(r.wide(), u128::from_be_bytes(arr(b, 99)));
}

fn check_pair(r: &Pair, b: &[u8]) {
    assert_eq!(r.get_0(), u32::from_be_bytes(arr(b, 0)));
    assert_eq!(r.get_1(), &arr::<3>(b, 4));
}

fn check_big(r: &Big, b: &[u8]) {
    assert_eq!(r.head(), u32::from_le_bytes(arr(b, 0)));
    assert_eq!(&r.data()[..], &b[4..4 + 12000 * K]);
    assert_eq!(r.tail(), u64::from_be_bytes(arr(b, 4 + 12000 * K)));
}

fn check_words(r: &Words, b: &[u8]) {
    for (i, w) in r.iter().enumerate() {
        assert_eq!(w.get(), u64::from_le_bytes(arr(b, i * 8)));
    }
}

// ---- managers and offsets -----------------------------------------------------------------

/// The tiny window: `window_size(1)` rounds up to twice the allocation granularity.
fn tiny() -> SlidingWindowMapManager {
    assert_eq!(smmap::allocation_granularity(), 4096 * K);
    SlidingWindowMapManager::builder()
        .window_size(1)
        .build()
        .unwrap()
}

/// Tiny windows and a budget of one byte: every new window evicts the unused ones.
fn tiny_starved() -> SlidingWindowMapManager {
    SlidingWindowMapManager::builder()
        .window_size(1)
        .max_memory_size(1)
        .build()
        .unwrap()
}

/// Cursors of every kind of manager, with a name for assertion messages.
fn cursors(path: &Path) -> Vec<(&'static str, WindowCursor)> {
    vec![
        ("sliding tiny", tiny().make_cursor(path).unwrap()),
        ("sliding starved", tiny_starved().make_cursor(path).unwrap()),
        (
            "static",
            StaticWindowMapManager::new().make_cursor(path).unwrap(),
        ),
    ]
}

/// Offsets around every half-window boundary (records straddling windows), around the end of
/// the file, past it, and random ones.
fn offsets(file_len: usize, size: usize, seed: u64) -> Vec<u64> {
    let half = tiny().window_size() / 2;
    let mut v = Vec::new();
    let mut b = 0;
    let mut r = rng(seed);
    while b <= file_len + half {
        if size <= 128 {
            // Every offset from which a record touches the boundary.
            v.extend((b.saturating_sub(size + 2)..=b + 2).map(|o| o as u64));
        } else {
            // Records starting or ending around the boundary, and a few crossing it.
            v.extend((b.saturating_sub(size + 2)..=b.saturating_sub(size) + 2).map(|o| o as u64));
            v.extend((b.saturating_sub(2)..=b + 2).map(|o| o as u64));
            v.extend((0..5).map(|_| r.random_range(b.saturating_sub(size)..=b) as u64));
        }
        b += half;
    }
    for _ in 0..300 {
        v.push(r.random_range(0..file_len as u64 + 100));
    }
    for d in 0..=size + 1 {
        v.push((file_len + 1).saturating_sub(d) as u64);
    }
    v.extend([u64::MAX, u64::MAX - 1, u64::MAX - size as u64 + 1, 1 << 63]);
    v
}

/// Reads `T` at every offset through every kind of cursor: `Ok` and equal to the reference
/// when the record lies inside the file, `Err(OutOfBounds)` otherwise.
fn read_everywhere<T: MappedRecord>(len: usize, seed: u64, check: impl Fn(&T, &[u8])) -> usize {
    let len = len * K;
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "data", len, seed);
    let mut ok = 0;
    for (name, mut c) in cursors(&path) {
        for ofs in offsets(len, T::SIZE, seed) {
            let fits = ofs
                .checked_add(T::SIZE as u64)
                .is_some_and(|e| e <= len as u64);
            match c.record::<T>(ofs) {
                Ok(r) => {
                    assert!(fits, "{name}: record at {ofs} should not fit");
                    check(r, &data[ofs as usize..]);
                    ok += 1;
                }
                Err(Error::OutOfBounds(e)) => {
                    let smmap::error::OutOfBounds {
                        path: p, offset, ..
                    } = *e;
                    assert!(!fits, "{name}: record at {ofs} should fit");
                    assert_eq!(offset, ofs);
                    assert_eq!(p.path(), Some(path.as_path()));
                }
                Err(e) => panic!("{name}: unexpected error at {ofs}: {e}"),
            }
        }
    }
    ok
}

// ---- record ---------------------------------------------------------------------------------

#[test]
fn rec24_everywhere() {
    assert_eq!(Rec24::SIZE, 24);
    assert!(read_everywhere::<Rec24>(70_001, 1, check_rec24) > 1000);
}

#[test]
fn odd37_everywhere() {
    assert_eq!(Odd37::SIZE, 37);
    assert!(read_everywhere::<Odd37>(70_001, 2, check_odd37) > 1000);
}

#[test]
fn nested_everywhere() {
    assert_eq!(Nested::SIZE, 1 + 24 + 74 + 16);
    assert!(read_everywhere::<Nested>(50_003, 3, check_nested) > 1000);
}

#[test]
fn tuple_struct_and_byte_arrays_everywhere() {
    assert_eq!(Pair::SIZE, 7);
    assert!(read_everywhere::<Pair>(40_000, 4, check_pair) > 1000);
    assert!(read_everywhere::<[u8; 20]>(40_000, 5, |r, b| assert_eq!(&r[..], &b[..20])) > 1000);
    assert!(read_everywhere::<u8>(40_000, 6, |r, b| assert_eq!(*r, b[0])) > 1000);
}

#[test]
fn records_larger_than_half_a_window() {
    assert!(tiny().window_size() / 2 < Big::SIZE);
    assert!(read_everywhere::<Big>(60_000, 7, check_big) > 100);
    assert!(read_everywhere::<Words>(60_000, 8, check_words) > 100);
}

#[test]
fn record_ending_on_the_last_byte() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "data", 8192 * 3 + 11, 9);
    for (name, mut c) in cursors(&path) {
        let last = (data.len() - Odd37::SIZE) as u64;
        check_odd37(c.record::<Odd37>(last).unwrap(), &data[last as usize..]);
        assert!(
            matches!(c.record::<Odd37>(last + 1), Err(Error::OutOfBounds(d)) if d.len == 37 && d.offset == last + 1 && d.file_size == data.len() as u64),
            "{name}"
        );
        // The cursor is usable after an error.
        check_odd37(c.record::<Odd37>(0).unwrap(), &data);
        let n = data.len() / 24;
        let all = c.records::<Rec24>(0, n).unwrap();
        assert_eq!(all.len(), n);
        assert!(c.records::<Rec24>(0, n + 1).is_err());
    }
}

#[test]
fn bad_magic_names_path_offset_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut data) = random_file(dir.path(), "idx", 20_000, 10);
    let good = 8190; // straddles the window boundary at 8 KiB
    data[good..good + 8].copy_from_slice(b"\xfftOc\0\0\0\x02");
    std::fs::write(&path, &data).unwrap();
    for (name, mut c) in cursors(&path) {
        let h = c.record::<IdxHeader>(good as u64).unwrap();
        assert_eq!((h.magic(), h.version()), (b"\xfftOc", 2), "{name}");
        let w = c.record::<Wrapped>(good as u64 - 3).unwrap();
        assert_eq!(w.header().version(), 2);
        for at in [0u64, 4093, 12_000, good as u64 + 1] {
            let at_us = at as usize;
            match c.record::<IdxHeader>(at) {
                Err(Error::BadMagic(e)) => {
                    let smmap::error::BadMagic {
                        path: p,
                        offset,
                        expected,
                        found,
                        ..
                    } = *e;
                    assert_eq!(p.path(), Some(path.as_path()));
                    assert_eq!(offset, at);
                    assert_eq!(expected, b"\xfftOc");
                    assert_eq!(found, &data[at_us..at_us + 4]);
                }
                other => panic!("{name}: {other:?}"),
            }
            // The nested header's magic is at field offset 3.
            match c.record::<Wrapped>(at) {
                Err(Error::BadMagic(e)) => {
                    let smmap::error::BadMagic { offset, found, .. } = *e;
                    assert_eq!(offset, at + 3);
                    assert_eq!(found, &data[at_us + 3..at_us + 7]);
                }
                other => panic!("{name}: {other:?}"),
            }
            let err = c.records::<IdxHeader>(good as u64, 2).unwrap_err();
            assert!(
                matches!(&err, Error::BadMagic(d) if d.offset == good as u64 + 8),
                "{err}"
            );
        }
        assert!(c.pin::<IdxHeader>(0).is_err());
        assert_eq!(c.pin::<IdxHeader>(good as u64).unwrap().version(), 2);
    }
}

#[test]
fn validation_failure_is_invalid_record() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut data) = random_file(dir.path(), "v", 30_000, 11);
    data[8188..8190].copy_from_slice(&4u16.to_le_bytes());
    data[16_383..16_385].copy_from_slice(&7u16.to_le_bytes());
    data[16_367..16_369].copy_from_slice(&2u16.to_le_bytes());
    data[16_375..16_377].copy_from_slice(&0u16.to_le_bytes());
    std::fs::write(&path, &data).unwrap();
    for (name, mut c) in cursors(&path) {
        assert_eq!(c.record::<Versioned>(8188).unwrap().version(), 4, "{name}");
        match c.record::<Versioned>(16_383) {
            Err(Error::InvalidRecord(e)) => {
                let smmap::error::InvalidRecord {
                    path: p,
                    offset,
                    record,
                    message,
                    ..
                } = *e;
                assert_eq!(p.path(), Some(path.as_path()));
                assert_eq!(offset, 16_383);
                assert!(record.ends_with("Versioned"), "{record}");
                assert_eq!(message, "odd version 7");
            }
            other => panic!("{name}: {:?}", other.map(|_| ())),
        }
        let err = c.records::<Versioned>(16_383 - 16, 3).unwrap_err();
        assert!(
            matches!(&err, Error::InvalidRecord(d) if d.offset == 16_383),
            "{err}"
        );
        // Every offset: Ok exactly when the version is even.
        for ofs in (0..30_000 - 8).step_by(97) {
            let v = u16::from_le_bytes(arr(&data, ofs));
            assert_eq!(c.record::<Versioned>(ofs as u64).is_ok(), v % 2 == 0);
        }
    }
}

// ---- records --------------------------------------------------------------------------------

#[test]
fn records_slices_everywhere() {
    let dir = tempfile::tempdir().unwrap();
    let len = 60_001;
    let (path, data) = random_file(dir.path(), "data", len, 12);
    let mut r = rng(12);
    for (name, mut c) in cursors(&path) {
        for ofs in offsets(len, 37, 13).into_iter().step_by(3) {
            let count = match r.random_range(0..4) {
                0 => r.random_range(0..4),
                1 => r.random_range(0..300),
                2 => r.random_range(0..2000),
                _ => (len as u64).saturating_sub(ofs) as usize / 37 + r.random_range(0..2),
            };
            let fits = ofs
                .checked_add(37 * count as u64)
                .is_some_and(|e| e <= len as u64);
            match c.records::<Odd37>(ofs, count) {
                Ok(recs) => {
                    assert!(fits || count == 0, "{name}: {count} records at {ofs}");
                    assert_eq!(recs.len(), count);
                    for (i, rec) in recs.iter().enumerate() {
                        check_odd37(rec, &data[ofs as usize + i * 37..]);
                    }
                }
                Err(Error::OutOfBounds(e)) => {
                    let smmap::error::OutOfBounds { offset, .. } = *e;
                    assert!(!fits, "{name}: {count} records at {ofs}");
                    assert_eq!(offset, ofs);
                }
                Err(e) => panic!("{name}: {e}"),
            }
        }
        assert!(matches!(
            c.records::<Odd37>(0, usize::MAX),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            c.records::<[u8; 0]>(0, 1),
            Err(Error::InvalidArgument(_))
        ));
    }
}

// ---- MappedRef ------------------------------------------------------------------------------

#[test]
fn mapped_refs_survive_evictions() {
    let dir = tempfile::tempdir().unwrap();
    let len = 200_003 * K;
    let (path, data) = random_file(dir.path(), "data", len, 14);
    // About guards outliving evictions: every read maps (small reads: tests/small_reads.rs).
    let man = SlidingWindowMapManager::builder()
        .window_size(1)
        .max_memory_size(1)
        .small_reads(Some(false))
        .build()
        .unwrap();
    let mut c = man.make_cursor(&path).unwrap();
    let mut r = rng(15);
    let mut pinned: Vec<MappedRef<Odd37>> = Vec::new();
    let mut slices: Vec<MappedRef<[Rec24]>> = Vec::new();
    for round in 0..300 {
        let ofs = r.random_range(0..(len - 37) as u64);
        pinned.push(c.pin::<Odd37>(ofs).unwrap());
        if round % 10 == 0 {
            let ofs = r.random_range(0..(len - 24 * 500) as u64);
            slices.push(c.pin_records::<Rec24>(ofs, r.random_range(0..500)).unwrap());
        }
        // Move the cursor elsewhere: with a budget of one byte, unpinned windows are evicted.
        for _ in 0..5 {
            let o = r.random_range(0..(len - 24) as u64);
            check_rec24(c.record::<Rec24>(o).unwrap(), &data[o as usize..]);
        }
    }
    assert!(man.stats().evictions > 100, "{:?}", man.stats());
    assert!(man.mapped_memory_size() > 1);
    let handles = man.num_file_handles();
    drop(c);
    for p in &pinned {
        check_odd37(p, &data[p.offset() as usize..]);
    }
    for s in &slices {
        for (i, rec) in s.iter().enumerate() {
            check_rec24(rec, &data[s.offset() as usize + i * 24..]);
        }
    }
    // The guards are what keeps the regions: a collection unmaps at most the cursor's previous
    // region, which no guard holds, and the guards still read their bytes.
    assert!(man.collect() <= 1);
    assert!(man.num_file_handles() <= handles);
    for p in &pinned {
        check_odd37(p, &data[p.offset() as usize..]);
    }
    drop(pinned);
    drop(slices);
    assert!(man.collect() > 0);
    assert_eq!(man.num_file_handles(), 0);
    assert_eq!(man.mapped_memory_size(), 0);
}

#[test]
fn mapped_ref_clone_debug_send_and_region_counts() {
    fn send_sync<T: Send + Sync>(_: &T) {}
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "data", 50_000 * K, 16);
    let man = tiny();
    let mut c = man.make_cursor(&path).unwrap();
    let at = 8192 * K as u64 - 2;
    let a = c.pin::<Rec24>(at).unwrap(); // straddles 8 KiB: a window at 4 KiB
    assert_eq!(c.region().unwrap().client_count, 3); // manager + cursor + guard
    let b = a.clone();
    assert_eq!(c.region().unwrap().client_count, 4);
    send_sync(&b);
    let dbg = format!("{b:?}");
    assert!(
        dbg.contains("MappedRef") && dbg.contains(&at.to_string()),
        "{dbg}"
    );
    drop(a);
    assert_eq!(c.region().unwrap().client_count, 3);
    c.use_region(40_000 * K as u64, 10).unwrap();
    let expect = data.clone();
    let t = std::thread::spawn(move || {
        check_rec24(&b, &expect[at as usize..]);
        b.offset()
    });
    assert_eq!(t.join().unwrap(), at);
    // The guard was dropped on the other thread: nothing pins the region at 4 KiB any more.
    assert!(man.collect() >= 1);

    let empty = c.pin_records::<Rec24>(100, 0).unwrap();
    assert!(empty.is_empty());
    assert_eq!(format!("{empty:?}"), "MappedRef { offset: 100, value: [] }");
    assert!(c.pin::<Rec24>(50_000 * K as u64 - 23).is_err());
    assert!(c.pin::<Rec24>(u64::MAX).is_err());
    assert!(
        c.pin_records::<Rec24>(50_000 * K as u64 - 1000, 100)
            .is_err()
    );
    assert!(matches!(
        c.pin::<[u8; 0]>(0),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn mapped_ref_outlives_manager_and_cursor_static() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "data", 10_000, 17);
    let r = {
        let man = StaticWindowMapManager::new();
        let mut c = man.make_cursor(&path).unwrap();
        c.pin::<Nested>(1234).unwrap()
    };
    check_nested(&r, &data[1234..]);
}

#[test]
fn mapped_refs_and_writers_exclude_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "data", 50_000, 18);
    let man = SlidingWindowMapManager::builder()
        .window_size(1)
        .mode(MapMode::ReadWrite)
        .build()
        .unwrap();
    let mut reader = man.make_cursor(&path).unwrap();
    let guard = reader.pin::<Rec24>(100).unwrap();
    reader.unuse_region();
    let mut writer = man.make_cursor(&path).unwrap();
    assert!(matches!(
        writer.record_mut::<Rec24>(100),
        Err(Error::Busy { .. })
    ));
    drop(guard);
    writer.record_mut::<Rec24>(100).unwrap().set_a(42);
    // The writer holds the region exclusively: it cannot pin it for reading.
    assert!(matches!(writer.pin::<Rec24>(100), Err(Error::Busy { .. })));
    writer.unuse_region();
    assert_eq!(reader.pin::<Rec24>(100).unwrap().a(), 42);
}

// ---- RecordIter -----------------------------------------------------------------------------

/// Iterates through a fresh cursor from `ofs` (to the end, or `count` records) and compares
/// with the reference; returns the number of `Ok` items.
fn iterate_and_compare(path: &Path, data: &[u8], ofs: u64, count: Option<u64>) {
    let len = data.len() as u64;
    let whole = match count {
        Some(n) => n.min(len.saturating_sub(ofs) / 24),
        None => len.saturating_sub(ofs) / 24,
    };
    // An error is expected after the whole records when the request asks for more.
    let err_at = match count {
        Some(n) if n > whole => Some(ofs + whole * 24),
        None if ofs > len || !(len - ofs).is_multiple_of(24) => Some(ofs + whole * 24),
        _ => None,
    };
    for (name, c) in cursors(path) {
        let it = match count {
            Some(n) => c.iter_records_n::<Rec24>(ofs, n),
            None => c.iter_records::<Rec24>(ofs),
        };
        let items: Vec<_> = it.collect();
        let oks = items.iter().take_while(|i| i.is_ok()).count() as u64;
        assert_eq!(oks, whole, "{name} from {ofs}");
        for (k, item) in items.iter().take(oks as usize).enumerate() {
            let rec = item.as_ref().unwrap();
            check_rec24(rec, &data[(ofs as usize) + k * 24..]);
        }
        match err_at {
            Some(at) => {
                assert_eq!(items.len() as u64, whole + 1, "{name} from {ofs}");
                match items.last().unwrap() {
                    Err(Error::OutOfBounds(d)) if d.len == 24 => assert_eq!(d.offset, at),
                    other => panic!("{name}: {:?}", other.as_ref().map(|_| ())),
                }
            }
            None => assert_eq!(items.len() as u64, whole, "{name} from {ofs}"),
        }
    }
}

#[test]
fn iter_records_to_the_end() {
    let dir = tempfile::tempdir().unwrap();
    for (len, seed) in [(24 * 3000, 20), (24 * 3000 + 7, 21), (5, 22), (0, 23)] {
        let (path, data) = random_file(dir.path(), &format!("d{seed}"), len, seed);
        for ofs in [
            0,
            1,
            23,
            24,
            4095,
            4096,
            8191,
            12_345,
            len as u64,
            len as u64 + 1,
        ] {
            iterate_and_compare(&path, &data, ofs, None);
        }
    }
}

#[test]
fn iter_records_with_a_count() {
    let dir = tempfile::tempdir().unwrap();
    let len = 50_000;
    let (path, data) = random_file(dir.path(), "data", len, 24);
    let mut r = rng(25);
    for _ in 0..20 {
        let ofs = r.random_range(0..len as u64 + 30);
        let n = r.random_range(0..2200);
        iterate_and_compare(&path, &data, ofs, Some(n));
    }
    iterate_and_compare(&path, &data, 0, Some(0));
    iterate_and_compare(&path, &data, 0, Some(u64::MAX));
    iterate_and_compare(&path, &data, 100, Some(u64::MAX / 2));
}

#[test]
fn iter_chunks_cover_everything_within_windows() {
    let dir = tempfile::tempdir().unwrap();
    let len = 100_000 * 37 + 5;
    let (path, data) = random_file(dir.path(), "data", len, 26);
    let man = SlidingWindowMapManager::builder()
        .window_size(1)
        .max_memory_size(3 * 8192 * K)
        .build()
        .unwrap();
    let window = man.window_size();
    let mut it = man.make_cursor(&path).unwrap().iter_records::<Odd37>(3);
    let mut at = 3;
    let mut chunks = 0;
    let mut mixed = 0;
    loop {
        // Alternate the two ways of consuming the iterator.
        if chunks % 3 == 2 {
            match it.next() {
                Some(Ok(rec)) => {
                    check_odd37(&rec, &data[at..]);
                    at += 37;
                    mixed += 1;
                }
                Some(Err(e)) => {
                    assert!(matches!(&e, Error::OutOfBounds { .. }), "{e}");
                    assert!(at + 37 > len);
                    break;
                }
                None => break,
            }
        }
        match it.next_chunk() {
            Some(Ok(chunk)) => {
                assert!(!chunk.is_empty());
                assert!(chunk.len() * 37 <= window);
                for rec in chunk {
                    check_odd37(rec, &data[at..]);
                    at += 37;
                }
            }
            Some(Err(e)) => {
                assert!(matches!(
&e, Error::OutOfBounds(d) if d.offset as usize == at));
                assert!(at + 37 > len);
                break;
            }
            None => break,
        }
        chunks += 1;
        assert!(man.mapped_memory_size() <= 3 * 8192 * K);
        assert_eq!(it.offset() as usize, at);
    }
    assert!(it.next().is_none());
    assert!(it.next_chunk().is_none());
    assert_eq!((len - 3) / 37, (at - 3) / 37);
    assert!(chunks > 100 / K && mixed > 10 / K, "{chunks} {mixed}");
}

#[test]
fn iter_big_records_and_static_manager() {
    let dir = tempfile::tempdir().unwrap();
    let len = 5 * 16_000 * K + 100;
    let (path, data) = random_file(dir.path(), "data", len, 27);
    for (name, c) in cursors(&path) {
        let mut it = c.iter_records::<Words>(50);
        let mut at = 50;
        while let Some(chunk) = it.next_chunk() {
            match chunk {
                Ok(chunk) => {
                    for w in chunk {
                        check_words(w, &data[at..]);
                        at += 16_000 * K;
                    }
                }
                Err(e) => {
                    assert!(at + 16_000 * K > len, "{name}: {e}");
                    assert!(matches!(&e, Error::OutOfBounds { .. }));
                }
            }
        }
        assert_eq!(at, 50 + 5 * 16_000 * K, "{name}");
        let c = it.into_cursor();
        let n = c.iter_records_n::<Big>(7, 6).filter(Result::is_ok).count();
        assert_eq!(n, 6, "{name}");
    }
}

#[test]
fn iter_reports_failed_checks_in_place_and_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    let n = 3000;
    let mut data = Vec::with_capacity(n * 8);
    for i in 0..n as u32 {
        if i % 700 == 699 {
            data.extend_from_slice(b"bad!");
        } else {
            data.extend_from_slice(b"\xfftOc");
        }
        data.extend_from_slice(&i.to_be_bytes());
    }
    let path = dir.path().join("headers");
    std::fs::write(&path, &data).unwrap();
    for (name, c) in cursors(&path) {
        let items: Vec<_> = c.clone().iter_records::<IdxHeader>(0).collect();
        assert_eq!(items.len(), n, "{name}");
        for (i, item) in items.iter().enumerate() {
            match item {
                Ok(h) => assert_eq!(h.version(), i as u32),
                Err(Error::BadMagic(e)) => {
                    assert_eq!(i % 700, 699);
                    assert_eq!(e.offset, i as u64 * 8);
                    assert_eq!(e.found, b"bad!");
                }
                Err(e) => panic!("{name}: {e}"),
            }
        }
        // Chunks: the records before a bad one, then the bad one alone.
        let mut it = c.iter_records::<IdxHeader>(0);
        let (mut good, mut bad) = (0, 0);
        while let Some(chunk) = it.next_chunk() {
            match chunk {
                Ok(chunk) => {
                    for h in chunk {
                        assert_eq!(h.version(), good + bad);
                        good += 1;
                    }
                }
                Err(Error::BadMagic(e)) => {
                    let smmap::error::BadMagic { offset, .. } = *e;
                    assert_eq!(offset, u64::from(good + bad) * 8);
                    bad += 1;
                }
                Err(e) => panic!("{name}: {e}"),
            }
        }
        assert_eq!((good, bad), (n as u32 - 4, 4), "{name}");
    }
}

#[test]
fn iter_zero_sized_and_past_the_end() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "data", 1000, 28);
    let man = tiny();
    let mut it = man.make_cursor(&path).unwrap().iter_records::<[u8; 0]>(0);
    assert!(matches!(it.next(), Some(Err(Error::InvalidArgument(_)))));
    assert!(it.next().is_none());
    let mut it = man.make_cursor(&path).unwrap().iter_records::<[u8; 0]>(0);
    assert!(matches!(
        it.next_chunk(),
        Some(Err(Error::InvalidArgument(_)))
    ));
    assert!(it.next_chunk().is_none());
    let mut it = man.make_cursor(&path).unwrap().iter_records::<Rec24>(5000);
    assert_eq!(it.size_hint(), (0, Some(1)));
    assert!(matches!(
        it.next(),
        Some(Err(Error::OutOfBounds(d))) if d.offset == 5000
    ));
    assert!(it.next().is_none());
    let mut it = man
        .make_cursor(&path)
        .unwrap()
        .iter_records::<Rec24>(u64::MAX);
    assert!(matches!(
        it.next_chunk(),
        Some(Err(Error::OutOfBounds { .. }))
    ));
    assert!(it.next_chunk().is_none());
    let it = man.make_cursor(&path).unwrap().iter_records::<Rec24>(0);
    assert_eq!(it.remaining(), 42); // 41 whole records and the partial one
    assert!(format!("{it:?}").contains("RecordIter"));
}

#[test]
fn records_say_whether_their_check_reads_them() {
    // Plain records accept every value without reading it.
    const { assert!(!<u8 as MappedRecord>::CHECKS) };
    const { assert!(!<[U32<LE>; 4] as MappedRecord>::CHECKS) };
    const { assert!(!Rec24::CHECKS && !Odd37::CHECKS && !Pair::CHECKS) };
    // A magic number, a validation hook, or a field that has one.
    const { assert!(IdxHeader::CHECKS && Versioned::CHECKS) };
    const { assert!(Wrapped::CHECKS && <[IdxHeader; 2] as MappedRecord>::CHECKS) };
}

/// A cursor keeps the windows it switches to, one per half-window, up to a number of places
/// the file can have more half-windows than: then half-windows share places, and a switch to
/// a window kept at a shared place must serve only the bytes that window holds. Random
/// records, some across windows, over more than twice as many half-windows as places, with a
/// budget that never evicts (kept windows are used only then), read three times over, against
/// the file's bytes.
#[test]
fn records_over_more_half_windows_than_places_match_the_file() {
    let gran = smmap::allocation_granularity();
    let window = 2 * gran;
    // Half-windows of `gran` bytes; 2,100 of them, more than twice the 1,024 places.
    let len = 2_100 * gran + 11;
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "many.bin", len, 0x6b65_7074);
    let man = SlidingWindowMapManager::builder()
        .window_size(window)
        .max_memory_size(4 * len)
        .max_open_handles(1 << 16)
        .build()
        .unwrap();
    let mut c = man.make_cursor(&path).unwrap();
    let mut r = rng(0x706c_6163);
    for pass in 0..3 {
        for _ in 0..20_000 {
            let o = r.random_range(0..(len - 24) as u64);
            let rec = c.record::<[u8; 24]>(o).unwrap();
            assert_eq!(
                &rec[..],
                &data[o as usize..o as usize + 24],
                "pass {pass}, offset {o}"
            );
        }
    }
    let stats = man.stats();
    assert_eq!(stats.evictions, 0, "{stats:?}");
    assert!(stats.regions > 1_024, "{stats:?}");
}
