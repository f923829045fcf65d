//! `SlidingWindowMapBuffer`: Python smmap's buffer scenarios (with relative indexing and random
//! content), slices, find/rfind across window boundaries, file-like reading, seeking, empty
//! files.

use std::borrow::Cow;
use std::fs::File;
use std::io::{self, BufRead, Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use rand::rngs::StdRng;
use rand::{Rng, RngExt, SeedableRng};
use smmap::{
    Error, SlidingWindowMapBuffer, SlidingWindowMapManager, StaticWindowMapManager, WindowCursor,
};

/// Python smmap's test file size.
const K_WINDOW_TEST_SIZE: usize = 1000 * 1000 * 8 + 5195;

fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// Writes `len` random bytes (never all zeros) to `dir/name`.
fn random_file(dir: &Path, name: &str, len: usize, seed: u64) -> (PathBuf, Vec<u8>) {
    let mut data = vec![0u8; len];
    rng(seed).fill_bytes(&mut data);
    write(dir, name, data)
}

fn write(dir: &Path, name: &str, data: Vec<u8>) -> (PathBuf, Vec<u8>) {
    let path = dir.join(name);
    std::fs::write(&path, &data).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data);
    (path, data)
}

/// Random text: lines of random lengths (some empty, some longer than a tiny window), words of
/// lowercase letters separated by spaces; optionally without a final newline.
fn random_text(len: usize, seed: u64, final_newline: bool) -> Vec<u8> {
    let mut r = rng(seed);
    let mut out = Vec::with_capacity(len + 64);
    while out.len() < len {
        let line_len = match r.random_range(0..20) {
            0 => 0,
            1 => r.random_range(5_000..20_000),
            _ => r.random_range(1..200),
        };
        for _ in 0..line_len {
            out.push(if r.random_ratio(1, 6) {
                b' '
            } else {
                r.random_range(b'a'..=b'z')
            });
        }
        out.push(b'\n');
    }
    out.truncate(len);
    if final_newline {
        if let Some(last) = out.last_mut() {
            *last = b'\n';
        }
    } else if out.last() == Some(&b'\n') {
        out.pop();
        out.push(b'x');
    }
    out
}

/// A manager of the smallest windows (8 KiB on Linux, 128 KiB on Windows) with a budget of
/// eight of them, which forces eviction.
fn tiny_manager() -> SlidingWindowMapManager {
    SlidingWindowMapManager::builder()
        .window_size(1)
        .max_memory_size(16 * smmap::allocation_granularity())
        .build()
        .unwrap()
}

/// Python's `man_worst_case`.
fn worst_case_manager() -> SlidingWindowMapManager {
    SlidingWindowMapManager::builder()
        .window_size(K_WINDOW_TEST_SIZE / 100)
        .max_memory_size(K_WINDOW_TEST_SIZE / 3)
        .max_open_handles(15)
        .build()
        .unwrap()
}

/// The three managers of Python's buffer test, behind one interface.
enum Man {
    Sliding(SlidingWindowMapManager),
    Static(StaticWindowMapManager),
}

impl Man {
    fn all() -> Vec<(&'static str, Man)> {
        vec![
            ("optimal", Man::Sliding(SlidingWindowMapManager::new())),
            ("worst case", Man::Sliding(worst_case_manager())),
            ("static", Man::Static(StaticWindowMapManager::new())),
        ]
    }

    fn cursor(&self, path: &Path) -> WindowCursor {
        match self {
            Man::Sliding(m) => m.make_cursor(path).unwrap(),
            Man::Static(m) => m.make_cursor(path).unwrap(),
        }
    }

    fn cursor_from_file(&self, path: &Path) -> WindowCursor {
        let f = File::open(path).unwrap();
        match self {
            Man::Sliding(m) => m.make_cursor_from_file(f).unwrap(),
            Man::Static(m) => m.make_cursor_from_file(f).unwrap(),
        }
    }

    fn num_file_handles(&self) -> usize {
        match self {
            Man::Sliding(m) => m.num_file_handles(),
            Man::Static(m) => m.num_file_handles(),
        }
    }

    fn collect(&self) -> usize {
        match self {
            Man::Sliding(m) => m.collect(),
            Man::Static(m) => m.collect(),
        }
    }
}

