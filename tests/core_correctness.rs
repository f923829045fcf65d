//! Regression tests for defects of the core: one entry per file identity, resizes and claims
//! coordinated across managers, flushes after eviction, private changes, the order of unpinning,
//! descriptors of refused mappings, and the messages.

#![cfg(unix)]

mod common;

use std::fs::{self, File, OpenOptions};
use std::path::Path;

use common::{in_child, random_file, run_child};
use smmap::{
    Error, MapMode, SlidingWindowMapBuffer, SlidingWindowMapManager, StaticWindowMapManager,
};

fn gran() -> usize {
    smmap::allocation_granularity()
}

fn rw_sliding() -> SlidingWindowMapManager {
    SlidingWindowMapManager::builder()
        .window_size(2 * gran())
        .mode(MapMode::ReadWrite)
        .build()
        .unwrap()
}

fn is_busy<T: std::fmt::Debug>(r: smmap::Result<T>) -> bool {
    matches!(r, Err(Error::Busy { .. }))
}

#[test]
fn a_renamed_and_relinked_file_keeps_one_entry_sliding() {
    let dir = tempfile::tempdir().unwrap();
    let (a, data) = random_file(dir.path(), "a", 3 * gran(), 1);
    let b = dir.path().join("b");
    let man = rw_sliding();
    let mut writer = man.make_cursor(&a).unwrap();
    fs::rename(&a, &b).unwrap();
    let mut reader = man.make_cursor(&b).unwrap();
    fs::hard_link(&b, &a).unwrap();
    let shared = reader.use_region(0, 16).unwrap();
    assert!(
        is_busy(writer.use_region_mut(0, 16)),
        "a &mut over bytes a &[u8] holds"
    );
    assert_eq!(shared, &data[..16]);
    drop(reader);
    writer.use_region_mut(0, 1).unwrap()[0] = !data[0];
    drop(writer);
    let mut again = man.make_cursor(&b).unwrap();
    assert_eq!(again.use_region(0, 1).unwrap()[0], !data[0]);
    assert_eq!(fs::read(&a).unwrap()[0], !data[0]);
}

#[test]
fn a_file_handed_over_after_a_rename_joins_its_entry_static() {
    let dir = tempfile::tempdir().unwrap();
    let (a, data) = random_file(dir.path(), "a", 3 * gran(), 2);
    let b = dir.path().join("b");
    let man = StaticWindowMapManager::builder()
        .mode(MapMode::ReadWrite)
        .build()
        .unwrap();
    let mut writer = man.make_cursor(&a).unwrap();
    fs::rename(&a, &b).unwrap();
    let f = OpenOptions::new().read(true).write(true).open(&b).unwrap();
    let mut reader = man.make_cursor_from_file(f).unwrap();
    fs::rename(&b, &a).unwrap();
    let shared = reader.use_region(0, 16).unwrap();
    assert!(is_busy(writer.use_region_mut(0, 16)));
    assert_eq!(shared, &data[..16]);
    assert_eq!(man.num_file_handles(), 1, "one region for one file");
}

#[test]
fn a_cursor_whose_file_is_gone_does_not_read_a_successor() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = random_file(dir.path(), "a", 100, 3);
    let man = SlidingWindowMapManager::new();
    let mut old = man.make_cursor(&a).unwrap();
    fs::remove_file(&a).unwrap();
    // A new file at the same path (and often with the same inode number).
    let (_, new_data) = random_file(dir.path(), "a", 100, 4);
    let mut new = man.make_cursor(&a).unwrap();
    assert_eq!(new.use_region(0, 100).unwrap(), &new_data[..]);
    match old.use_region(0, 100) {
        Ok(bytes) => assert_eq!(bytes, &new_data[..], "only if birth times are unknown"),
        Err(e) => assert!(
            matches!(&e, Error::FileReplaced { .. } | Error::Busy { .. }),
            "{e}"
        ),
    }
}

