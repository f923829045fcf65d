//! The SIGBUS guard: a file truncated by another process under a live region is an
//! `Error::FileChanged` through every read path of both managers, not a crash; a SIGBUS outside
//! smmap's regions, or with the guard off, still kills the process. Each case runs in a child
//! process, so that a failure of the guard is a failed test, not a dead test binary.
#![cfg(unix)]

mod common;

use std::io::{BufRead, Read, Seek, SeekFrom};
use std::os::unix::process::ExitStatusExt;
use std::path::Path;

use common::{child_output, in_child, random_bytes, run_child};
use smmap::{
    Error, MappedRecord, RecordTable, SlidingWindowMapBuffer, SlidingWindowMapManager,
    StaticWindowMapManager, WindowCursor,
};

/// A record whose check reads its bytes (a magic number).
#[derive(MappedRecord, Clone, Copy, Debug)]
#[repr(C)]
struct Tagged {
    #[mapped(magic = b"SMRK")]
    magic: [u8; 4],
    payload: [u8; 12],
}

const LEN: usize = 1 << 20;
/// The size the file is truncated to.
const KEEP: u64 = 64 << 10;
/// An offset past `KEEP`, in the region the cursors use before the truncation.
const AT: u64 = 600_000;
const REC: u64 = 16;

/// A file of `Tagged` records with random payloads.
fn tagged_file(dir: &Path, seed: u64) -> (std::path::PathBuf, Vec<u8>) {
    let mut data = random_bytes(LEN, seed);
    for rec in data.chunks_exact_mut(REC as usize) {
        rec[..4].copy_from_slice(b"SMRK");
    }
    let path = dir.join(format!("tagged-{seed}"));
    std::fs::write(&path, &data).unwrap();
    (path, data)
}

/// Truncates `path` to `len` bytes from another process (`dd` with `seek`, as POSIX has it).
fn truncate_elsewhere(path: &Path, len: u64) {
    let status = std::process::Command::new("dd")
        .arg("if=/dev/null")
        .arg(format!("of={}", path.display()))
        .arg("bs=1")
        .arg(format!("seek={len}"))
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    assert_eq!(std::fs::metadata(path).unwrap().len(), len);
}

fn is_changed<T: std::fmt::Debug>(r: smmap::Result<T>, what: &str) -> (u64, u64) {
    match r {
        Err(Error::FileChanged(d)) => (d.offset, d.len),
        other => panic!("{what}: expected FileChanged, got {other:?}"),
    }
}

fn io_is_changed<T: std::fmt::Debug>(r: std::io::Result<T>, what: &str) {
    match r {
        Err(e) => match e.get_ref().and_then(|i| i.downcast_ref::<Error>()) {
            Some(Error::FileChanged { .. }) => {}
            _ => panic!("{what}: expected FileChanged, got {e:?}"),
        },
        Ok(v) => panic!("{what}: expected FileChanged, got Ok({v:?})"),
    }
}

type MakeCursor = dyn Fn(&Path) -> WindowCursor;

/// After the loss was reported, the cursor maps the file anew: what is left reads right, the
/// rest is out of bounds.
fn reads_what_is_left(mut c: WindowCursor, data: &[u8], what: &str) {
    assert_eq!(c.use_region(100, 50).unwrap(), &data[100..150], "{what}");
    assert!(
        matches!(c.use_region(AT, 1), Err(Error::OutOfBounds { .. })),
        "{what}"
    );
}