/// Python's `bytes.find(needle, s, e)` for non-negative bounds.
fn naive_find(hay: &[u8], needle: &[u8], s: u64, e: u64) -> Option<u64> {
    let e = e.min(hay.len() as u64);
    if s > e {
        return None;
    }
    if needle.is_empty() {
        return Some(s);
    }
    hay[s as usize..e as usize]
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| s + i as u64)
}

/// Python's `bytes.rfind(needle, s, e)` for non-negative bounds.
fn naive_rfind(hay: &[u8], needle: &[u8], s: u64, e: u64) -> Option<u64> {
    let e = e.min(hay.len() as u64);
    if s > e {
        return None;
    }
    if needle.is_empty() {
        return Some(e);
    }
    hay[s as usize..e as usize]
        .windows(needle.len())
        .rposition(|w| w == needle)
        .map(|i| s + i as u64)
}

// ---- Python's test_buf.py, with relative indexing and random content ---------------------

#[test]
fn python_basics_relative_indexing() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "buffer_test", K_WINDOW_TEST_SIZE, 1);
    let size = data.len() as u64;
    let man = SlidingWindowMapManager::new();

    // An offset equal to the size gives an empty buffer; past it, an error.
    let empty = SlidingWindowMapBuffer::with_range(man.make_cursor(&path).unwrap(), size, 10);
    assert!(empty.unwrap().is_empty());
    match SlidingWindowMapBuffer::with_range(man.make_cursor(&path).unwrap(), size + 1, 10) {
        Err(Error::OutOfBounds(e)) => {
            let smmap::error::OutOfBounds {
                path: p,
                offset,
                len,
                file_size,
                ..
            } = *e;
            assert_eq!(p.path(), Some(path.as_path()));
            assert_eq!((offset, len, file_size), (size + 1, 10, size));
        }
        other => panic!("expected OutOfBounds, got {other:?}"),
    }

    let offset = 100u64;
    let mut buf =
        SlidingWindowMapBuffer::with_range(man.make_cursor(&path).unwrap(), offset, u64::MAX)
            .unwrap();
    assert_eq!(buf.len(), size - offset);
    assert_eq!(buf.offset(), offset);
    assert!(buf.cursor().is_valid());
    assert_eq!(buf.cursor().path(), Some(path.as_path()));
    // Relative indexing (Python's buffer indexed absolutely here).
    assert_eq!(buf.get(0), Some(data[100]));
    assert_eq!(buf.get(buf.len() - 1), Some(data[data.len() - 1]));
    assert_eq!(buf.get(buf.len()), None);
    assert_eq!(&*buf.slice(0..offset).unwrap(), &data[100..200]);
    let l = buf.len();
    assert_eq!(
        &*buf.slice(l - 10..l).unwrap(),
        &data[data.len() - 10..],
        "buf[-10:]"
    );

    // The whole file.
    let mut buf = SlidingWindowMapBuffer::new(man.make_cursor(&path).unwrap()).unwrap();
    assert_eq!(buf.len(), size);
    assert_eq!(buf.get(offset), Some(data[offset as usize]));
    assert_eq!(
        &*buf.slice(offset..2 * offset).unwrap(),
        &data[offset as usize..2 * offset as usize]
    );
    let c = buf.into_cursor();
    assert!(c.is_valid(), "the cursor keeps the buffer's region");
    drop(c);
    // The region stays cached after all clients are gone.
    assert_eq!(man.num_file_handles(), 1);
}

#[test]
fn python_random_accesses_per_manager() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "buffer_test", K_WINDOW_TEST_SIZE, 2);
    let size = data.len() as u64;
    let mut r = rng(3);
    for (name, man) in Man::all() {
        for from_file in [false, true] {
            let cursor = if from_file {
                man.cursor_from_file(&path)
            } else {
                man.cursor(&path)
            };
            for base in [0u64, 100, 4_000_037] {
                let mut buf = SlidingWindowMapBuffer::with_range(cursor.clone(), base, u64::MAX)
                    .unwrap_or_else(|e| panic!("{name}: {e}"));
                assert_eq!(buf.len(), size - base);
                assert!(man.num_file_handles() >= 1, "{name}");
                let d = &data[base as usize..];
                let n = d.len() as u64;
                // Single bytes.
                for _ in 0..100 {
                    let pos = r.random_range(0..n);
                    assert_eq!(buf.get(pos), Some(d[pos as usize]), "{name} byte {pos}");
                    assert_eq!(buf.try_get(pos).unwrap(), Some(d[pos as usize]));
                }
                assert_eq!(buf.get(n), None);
                assert_eq!(buf.try_get(n).unwrap(), None);
                // Slices.
                for _ in 0..100 {
                    let a = r.random_range(0..=n);
                    let b = r.random_range(a..=n);
                    let s = buf.slice(a..b).unwrap();
                    assert_eq!(s.len() as u64, b - a, "{name} slice {a}..{b}");
                    assert!(
                        *s == d[a as usize..b as usize],
                        "{name} slice {a}..{b} differs"
                    );
                }
            }
            drop(cursor);
            assert!(man.num_file_handles() > 0, "{name}");
            assert!(man.collect() > 0, "{name}");
            assert_eq!(man.num_file_handles(), 0, "{name}");
        }
    }
}

