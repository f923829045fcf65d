//! What Windows does differently: 64 KiB allocation granularity, and files that cannot be
//! truncated or deleted while they are mapped (Unix allows both; see `core_manager.rs` and
//! `buffer.rs` for what smmap does then).
#![cfg(windows)]

mod common;

use std::fs::OpenOptions;

use common::random_file;
use smmap::{Error, MapMode, SlidingWindowMapManager, StaticWindowMapManager};

const GRAN: usize = 64 << 10;

#[test]
fn windows_are_multiples_of_twice_the_allocation_granularity() {
    assert_eq!(smmap::allocation_granularity(), GRAN);
    for (asked, got) in [(1, 2 * GRAN), (2 * GRAN, 2 * GRAN), (200 << 10, 4 * GRAN)] {
        let man = SlidingWindowMapManager::builder()
            .window_size(asked)
            .build()
            .unwrap();
        assert_eq!(man.window_size(), got, "asked {asked}");
    }
    // A region's offset is a multiple of the granularity.
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f", 5 * GRAN + 7, 1);
    let man = SlidingWindowMapManager::builder()
        .window_size(1)
        .build()
        .unwrap();
    let mut c = man.make_cursor(&path).unwrap();
    let at = 3 * GRAN as u64 + 100;
    assert_eq!(
        c.use_region(at, 10).unwrap(),
        &data[at as usize..at as usize + 10]
    );
    assert_eq!(c.region().unwrap().ofs_begin % GRAN as u64, 0);
    assert!(c.includes_ofs(at));
}

#[test]
fn a_mapped_file_cannot_be_truncated_or_deleted_by_others() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f", 3 * GRAN, 2);
    let man = StaticWindowMapManager::new();
    let mut c = man.make_cursor(&path).unwrap();
    assert_eq!(c.use_region(0, 0).unwrap(), &data[..]);
    let other = OpenOptions::new().write(true).open(&path).unwrap();
    let e = other.set_len(100).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(1224), "ERROR_USER_MAPPED_FILE: {e}");
    // Growing is allowed.
    other.set_len(4 * GRAN as u64).unwrap();
    // Deleting it is refused by NTFS without POSIX delete semantics, and allowed by wine. Either
    // way the mapping still reads the file's bytes: no page can be lost under it.
    let deleted = std::fs::remove_file(&path).is_ok();
    assert_eq!(c.use_region(0, 0).unwrap(), &data[..]);
    // Once the manager lets go of its mapping, both work.
    drop(c);
    assert_eq!(man.collect(), 1);
    other.set_len(100).unwrap();
    assert_eq!(other.metadata().unwrap().len(), 100);
    drop(other);
    if !deleted {
        std::fs::remove_file(&path).unwrap();
    }
    assert!(!path.exists());
}

#[test]
fn resize_unmaps_cached_regions_and_is_busy_while_one_is_pinned() {
    let dir = tempfile::tempdir().unwrap();
    let w = 2 * GRAN;
    let (path, data) = random_file(dir.path(), "f", 6 * w, 3);
    let man = SlidingWindowMapManager::builder()
        .window_size(w)
        .mode(MapMode::ReadWrite)
        .build()
        .unwrap();
    let mut reader = man.make_cursor(&path).unwrap();
    let mut c = man.make_cursor(&path).unwrap();
    for i in 0..6 {
        let at = (i * w) as u64;
        assert_eq!(c.use_region(at, 1).unwrap()[0], data[i * w]);
    }
    // A pinned region anywhere in the file, even before the new end, is in the way.
    assert_eq!(reader.use_region(0, 10).unwrap(), &data[..10]);
    match c.resize(3 * w as u64) {
        Err(Error::Busy(d)) => assert!(d.by.contains("cannot shrink"), "{}", d.by),
        other => panic!("expected Busy, got {other:?}"),
    }
    // Growing is allowed while regions are pinned.
    c.resize(7 * w as u64).unwrap();
    assert_eq!(reader.buffer(), &data[..10]);
    // Once nothing pins a region, the cached ones are unmapped and the file shrinks.
    reader.unuse_region();
    c.resize(3 * w as u64 + 5).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 3 * w as u64 + 5);
    assert_eq!(man.num_file_handles(), 0);
    assert_eq!(c.use_region(0, 0).unwrap(), &data[..w]);
    let tail = 3 * w as u64;
    assert_eq!(
        c.use_region(tail, 10).unwrap(),
        &data[3 * w..3 * w + 5],
        "exactly what the file has"
    );
}

#[test]
fn resize_is_busy_while_another_manager_maps_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f", 4 * GRAN, 4);
    let other = StaticWindowMapManager::new();
    let mut o = other.make_cursor(&path).unwrap();
    assert_eq!(o.use_region(0, 0).unwrap(), &data[..]);
    let man = SlidingWindowMapManager::builder()
        .mode(MapMode::ReadWrite)
        .build()
        .unwrap();
    let mut c = man.make_cursor(&path).unwrap();
    match c.resize(GRAN as u64) {
        Err(e @ Error::Busy { .. }) => {
            assert!(e.to_string().contains("another manager"), "{e}")
        }
        other => panic!("expected Busy, got {other:?}"),
    }
    drop(o);
    other.collect();
    c.resize(GRAN as u64).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), &data[..GRAN]);
}
