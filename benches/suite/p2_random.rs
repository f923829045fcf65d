//! P2: 24-byte records at random record offsets of a 64 MiB and of the 1 GiB file, 100,000
//! reads per iteration, every field of each record read:
//! - `raw_mmap`: a long-lived whole-file `memmap2` map, pointer arithmetic;
//! - `pread`: one `pread` of 24 bytes per record;
//! - `smmap_static`: `WindowCursor::record` through a static manager;
//! - `smmap_sliding_64MiB` / `smmap_sliding_4MiB`: the same through a sliding manager with
//!   64 or 4 MiB windows and a budget that holds every window of the file (nothing is
//!   evicted: what is measured is the cost of finding a mapped window).
//!
//! Every map and manager is made after the file is put back in the page-cache state, and is
//! warmed by one pass (every window mapped, its pages faulted) before it is measured.

use criterion::{Criterion, Throughput};

use crate::common::{
    Fixture, MIB, cursor_records, group, pread_records, raw_map, raw_records, record_offsets,
    report_mapping, size_name, sliding_unbounded, static_manager,
};

pub(crate) const READS: usize = 100_000;

pub(crate) fn bench(c: &mut Criterion, fx: &Fixture) {
    let offsets = record_offsets(fx.size, READS, 0x2545_f491);
    let mut g = group(
        c,
        &format!("P2_random_{}", size_name(fx.size)),
        Throughput::Elements(READS as u64),
    );

    fx.recache();
    let expected = {
        let map = raw_map(&fx.path);
        let want = raw_records(&map, &offsets);
        report_mapping("raw_mmap", &fx.path);
        g.bench_function("raw_mmap", |b| b.iter(|| raw_records(&map, &offsets)));
        want
    };

    fx.recache();
    let file = fx.open();
    assert_eq!(pread_records(&file, &offsets), expected);
    g.bench_function("pread", |b| b.iter(|| pread_records(&file, &offsets)));
    drop(file);

    fx.recache();
    {
        let man = static_manager();
        let mut cur = man.make_cursor(&fx.path).expect("a cursor");
        assert_eq!(cursor_records(&mut cur, &offsets), expected);
        report_mapping("smmap_static", &fx.path);
        g.bench_function("smmap_static", |b| {
            b.iter(|| cursor_records(&mut cur, &offsets))
        });
    }

    for window in [64 * MIB, 4 * MIB] {
        fx.recache();
        let man = sliding_unbounded(window, fx.size);
        let mut cur = man.make_cursor(&fx.path).expect("a cursor");
        assert_eq!(cursor_records(&mut cur, &offsets), expected);
        report_mapping(&format!("smmap_sliding_{}", size_name(window)), &fx.path);
        g.bench_function(format!("smmap_sliding_{}", size_name(window)), |b| {
            b.iter(|| cursor_records(&mut cur, &offsets))
        });
        assert_eq!(man.stats().evictions, 0, "the budget holds every window");
    }
    g.finish();
}