// ---- slices ------------------------------------------------------------------------------

#[test]
fn slices_borrow_within_a_window_and_copy_beyond() {
    let dir = tempfile::tempdir().unwrap();
    let k = smmap::allocation_granularity() / 4096;
    let (path, data) = random_file(dir.path(), "slices", 300_000 * k, 4);
    let man = tiny_manager();
    assert_eq!(man.window_size(), 8192 * k);
    let half = man.window_size() as u64 / 2;
    let mut r = rng(5);
    for base in [0u64, 1, 4095, 12_345] {
        let mut buf = SlidingWindowMapBuffer::with_range(
            man.make_cursor(&path).unwrap(),
            base,
            250_000 * k as u64,
        )
        .unwrap();
        let d = &data[base as usize..base as usize + 250_000 * k];
        for _ in 0..300 {
            let len = r.random_range(1..=half);
            let a = r.random_range(0..=buf.len() - len);
            let s = buf.slice(a..a + len).unwrap();
            assert!(
                matches!(s, Cow::Borrowed(_)),
                "{len} bytes at {a} must be borrowed"
            );
            assert!(*s == d[a as usize..(a + len) as usize]);
        }
        for _ in 0..30 {
            let len = r.random_range(2 * man.window_size() as u64..100_000 * k as u64);
            let a = r.random_range(0..=buf.len() - len);
            let s = buf.slice(a..a + len).unwrap();
            assert!(
                matches!(s, Cow::Owned(_)),
                "{len} bytes are copied, never mapped whole"
            );
            assert!(*s == d[a as usize..(a + len) as usize]);
        }
        assert!(man.mapped_memory_size() <= man.max_mapped_memory_size());
    }

    // The static manager's region is the whole file: every slice is borrowed.
    let st = StaticWindowMapManager::new();
    let mut buf = SlidingWindowMapBuffer::new(st.make_cursor(&path).unwrap()).unwrap();
    let s = buf.slice(7..290_000).unwrap();
    assert!(matches!(s, Cow::Borrowed(_)));
    assert!(*s == data[7..290_000]);
}

#[test]
fn slice_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "slice_errors", 1000, 6);
    let man = SlidingWindowMapManager::new();
    let mut buf =
        SlidingWindowMapBuffer::with_range(man.make_cursor(&path).unwrap(), 100, 500).unwrap();
    assert_eq!(buf.len(), 500);
    assert!(matches!(
        buf.slice(std::ops::Range { start: 5, end: 4 }),
        Err(Error::InvalidArgument(_))
    ));
    match buf.slice(490..501) {
        Err(Error::OutOfBounds(d)) => assert_eq!((d.offset, d.len, d.file_size), (590, 11, 600)),
        other => panic!("expected OutOfBounds, got {other:?}"),
    }
    assert!(buf.slice(501..501).is_err());
    assert!(buf.slice(u64::MAX - 1..u64::MAX).is_err());
    assert_eq!(&*buf.slice(500..500).unwrap(), b"");
    assert_eq!(&*buf.slice(0..0).unwrap(), b"");
    assert_eq!(&*buf.slice(0..500).unwrap(), &data[100..600]);
    // The buffer stays usable after errors.
    assert_eq!(buf.get(499), Some(data[599]));
}

// ---- find / rfind ------------------------------------------------------------------------

