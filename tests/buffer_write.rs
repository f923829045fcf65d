//! Writing through `SlidingWindowMapBuffer`: random writes, byte writes, slice assignments and
//! overlapping moves across windows against a `Vec<u8>` model (then the file itself), writes
//! past the end, read-only and copy-on-write managers, resizing, two buffers on one file,
//! `copy_to`.

mod common;

use std::io::{self, Read, Seek, SeekFrom, Write};

use common::{random_bytes, random_file, rng};
use proptest::prelude::*;
use rand::RngExt;
use rand::rngs::StdRng;
use smmap::{
    Error, MapMode, SlidingWindowMapBuffer, SlidingWindowMapManager, StaticWindowMapManager,
};

/// The window of [`tiny_rw`]: `window_size(1)` is rounded up to twice the allocation
/// granularity (8 KiB on Linux, 128 KiB on Windows).
fn w() -> usize {
    2 * smmap::allocation_granularity()
}

/// A read-write manager with the smallest windows and room for three of them: windows are evicted
/// (after being written) during every long test.
fn tiny_rw() -> SlidingWindowMapManager {
    let man = SlidingWindowMapManager::builder()
        .window_size(1)
        .max_memory_size(3 * w())
        .mode(MapMode::ReadWrite)
        .build()
        .unwrap();
    assert_eq!(man.window_size(), w());
    man
}

fn buffer(man: &SlidingWindowMapManager, path: &std::path::Path) -> SlidingWindowMapBuffer {
    SlidingWindowMapBuffer::new(man.make_cursor(path).unwrap()).unwrap()
}

/// The smmap error inside an `io::Error` made from one.
fn inner(e: &io::Error) -> &Error {
    e.get_ref()
        .and_then(|e| e.downcast_ref::<Error>())
        .unwrap_or_else(|| panic!("not an smmap error: {e:?}"))
}

/// One write operation, applied to a buffer and to a model of its bytes.
#[derive(Debug, Clone)]
enum Op {
    /// Seek to the index, then `io::Write::write` the bytes.
    SeekWrite(u64, Vec<u8>),
    /// `write_byte` at the position.
    WriteByte(u8),
    /// `set(i, b)`.
    Set(u64, u8),
    /// `write_at(i, bytes)`.
    WriteAt(u64, Vec<u8>),
    /// `move_within(dest, src, count)`.
    Move(u64, u64, u64),
    /// Compare a range read back through the buffer.
    Check(u64, u64),
}

/// Applies `op` to `buf` and to `model` (with `pos`, the model's position) and checks that
/// both agree on the result.
fn apply(buf: &mut SlidingWindowMapBuffer, model: &mut [u8], pos: &mut u64, op: &Op) {
    let len = model.len() as u64;
    let fits = |at: u64, n: u64| at <= len && n <= len - at;
    match op {
        Op::SeekWrite(at, data) => {
            buf.seek(SeekFrom::Start(*at)).unwrap();
            *pos = *at;
            let r = buf.write(data);
            if data.is_empty() {
                assert_eq!(r.unwrap(), 0);
            } else if fits(*at, data.len() as u64) {
                assert_eq!(r.unwrap(), data.len(), "{op:?}");
                model[*at as usize..*at as usize + data.len()].copy_from_slice(data);
                *pos += data.len() as u64;
            } else {
                let e = r.unwrap_err();
                assert_eq!(e.kind(), io::ErrorKind::WriteZero, "{op:?}");
                assert!(matches!(inner(&e), Error::OutOfBounds { .. }), "{e:?}");
            }
        }
        Op::WriteByte(b) => {
            let r = buf.write_byte(*b);
            if *pos < len {
                r.unwrap();
                model[*pos as usize] = *b;
                *pos += 1;
            } else {
                assert!(matches!(r, Err(Error::OutOfBounds { .. })), "{r:?}");
            }
        }
        Op::Set(i, b) => {
            let r = buf.set(*i, *b);
            if *i < len {
                r.unwrap();
                model[*i as usize] = *b;
            } else {
                assert!(matches!(r, Err(Error::OutOfBounds { .. })), "{r:?}");
            }
        }
        Op::WriteAt(i, data) => {
            let r = buf.write_at(*i, data);
            if fits(*i, data.len() as u64) {
                r.unwrap();
                model[*i as usize..*i as usize + data.len()].copy_from_slice(data);
            } else {
                assert!(matches!(r, Err(Error::OutOfBounds { .. })), "{r:?}");
            }
        }
        Op::Move(dest, src, count) => {
            let r = buf.move_within(*dest, *src, *count);
            if fits(*dest, *count) && fits(*src, *count) {
                r.unwrap();
                let (d, s, n) = (*dest as usize, *src as usize, *count as usize);
                model.copy_within(s..s + n, d);
            } else {
                assert!(matches!(r, Err(Error::OutOfBounds { .. })), "{r:?}");
            }
        }
        Op::Check(at, n) => {
            let end = (at + n).min(len);
            let at = (*at).min(end);
            assert_eq!(
                &*buf.slice(at..end).unwrap(),
                &model[at as usize..end as usize],
                "{op:?}"
            );
        }
    }
    assert_eq!(buf.tell(), *pos, "position after {op:?}");
}

