//! Sequential reading of a 1 GiB file through `SlidingWindowMapBuffer` (64 MiB windows, a
//! 256 MiB budget: the file never fits) against `BufReader<File>` (8 KiB and 1 MiB) and a raw
//! whole-file memmap2 scan, in the same run:
//!
//! - `copy`: `io::copy` to `io::sink()` (the generic copy through an 8 KiB stack buffer: every
//!   byte is copied once);
//! - `lines`: counting newlines, through `fill_buf`/`consume` (no copy) and through
//!   `read_until` (each line copied into a `Vec`, the idiomatic way).
//!
//! - `write`: writing the whole file in 64 KiB pieces through `io::Write` (a read-write
//!   manager, same windows and budget) against a raw whole-file `memmap2::MmapMut` and
//!   `File::write_all` (no flush inside the measurement).
//!
//! Every iteration opens the file again (a new cursor and buffer, a new `File`, a new map).
//! The file is real data (not sparse), written once to a temporary directory, and stays in the
//! page cache as written.
//!
//! ```text
//! cargo bench --bench buffer
//! ```

use std::fs::File;
use std::hint::black_box;
use std::io::{self, BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use smmap::{SlidingWindowMapBuffer, SlidingWindowMapManager};

const FILE_SIZE: usize = 1 << 30;
const WINDOW: usize = 64 << 20;
const BUDGET: usize = 256 << 20;

/// Text-like content from a xorshift generator: lowercase letters, about one newline in 64
/// bytes.
fn write_file(path: &Path) -> u64 {
    let mut f = io::BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut chunk = vec![0u8; 1 << 20];
    let mut newlines = 0u64;
    for _ in 0..FILE_SIZE / chunk.len() {
        for block in chunk.chunks_exact_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            for (i, b) in block.iter_mut().enumerate() {
                let v = (x >> (i * 8)) as u8;
                *b = if v & 63 == 0 { b'\n' } else { b'a' + v % 26 };
            }
        }
        newlines += chunk.iter().filter(|&&b| b == b'\n').count() as u64;
        f.write_all(&chunk).unwrap();
    }
    f.flush().unwrap();
    f.get_ref().sync_all().unwrap();
    newlines
}

fn manager() -> SlidingWindowMapManager {
    SlidingWindowMapManager::builder()
        .window_size(WINDOW)
        .max_memory_size(BUDGET)
        .build()
        .unwrap()
}

fn buffer(man: &SlidingWindowMapManager, path: &Path) -> SlidingWindowMapBuffer {
    SlidingWindowMapBuffer::new(man.make_cursor(path).unwrap()).unwrap()
}

fn bufreader(path: &Path, capacity: usize) -> BufReader<File> {
    BufReader::with_capacity(capacity, File::open(path).unwrap())
}

fn raw_map(path: &Path) -> memmap2::Mmap {
    let f = File::open(path).unwrap();
    // SAFETY: the benchmark's own temporary file, which nothing modifies while it is mapped.
    unsafe { memmap2::Mmap::map(&f).unwrap() }
}

/// A `Read` over a byte slice without `&[u8]`'s specializations, so that `io::copy` goes
/// through the same generic stack-buffer copy as for the other readers.
struct SliceReader<'a>(&'a [u8]);

impl Read for SliceReader<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let n = out.len().min(self.0.len());
        out[..n].copy_from_slice(&self.0[..n]);
        // Without this the copy into io::copy's buffer, which io::sink never reads, is elided.
        black_box(&out[..n]);
        self.0 = &self.0[n..];
        Ok(n)
    }
}

/// Counts newlines (a loop the compiler vectorizes; with AVX2 where the CPU has it, so that
/// counting runs faster than memory and the readers are what is measured).
fn count_newlines(b: &[u8]) -> u64 {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU supports AVX2, the only precondition of `count_newlines_avx2`.
        return unsafe { count_newlines_avx2(b) };
    }
    count_newlines_portable(b)
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2")]
fn count_newlines_avx2(b: &[u8]) -> u64 {
    count_newlines_portable(b)
}

#[inline(always)]
fn count_newlines_portable(b: &[u8]) -> u64 {
    b.iter().filter(|&&c| c == b'\n').count() as u64
}

/// Counts newlines through `fill_buf`/`consume`: no copy.
fn lines_fill_buf(r: &mut impl BufRead) -> u64 {
    let mut n = 0;
    loop {
        let b = r.fill_buf().unwrap();
        if b.is_empty() {
            return n;
        }
        n += count_newlines(b);
        let len = b.len();
        r.consume(len);
    }
}