/// A read-only manager's cursor pins bytes that a read-write manager's resize would cut off:
/// the resize is refused (the reader would die of SIGBUS at its next access otherwise), and
/// once the reader lets go, the reader manager's cached regions past the new end are unmapped.
#[test]
fn resize_is_refused_while_another_manager_pins_bytes_past_the_new_end() {
    const NAME: &str = "resize_is_refused_while_another_manager_pins_bytes_past_the_new_end";
    if !in_child(NAME) {
        return run_child(NAME);
    }
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f", 64 << 10, 5);
    let readers = SlidingWindowMapManager::builder()
        .window_size(256 << 10)
        .build()
        .unwrap();
    let writers = rw_sliding();
    let mut reader = readers.make_cursor(&path).unwrap();
    assert_eq!(reader.use_region(0, 64 << 10).unwrap(), &data[..]);
    let mut buf = SlidingWindowMapBuffer::new(writers.make_cursor(&path).unwrap()).unwrap();
    let e = buf.resize(0).unwrap_err();
    assert!(matches!(&e, Error::Busy { .. }), "{e}");
    assert_eq!(
        fs::metadata(&path).unwrap().len(),
        64 << 10,
        "not truncated"
    );
    // The reader still reads its bytes.
    assert_eq!(reader.buffer(), &data[..]);
    reader.unuse_region();
    assert_eq!(readers.num_file_handles(), 1, "cached");
    buf.resize(100).unwrap();
    assert_eq!(readers.num_file_handles(), 0, "unmapped by the resize");
    assert_eq!(reader.use_region(0, 200).unwrap(), &data[..100]);
    assert!(reader.use_region(100, 1).is_err());
}

#[test]
fn resize_is_refused_while_another_read_write_manager_pins_past_the_new_end() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "f", 8 * gran(), 6);
    let (m1, m2) = (rw_sliding(), rw_sliding());
    let mut c1 = m1.make_cursor(&path).unwrap();
    c1.use_region((4 * gran()) as u64, 10).unwrap(); // the window [4, 6) units
    let mut c2 = m2.make_cursor(&path).unwrap();
    assert!(is_busy(c2.resize(gran() as u64)));
    // Bytes before the new end do not stand in the way.
    assert!(c2.resize((7 * gran()) as u64).is_ok());
    c1.unuse_region();
    c2.resize(gran() as u64).unwrap();
    assert_eq!(m1.num_file_handles(), 0);
    assert_eq!(fs::metadata(&path).unwrap().len(), gran() as u64);
}

#[test]
fn flush_syncs_writes_whose_region_and_entry_are_gone() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut model) = random_file(dir.path(), "f", 3 * gran(), 7);
    for man in [rw_sliding(), rw_sliding()] {
        let mut c = man.make_cursor(&path).unwrap();
        c.use_region_mut(5, 3).unwrap().copy_from_slice(b"xyz");
        model[5..8].copy_from_slice(b"xyz");
        drop(c);
        assert_eq!(man.collect(), 1);
        let s = man.stats();
        assert_eq!(
            (s.regions, s.open_descriptors),
            (0, 1),
            "kept for the flush: {s:?}"
        );
        man.flush().unwrap();
        assert_eq!(man.stats().open_descriptors, 0, "synced and closed");
        assert_eq!(fs::read(&path).unwrap(), model);
        // Nothing left to sync.
        man.flush().unwrap();
    }
    // The same through the budget (a whole-file region needs no descriptor otherwise).
    let man = StaticWindowMapManager::builder()
        .mode(MapMode::ReadWrite)
        .max_open_handles(1)
        .build()
        .unwrap();
    let (other, _) = random_file(dir.path(), "g", 100, 8);
    let mut c = man.make_cursor(&path).unwrap();
    c.use_region_mut(0, 1).unwrap()[0] = b'Q';
    model[0] = b'Q';
    c.unuse_region();
    let mut o = man.make_cursor(&other).unwrap();
    o.use_region(0, 1).unwrap(); // evicts the written region
    assert_eq!(man.stats().evictions, 1);
    man.flush().unwrap();
    assert_eq!(fs::read(&path).unwrap(), model);
}