/// A random operation on a buffer of `len` bytes: mostly in bounds, some past the end, lengths
/// from a byte to several windows, moves overlapping in both directions.
fn random_op(r: &mut StdRng, len: u64, seed: u64) -> Op {
    let at = |r: &mut StdRng| r.random_range(0..=len);
    let n = |r: &mut StdRng| match r.random_range(0..4) {
        0 => r.random_range(0..8),
        1 => r.random_range(0..w() as u64),
        2 => r.random_range(0..4 * w() as u64),
        _ => r.random_range(0..=len),
    };
    match r.random_range(0..12) {
        0..=2 => {
            let i = at(r);
            let k = n(r);
            Op::SeekWrite(i, random_bytes(k as usize, seed))
        }
        3 => Op::WriteByte(r.random()),
        4 => Op::Set(r.random_range(0..len + 2), r.random()),
        5 => {
            let i = at(r);
            let k = n(r);
            Op::WriteAt(i, random_bytes(k as usize, seed))
        }
        6..=8 => {
            let count = n(r);
            let src = r.random_range(0..=len);
            // Often an overlapping destination, in either direction.
            let dest = if r.random_bool(0.6) {
                let d = r.random_range(0..=count.max(1));
                if r.random_bool(0.5) {
                    src.saturating_sub(d)
                } else {
                    src + d
                }
            } else {
                r.random_range(0..=len)
            };
            Op::Move(dest, src, count)
        }
        _ => {
            let i = at(r);
            let k = n(r);
            Op::Check(i, k)
        }
    }
}

/// Runs `ops` on a buffer over `path` (through `man`), checks the buffer against the model,
/// flushes, drops everything and compares the file with the model.
fn run(man: SlidingWindowMapManager, path: &std::path::Path, mut model: Vec<u8>, ops: &[Op]) {
    let mut buf = buffer(&man, path);
    let mut pos = 0;
    for op in ops {
        apply(&mut buf, &mut model, &mut pos, op);
    }
    assert!(man.mapped_memory_size() <= man.max_mapped_memory_size());
    let mut all = Vec::new();
    buf.seek(SeekFrom::Start(0)).unwrap();
    buf.read_to_end(&mut all).unwrap();
    assert!(all == model, "read back through the buffer");
    buf.flush().unwrap();
    drop(buf);
    drop(man);
    assert!(
        std::fs::read(path).unwrap() == model,
        "the file equals the model"
    );
}

#[test]
fn random_writes_and_moves_match_a_model() {
    let dir = tempfile::tempdir().unwrap();
    for (round, len) in [20 * w() + 123, 3 * w(), 100, 1].into_iter().enumerate() {
        let seed = 200 + round as u64;
        let (path, model) = random_file(dir.path(), &format!("f{round}"), len, seed);
        let mut r = rng(seed);
        let ops: Vec<Op> = (0..600)
            .map(|i| random_op(&mut r, len as u64, seed * 1000 + i))
            .collect();
        let man = tiny_rw();
        run(man, &path, model, &ops);
    }
}

