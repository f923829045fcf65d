//! Cursors against a raw `memmap2` map and `pread`, in the same run: random 24-byte reads and a
//! sequential scan of a 256 MiB file.
//!
//! `cargo bench --bench cursor`

use std::fs::File;
use std::hint::black_box;
use std::io::{BufWriter, Write};
use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use smmap::{SlidingWindowMapManager, StaticWindowMapManager};

const FILE_SIZE: u64 = 256 << 20;
const RECORD: usize = 24;
const READS: usize = 100_000;

/// `pread`: a read of `buf.len()` bytes at `offset` that does not move a shared file position
/// (`read_exact_at` on Unix; `seek_read`, which moves only this handle's position, on Windows).
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let (mut buf, mut offset) = (buf, offset);
        while !buf.is_empty() {
            match std::os::windows::fs::FileExt::seek_read(file, buf, offset)? {
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                n => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }
}

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

fn make_file(path: &Path) {
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    let mut s = 0x1234_5678_9abc_def1;
    for _ in 0..FILE_SIZE / 8 {
        w.write_all(&xorshift(&mut s).to_le_bytes()).unwrap();
    }
    w.flush().unwrap();
}

fn word(b: &[u8]) -> u64 {
    u64::from_le_bytes(b[..8].try_into().unwrap())
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data");
    make_file(&path);
    let file = File::open(&path).unwrap();
    // SAFETY: the file is private to this benchmark and not modified while mapped.
    let raw = unsafe { memmap2::Mmap::map(&file).unwrap() };
    let mut s = 42;
    let offsets: Vec<u64> = (0..READS)
        .map(|_| xorshift(&mut s) % (FILE_SIZE / RECORD as u64) * RECORD as u64)
        .collect();

    // Managers whose budget holds the file: after the first pass every read is a hit.
    let one_window = StaticWindowMapManager::new();
    let windows_4m = SlidingWindowMapManager::builder()
        .window_size(4 << 20)
        .build()
        .unwrap();
    let mut c_one = one_window.make_cursor(&path).unwrap();
    let mut c_4m = windows_4m.make_cursor(&path).unwrap();

    let mut g = c.benchmark_group("random_24B");
    g.throughput(Throughput::Elements(READS as u64));
    g.sample_size(20);
    g.bench_function("raw_mmap", |b| {
        b.iter(|| {
            offsets
                .iter()
                .fold(0u64, |acc, &o| acc.wrapping_add(word(&raw[o as usize..])))
        })
    });
    g.bench_function("cursor_one_region", |b| {
        b.iter(|| {
            offsets.iter().fold(0u64, |acc, &o| {
                acc.wrapping_add(word(c_one.use_region(o, RECORD).unwrap()))
            })
        })
    });
    g.bench_function("cursor_4MiB_windows", |b| {
        b.iter(|| {
            offsets.iter().fold(0u64, |acc, &o| {
                acc.wrapping_add(word(c_4m.use_region(o, RECORD).unwrap()))
            })
        })
    });
    g.bench_function("pread", |b| {
        let mut buf = [0u8; RECORD];
        b.iter(|| {
            offsets.iter().fold(0u64, |acc, &o| {
                read_exact_at(&file, &mut buf, o).unwrap();
                acc.wrapping_add(word(&buf))
            })
        })
    });
    g.finish();

    // Sequential scan, summing every u64, through windows of 4 MiB under a 64 MiB budget.
    let scan_man = SlidingWindowMapManager::builder()
        .window_size(4 << 20)
        .max_memory_size(64 << 20)
        .build()
        .unwrap();
    let mut c_scan = scan_man.make_cursor(&path).unwrap();
    let sum = |bytes: &[u8]| {
        bytes.chunks_exact(8).fold(0u64, |a, w| {
            a.wrapping_add(u64::from_le_bytes(w.try_into().unwrap()))
        })
    };
    let mut g = c.benchmark_group("scan_256MiB");
    g.throughput(Throughput::Bytes(FILE_SIZE));
    g.sample_size(10);
    g.bench_function("raw_mmap", |b| b.iter(|| black_box(sum(&raw[..]))));
    g.bench_function("cursor_4MiB_windows_64MiB_budget", |b| {
        b.iter(|| {
            let mut total = 0u64;
            let mut ofs = 0;
            while ofs < FILE_SIZE {
                let chunk = c_scan.use_region(ofs, 2 << 20).unwrap();
                total = total.wrapping_add(sum(chunk));
                ofs += chunk.len() as u64;
            }
            black_box(total)
        })
    });
    g.bench_function("pread_1MiB", |b| {
        let mut buf = vec![0u8; 1 << 20];
        b.iter(|| {
            let mut total = 0u64;
            let mut ofs = 0;
            while ofs < FILE_SIZE {
                read_exact_at(&file, &mut buf, ofs).unwrap();
                total = total.wrapping_add(sum(&buf));
                ofs += buf.len() as u64;
            }
            black_box(total)
        })
    });
    g.finish();
}

criterion_group!(cursor, benches);
criterion_main!(cursor);
