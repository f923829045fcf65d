//! P8: the reads of P2 and P6 on the 1 GiB file, every variant measured in turn, round after
//! round, from one page-cache state: ratios that the machine's drift between criterion's
//! groups (each with its own `recache`, and its own luck with large folios, see
//! `common::report_mapping`) does not move. Printed as tables of medians; criterion measures
//! nothing here.
//!
//! - One thread: fifteen rounds (five in quick mode); in each, every variant reads the 100,000
//!   records of P2 five times. The ratio of a variant is the median over the rounds of its time
//!   divided by the raw map's in the same round.
//! - Two threads: fifteen runs of one thread and then two on the same manager (each thread its
//!   own cursor, as in P6); the scaling is `2 * t(1) / t(2)`, its median over the runs.

use std::hint::black_box;
use std::time::Instant;

use smmap::WindowCursor;

use crate::common::{
    Fixture, MIB, cursor_records, quick, raw_map, raw_records, record_offsets, report_mapping,
    sliding_unbounded, static_manager,
};
use crate::p2_random::READS;

const PASSES: usize = 5;

/// Median, least and greatest of `v` (not empty).
fn spread(mut v: Vec<f64>) -> (f64, f64, f64) {
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[0], v[v.len() - 1])
}

pub(crate) fn bench(fx: &Fixture) {
    fx.recache();
    let offsets = record_offsets(fx.size, READS, 0x2545_f491);
    let map = raw_map(&fx.path);
    let expected = raw_records(&map, &offsets);
    let static_man = static_manager();
    let sliding_64 = sliding_unbounded(64 * MIB, fx.size);
    let sliding_4 = sliding_unbounded(4 * MIB, fx.size);
    let make = |c: smmap::Result<WindowCursor>| c.expect("a cursor");
    let mut cursors = [
        make(static_man.make_cursor(&fx.path)),
        make(sliding_64.make_cursor(&fx.path)),
        make(sliding_4.make_cursor(&fx.path)),
    ];
    for c in &mut cursors {
        assert_eq!(cursor_records(c, &offsets), expected);
    }
    report_mapping("P8", &fx.path);

    let names = [
        "raw_mmap",
        "smmap_static",
        "smmap_sliding_64MiB",
        "smmap_sliding_4MiB",
    ];
    let rounds = if quick() { 5 } else { 15 };
    let mut times = vec![Vec::new(); names.len()];
    for _ in 0..rounds {
        for (v, t) in times.iter_mut().enumerate() {
            let start = Instant::now();
            for _ in 0..PASSES {
                let sum = match v {
                    0 => raw_records(&map, &offsets),
                    _ => cursor_records(&mut cursors[v - 1], &offsets),
                };
                black_box(sum);
            }
            t.push(start.elapsed().as_secs_f64() * 1e9 / (PASSES * READS) as f64);
        }
    }
    println!("P8 one thread, {rounds} rounds in turn (ns per record, ratio to raw_mmap):");
    for (name, t) in names.iter().zip(&times) {
        let ratios = t.iter().zip(&times[0]).map(|(a, b)| a / b).collect();
        let (ns, ..) = spread(t.clone());
        let (r, lo, hi) = spread(ratios);
        println!("  {name:<22} {ns:6.1} ns  {r:5.2}x  ({lo:.2}x to {hi:.2}x)");
    }
    assert_eq!(
        sliding_64.stats().evictions,
        0,
        "the budget holds every window"
    );
    drop(cursors);

    // Two threads: per manager, the time of one thread's reads and of two threads' (the
    // second thread reads P6's second set of offsets).
    let second = record_offsets(fx.size, READS, 0x7e_0007);
    let sets = [&offsets, &second];
    let runs = if quick() { 3 } else { 15 };
    println!("P8 two threads ÷ one, {runs} runs (2 * t(1) / t(2)):");
    for (v, name) in names.iter().enumerate() {
        let cursors_for = |n: usize| -> Vec<Option<WindowCursor>> {
            (0..n)
                .map(|_| match v {
                    0 => None,
                    1 => Some(make(static_man.make_cursor(&fx.path))),
                    2 => Some(make(sliding_64.make_cursor(&fx.path))),
                    _ => Some(make(sliding_4.make_cursor(&fx.path))),
                })
                .collect()
        };
        let mut one = cursors_for(1);
        let mut two = cursors_for(2);
        let read = |i: usize, c: &mut Option<WindowCursor>| match c {
            None => raw_records(&map, sets[i]),
            Some(c) => cursor_records(c, sets[i]),
        };
        let time = |cs: &mut Vec<Option<WindowCursor>>| {
            let start = Instant::now();
            std::thread::scope(|s| {
                for (i, c) in cs.iter_mut().enumerate() {
                    s.spawn(move || {
                        for _ in 0..PASSES {
                            black_box(read(i, c));
                        }
                    });
                }
            });
            start.elapsed().as_secs_f64()
        };
        // Warm: every cursor's windows mapped and kept.
        time(&mut one);
        time(&mut two);
        let scaling = (0..runs)
            .map(|_| 2.0 * time(&mut one) / time(&mut two))
            .collect();
        let (r, lo, hi) = spread(scaling);
        println!("  {name:<22} {r:5.2}  ({lo:.2} to {hi:.2})");
    }
}