#[test]
fn every_window_is_written_and_evicted() {
    let dir = tempfile::tempdir().unwrap();
    let len = 16 * w() + 7;
    let (path, mut model) = random_file(dir.path(), "f", len, 210);
    let man = tiny_rw();
    let mut buf = buffer(&man, &path);
    // One write over the whole file, then one byte per window, then a move of (nearly) all of
    // it by one byte in each direction.
    let patch = random_bytes(len, 211);
    buf.write_all(&patch).unwrap();
    model.copy_from_slice(&patch);
    assert_eq!(buf.tell(), len as u64);
    for i in (0..len).step_by(w() / 2 - 1) {
        buf.set(i as u64, i as u8).unwrap();
        model[i] = i as u8;
    }
    buf.move_within(1, 0, len as u64 - 1).unwrap();
    model.copy_within(0..len - 1, 1);
    buf.move_within(0, 1, len as u64 - 1).unwrap();
    model.copy_within(1..len, 0);
    // A move across distant windows, not overlapping.
    buf.move_within(10 * w() as u64 + 3, 5, 3 * w() as u64)
        .unwrap();
    model.copy_within(5..5 + 3 * w(), 10 * w() + 3);
    assert!(man.stats().evictions > 0, "{:?}", man.stats());
    buf.flush().unwrap();
    drop(buf);
    assert!(std::fs::read(&path).unwrap() == model);
}

#[test]
fn writes_through_a_range_buffer_are_relative() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut model) = random_file(dir.path(), "f", 6 * w(), 212);
    let man = tiny_rw();
    let (off, len) = (w() as u64 + 100, 2 * w() as u64);
    let mut buf =
        SlidingWindowMapBuffer::with_range(man.make_cursor(&path).unwrap(), off, len).unwrap();
    let mut sub = model[off as usize..(off + len) as usize].to_vec();
    let mut pos = 0;
    let mut r = rng(213);
    for i in 0..400 {
        let op = random_op(&mut r, len, 2130 + i);
        apply(&mut buf, &mut sub, &mut pos, &op);
    }
    buf.flush().unwrap();
    drop(buf);
    model[off as usize..(off + len) as usize].copy_from_slice(&sub);
    assert!(
        std::fs::read(&path).unwrap() == model,
        "bytes outside the range untouched"
    );
}

#[test]
fn writes_past_the_end_change_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f", 3 * w() + 5, 214);
    let man = tiny_rw();
    let mut buf = buffer(&man, &path);
    let len = buf.len();

    // Python: "data out of range"; nothing written, the position unchanged.
    buf.seek(SeekFrom::Start(len - 3)).unwrap();
    let e = buf.write(b"12345").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::WriteZero);
    assert!(
        matches!(inner(&e), Error::OutOfBounds(d) if d.len == 5 && d.offset == len - 3),
        "{e:?}"
    );
    assert_eq!(buf.tell(), len - 3);
    assert_eq!(
        buf.write_all(b"12345").unwrap_err().kind(),
        io::ErrorKind::WriteZero
    );
    // A write that crosses every window and runs one byte past the end.
    buf.seek(SeekFrom::Start(0)).unwrap();
    assert!(buf.write(&vec![0u8; len as usize + 1]).is_err());
    assert_eq!(buf.tell(), 0);
    // Past the end: writes fail, empty writes do nothing.
    buf.seek(SeekFrom::Start(len + 10)).unwrap();
    assert!(buf.write(b"x").is_err());
    assert_eq!(buf.write(b"").unwrap(), 0);
    assert!(matches!(buf.write_byte(1), Err(Error::OutOfBounds { .. })));
    assert_eq!(buf.tell(), len + 10);
    buf.seek(SeekFrom::Start(len)).unwrap();
    assert!(matches!(buf.write_byte(1), Err(Error::OutOfBounds { .. })));
    assert!(matches!(buf.set(len, 1), Err(Error::OutOfBounds { .. })));
    assert!(matches!(
        buf.write_at(len - 1, b"ab"),
        Err(Error::OutOfBounds { .. })
    ));
    assert!(matches!(
        buf.write_at(len + 1, b""),
        Err(Error::OutOfBounds { .. })
    ));
    buf.write_at(len, b"").unwrap();
    // Python's ValueError of move: either range past the end.
    for (d, s, n) in [(1, 0, len), (0, 1, len), (len + 1, 0, 0), (0, len + 1, 0)] {
        assert!(
            matches!(buf.move_within(d, s, n), Err(Error::OutOfBounds { .. })),
            "move({d}, {s}, {n})"
        );
    }
    buf.move_within(len, 0, 0).unwrap();
    // Slice assignment: the lengths must agree.
    assert!(matches!(
        buf.set_slice(0..3, b"ab"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        buf.set_slice(len - 1..len + 1, b"ab"),
        Err(Error::OutOfBounds { .. })
    ));
    assert!(matches!(
        buf.flush_range(len - 1, 2),
        Err(Error::OutOfBounds { .. })
    ));
    buf.flush_range(0, len).unwrap();
    buf.flush().unwrap();
    drop(buf);
    assert!(std::fs::read(&path).unwrap() == data);

    // Writing exactly up to the end is fine.
    let mut buf = buffer(&man, &path);
    buf.seek(SeekFrom::End(-3)).unwrap();
    buf.write_all(b"end").unwrap();
    assert_eq!(buf.tell(), len);
    buf.set_slice(0..3, b"abc").unwrap();
    buf.flush().unwrap();
    drop(buf);
    let mut want = data.clone();
    want[..3].copy_from_slice(b"abc");
    want[len as usize - 3..].copy_from_slice(b"end");
    assert!(std::fs::read(&path).unwrap() == want);
}