/// Every read path, each on a fresh file truncated under a live region.
fn every_read_path(make: &MakeCursor) {
    let dir = tempfile::tempdir().unwrap();
    let mut seed = 0;
    let mut fresh = || {
        seed += 1;
        tagged_file(dir.path(), seed)
    };
    let at = AT as usize;

    // A zero-copy view reads zeros; the next call reports the loss.
    let (path, data) = fresh();
    let mut c = make(&path);
    assert_eq!(c.use_region(AT, 64).unwrap(), &data[at..at + 64]);
    truncate_elsewhere(&path, KEEP);
    let view = c.use_region(AT, 64).unwrap();
    assert!(view.iter().all(|&b| b == 0), "lost bytes read as zeros");
    let (offset, len) = is_changed(c.use_region(AT, 64), "use_region");
    assert!(offset <= AT && AT + 64 <= offset + len, "{offset} {len}");
    assert!(!c.is_valid());
    reads_what_is_left(c, &data, "use_region");

    // A record whose check reads it.
    let (path, data) = fresh();
    let mut c = make(&path);
    c.record::<Tagged>(AT).unwrap();
    truncate_elsewhere(&path, KEEP);
    is_changed(c.record::<Tagged>(AT + REC), "record");
    reads_what_is_left(c, &data, "record");

    let (path, data) = fresh();
    let mut c = make(&path);
    c.records::<Tagged>(AT, 4).unwrap();
    truncate_elsewhere(&path, KEEP);
    is_changed(c.records::<Tagged>(AT, 4), "records");
    reads_what_is_left(c, &data, "records");

    // A guard handed out before: zeros, then the cursor reports the loss.
    let (path, data) = fresh();
    let mut c = make(&path);
    let g = c.pin::<[u8; 16]>(AT).unwrap();
    assert_eq!(&g[..], &data[at..at + 16]);
    truncate_elsewhere(&path, KEEP);
    assert_eq!(*g, [0u8; 16]);
    is_changed(c.use_region(AT, 1), "after a guard");
    drop(g);
    reads_what_is_left(c, &data, "guard");

    // A record table: `get` and `chunk_at`.
    for chunked in [false, true] {
        let (path, data) = fresh();
        let mut t = RecordTable::<Tagged>::new(make(&path), 0, LEN as u64 / REC).unwrap();
        let i = AT / REC;
        t.get(i).unwrap();
        truncate_elsewhere(&path, KEEP);
        if chunked {
            is_changed(t.chunk_at(i + 1), "chunk_at");
        } else {
            is_changed(t.get(i + 1), "get");
        }
        assert_eq!(t.get(2).unwrap().payload(), &data[2 * 16 + 4..3 * 16]);
        assert!(matches!(t.get(i), Err(Error::OutOfBounds { .. })));
    }

    // Iterators: records copied out (checked after the copy), and chunks in place.
    let (path, data) = fresh();
    let mut it = make(&path).iter_records::<[u8; 16]>(AT);
    assert_eq!(&it.next().unwrap().unwrap()[..], &data[at..at + 16]);
    truncate_elsewhere(&path, KEEP);
    is_changed(it.next().unwrap(), "iterator of copies");
    assert!(matches!(it.next(), Some(Err(Error::OutOfBounds { .. }))));
    assert!(it.next().is_none());

    let (path, _) = fresh();
    let mut it = make(&path).iter_records::<Tagged>(AT);
    it.next().unwrap().unwrap();
    truncate_elsewhere(&path, KEEP);
    is_changed(it.next_chunk().unwrap(), "next_chunk");

    // The buffer: every copying read reports the bytes it just read.
    type BufOp = fn(&mut SlidingWindowMapBuffer) -> Result<(), String>;
    let ops: [(&str, BufOp); 9] = [
        ("read", |b| {
            b.seek(SeekFrom::Start(AT)).unwrap();
            io_is_changed(b.read(&mut [0; 64]), "read");
            Ok(())
        }),
        ("read_exact", |b| {
            b.seek(SeekFrom::Start(AT)).unwrap();
            io_is_changed(b.read_exact(&mut [0; 64]), "read_exact");
            Ok(())
        }),
        ("read_to_end", |b| {
            b.seek(SeekFrom::Start(AT)).unwrap();
            let mut v = Vec::new();
            io_is_changed(b.read_to_end(&mut v), "read_to_end");
            Ok(())
        }),
        ("try_get", |b| {
            is_changed(b.try_get(AT), "try_get");
            Ok(())
        }),
        ("find", |b| {
            is_changed(b.find(b"not in the file: 0123456789", AT), "find");
            Ok(())
        }),
        ("rfind", |b| {
            is_changed(
                b.rfind_in(b"not in the file: 0123456789", AT..AT + 4096),
                "rfind",
            );
            Ok(())
        }),
        ("readline", |b| {
            b.seek(SeekFrom::Start(AT)).unwrap();
            is_changed(b.readline(), "readline");
            Ok(())
        }),
        ("read_until", |b| {
            b.seek(SeekFrom::Start(AT)).unwrap();
            let mut v = Vec::new();
            io_is_changed(b.read_until(b'\n', &mut v), "read_until");
            assert!(v.is_empty(), "lost bytes are not handed out");
            Ok(())
        }),
        ("copy_to", |b| {
            b.seek(SeekFrom::Start(AT)).unwrap();
            // A writer that reads the bytes (a sink would not touch them).
            io_is_changed(b.copy_to(&mut Vec::new()), "copy_to");
            Ok(())
        }),
    ];
    for (name, op) in ops {
        let (path, data) = fresh();
        let mut b = SlidingWindowMapBuffer::new(make(&path)).unwrap();
        assert_eq!(b.try_get(AT).unwrap(), Some(data[at]), "{name}");
        truncate_elsewhere(&path, KEEP);
        op(&mut b).unwrap();
        // The buffer knows its length from before; what is left of the file reads right.
        assert_eq!(b.try_get(100).unwrap(), Some(data[100]), "{name}");
        eprintln!("buffer {name}: ok");
    }
}