/// Counts lines with `read_until`, reusing one line buffer.
fn lines_read_until(r: &mut impl BufRead) -> u64 {
    let mut n = 0;
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line).unwrap() == 0 {
            return n;
        }
        n += u64::from(line.last() == Some(&b'\n'));
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: PathBuf,
    newlines: u64,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("buffer_bench.txt");
    let newlines = write_file(&path);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), FILE_SIZE as u64);
    Fixture {
        _dir: dir,
        path,
        newlines,
    }
}

fn benches(c: &mut Criterion) {
    let fx = fixture();
    let path = fx.path.as_path();
    let man = manager();

    let mut g = c.benchmark_group("copy_1GiB");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Bytes(FILE_SIZE as u64));
    g.bench_function("smmap_buffer", |b| {
        b.iter(|| {
            let mut buf = buffer(&man, path);
            assert_eq!(
                io::copy(&mut buf, &mut io::sink()).unwrap(),
                FILE_SIZE as u64
            );
        })
    });
    for (name, cap) in [("bufreader_8KiB", 8 << 10), ("bufreader_1MiB", 1 << 20)] {
        g.bench_function(name, |b| {
            b.iter(|| {
                let mut r = bufreader(path, cap);
                assert_eq!(io::copy(&mut r, &mut io::sink()).unwrap(), FILE_SIZE as u64);
            })
        });
    }
    g.bench_function("raw_mmap", |b| {
        b.iter(|| {
            let map = raw_map(path);
            let mut r = SliceReader(&map);
            assert_eq!(io::copy(&mut r, &mut io::sink()).unwrap(), FILE_SIZE as u64);
        })
    });
    g.finish();

    let mut g = c.benchmark_group("lines_1GiB");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Bytes(FILE_SIZE as u64));
    let want = fx.newlines;
    g.bench_function("smmap_buffer_fill_buf", |b| {
        b.iter(|| assert_eq!(lines_fill_buf(&mut buffer(&man, path)), want))
    });
    for (name, cap) in [
        ("bufreader_8KiB_fill_buf", 8 << 10),
        ("bufreader_1MiB_fill_buf", 1 << 20),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| assert_eq!(lines_fill_buf(&mut bufreader(path, cap)), want))
        });
    }
    g.bench_function("raw_mmap", |b| {
        b.iter(|| {
            let map = raw_map(path);
            assert_eq!(count_newlines(black_box(&map)), want)
        })
    });
    g.bench_function("smmap_buffer_read_until", |b| {
        b.iter(|| assert_eq!(lines_read_until(&mut buffer(&man, path)), want))
    });
    for (name, cap) in [
        ("bufreader_8KiB_read_until", 8 << 10),
        ("bufreader_1MiB_read_until", 1 << 20),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| assert_eq!(lines_read_until(&mut bufreader(path, cap)), want))
        });
    }
    g.finish();
    assert!(man.mapped_memory_size() <= BUDGET);

    let mut g = c.benchmark_group("write_1GiB");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Bytes(FILE_SIZE as u64));
    let piece: Vec<u8> = (0..64 << 10).map(|i| b'a' + (i % 26) as u8).collect();
    let rw = SlidingWindowMapManager::builder()
        .window_size(WINDOW)
        .max_memory_size(BUDGET)
        .mode(smmap::MapMode::ReadWrite)
        .build()
        .unwrap();
    g.bench_function("smmap_buffer", |b| {
        b.iter(|| {
            let mut buf = buffer(&rw, path);
            for _ in 0..FILE_SIZE / piece.len() {
                buf.write_all(&piece).unwrap();
            }
        })
    });
    g.bench_function("raw_mmap", |b| {
        b.iter(|| {
            let f = File::options().read(true).write(true).open(path).unwrap();
            // SAFETY: the benchmark's own temporary file, which nothing else maps or modifies
            // while it is mapped.
            let mut map = unsafe { memmap2::MmapMut::map_mut(&f).unwrap() };
            for c in map.chunks_mut(piece.len()) {
                c.copy_from_slice(&piece);
            }
            black_box(&map);
        })
    });
    g.bench_function("file_write_all", |b| {
        b.iter(|| {
            let mut f = File::options().write(true).open(path).unwrap();
            for _ in 0..FILE_SIZE / piece.len() {
                f.write_all(&piece).unwrap();
            }
        })
    });
    g.finish();
    rw.flush().unwrap();
    assert!(rw.mapped_memory_size() <= BUDGET);
}

criterion_group!(buffer_benches, benches);
criterion_main!(buffer_benches);