/// Random data over a small alphabet (so short needles match often), with needles planted
/// across the boundaries of 4 KiB half-windows.
fn search_data(len: usize, seed: u64, needles: &[Vec<u8>]) -> Vec<u8> {
    let mut r = rng(seed);
    let mut d: Vec<u8> = (0..len)
        .map(|_| b"abcdefgh"[r.random_range(0..8)])
        .collect();
    for (i, n) in needles.iter().enumerate() {
        for k in 0..4usize {
            let boundary = 4096 * (1 + (i * 7 + k * 13) % (len / 4096 - 1 - n.len() / 4096));
            let before = r.random_range(0..=n.len());
            let at = boundary.saturating_sub(before);
            if at + n.len() <= len {
                d[at..at + n.len()].copy_from_slice(n);
            }
        }
    }
    d
}

fn needles(seed: u64) -> Vec<Vec<u8>> {
    let mut r = rng(seed);
    let mut v: Vec<Vec<u8>> = Vec::new();
    for len in [
        1usize, 2, 3, 5, 8, 17, 64, 300, 4095, 4096, 4097, 9000, 20_000,
    ] {
        // Needles of other letters (X..Z) so that long ones only match where planted.
        v.push((0..len).map(|_| b"XYZa"[r.random_range(0..4)]).collect());
    }
    v
}

#[test]
fn find_and_rfind_match_a_naive_search() {
    let dir = tempfile::tempdir().unwrap();
    let ns = needles(7);
    let (path, data) = write(dir.path(), "search", search_data(120_000, 8, &ns));
    let tiny = tiny_manager();
    let st = StaticWindowMapManager::new();
    let mut r = rng(9);
    let mut found = 0;
    for base in [0u64, 1, 4093] {
        let d = &data[base as usize..];
        let n = d.len() as u64;
        let mut bufs = [
            SlidingWindowMapBuffer::with_range(tiny.make_cursor(&path).unwrap(), base, u64::MAX)
                .unwrap(),
            SlidingWindowMapBuffer::with_range(st.make_cursor(&path).unwrap(), base, u64::MAX)
                .unwrap(),
        ];
        let mut queries: Vec<Vec<u8>> = ns.clone();
        queries.extend([
            b"".to_vec(),
            b"ab".to_vec(),
            b"hgf".to_vec(),
            b"abcd".to_vec(),
        ]);
        // Needles taken from the data itself, across window boundaries.
        for _ in 0..20 {
            let len = r.random_range(1..10_000);
            let at = r.random_range(0..n as usize - len);
            queries.push(d[at..at + len].to_vec());
        }
        for q in &queries {
            for _ in 0..5 {
                let s = if r.random_ratio(1, 3) {
                    0
                } else {
                    r.random_range(0..=n + 2)
                };
                let e = match r.random_range(0..4) {
                    0 => u64::MAX,
                    1 => n,
                    _ => r.random_range(0..=n + 2),
                };
                for buf in &mut bufs {
                    let want = naive_find(d, q, s, u64::MAX);
                    found += usize::from(want.is_some());
                    assert_eq!(
                        buf.find(q, s).unwrap(),
                        want,
                        "find len {} from {s}",
                        q.len()
                    );
                    assert_eq!(
                        buf.rfind(q, s).unwrap(),
                        naive_rfind(d, q, s, u64::MAX),
                        "rfind len {} from {s}",
                        q.len()
                    );
                    assert_eq!(
                        buf.find_in(q, s..e).unwrap(),
                        naive_find(d, q, s, e),
                        "find_in len {} in {s}..{e}",
                        q.len()
                    );
                    assert_eq!(
                        buf.rfind_in(q, s..e).unwrap(),
                        naive_rfind(d, q, s, e),
                        "rfind_in len {} in {s}..{e}",
                        q.len()
                    );
                }
            }
        }
    }
    assert!(found > 100, "the queries must find something ({found})");
    assert!(tiny.mapped_memory_size() <= tiny.max_mapped_memory_size());
}