#[test]
fn read_only_manager_refuses_every_write() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f", 3 * w(), 215);
    let man = SlidingWindowMapManager::builder()
        .window_size(1)
        .build()
        .unwrap();
    let mut buf = buffer(&man, &path);
    buf.seek(SeekFrom::Start(10)).unwrap();
    for e in [buf.write(b"abc").unwrap_err(), buf.write(b"").unwrap_err()] {
        assert_eq!(e.kind(), io::ErrorKind::PermissionDenied);
        assert!(
            matches!(inner(&e), Error::ReadOnly(d) if d.offset == 10),
            "{e:?}"
        );
    }
    assert_eq!(buf.tell(), 10);
    let ro = |r: smmap::Result<()>| matches!(r, Err(Error::ReadOnly { .. }));
    assert!(ro(buf.write_byte(1)));
    assert!(ro(buf.set(0, 1)));
    assert!(ro(buf.write_at(w() as u64 - 2, b"abcd")));
    assert!(ro(buf.set_slice(0..2, b"ab")));
    assert!(ro(buf.move_within(0, 1, 5)));
    assert!(ro(buf.move_within(0, 2 * w() as u64, w() as u64)));
    assert!(ro(buf.resize(5)));
    // Reading and flushing still work.
    assert_eq!(buf.get(10), Some(data[10]));
    buf.flush().unwrap();
    io::Write::flush(&mut buf).unwrap();
    drop(buf);
    assert!(std::fs::read(&path).unwrap() == data);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), 3 * w() as u64);
}

#[test]
fn copy_on_write_changes_stay_in_the_process() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f", 5 * w() + 3, 216);
    let man = StaticWindowMapManager::builder()
        .mode(MapMode::CopyOnWrite)
        .build()
        .unwrap();
    let mut buf = SlidingWindowMapBuffer::new(man.make_cursor(&path).unwrap()).unwrap();
    let mut model = data.clone();
    let mut pos = 0;
    let mut r = rng(217);
    for i in 0..300 {
        let op = random_op(&mut r, model.len() as u64, 2170 + i);
        apply(&mut buf, &mut model, &mut pos, &op);
    }
    assert!(model != data, "some writes happened");
    let mut seen = Vec::new();
    buf.seek(SeekFrom::Start(0)).unwrap();
    buf.read_to_end(&mut seen).unwrap();
    assert!(seen == model, "the buffer sees its writes");
    buf.flush().unwrap();
    man.flush().unwrap();
    assert!(matches!(buf.resize(3), Err(Error::ReadOnly { .. })));
    assert!(
        std::fs::read(&path).unwrap() == data,
        "the file never changes"
    );
    drop(buf);
    assert!(std::fs::read(&path).unwrap() == data);
}