/// Static manager, copy-on-write: a region mapped after the file grew must not hide the private
/// changes of an older one.
#[test]
fn private_changes_are_what_serves_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut data) = random_file(dir.path(), "f", 100, 9);
    let man = StaticWindowMapManager::builder()
        .mode(MapMode::CopyOnWrite)
        .build()
        .unwrap();
    let mut a = man.make_cursor(&path).unwrap();
    assert_eq!(a.use_region(0, 100).unwrap(), &data[..]);
    let more = common::random_bytes(100, 10);
    fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .and_then(|mut f| std::io::Write::write_all(&mut f, &more))
        .unwrap();
    data.extend_from_slice(&more);
    let mut b = man.make_cursor(&path).unwrap();
    assert_eq!(b.use_region(150, 10).unwrap(), &data[150..160]);
    drop(b);
    a.use_region_mut(0, 10)
        .unwrap()
        .copy_from_slice(b"PRIVATE!!!");
    a.unuse_region();
    let mut c = man.make_cursor(&path).unwrap();
    assert_eq!(c.use_region(0, 10).unwrap(), b"PRIVATE!!!");
    assert_eq!(a.use_region(0, 10).unwrap(), b"PRIVATE!!!");
    assert_eq!(
        &fs::read(&path).unwrap()[..10],
        &data[..10],
        "the file is unchanged"
    );
}

#[test]
fn an_external_shrink_keeps_private_changes() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "f", 3 * gran(), 11);
    let man = StaticWindowMapManager::builder()
        .mode(MapMode::CopyOnWrite)
        .build()
        .unwrap();
    let mut c = man.make_cursor(&path).unwrap();
    c.use_region_mut(0, 4).unwrap().copy_from_slice(b"MINE");
    c.unuse_region();
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(gran() as u64)
        .unwrap();
    let e = c.refresh_file_size().unwrap_err();
    assert!(matches!(&e, Error::FileShrank { .. }), "{e}");
    assert_eq!(man.num_file_handles(), 1, "not evicted");
    assert_eq!(c.use_region(0, 4).unwrap(), b"MINE");
}

#[test]
fn unuse_region_races_with_collect() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f", 4 * gran(), 12);
    let man = SlidingWindowMapManager::builder()
        .window_size(2 * gran())
        .build()
        .unwrap();
    let stop = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        let collector = s.spawn(|| {
            let mut n = 0u64;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                n += man.collect() as u64;
            }
            n
        });
        let mut c = man.make_cursor(&path).unwrap();
        // At least 100,000 rounds, and on until the collector got a turn (a loaded machine may
        // not schedule it at first), for 30 s at most.
        let t0 = std::time::Instant::now();
        for i in 0u64.. {
            if i >= 100_000
                && i % 1000 == 0
                && (man.stats().unmaps > 0 || t0.elapsed().as_secs() >= 30)
            {
                break;
            }
            let o = (i * 4099) % data.len() as u64;
            assert_eq!(c.use_region(o, 1).unwrap()[0], data[o as usize]);
            c.unuse_region();
        }
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        assert!(
            collector.join().unwrap() > 0,
            "the collector unmapped regions"
        );
    });
    let s = man.stats();
    assert_eq!(s.maps - s.unmaps, s.regions, "{s:?}");
}

#[test]
fn a_read_only_file_handed_to_a_read_write_manager_affects_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f", 3 * gran(), 13);
    let man = rw_sliding();
    // Without a path to reopen by: refused at once.
    let e = man
        .make_cursor_from_file(File::open(&path).unwrap())
        .unwrap_err();
    assert!(e.to_string().contains("read-write"), "{e}");
    assert_eq!(man.stats().open_descriptors, 0);
    // Known by path: the descriptor is not used, the file is reopened for writing.
    let mut by_path = man.make_cursor(&path).unwrap();
    let mut handed = man
        .make_cursor_from_file(File::open(&path).unwrap())
        .unwrap();
    assert_eq!(handed.use_region(10, 5).unwrap(), &data[10..15]);
    handed.unuse_region();
    by_path.use_region_mut(0, 1).unwrap()[0] = !data[0];
    drop(by_path);
    assert_eq!(handed.use_region(0, 1).unwrap()[0], !data[0]);
    // A read-only manager takes a read-only descriptor.
    let ro = SlidingWindowMapManager::new();
    let mut c = ro
        .make_cursor_from_file(File::open(&path).unwrap())
        .unwrap();
    assert_eq!(c.use_region(1, 4).unwrap(), &data[1..5]);
}