#[test]
fn find_straddling_every_boundary_position() {
    // A needle placed at every offset around one window boundary, in otherwise needle-free data.
    let dir = tempfile::tempdir().unwrap();
    let man = tiny_manager();
    let needle = b"0123456789abcdef";
    for shift in 0..=needle.len() + 1 {
        let mut data = vec![b'.'; 40_000];
        let at = 8192 - shift;
        data[at..at + needle.len()].copy_from_slice(needle);
        let at2 = 3 * 8192 + 4096 - shift;
        data[at2..at2 + needle.len()].copy_from_slice(needle);
        let (path, _) = write(dir.path(), &format!("straddle{shift}"), data);
        let mut buf = SlidingWindowMapBuffer::new(man.make_cursor(&path).unwrap()).unwrap();
        assert_eq!(
            buf.find(needle, 0).unwrap(),
            Some(at as u64),
            "shift {shift}"
        );
        assert_eq!(buf.find(needle, at as u64 + 1).unwrap(), Some(at2 as u64));
        assert_eq!(buf.rfind(needle, 0).unwrap(), Some(at2 as u64));
        assert_eq!(
            buf.rfind_in(needle, 0..at2 as u64 + 15).unwrap(),
            Some(at as u64)
        );
        assert_eq!(buf.find_in(needle, 0..at as u64 + 15).unwrap(), None);
        // Single-byte needles at the boundary.
        assert_eq!(buf.find(b"0", 0).unwrap(), Some(at as u64));
        assert_eq!(buf.rfind(b"f", 0).unwrap(), Some(at2 as u64 + 15));
    }
}

// ---- file-like reading -------------------------------------------------------------------

#[test]
fn readline_lines_read_until_and_copy_match_std() {
    let dir = tempfile::tempdir().unwrap();
    for (i, final_newline) in [(0u64, true), (1, false)] {
        let text = random_text(300_000, 10 + i, final_newline);
        let (path, data) = write(dir.path(), &format!("text{i}"), text);
        let tiny = tiny_manager();
        let st = StaticWindowMapManager::new();
        let ranges = [(0u64, u64::MAX), (777, 150_000), (8191, u64::MAX)];
        for (base, len) in ranges {
            let end = (base.saturating_add(len)).min(data.len() as u64);
            let d = &data[base as usize..end as usize];
            let cursors = [
                tiny.make_cursor(&path).unwrap(),
                st.make_cursor(&path).unwrap(),
            ];
            for c in cursors {
                let mut buf = SlidingWindowMapBuffer::with_range(c, base, len).unwrap();

                // readline, as BufRead::read_until(b'\n') on a std cursor.
                let mut std_cur = io::Cursor::new(d);
                loop {
                    let mut want = Vec::new();
                    std_cur.read_until(b'\n', &mut want).unwrap();
                    let got = buf.readline().unwrap();
                    assert_eq!(got, want);
                    if got.is_empty() {
                        break;
                    }
                }
                assert_eq!(buf.tell(), d.len() as u64);

                // lines()
                buf.rewind().unwrap();
                let got: Vec<String> = buf.by_ref().lines().map(Result::unwrap).collect();
                let want: Vec<String> = d.lines().map(Result::unwrap).collect();
                assert_eq!(got, want);

                // read_until on another delimiter
                buf.seek(SeekFrom::Start(3)).unwrap();
                let mut std_cur = io::Cursor::new(d);
                std_cur.set_position(3);
                loop {
                    let (mut a, mut b) = (Vec::new(), Vec::new());
                    let n = buf.read_until(b' ', &mut a).unwrap();
                    assert_eq!(n, std_cur.read_until(b' ', &mut b).unwrap());
                    assert_eq!(a, b);
                    if n == 0 {
                        break;
                    }
                }

                // io::copy, read_to_end, read_exact
                buf.rewind().unwrap();
                let mut out = Vec::new();
                assert_eq!(io::copy(&mut buf, &mut out).unwrap(), d.len() as u64);
                assert!(out == d);
                buf.seek(SeekFrom::Start(5)).unwrap();
                let mut out = vec![1, 2];
                assert_eq!(buf.read_to_end(&mut out).unwrap(), d.len() - 5);
                assert!(out[..2] == [1, 2] && out[2..] == d[5..]);
                buf.seek(SeekFrom::Start(100)).unwrap();
                let mut exact = vec![0u8; 20_000];
                buf.read_exact(&mut exact).unwrap();
                assert!(exact == d[100..20_100]);

                // read_byte
                buf.seek(SeekFrom::End(-3)).unwrap();
                let tail: Vec<u8> = std::iter::from_fn(|| buf.read_byte().unwrap()).collect();
                assert_eq!(tail, &d[d.len() - 3..]);
                assert_eq!(buf.read_byte().unwrap(), None);
            }
        }
    }
}

