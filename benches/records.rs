//! Sequential reading of every 24-byte record of a 1 GiB file, summing one field, through
//! smmap (64 MiB windows, a 256 MiB budget: the file never fits) against a raw whole-file
//! memmap2 scan, in the same run:
//!
//! - `raw_mmap`: a fresh whole-file `memmap2::Mmap` per iteration, `chunks_exact(24)` and
//!   `u64::from_le_bytes` (page faults included, as for the windows);
//! - `raw_mmap_records`: the same map viewed as `&[Rec]` with `MappedRecord::slice_from_bytes`;
//! - `record_iter`: `RecordIter` as an `Iterator` of `Result<Rec>`;
//! - `record_iter_chunks`: `RecordIter::next_chunk`, a window of records at a time;
//! - `table_get`: `RecordTable::get(i)` for every `i` in order;
//! - `table_chunk_at`: `RecordTable::chunk_at(i)`, a window of records at a time;
//! - `cursor_record`: `WindowCursor::record(offset)` for every offset in order.
//!
//! Every iteration makes a new manager (or a new map): every window is mapped and faulted in
//! again. The file is real data (not sparse), written once to a temporary directory, and stays
//! in the page cache as written.
//!
//! ```text
//! cargo bench --bench records
//! ```

use std::fs::File;
use std::hint::black_box;
use std::io::{self, Write};
use std::path::Path;
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use smmap::byteorder::{LittleEndian, U64};
use smmap::{MappedRecord, RecordTable, SlidingWindowMapManager, WindowCursor};

const WINDOW: usize = 64 << 20;
const BUDGET: usize = 256 << 20;
const RECORDS: u64 = (1 << 30) / 24;
const FILE_SIZE: u64 = RECORDS * 24;

#[derive(MappedRecord, Clone, Copy)]
#[repr(C)]
struct Rec {
    key: U64<LittleEndian>,
    value: U64<LittleEndian>,
    extra: U64<LittleEndian>,
}

/// Writes the file from a xorshift generator; returns the sum of the `value` fields.
fn write_file(path: &Path) -> u64 {
    let mut f = io::BufWriter::with_capacity(1 << 20, File::create(path).unwrap());
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut sum = 0u64;
    let mut rec = [0u8; 24];
    for _ in 0..RECORDS {
        for (k, word) in rec.chunks_exact_mut(8).enumerate() {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            word.copy_from_slice(&x.to_le_bytes());
            if k == 1 {
                sum = sum.wrapping_add(x);
            }
        }
        f.write_all(&rec).unwrap();
    }
    f.flush().unwrap();
    f.get_ref().sync_all().unwrap();
    sum
}

fn cursor(path: &Path) -> WindowCursor {
    SlidingWindowMapManager::builder()
        .window_size(WINDOW)
        .max_memory_size(BUDGET)
        .build()
        .unwrap()
        .make_cursor(path)
        .unwrap()
}

fn raw_map(path: &Path) -> memmap2::Mmap {
    let f = File::open(path).unwrap();
    // SAFETY: the benchmark's own temporary file, which nothing modifies while it is mapped.
    unsafe { memmap2::Mmap::map(&f).unwrap() }
}

fn raw_mmap(path: &Path) -> u64 {
    let map = raw_map(path);
    let mut sum = 0u64;
    for rec in map.chunks_exact(24) {
        sum = sum.wrapping_add(u64::from_le_bytes(rec[8..16].try_into().unwrap()));
    }
    sum
}

fn raw_mmap_records(path: &Path) -> u64 {
    let map = raw_map(path);
    let recs = Rec::slice_from_bytes(&map).unwrap();
    recs.iter().fold(0u64, |sum, r| sum.wrapping_add(r.value()))
}

fn record_iter(path: &Path) -> u64 {
    let mut sum = 0u64;
    for r in cursor(path).iter_records::<Rec>(0) {
        sum = sum.wrapping_add(r.unwrap().value());
    }
    sum
}

fn record_iter_chunks(path: &Path) -> u64 {
    let mut it = cursor(path).iter_records::<Rec>(0);
    let mut sum = 0u64;
    while let Some(chunk) = it.next_chunk() {
        for r in chunk.unwrap() {
            sum = sum.wrapping_add(r.value());
        }
    }
    sum
}

fn table_get(path: &Path) -> u64 {
    let mut t = RecordTable::<Rec>::new(cursor(path), 0, RECORDS).unwrap();
    let mut sum = 0u64;
    for i in 0..t.len() {
        sum = sum.wrapping_add(t.get(i).unwrap().value());
    }
    sum
}

fn table_chunk_at(path: &Path) -> u64 {
    let mut t = RecordTable::<Rec>::new(cursor(path), 0, RECORDS).unwrap();
    let (mut i, mut sum) = (0, 0u64);
    while i < t.len() {
        let chunk = t.chunk_at(i).unwrap();
        i += chunk.len() as u64;
        for r in chunk {
            sum = sum.wrapping_add(r.value());
        }
    }
    sum
}

fn cursor_record(path: &Path) -> u64 {
    let mut c = cursor(path);
    let mut sum = 0u64;
    for i in 0..RECORDS {
        sum = sum.wrapping_add(c.record::<Rec>(i * 24).unwrap().value());
    }
    sum
}

/// A benchmark's name and the scan it times.
type Case = (&'static str, fn(&Path) -> u64);

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("records.bin");
    let expected = write_file(&path);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), FILE_SIZE);

    let cases: [Case; 7] = [
        ("raw_mmap", raw_mmap),
        ("raw_mmap_records", raw_mmap_records),
        ("record_iter", record_iter),
        ("record_iter_chunks", record_iter_chunks),
        ("table_get", table_get),
        ("table_chunk_at", table_chunk_at),
        ("cursor_record", cursor_record),
    ];
    for (name, f) in cases {
        assert_eq!(f(&path), expected, "{name}");
    }

    let mut g = c.benchmark_group("records_1GiB");
    g.sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4))
        .throughput(Throughput::Bytes(FILE_SIZE));
    for (name, f) in cases {
        g.bench_function(name, |b| b.iter(|| black_box(f(black_box(&path)))));
    }
    g.finish();
    // Keep the unused fields from being reported.
    let _ = |r: &Rec| (r.key(), r.extra());
}

criterion_group!(benches, bench);
criterion_main!(benches);
