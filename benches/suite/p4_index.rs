//! P4: lookups by id in an index of 2,097,152 sorted 20-byte ids (40 MiB; 262,144 ids in
//! quick mode), 4,096 lookups of ids present in the index per iteration:
//! - `raw_mmap`: a hand-written binary search over a whole-file `memmap2` map;
//! - `pread`: the same binary search with one `pread` of 20 bytes per probe;
//! - `smmap_static`: `RecordTable::<[u8; 20]>::binary_search_by` through a static manager
//!   (the whole index mapped);
//! - `smmap_sliding_tenth`: the same through a sliding manager with 1 MiB windows and a
//!   budget of a tenth of the index (rounded up to whole windows).

use std::cmp::Ordering;
use std::fs::File;

use criterion::{Criterion, Throughput};
use smmap::RecordTable;

use crate::common::{
    Fixture, MIB, XorShift, group, pread, quick, raw_map, sliding, static_manager,
};

const ID: usize = 20;
type Id = [u8; ID];
const LOOKUPS: usize = 4096;

/// The index: ids spread evenly over the 64-bit prefix space with a random jitter below the
/// step (sorted and distinct by construction), random bytes after the prefix.
fn index_bytes(entries: u64) -> Vec<u8> {
    let step = u64::MAX / entries;
    let mut rng = XorShift(0x1d5_0004);
    let mut out = Vec::with_capacity(entries as usize * ID);
    for i in 0..entries {
        let prefix = i * step + rng.below(step);
        out.extend_from_slice(&prefix.to_be_bytes());
        out.extend_from_slice(&rng.next_u64().to_le_bytes());
        out.extend_from_slice(&(rng.next_u64() as u32).to_le_bytes());
    }
    out
}

/// Binary search over the ids of `len` entries, `probe(i)` giving the id at `i`: the
/// hand-written lookup of the baselines (the same halving as `slice::binary_search_by`).
fn search(len: u64, mut probe: impl FnMut(u64) -> Ordering) -> Option<u64> {
    let (mut lo, mut hi) = (0u64, len);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match probe(mid) {
            Ordering::Less => lo = mid + 1,
            Ordering::Greater => hi = mid,
            Ordering::Equal => return Some(mid),
        }
    }
    None
}

fn raw_lookups(map: &[u8], queries: &[Id]) -> u64 {
    let len = (map.len() / ID) as u64;
    queries.iter().fold(0u64, |acc, q| {
        let i = search(len, |i| {
            let at = i as usize * ID;
            map[at..at + ID].cmp(&q[..])
        })
        .expect("a present id");
        acc.wrapping_add(i)
    })
}

fn pread_lookups(file: &File, len: u64, queries: &[Id]) -> u64 {
    let mut buf = [0u8; ID];
    queries.iter().fold(0u64, |acc, q| {
        let i = search(len, |i| {
            pread(file, &mut buf, i * ID as u64);
            buf.cmp(q)
        })
        .expect("a present id");
        acc.wrapping_add(i)
    })
}

fn table_lookups(t: &mut RecordTable<Id>, queries: &[Id]) -> u64 {
    queries.iter().fold(0u64, |acc, q| {
        let i = t
            .binary_search_by(|id| id.cmp(q))
            .expect("readable")
            .expect("a present id");
        acc.wrapping_add(i)
    })
}

pub(crate) fn bench(c: &mut Criterion) {
    let entries: u64 = if quick() { 1 << 18 } else { 1 << 21 };
    let bytes = index_bytes(entries);
    let fx = Fixture::from_bytes("index.ids", &bytes);
    let mut rng = XorShift(0x100c_0004);
    let picks: Vec<u64> = (0..LOOKUPS).map(|_| rng.below(entries)).collect();
    let queries: Vec<Id> = picks
        .iter()
        .map(|&i| {
            let at = i as usize * ID;
            bytes[at..at + ID].try_into().expect("20 bytes")
        })
        .collect();
    let expected = picks.iter().fold(0u64, |a, &i| a.wrapping_add(i));
    drop(bytes);

    let mut g = group(
        c,
        &format!("P4_index_lookup_{entries}"),
        Throughput::Elements(LOOKUPS as u64),
    );

    fx.recache();
    {
        let map = raw_map(&fx.path);
        assert_eq!(raw_lookups(&map, &queries), expected);
        g.bench_function("raw_mmap", |b| b.iter(|| raw_lookups(&map, &queries)));
    }

    fx.recache();
    {
        let file = fx.open();
        assert_eq!(pread_lookups(&file, entries, &queries), expected);
        g.bench_function("pread", |b| {
            b.iter(|| pread_lookups(&file, entries, &queries))
        });
    }

    fx.recache();
    {
        let man = static_manager();
        let cur = man.make_cursor(&fx.path).expect("a cursor");
        let mut t = RecordTable::<Id>::new(cur, 0, entries).expect("a table");
        assert_eq!(table_lookups(&mut t, &queries), expected);
        g.bench_function("smmap_static", |b| {
            b.iter(|| table_lookups(&mut t, &queries))
        });
    }

    fx.recache();
    {
        let window = MIB;
        let budget = (fx.size / 10).div_ceil(window) * window;
        let man = sliding(window, budget);
        let cur = man.make_cursor(&fx.path).expect("a cursor");
        let mut t = RecordTable::<Id>::new(cur, 0, entries).expect("a table");
        assert_eq!(table_lookups(&mut t, &queries), expected);
        g.bench_function("smmap_sliding_tenth", |b| {
            b.iter(|| table_lookups(&mut t, &queries))
        });
        assert!(man.stats().peak_mapped_bytes <= budget + window);
    }
    g.finish();
}