fn sliding(path: &Path) -> WindowCursor {
    SlidingWindowMapManager::builder()
        .window_size(256 << 10)
        .build()
        .unwrap()
        .make_cursor(path)
        .unwrap()
}

/// A sliding cursor that holds its window by a hazard (switched to without the lock): windows
/// at 0 and at `AT` are mapped, then visited again.
fn sliding_by_hazard(path: &Path) -> WindowCursor {
    let mut c = sliding(path);
    for o in [0, AT, 0, AT] {
        c.use_region(o, 16).unwrap();
    }
    c
}

fn static_(path: &Path) -> WindowCursor {
    StaticWindowMapManager::new().make_cursor(path).unwrap()
}

#[test]
fn truncated_under_a_sliding_manager_is_an_error_through_every_read_path() {
    let name = "truncated_under_a_sliding_manager_is_an_error_through_every_read_path";
    if !in_child(name) {
        return run_child(name);
    }
    every_read_path(&sliding);
}

#[test]
fn truncated_under_a_window_held_by_a_hazard_is_an_error_through_every_read_path() {
    let name = "truncated_under_a_window_held_by_a_hazard_is_an_error_through_every_read_path";
    if !in_child(name) {
        return run_child(name);
    }
    every_read_path(&sliding_by_hazard);
}

#[test]
fn truncated_under_a_static_manager_is_an_error_through_every_read_path() {
    let name = "truncated_under_a_static_manager_is_an_error_through_every_read_path";
    if !in_child(name) {
        return run_child(name);
    }
    every_read_path(&static_);
}

/// Threads reading one region while the file is cut: each learns of the loss, none crashes.
#[test]
fn threads_reading_a_truncated_file_all_learn_of_it() {
    let name = "threads_reading_a_truncated_file_all_learn_of_it";
    if !in_child(name) {
        return run_child(name);
    }
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = tagged_file(dir.path(), 99);
    let man = StaticWindowMapManager::new();
    let cut = std::sync::atomic::AtomicBool::new(false);
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let mut c = man.make_cursor(&path).unwrap();
            let (data, cut) = (&data, &cut);
            s.spawn(move || {
                let (mut changed, mut after) = (false, 0);
                // Until the file was cut and this thread read on for a while after.
                for k in 0u64.. {
                    if cut.load(std::sync::atomic::Ordering::Acquire) {
                        after += 1;
                        if after > 20_000 {
                            break;
                        }
                    }
                    let at = (k * 4099 + t * 977) % (LEN as u64 - 16);
                    let exp = &data[at as usize..at as usize + 16];
                    match c.use_region(at, 16) {
                        // Bytes before the cut are always right; lost ones read as zeros
                        // until the next call reports them.
                        Ok(b) => {
                            let k = KEEP.saturating_sub(at).min(16) as usize;
                            assert_eq!(b[..k], exp[..k], "{at}");
                            let rest = &b[k..];
                            assert!(rest == &exp[k..] || rest.iter().all(|&x| x == 0), "{at}");
                        }
                        Err(Error::FileChanged { .. }) => changed = true,
                        Err(Error::OutOfBounds { .. }) => {
                            assert!(at >= KEEP && changed, "{at}");
                        }
                        Err(e) => panic!("{e}"),
                    }
                }
                assert!(changed, "thread {t} learned of the loss");
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
        truncate_elsewhere(&path, KEEP);
        cut.store(true, std::sync::atomic::Ordering::Release);
    });
}