#[test]
fn fill_buf_hands_out_whole_windows() {
    let dir = tempfile::tempdir().unwrap();
    let k = smmap::allocation_granularity() / 4096;
    let (path, data) = random_file(dir.path(), "windows", 100_000 * k, 11);
    let man = tiny_manager();
    let w = man.window_size();
    let mut buf = SlidingWindowMapBuffer::new(man.make_cursor(&path).unwrap()).unwrap();
    // A sequential scan sees each window whole: no copy, no small pieces.
    let mut seen = Vec::new();
    let mut sizes = Vec::new();
    loop {
        let b = buf.fill_buf().unwrap();
        if b.is_empty() {
            break;
        }
        sizes.push(b.len());
        seen.extend_from_slice(b);
        let n = b.len();
        buf.consume(n);
    }
    assert!(seen == data);
    let (last, full) = sizes.split_last().unwrap();
    assert!(full.iter().all(|&s| s == w), "{sizes:?}");
    assert_eq!(*last, data.len() % w);

    // A region that barely covers the position is not used for the next fill.
    let k = k as u64;
    buf.slice(6000 * k..9000 * k).unwrap(); // maps [4096, 12288) (times k)
    buf.get(0).unwrap(); // back to the window [0, 8192)
    buf.seek(SeekFrom::Start(12_000 * k)).unwrap();
    let b = buf.fill_buf().unwrap();
    assert!(b.len() >= w / 2, "{} bytes", b.len());
    assert!(*b == data[12_000 * k as usize..12_000 * k as usize + b.len()]);
    let n = b.len() as u64;
    // Inside the current window, the rest of it is handed out as is.
    buf.seek(SeekFrom::Start(12_000 * k + n - 3)).unwrap();
    assert_eq!(buf.fill_buf().unwrap().len(), 3);
    // A small slice does not shrink what fill_buf hands out next.
    buf.slice(20_000 * k..20_000 * k + 1).unwrap();
    buf.seek(SeekFrom::Start(20_000 * k)).unwrap();
    assert_eq!(buf.fill_buf().unwrap().len() as u64, (24_576 - 20_000) * k);
}

// ---- seeking -----------------------------------------------------------------------------

#[test]
fn seek_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "seek", 50_000, 12);
    let man = tiny_manager();
    let mut buf =
        SlidingWindowMapBuffer::with_range(man.make_cursor(&path).unwrap(), 1000, 40_000).unwrap();
    let d = &data[1000..41_000];
    assert_eq!(buf.tell(), 0);
    assert_eq!(buf.seek(SeekFrom::Start(10)).unwrap(), 10);
    assert_eq!(buf.read_byte().unwrap(), Some(d[10]));
    assert_eq!(buf.seek(SeekFrom::Current(-1)).unwrap(), 10);
    assert_eq!(buf.seek(SeekFrom::Current(20_000)).unwrap(), 20_010);
    assert_eq!(buf.read_byte().unwrap(), Some(d[20_010]));
    assert_eq!(buf.seek(SeekFrom::End(-1)).unwrap(), 39_999);
    assert_eq!(buf.read_byte().unwrap(), Some(d[39_999]));
    assert_eq!(buf.stream_position().unwrap(), 40_000);

    // Before the start: InvalidInput, the position is unchanged.
    for from in [
        SeekFrom::Current(-40_001),
        SeekFrom::End(-40_001),
        SeekFrom::Current(i64::MIN),
    ] {
        let e = buf.seek(from).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidInput);
        assert_eq!(buf.tell(), 40_000);
    }
    assert_eq!(buf.seek(SeekFrom::End(-40_000)).unwrap(), 0);

    // Past the end: allowed, reads give nothing.
    assert_eq!(buf.seek(SeekFrom::End(5)).unwrap(), 40_005);
    let mut out = [0u8; 10];
    assert_eq!(buf.read(&mut out).unwrap(), 0);
    assert!(buf.fill_buf().unwrap().is_empty());
    assert_eq!(buf.read_byte().unwrap(), None);
    assert!(buf.readline().unwrap().is_empty());
    assert_eq!(buf.read_to_end(&mut Vec::new()).unwrap(), 0);
    assert_eq!(buf.seek(SeekFrom::Start(u64::MAX)).unwrap(), u64::MAX);
    assert_eq!(buf.read(&mut out).unwrap(), 0);
    assert!(buf.seek(SeekFrom::Current(1)).is_err(), "overflow");
    buf.consume(10); // saturates, no panic
    assert_eq!(buf.tell(), u64::MAX);

    // Random access does not move the position.
    buf.seek(SeekFrom::Start(7)).unwrap();
    buf.get(30_000).unwrap();
    buf.slice(100..20_000).unwrap();
    buf.find(b"zz", 0).unwrap();
    assert_eq!(buf.tell(), 7);
    let mut out = [0u8; 3];
    buf.read_exact(&mut out).unwrap();
    assert_eq!(out, d[7..10]);
}