#[test]
fn resize_grows_and_truncates_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut model) = random_file(dir.path(), "f", 3 * w() + 11, 218);
    let man = tiny_rw();
    let mut buf = buffer(&man, &path);
    let size = |p: &std::path::Path| std::fs::metadata(p).unwrap().len();

    // Up: new bytes read as zeros, and can be written.
    buf.seek(SeekFrom::Start(100)).unwrap();
    buf.resize(7 * w() as u64 + 1).unwrap();
    assert_eq!(buf.len(), 7 * w() as u64 + 1);
    assert_eq!(size(&path), 7 * w() as u64 + 1);
    assert_eq!(buf.tell(), 100);
    model.resize(7 * w() + 1, 0);
    assert!(*buf.slice(0..buf.len()).unwrap() == model[..]);
    buf.write_at(6 * w() as u64, b"grown").unwrap();
    model[6 * w()..6 * w() + 5].copy_from_slice(b"grown");
    buf.move_within(5 * w() as u64, 10, 2 * w() as u64).unwrap();
    model.copy_within(10..10 + 2 * w(), 5 * w());

    // Down: past the new end, reads return nothing and writes fail; the position is kept.
    buf.seek(SeekFrom::Start(2 * w() as u64)).unwrap();
    buf.resize(w() as u64 + 3).unwrap();
    model.truncate(w() + 3);
    assert_eq!((buf.len(), size(&path)), (w() as u64 + 3, w() as u64 + 3));
    assert_eq!(buf.tell(), 2 * w() as u64);
    assert_eq!(buf.get(w() as u64 + 3), None);
    assert_eq!(buf.get(w() as u64 + 2), Some(model[w() + 2]));
    assert!(buf.slice(0..w() as u64 + 4).is_err());
    assert_eq!(buf.read(&mut [0u8; 10]).unwrap(), 0);
    assert!(buf.write(b"x").is_err());
    assert!(buf.set(w() as u64 + 3, 0).is_err());
    // Down to nothing, and up again.
    buf.resize(0).unwrap();
    assert!(buf.is_empty());
    assert_eq!(size(&path), 0);
    buf.resize(5).unwrap();
    assert_eq!(&*buf.slice(0..5).unwrap(), &[0; 5]);
    buf.write_at(0, &model[..5]).unwrap();
    buf.flush().unwrap();
    drop(buf);
    assert!(std::fs::read(&path).unwrap() == model[..5]);
}

#[test]
fn static_manager_writes_and_resizes() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut model) = random_file(dir.path(), "f", 5 * w() + 9, 225);
    let man = StaticWindowMapManager::builder()
        .mode(MapMode::ReadWrite)
        .build()
        .unwrap();
    let mut buf = SlidingWindowMapBuffer::new(man.make_cursor(&path).unwrap()).unwrap();
    let mut pos = 0;
    let mut r = rng(226);
    for i in 0..200 {
        let op = random_op(&mut r, model.len() as u64, 2260 + i);
        apply(&mut buf, &mut model, &mut pos, &op);
    }
    buf.resize(9 * w() as u64).unwrap();
    model.resize(9 * w(), 0);
    for i in 0..200 {
        let op = random_op(&mut r, model.len() as u64, 2262 + i);
        apply(&mut buf, &mut model, &mut pos, &op);
    }
    buf.resize(2 * w() as u64 + 1).unwrap();
    model.truncate(2 * w() + 1);
    assert!(*buf.slice(0..buf.len()).unwrap() == model[..]);
    buf.flush().unwrap();
    drop(buf);
    assert!(std::fs::read(&path).unwrap() == model);
}

