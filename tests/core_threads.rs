//! One manager shared by several threads under a small budget.

mod common;

use std::sync::Arc;

use common::{offset_in, random_file, rng};
use rand::RngExt;
use smmap::{SlidingWindowMapManager, StaticWindowMapManager};

#[test]
fn threads_share_one_sliding_manager_under_a_small_budget() {
    let dir = tempfile::tempdir().unwrap();
    let w = 4 * smmap::allocation_granularity();
    let files: Arc<Vec<_>> = Arc::new(
        (0..3)
            .map(|i| random_file(dir.path(), &format!("f{i}"), 40 * w + 777, 50 + i))
            .collect(),
    );
    let man = SlidingWindowMapManager::builder()
        .window_size(w)
        .max_memory_size(6 * w)
        .max_open_handles(8)
        .max_open_files(2)
        .build()
        .unwrap();
    let threads: Vec<_> = (0..6)
        .map(|t| {
            let man = man.clone();
            let files = files.clone();
            std::thread::spawn(move || {
                let mut r = rng(100 + t);
                let mut cursors: Vec<_> = files
                    .iter()
                    .map(|(p, _)| man.make_cursor(p).unwrap())
                    .collect();
                for i in 0..3000 {
                    let f = r.random_range(0..files.len());
                    let data = &files[f].1;
                    let o = offset_in(&mut r, data.len() as u64);
                    let n = r.random_range(1..=w / 2);
                    let got = cursors[f].use_region(o, n).unwrap();
                    let end = (o as usize + n).min(data.len());
                    assert_eq!(got, &data[o as usize..end]);
                    if i % 500 == 0 {
                        // Clones and moves between threads work too.
                        let c = cursors[f].clone();
                        let handle = std::thread::spawn(move || c.buffer().len());
                        assert_eq!(handle.join().unwrap(), end - o as usize);
                    }
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let s = man.stats();
    // Over the budget of 8 only while every region is pinned: 3 cursors and a clone per thread.
    assert!(s.peak_regions <= 6 * 4, "{s:?}");
    assert!(s.over_budget_maps > 0, "{s:?}");
    assert!(s.evictions > 0, "{s:?}");
    assert!(
        s.hits + s.misses >= 6 * 3000,
        "every request is counted: {s:?}"
    );
    man.collect();
    let s = man.stats();
    assert_eq!(
        (s.regions, s.mapped_bytes, s.open_descriptors),
        (0, 0, 0),
        "{s:?}"
    );
    assert_eq!(man.num_file_handles(), 0);
    assert_eq!(man.num_open_files(), 0);
    assert_eq!(man.mapped_memory_size(), 0);
}

#[test]
fn threads_share_one_static_manager() {
    let dir = tempfile::tempdir().unwrap();
    let files: Arc<Vec<_>> = Arc::new(
        (0..5)
            .map(|i| random_file(dir.path(), &format!("f{i}"), 300_000 + i as usize, 60 + i))
            .collect(),
    );
    // Room for two files at once.
    let man = StaticWindowMapManager::builder()
        .max_memory_size(700_000)
        .build()
        .unwrap();
    let threads: Vec<_> = (0..4)
        .map(|t| {
            let man = man.clone();
            let files = files.clone();
            std::thread::spawn(move || {
                let mut r = rng(200 + t);
                for _ in 0..500 {
                    let (p, data) = &files[r.random_range(0..files.len())];
                    let mut c = man.make_cursor(p).unwrap();
                    let o = offset_in(&mut r, data.len() as u64);
                    let got = c.use_region(o, 100).unwrap();
                    assert_eq!(got, &data[o as usize..(o as usize + 100).min(data.len())]);
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert!(man.stats().peak_regions <= 2 + 4);
    assert!(man.collect() <= 2);
    let s = man.stats();
    assert_eq!(
        (s.regions, s.mapped_bytes, s.open_descriptors),
        (0, 0, 0),
        "{s:?}"
    );
}