// ---- empty files and shrinking files -----------------------------------------------------

#[test]
fn empty_file() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = write(dir.path(), "empty", Vec::new());
    let sliding = tiny_manager();
    let st = StaticWindowMapManager::new();
    for c in [
        sliding.make_cursor(&path).unwrap(),
        st.make_cursor(&path).unwrap(),
    ] {
        let mut buf = SlidingWindowMapBuffer::new(c).unwrap();
        assert_eq!(buf.len(), 0);
        assert!(buf.is_empty());
        assert_eq!(buf.get(0), None);
        assert_eq!(buf.try_get(0).unwrap(), None);
        assert_eq!(&*buf.slice(0..0).unwrap(), b"");
        assert!(buf.slice(0..1).is_err());
        assert_eq!(buf.find(b"a", 0).unwrap(), None);
        assert_eq!(buf.rfind(b"a", 0).unwrap(), None);
        assert_eq!(buf.find(b"", 0).unwrap(), Some(0));
        assert_eq!(buf.rfind(b"", 0).unwrap(), Some(0));
        assert_eq!(buf.find(b"", 1).unwrap(), None);
        let mut out = [0u8; 4];
        assert_eq!(buf.read(&mut out).unwrap(), 0);
        assert!(buf.fill_buf().unwrap().is_empty());
        assert_eq!(buf.read_byte().unwrap(), None);
        assert!(buf.readline().unwrap().is_empty());
        assert_eq!(buf.by_ref().lines().count(), 0);
        assert_eq!(io::copy(&mut buf, &mut io::sink()).unwrap(), 0);
        let c = buf.into_cursor();
        assert!(!c.is_valid());
        assert!(
            SlidingWindowMapBuffer::with_range(c.clone(), 0, 10)
                .unwrap()
                .is_empty()
        );
        assert!(matches!(
            SlidingWindowMapBuffer::with_range(c, 1, 0),
            Err(Error::OutOfBounds { .. })
        ));
    }
}

/// Unix only: Windows refuses to truncate a mapped file (`tests/platform_windows.rs`).
#[cfg(unix)]
#[test]
fn a_file_that_shrinks_gives_errors_not_garbage() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "shrinks", 64 << 10, 13);
    let man = tiny_manager();
    let mut buf = SlidingWindowMapBuffer::new(man.make_cursor(&path).unwrap()).unwrap();
    assert_eq!(buf.get(100), Some(data[100]));
    File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(10_000)
        .unwrap();
    assert!(buf.try_get(50_000).is_err());
    assert_eq!(buf.get(50_000), None);
    assert!(buf.slice(40_000..50_000).is_err());
    buf.seek(SeekFrom::Start(50_000)).unwrap();
    assert!(buf.fill_buf().is_err());
    assert!(buf.read(&mut [0u8; 8]).is_err());
    assert!(buf.find(b"never there", 0).is_err());
    // The bytes still in the file are still read.
    assert_eq!(buf.get(9_999), Some(data[9_999]));
}

#[test]
fn read_line_rejects_invalid_utf8_like_std() {
    let dir = tempfile::tempdir().unwrap();
    let data = b"ok\nbad \xff\xfe line\nafter\n".to_vec();
    let (path, data) = write(dir.path(), "utf8", data);
    let man = SlidingWindowMapManager::new();
    let mut buf = SlidingWindowMapBuffer::new(man.make_cursor(&path).unwrap()).unwrap();
    let mut model = io::Cursor::new(&data[..]);
    let (mut a, mut b) = (String::from("x"), String::from("x"));
    for _ in 0..4 {
        let ra = buf.read_line(&mut a);
        let rb = model.read_line(&mut b);
        assert_eq!(
            ra.as_ref().map_err(io::Error::kind).ok(),
            rb.as_ref().map_err(io::Error::kind).ok()
        );
        assert_eq!(
            ra.map_err(|e| e.kind()).err(),
            rb.map_err(|e| e.kind()).err()
        );
        assert_eq!(a, b);
        assert_eq!(buf.tell(), model.position());
    }
    assert_eq!(a, "xok\nafter\n");
}