#[test]
fn resize_of_a_range_buffer_needs_the_end_of_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f", 4 * w(), 219);
    let man = tiny_rw();
    let size = || std::fs::metadata(&path).unwrap().len();

    // A range that does not reach the end of the file: refused, nothing changes.
    let mut head =
        SlidingWindowMapBuffer::with_range(man.make_cursor(&path).unwrap(), 10, 100).unwrap();
    assert!(matches!(head.resize(50), Err(Error::InvalidArgument(_))));
    assert!(matches!(head.resize(200), Err(Error::InvalidArgument(_))));
    assert_eq!((head.len(), size()), (100, 4 * w() as u64));
    drop(head);

    // A range that runs to the end: the file becomes offset + new_len bytes long.
    let off = w() as u64 + 1;
    let mut tail =
        SlidingWindowMapBuffer::with_range(man.make_cursor(&path).unwrap(), off, u64::MAX).unwrap();
    tail.resize(10).unwrap();
    assert_eq!((tail.len(), size()), (10, off + 10));
    tail.resize(2 * w() as u64).unwrap();
    assert_eq!((tail.len(), size()), (2 * w() as u64, off + 2 * w() as u64));
    assert_eq!(tail.get(10), Some(0));
    assert_eq!(tail.get(9), Some(data[off as usize + 9]));
    tail.flush().unwrap();

    // A whole-file buffer over a file that has grown since: it no longer ends at the end.
    let mut whole = buffer(&man, &path);
    drop(tail);
    std::fs::OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"more")
        .unwrap();
    assert!(matches!(whole.resize(3), Err(Error::InvalidArgument(_))));
    assert_eq!(size(), off + 2 * w() as u64 + 4);
    drop(whole);
    let mut want = data[..off as usize + 10].to_vec();
    want.resize(off as usize + 2 * w(), 0);
    want.extend_from_slice(b"more");
    assert!(std::fs::read(&path).unwrap() == want);
}

#[test]
fn resize_is_refused_while_others_use_bytes_past_the_new_end() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f", 8 * w(), 220);
    let man = tiny_rw();
    let mut a = buffer(&man, &path);
    let mut b = buffer(&man, &path);
    assert_eq!(b.get(6 * w() as u64), Some(data[6 * w()]));
    assert!(matches!(a.resize(2 * w() as u64), Err(Error::Busy { .. })));
    assert_eq!(a.len(), 8 * w() as u64);
    b.unuse_region();
    a.resize(2 * w() as u64).unwrap();
    drop((a, b));
    assert!(std::fs::read(&path).unwrap() == data[..2 * w()]);
}

#[test]
fn two_buffers_never_alias() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f", 8 * w(), 221);
    let man = tiny_rw();
    let mut reader = buffer(&man, &path);
    let mut writer = buffer(&man, &path);
    let mut model = data.clone();

    // The reader holds the first window: the writer is refused its bytes...
    assert_eq!(reader.get(10), Some(data[10]));
    assert!(matches!(writer.write_byte(b'x'), Err(Error::Busy { .. })));
    assert!(matches!(writer.set(20, b'x'), Err(Error::Busy { .. })));
    let e = writer.write(b"abc").unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ResourceBusy);
    assert!(matches!(inner(&e), Error::Busy { .. }), "{e:?}");
    assert!(matches!(
        writer.move_within(0, 100, 10),
        Err(Error::Busy { .. })
    ));
    assert_eq!(writer.tell(), 0);
    // ... and sees what the reader sees: nothing was written.
    let held = reader.slice(0..64).unwrap().into_owned();
    assert_eq!(held, data[..64]);

    // Far away, the writer may write; then the reader is refused those bytes.
    writer.write_at(5 * w() as u64, b"far").unwrap();
    model[5 * w()..5 * w() + 3].copy_from_slice(b"far");
    assert!(matches!(
        reader.try_get(5 * w() as u64 + 1),
        Err(Error::Busy { .. })
    ));
    let e = reader.read(&mut [0u8; 4]);
    assert!(
        e.is_ok(),
        "bytes the writer does not hold are still readable: {e:?}"
    );
    reader.seek(SeekFrom::Start(5 * w() as u64 - 2)).unwrap();
    assert_eq!(
        reader.read(&mut [0u8; 4]).unwrap_err().kind(),
        io::ErrorKind::ResourceBusy
    );
    // Once the writer lets go, the reader sees the write.
    writer.unuse_region();
    assert_eq!(
        &*reader.slice(5 * w() as u64..5 * w() as u64 + 3).unwrap(),
        b"far"
    );

    // A write across windows that meets the reader's window midway: the windows before it are
    // written and counted, the rest is refused.
    assert_eq!(reader.get(4 * w() as u64), Some(data[4 * w()]));
    let patch = random_bytes(6 * w(), 222);
    let n = writer.write(&patch).unwrap();
    assert!(n > 0 && n <= 4 * w(), "{n}");
    assert_eq!(writer.tell(), n as u64);
    model[..n].copy_from_slice(&patch[..n]);
    let e = writer.write_all(&patch[n..]).unwrap_err();
    assert_eq!(e.kind(), io::ErrorKind::ResourceBusy);
    assert_eq!(reader.get(4 * w() as u64), Some(model[4 * w()]));

    writer.flush().unwrap();
    drop((reader, writer));
    assert!(std::fs::read(&path).unwrap() == model);
}

