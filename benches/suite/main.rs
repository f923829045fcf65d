//! smmap's benchmark suite: every scenario against a raw `memmap2` baseline and `pread` in the
//! same run, every variant starting from the same page-cache state (see `common::recache`).
//!
//! - P1 scans of a 1 GiB file (`p1_scan`);
//! - P2 random 24-byte records on a 64 MiB and on the 1 GiB file (`p2_random`);
//! - P3 Python smmap's setup: 1 MiB windows, 16 MiB budget, 256 MiB file (`p3_python`);
//! - P4 lookups by id in an index of 2,097,152 sorted ids (`p4_index`);
//! - P5 is `examples/memory_bound.rs` (peak mapped bytes and peak RSS, not a timing);
//! - P6 random records on 1 and 2 threads (`p6_threads`);
//! - P7 line counting through `BufRead` (`p7_lines`);
//! - P8 the reads of P2 and P6 on the 1 GiB file with every variant in turn, round after
//!   round, in one page-cache state (`p8_in_turn`): ratios without the drift between groups.
//!
//! ```text
//! cargo bench                                  # the whole suite, under 10 minutes
//! SMMAP_BENCH_QUICK=1 cargo bench              # smaller files, short measurements
//! SMMAP_BENCH_ONLY=P2,P6 cargo bench           # some scenarios only
//! cargo run --release --example bench_report   # the table of ratios and the chart
//! ```
//!
//! The files live in temporary directories (`TMPDIR`), about 1.4 GiB at most at once.

mod common;
mod p1_scan;
mod p2_random;
mod p3_python;
mod p4_index;
mod p6_threads;
mod p7_lines;
mod p8_in_turn;

use common::{Content, Fixture, MIB, big_file_size, enabled};
use criterion::Criterion;

fn main() {
    let mut c = Criterion::default().configure_from_args();

    if enabled("P1") || enabled("P2") || enabled("P6") || enabled("P7") || enabled("P8") {
        let big = Fixture::new("big.txt", big_file_size(), Content::Text, 0x9e37_79b9);
        if enabled("P1") {
            p1_scan::bench(&mut c, &big);
        }
        if enabled("P7") {
            p7_lines::bench(&mut c, &big);
        }
        if enabled("P2") {
            let small = Fixture::new("small.bin", 64 * MIB, Content::Random, 0x64);
            p2_random::bench(&mut c, &small);
            drop(small);
            p2_random::bench(&mut c, &big);
        }
        if enabled("P6") {
            p6_threads::bench(&mut c, &big);
        }
        if enabled("P8") {
            p8_in_turn::bench(&big);
        }
    }
    if enabled("P3") {
        let size = if common::quick() { 64 * MIB } else { 256 * MIB };
        let fx = Fixture::new("python.bin", size, Content::Random, 0x3);
        p3_python::bench(&mut c, &fx);
    }
    if enabled("P4") {
        p4_index::bench(&mut c);
    }

    c.final_summary();
}