#[test]
fn a_mapping_refused_for_another_managers_claim_opens_no_descriptor() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "f", 3 * gran(), 14);
    let writers = rw_sliding();
    let mut w = writers.make_cursor(&path).unwrap();
    w.use_region_mut(0, 1).unwrap()[0] = 1;
    let readers = SlidingWindowMapManager::new();
    let mut r = readers.make_cursor(&path).unwrap();
    for _ in 0..3 {
        assert!(is_busy(r.use_region(0, 1)));
    }
    let s = readers.stats();
    assert_eq!((s.open_descriptors, s.descriptors_opened), (0, 0), "{s:?}");
    drop(w);
    assert!(r.use_region(0, 1).is_ok());
}

#[test]
fn copy_on_write_claims_do_not_refuse_other_managers() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f", 3 * gran(), 15);
    let private = StaticWindowMapManager::builder()
        .mode(MapMode::CopyOnWrite)
        .build()
        .unwrap();
    let mut p = private.make_cursor(&path).unwrap();
    p.use_region_mut(0, 4).unwrap().copy_from_slice(b"MINE");
    // A reader beside it reads the file as it is on disk.
    let readers = SlidingWindowMapManager::new();
    let mut r = readers.make_cursor(&path).unwrap();
    assert_eq!(r.use_region(0, 4).unwrap(), &data[..4]);
    assert_eq!(p.use_region(0, 4).unwrap(), b"MINE");
    // A shared writer would change bytes the private mapping still shares with the file.
    drop(r);
    readers.collect();
    let writers = rw_sliding();
    let mut w = writers.make_cursor(&path).unwrap();
    assert!(is_busy(w.use_region_mut(0, 4)));
}

#[test]
fn busy_errors_read_as_sentences() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "f", 4 * gran(), 16);
    let man = rw_sliding();
    let mut w = man.make_cursor(&path).unwrap();
    w.use_region_mut(0, 1).unwrap();
    let mut r = man.make_cursor(&path).unwrap();
    let e = r.use_region(0, 1).unwrap_err().to_string();
    assert!(e.contains(" are in use by a cursor writing to them"), "{e}");
    drop(w);
    let _pin = r.use_region(0, 1).unwrap();
    let mut w = man.make_cursor(&path).unwrap();
    let e = w.use_region_mut(0, 1).unwrap_err().to_string();
    assert!(
        e.contains(" are in use by other cursors or guards reading them"),
        "{e}"
    );
}

/// A mapping that fails evicts nothing and is not counted as a map over budget (sysfs
/// attributes are regular files that cannot be mapped).
#[test]
fn a_failed_mapping_evicts_nothing() {
    let unmappable = Path::new("/sys/kernel/mm/transparent_hugepage/enabled");
    if !unmappable.is_file() {
        eprintln!("skipped: {} is missing", unmappable.display());
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "f", 8 * gran(), 17);
    let man = SlidingWindowMapManager::builder()
        .window_size(2 * gran())
        .max_open_handles(1)
        .build()
        .unwrap();
    let mut c = man.make_cursor(&path).unwrap();
    c.use_region(0, 1).unwrap();
    c.unuse_region();
    let mut bad = man.make_cursor(unmappable).unwrap();
    let e = bad.use_region(0, 1).unwrap_err();
    assert!(e.to_string().contains("mmap"), "{e}");
    let s = man.stats();
    assert_eq!(
        (s.evictions, s.over_budget_maps, s.regions),
        (0, 0, 1),
        "{s:?}"
    );
    assert_eq!(
        s.open_descriptors, 1,
        "only the cached region's: the failed one is closed"
    );
}