#[test]
fn copy_to_equals_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f", 11 * w() + 17, 223);
    let man = SlidingWindowMapManager::builder()
        .window_size(1)
        .max_memory_size(2 * w())
        .build()
        .unwrap();
    let mut buf = buffer(&man, &path);
    let mut out = Vec::new();
    assert_eq!(buf.copy_to(&mut out).unwrap(), data.len() as u64);
    assert!(out == std::fs::read(&path).unwrap());
    assert_eq!(buf.tell(), data.len() as u64);
    assert_eq!(buf.copy_to(&mut out).unwrap(), 0);

    // From the middle of a range buffer, into a file.
    let mut range =
        SlidingWindowMapBuffer::with_range(man.make_cursor(&path).unwrap(), 3, 5 * w() as u64)
            .unwrap();
    range.seek(SeekFrom::Start(w() as u64 - 1)).unwrap();
    let copy = dir.path().join("copy");
    let mut f = std::fs::File::create(&copy).unwrap();
    assert_eq!(range.copy_to(&mut f).unwrap(), 4 * w() as u64 + 1);
    drop(f);
    assert!(std::fs::read(&copy).unwrap() == data[3 + w() - 1..3 + 5 * w()]);

    // Into another buffer, which std::io::copy also fills.
    let (dest, _) = random_file(dir.path(), "dest", data.len(), 224);
    let rw = tiny_rw();
    let mut target = buffer(&rw, &dest);
    buf.seek(SeekFrom::Start(0)).unwrap();
    buf.copy_to(&mut target).unwrap();
    target.flush().unwrap();
    assert!(std::fs::read(&dest).unwrap() == data);
    target.seek(SeekFrom::Start(0)).unwrap();
    let zeros = vec![0u8; data.len()];
    assert_eq!(
        io::copy(&mut &zeros[..], &mut target).unwrap(),
        data.len() as u64
    );
    io::Write::flush(&mut target).unwrap();
    assert!(std::fs::read(&dest).unwrap() == zeros);
}

fn prop_op(len: u64) -> impl Strategy<Value = Op> {
    let idx = 0..len + 2;
    let bytes = prop_oneof![
        proptest::collection::vec(any::<u8>(), 0..8),
        proptest::collection::vec(any::<u8>(), 0..3 * w()),
    ];
    prop_oneof![
        3 => (idx.clone(), bytes.clone()).prop_map(|(i, d)| Op::SeekWrite(i, d)),
        1 => any::<u8>().prop_map(Op::WriteByte),
        1 => (idx.clone(), any::<u8>()).prop_map(|(i, b)| Op::Set(i, b)),
        1 => (idx.clone(), bytes).prop_map(|(i, d)| Op::WriteAt(i, d)),
        3 => (idx.clone(), -(3 * w() as i64)..3 * w() as i64, 0..4 * w() as u64).prop_map(
            move |(src, delta, count)| Op::Move(src.saturating_add_signed(delta), src, count)
        ),
        1 => (idx, 0..3 * w() as u64).prop_map(|(i, n)| Op::Check(i, n)),
    ]
}

fn prop_len() -> u64 {
    10 * w() as u64 + 77
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn writes_behave_like_a_vec(
        seed in any::<u64>(),
        ops in proptest::collection::vec(prop_op(prop_len()), 1..40),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let (path, model) = random_file(dir.path(), "f", prop_len() as usize, seed);
        run(tiny_rw(), &path, model, &ops);
    }
}
