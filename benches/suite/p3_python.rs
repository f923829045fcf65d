//! P3: Python smmap's own setup: 1 MiB windows, a 16 MiB budget, a 256 MiB file, 24-byte
//! records at random record offsets (20,000 reads per iteration):
//! - `smmap_sliding_1MiB_16MiB`: `WindowCursor::record` through that sliding manager;
//! - `raw_one_window_cache`: a hand-written cache of one `memmap2` window of 1 MiB placed at
//!   a multiple of 512 KiB, remapped whenever a record falls outside it (what a program
//!   does without a manager: an mmap, page faults and an munmap per miss);
//! - `raw_mmap`: a whole-file map (the bound when everything fits);
//! - `pread`: one `pread` per record.

use std::fs::File;

use criterion::{Criterion, Throughput};

use crate::common::{
    Fixture, MIB, REC, cursor_records, digest_bytes, group, pread_records, raw_map, raw_records,
    record_offsets, size_name, sliding,
};

const WINDOW: u64 = MIB;
const BUDGET: u64 = 16 * MIB;
const READS: usize = 20_000;

/// One mapped window of a file, remapped on every miss.
struct OneWindow {
    file: File,
    file_size: u64,
    window: u64,
    map: Option<(u64, memmap2::Mmap)>,
}

impl OneWindow {
    fn new(file: File, window: u64) -> Self {
        let file_size = file.metadata().expect("metadata").len();
        OneWindow {
            file,
            file_size,
            window,
            map: None,
        }
    }

    fn get(&mut self, ofs: u64, len: usize) -> &[u8] {
        let end = ofs + len as u64;
        let hit = matches!(&self.map, Some((start, m)) if *start <= ofs && end <= *start + m.len() as u64);
        if !hit {
            // Unmap first, as a budget of one window requires.
            self.map = None;
            let start = ofs / (self.window / 2) * (self.window / 2);
            let size = self.window.min(self.file_size - start) as usize;
            // SAFETY: the suite's own temporary file, which nothing modifies or truncates
            // while it is mapped; `start + size` lies within the file.
            let m = unsafe {
                memmap2::MmapOptions::new()
                    .offset(start)
                    .len(size)
                    .map(&self.file)
                    .expect("mmap")
            };
            self.map = Some((start, m));
        }
        let (start, m) = self.map.as_ref().expect("a window");
        let at = (ofs - start) as usize;
        &m[at..at + len]
    }
}

fn one_window_records(w: &mut OneWindow, offsets: &[u64]) -> u64 {
    offsets.iter().fold(0u64, |acc, &o| {
        acc.wrapping_add(digest_bytes(w.get(o, REC)))
    })
}

pub(crate) fn bench(c: &mut Criterion, fx: &Fixture) {
    let offsets = record_offsets(fx.size, READS, 0x5eed_0003);
    let mut g = group(
        c,
        &format!("P3_python_setup_{}", size_name(fx.size)),
        Throughput::Elements(READS as u64),
    );

    fx.recache();
    let expected = {
        let man = sliding(WINDOW, BUDGET);
        let mut cur = man.make_cursor(&fx.path).expect("a cursor");
        let want = cursor_records(&mut cur, &offsets);
        g.bench_function("smmap_sliding_1MiB_16MiB", |b| {
            b.iter(|| cursor_records(&mut cur, &offsets))
        });
        assert!(man.stats().peak_mapped_bytes <= BUDGET + WINDOW);
        want
    };

    fx.recache();
    {
        let mut w = OneWindow::new(fx.open(), WINDOW);
        assert_eq!(one_window_records(&mut w, &offsets), expected);
        g.bench_function("raw_one_window_cache", |b| {
            b.iter(|| one_window_records(&mut w, &offsets))
        });
    }

    fx.recache();
    {
        let map = raw_map(&fx.path);
        assert_eq!(raw_records(&map, &offsets), expected);
        g.bench_function("raw_mmap", |b| b.iter(|| raw_records(&map, &offsets)));
    }

    fx.recache();
    let file = fx.open();
    assert_eq!(pread_records(&file, &offsets), expected);
    g.bench_function("pread", |b| b.iter(|| pread_records(&file, &offsets)));
    g.finish();
}
