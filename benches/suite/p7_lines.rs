//! P7: counting the lines of the 1 GiB text file through `BufRead`.
//!
//! `P7_lines_fill_buf_<size>`: `fill_buf`/`consume` and memchr's count (no copy):
//! - `smmap_buffer`: `SlidingWindowMapBuffer` (64 MiB windows, a 64 MiB budget), whose
//!   `fill_buf` hands out the mapped window;
//! - `bufreader_8KiB` (`BufReader::new`) and `bufreader_1MiB`: `BufReader<File>`;
//! - `raw_mmap`: memchr's count over a fresh whole-file map.
//!
//! `P7_lines_read_until_<size>`: `read_until(b'\n')` into one reused `Vec` (each line copied,
//! the idiomatic loop): `smmap_buffer`, `bufreader_8KiB`, `bufreader_1MiB`.
//!
//! A fresh buffer (cursor, manager) or reader per pass.

use std::io::{BufRead, BufReader};

use criterion::{Criterion, Throughput};
use smmap::SlidingWindowMapBuffer;

use crate::common::{Fixture, KIB, MIB, count_newlines, group, raw_map, size_name, sliding};

const WINDOW: u64 = 64 * MIB;
const BUDGET: u64 = 64 * MIB;

fn buffer(fx: &Fixture) -> SlidingWindowMapBuffer {
    let man = sliding(WINDOW, BUDGET);
    SlidingWindowMapBuffer::new(man.make_cursor(&fx.path).expect("a cursor")).expect("a buffer")
}

fn bufreader(fx: &Fixture, capacity: u64) -> BufReader<std::fs::File> {
    BufReader::with_capacity(capacity as usize, fx.open())
}

fn lines_fill_buf(r: &mut impl BufRead) -> u64 {
    let mut n = 0;
    loop {
        let b = r.fill_buf().expect("fill_buf");
        if b.is_empty() {
            return n;
        }
        n += count_newlines(b);
        let len = b.len();
        r.consume(len);
    }
}

fn lines_read_until(r: &mut impl BufRead) -> u64 {
    let mut n = 0;
    let mut line = Vec::with_capacity(256);
    loop {
        line.clear();
        if r.read_until(b'\n', &mut line).expect("read_until") == 0 {
            return n;
        }
        n += u64::from(line.last() == Some(&b'\n'));
    }
}

/// A benchmark's name and the count it times.
type Case<'a> = (&'static str, Box<dyn Fn() -> u64 + 'a>);

pub(crate) fn bench(c: &mut Criterion, fx: &Fixture) {
    let fill_buf: Vec<Case<'_>> = vec![
        ("smmap_buffer", Box::new(|| lines_fill_buf(&mut buffer(fx)))),
        (
            "bufreader_8KiB",
            Box::new(|| lines_fill_buf(&mut bufreader(fx, 8 * KIB))),
        ),
        (
            "bufreader_1MiB",
            Box::new(|| lines_fill_buf(&mut bufreader(fx, MIB))),
        ),
        ("raw_mmap", Box::new(|| count_newlines(&raw_map(&fx.path)))),
    ];
    let read_until: Vec<Case<'_>> = vec![
        (
            "smmap_buffer",
            Box::new(|| lines_read_until(&mut buffer(fx))),
        ),
        (
            "bufreader_8KiB",
            Box::new(|| lines_read_until(&mut bufreader(fx, 8 * KIB))),
        ),
        (
            "bufreader_1MiB",
            Box::new(|| lines_read_until(&mut bufreader(fx, MIB))),
        ),
    ];
    for (method, cases) in [("fill_buf", fill_buf), ("read_until", read_until)] {
        let mut g = group(
            c,
            &format!("P7_lines_{method}_{}", size_name(fx.size)),
            Throughput::Bytes(fx.size),
        );
        for (name, f) in &cases {
            fx.recache();
            assert_eq!(f(), fx.newlines, "{method} {name}");
            g.bench_function(*name, |b| b.iter(f));
        }
        g.finish();
    }
}
