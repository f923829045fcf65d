//! P1: sequential scans of the 1 GiB file.
//!
//! `P1_scan_<size>`: summing every u64 word, through
//! - `raw_mmap`: a fresh whole-file `memmap2` map per pass (its page faults included);
//! - `smmap_static`: a fresh static manager per pass, one region, `use_region` over it;
//! - `smmap_sliding_4MiB` / `smmap_sliding_64MiB`: a fresh sliding manager per pass, 4 or
//!   64 MiB windows under a 64 MiB budget, `use_region` of half a window at a time;
//! - `bufreader_1MiB`: `BufReader<File>` of 1 MiB, `fill_buf`/`consume`;
//! - `pread_1MiB`: `pread` into a reused 1 MiB buffer.
//!
//! `P1_records_<size>`: summing one field of every 24-byte record, through
//! - `raw_mmap`: a fresh whole-file map, `chunks_exact(24)`;
//! - `smmap_record_iter`: `RecordIter` as an `Iterator<Item = Result<Rec>>`, 4 MiB windows
//!   under a 64 MiB budget;
//! - `smmap_record_iter_chunks`: the same iterator, a window of records at a time
//!   (`next_chunk`);
//! - `pread_1MiB`: `pread` of 43,690 records (1 MiB less 16 bytes) at a time.

use std::io::{BufRead, BufReader};

use criterion::{Criterion, Throughput};

use crate::common::{
    Fixture, MIB, REC, Rec, group, pread, raw_map, size_name, sliding, static_manager, sum_field_b,
    sum_words,
};

const BUDGET: u64 = 64 * MIB;

fn scan_cursor(c: &mut smmap::WindowCursor, chunk: usize) -> u64 {
    let size = c.file_size();
    let (mut ofs, mut sum) = (0u64, 0u64);
    while ofs < size {
        let b = c.use_region(ofs, chunk).expect("a region");
        sum = sum.wrapping_add(sum_words(b));
        ofs += b.len() as u64;
    }
    sum
}

fn scan_static(fx: &Fixture) -> u64 {
    let man = static_manager();
    let mut c = man.make_cursor(&fx.path).expect("a cursor");
    scan_cursor(&mut c, 0)
}

fn scan_sliding(fx: &Fixture, window: u64) -> u64 {
    let man = sliding(window, BUDGET);
    let mut c = man.make_cursor(&fx.path).expect("a cursor");
    let sum = scan_cursor(&mut c, (window / 2) as usize);
    assert!(man.stats().peak_mapped_bytes <= BUDGET + window);
    sum
}

fn scan_bufreader(fx: &Fixture) -> u64 {
    let mut r = BufReader::with_capacity(MIB as usize, fx.open());
    let mut sum = 0u64;
    loop {
        let b = r.fill_buf().expect("fill_buf");
        if b.is_empty() {
            return sum;
        }
        // 1 MiB reads of a file whose size is a multiple of 8: every chunk is whole words.
        sum = sum.wrapping_add(sum_words(b));
        let n = b.len();
        r.consume(n);
    }
}

fn scan_pread(fx: &Fixture, chunk: usize, work: fn(&[u8]) -> u64) -> u64 {
    let f = fx.open();
    let mut buf = vec![0u8; chunk];
    let (mut ofs, mut sum) = (0u64, 0u64);
    while ofs < fx.size {
        let n = chunk.min((fx.size - ofs) as usize);
        pread(&f, &mut buf[..n], ofs);
        sum = sum.wrapping_add(work(&buf[..n]));
        ofs += n as u64;
    }
    sum
}

fn records(fx: &Fixture) -> u64 {
    fx.size / REC as u64
}

fn records_iter(fx: &Fixture) -> u64 {
    let man = sliding(4 * MIB, BUDGET);
    let it = man
        .make_cursor(&fx.path)
        .expect("a cursor")
        .iter_records_n::<Rec>(0, records(fx));
    it.fold(0u64, |s, r| s.wrapping_add(r.expect("a record").b()))
}

fn records_iter_chunks(fx: &Fixture) -> u64 {
    let man = sliding(4 * MIB, BUDGET);
    let mut it = man
        .make_cursor(&fx.path)
        .expect("a cursor")
        .iter_records_n::<Rec>(0, records(fx));
    let mut sum = 0u64;
    while let Some(chunk) = it.next_chunk() {
        for r in chunk.expect("records") {
            sum = sum.wrapping_add(r.b());
        }
    }
    sum
}

/// A benchmark's name and the scan it times.
type Case<'a> = (&'static str, Box<dyn Fn() -> u64 + 'a>);

pub(crate) fn bench(c: &mut Criterion, fx: &Fixture) {
    let scans: Vec<Case<'_>> = vec![
        ("raw_mmap", Box::new(|| sum_words(&raw_map(&fx.path)[..]))),
        ("smmap_static", Box::new(|| scan_static(fx))),
        ("smmap_sliding_4MiB", Box::new(|| scan_sliding(fx, 4 * MIB))),
        (
            "smmap_sliding_64MiB",
            Box::new(|| scan_sliding(fx, 64 * MIB)),
        ),
        ("bufreader_1MiB", Box::new(|| scan_bufreader(fx))),
        (
            "pread_1MiB",
            Box::new(|| scan_pread(fx, MIB as usize, sum_words)),
        ),
    ];
    let mut g = group(
        c,
        &format!("P1_scan_{}", size_name(fx.size)),
        Throughput::Bytes(fx.size),
    );
    for (name, f) in &scans {
        fx.recache();
        assert_eq!(f(), fx.word_sum, "{name}");
        g.bench_function(*name, |b| b.iter(f));
    }
    g.finish();

    let whole = records(fx) * REC as u64;
    let expected = {
        let map = raw_map(&fx.path);
        sum_field_b(&map[..whole as usize])
    };
    let per_read = (MIB as usize / REC) * REC;
    let scans: Vec<Case<'_>> = vec![
        (
            "raw_mmap",
            Box::new(|| sum_field_b(&raw_map(&fx.path)[..whole as usize])),
        ),
        ("smmap_record_iter", Box::new(|| records_iter(fx))),
        (
            "smmap_record_iter_chunks",
            Box::new(|| records_iter_chunks(fx)),
        ),
        (
            "pread_1MiB",
            Box::new(|| scan_pread(fx, per_read, sum_field_b)),
        ),
    ];
    let mut g = group(
        c,
        &format!("P1_records_{}", size_name(fx.size)),
        Throughput::Bytes(whole),
    );
    for (name, f) in &scans {
        fx.recache();
        assert_eq!(f(), expected, "{name}");
        g.bench_function(*name, |b| b.iter(f));
    }
    g.finish();
}