/// A child that reads a raw map of a truncated file (not smmap's) after smmap installed its
/// guard, or smmap's own region with the guard off.
fn foreign_or_unguarded(guarded: bool) {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = tagged_file(dir.path(), 1);
    let man = StaticWindowMapManager::builder()
        .sigbus_guard(guarded)
        .build()
        .unwrap();
    let mut c = man.make_cursor(&path).unwrap();
    c.use_region(0, 1).unwrap();
    let file = std::fs::File::open(&path).unwrap();
    // SAFETY: the test's own file, which it truncates on purpose to raise SIGBUS.
    let raw = unsafe { memmap2::Mmap::map(&file) }.unwrap();
    truncate_elsewhere(&path, KEEP);
    eprintln!("reading lost bytes");
    let v = if guarded {
        std::hint::black_box(&raw[..])[AT as usize]
    } else {
        c.use_region(AT, 1).unwrap()[0]
    };
    eprintln!("survived: {v}");
}

fn dies_of_sigbus(test: &str) {
    let (status, text) = child_output(test);
    assert_eq!(
        status.signal(),
        Some(libc::SIGBUS),
        "the child should die of SIGBUS ({status:?}):\n{text}"
    );
    assert!(text.contains("reading lost bytes") && !text.contains("survived"));
}

#[test]
fn a_sigbus_outside_smmaps_regions_still_kills() {
    let name = "a_sigbus_outside_smmaps_regions_still_kills";
    if in_child(name) {
        return foreign_or_unguarded(true);
    }
    dies_of_sigbus(name);
}

#[test]
fn without_the_guard_a_truncated_file_kills() {
    let name = "without_the_guard_a_truncated_file_kills";
    if in_child(name) {
        return foreign_or_unguarded(false);
    }
    dies_of_sigbus(name);
}

/// Writes to pages lost under a writable mapping never reach the file: the flush says so.
#[test]
fn writes_lost_to_a_truncation_are_reported_by_flush() {
    let name = "writes_lost_to_a_truncation_are_reported_by_flush";
    if !in_child(name) {
        return run_child(name);
    }
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = tagged_file(dir.path(), 7);
    let man = SlidingWindowMapManager::builder()
        .window_size(256 << 10)
        .mode(smmap::MapMode::ReadWrite)
        .build()
        .unwrap();
    let mut c = man.make_cursor(&path).unwrap();
    c.use_region_mut(AT, 16).unwrap().copy_from_slice(&[1; 16]);
    truncate_elsewhere(&path, KEEP);
    // The write faults, lands in a zero page, and is lost.
    c.use_region_mut(AT, 16).unwrap().copy_from_slice(&[2; 16]);
    let (offset, len) = is_changed(c.flush(), "flush");
    assert!(offset <= AT && AT + 16 <= offset + len);
    is_changed(c.use_region(AT, 16), "the next read");
    c.unuse_region();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        &data[..KEEP as usize],
        "the file is what is left of it"
    );
    reads_what_is_left(c, &data, "after a lost write");
}

/// The same when the region with the lost writes is unmapped before the flush.
#[test]
fn writes_lost_to_a_truncation_are_reported_after_their_region_is_gone() {
    let name = "writes_lost_to_a_truncation_are_reported_after_their_region_is_gone";
    if !in_child(name) {
        return run_child(name);
    }
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = tagged_file(dir.path(), 8);
    let man = SlidingWindowMapManager::builder()
        .window_size(256 << 10)
        .mode(smmap::MapMode::ReadWrite)
        .build()
        .unwrap();
    let mut c = man.make_cursor(&path).unwrap();
    c.use_region_mut(AT, 16).unwrap().copy_from_slice(&[1; 16]);
    truncate_elsewhere(&path, KEEP);
    c.use_region_mut(AT, 16).unwrap().copy_from_slice(&[2; 16]);
    c.unuse_region();
    assert!(
        man.collect() > 0,
        "the region with the lost writes is unmapped"
    );
    let (offset, len) = is_changed(c.flush(), "flush");
    assert!(offset <= AT && AT + 16 <= offset + len);
    c.flush().unwrap();
    reads_what_is_left(c, &data, "after lost writes were reported");
}
