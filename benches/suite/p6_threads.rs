//! P6: threads. The random reads of P2 on the 1 GiB file (100,000 per thread and
//! iteration, each thread its own offsets and its own cursor of one shared manager) by 1 and
//! by 2 threads, the benchmark parameter being the number of threads:
//! - `raw_mmap/N`: one shared whole-file map;
//! - `pread/N`: one shared `File`;
//! - `smmap_static/N`, `smmap_sliding_64MiB/N`, `smmap_sliding_4MiB/N`: one shared manager
//!   (the sliding ones with a budget that holds every window).
//!
//! Throughput is counted in records of all threads: 2 threads that scale perfectly show twice
//! the records per second of 1 thread. The threads are spawned for each iteration in both
//! cases (tens of microseconds against milliseconds of reads).

use criterion::{BenchmarkId, Criterion, Throughput};
use smmap::WindowCursor;

use crate::common::{
    Fixture, MIB, cursor_records, group, pread_records, raw_map, raw_records, record_offsets,
    report_mapping, size_name, sliding_unbounded, static_manager,
};
use crate::p2_random::READS;

const THREADS: [usize; 2] = [1, 2];

/// Runs `work(thread, state)` on one scoped thread per state, all at once; returns the
/// wrapping sum of their results.
fn on_threads<S: Send>(states: &mut [S], work: &(impl Fn(usize, &mut S) -> u64 + Sync)) -> u64 {
    std::thread::scope(|s| {
        let handles: Vec<_> = states
            .iter_mut()
            .enumerate()
            .map(|(i, st)| s.spawn(move || work(i, st)))
            .collect();
        handles
            .into_iter()
            .fold(0u64, |a, h| a.wrapping_add(h.join().expect("a thread")))
    })
}

/// The managers measured, each made anew (and its cursors) for each thread count.
#[derive(Clone, Copy)]
enum Manager {
    Static,
    Sliding(u64),
}

impl Manager {
    fn name(self) -> String {
        match self {
            Manager::Static => "smmap_static".into(),
            Manager::Sliding(w) => format!("smmap_sliding_{}", size_name(w)),
        }
    }

    fn cursors(self, fx: &Fixture, n: usize) -> Vec<WindowCursor> {
        let make = |c: smmap::Result<WindowCursor>| c.expect("a cursor");
        match self {
            Manager::Static => {
                let man = static_manager();
                (0..n).map(|_| make(man.make_cursor(&fx.path))).collect()
            }
            Manager::Sliding(w) => {
                let man = sliding_unbounded(w, fx.size);
                (0..n).map(|_| make(man.make_cursor(&fx.path))).collect()
            }
        }
    }
}

pub(crate) fn bench(c: &mut Criterion, fx: &Fixture) {
    let offsets: Vec<Vec<u64>> = (0..2)
        .map(|t| record_offsets(fx.size, READS, 0x7e_0006 + t))
        .collect();
    let mut g = group(
        c,
        &format!("P6_threads_{}", size_name(fx.size)),
        Throughput::Elements(READS as u64),
    );
    let mut expected = Vec::new();

    for n in THREADS {
        fx.recache();
        let map = raw_map(&fx.path);
        let mut states = vec![(); n];
        let work = |i: usize, _: &mut ()| raw_records(&map, &offsets[i]);
        expected.push(on_threads(&mut states, &work));
        report_mapping(&format!("raw_mmap/{n}"), &fx.path);
        g.throughput(Throughput::Elements((n * READS) as u64));
        g.bench_with_input(BenchmarkId::new("raw_mmap", n), &n, |b, _| {
            b.iter(|| on_threads(&mut states, &work))
        });
    }
    for n in THREADS {
        fx.recache();
        let file = fx.open();
        let mut states = vec![(); n];
        let work = |i: usize, _: &mut ()| pread_records(&file, &offsets[i]);
        assert_eq!(on_threads(&mut states, &work), expected[n - 1], "pread/{n}");
        g.throughput(Throughput::Elements((n * READS) as u64));
        g.bench_with_input(BenchmarkId::new("pread", n), &n, |b, _| {
            b.iter(|| on_threads(&mut states, &work))
        });
    }
    for m in [
        Manager::Static,
        Manager::Sliding(64 * MIB),
        Manager::Sliding(4 * MIB),
    ] {
        for n in THREADS {
            fx.recache();
            let mut cursors = m.cursors(fx, n);
            let work = |i: usize, c: &mut WindowCursor| cursor_records(c, &offsets[i]);
            let name = m.name();
            assert_eq!(
                on_threads(&mut cursors, &work),
                expected[n - 1],
                "{name}/{n}"
            );
            report_mapping(&format!("{name}/{n}"), &fx.path);
            g.throughput(Throughput::Elements((n * READS) as u64));
            g.bench_with_input(BenchmarkId::new(name, n), &n, |b, _| {
                b.iter(|| on_threads(&mut cursors, &work))
            });
        }
    }
    g.finish();
}
