//! The managers' registry, budgets, eviction order, descriptors, and bad input.

mod common;

use std::fs::{File, OpenOptions};
use std::path::Path;

use common::{offset_in, random_file, rng};
use proptest::prelude::*;
use rand::RngExt;
use smmap::{Error, SlidingWindowMapManager, StaticWindowMapManager, WindowCursor};

fn small_window() -> usize {
    2 * smmap::allocation_granularity()
}

fn sliding(window: usize, max_mem: usize, max_regions: usize) -> SlidingWindowMapManager {
    SlidingWindowMapManager::builder()
        .window_size(window)
        .max_memory_size(max_mem)
        .max_open_handles(max_regions)
        // These tests are about mappings and their eviction (small reads: tests/small_reads.rs).
        .small_reads(Some(false))
        .build()
        .unwrap()
}

/// Reads one byte at `ofs` through a fresh cursor; returns whether it needed a new mapping.
fn touch(man: &SlidingWindowMapManager, path: &Path, ofs: u64, data: &[u8]) -> bool {
    let before = man.stats().misses;
    let mut c = man.make_cursor(path).unwrap();
    assert_eq!(c.use_region(ofs, 1).unwrap()[0], data[ofs as usize]);
    drop(c);
    man.stats().misses > before
}

/// Appends `bytes` to the file at `path`, as another writer would (a rewrite would truncate the
/// file first, which Windows refuses while it is mapped).
fn append(path: &Path, bytes: &[u8]) {
    use std::io::Write;
    OpenOptions::new()
        .append(true)
        .open(path)
        .unwrap()
        .write_all(bytes)
        .unwrap();
}

#[test]
fn managers_are_send_sync_clone_and_cursors_send_clone() {
    fn send_sync_clone<T: Send + Sync + Clone>() {}
    fn send_clone<T: Send + Clone>() {}
    send_sync_clone::<SlidingWindowMapManager>();
    send_sync_clone::<StaticWindowMapManager>();
    send_clone::<WindowCursor>();
}

#[test]
fn defaults_follow_python_smmap_and_git() {
    let m = SlidingWindowMapManager::new();
    // Under a limit of the address space the defaults are smaller (`tests/limits.rs`).
    #[cfg(unix)]
    let unlimited_as = {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a valid rlimit for getrlimit to fill.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) }, 0);
        lim.rlim_cur == libc::RLIM_INFINITY
    };
    #[cfg(not(unix))]
    let unlimited_as = true;
    if cfg!(target_pointer_width = "64") && unlimited_as {
        assert_eq!(m.window_size(), 1 << 30);
        assert_eq!(m.max_mapped_memory_size(), 8 << 30);
    }
    assert_eq!(m.max_file_handles(), usize::MAX);
    #[cfg(unix)]
    {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a valid rlimit for getrlimit to fill.
        assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
        if lim.rlim_cur != libc::RLIM_INFINITY {
            #[allow(clippy::unnecessary_cast)] // `rlim_t` is 32 bits wide on some targets
            let cur = lim.rlim_cur as u64;
            assert_eq!(m.max_open_files() as u64, (cur - 25).max(1));
        }
    }
    // Windows limits handles only far beyond any useful budget: the C runtime's ceiling.
    #[cfg(windows)]
    assert_eq!(m.max_open_files(), 8192 - 25);
    let s = StaticWindowMapManager::new();
    assert_eq!(s.window_size(), 0);
    assert!(
        SlidingWindowMapManager::builder()
            .max_open_handles(0)
            .build()
            .is_err()
    );
    assert!(
        SlidingWindowMapManager::builder()
            .max_open_files(0)
            .build()
            .is_err()
    );
    let err = SlidingWindowMapManager::builder()
        .mode(smmap::MapMode::CopyOnWrite)
        .build();
    assert!(matches!(&err, Err(Error::Config(_))));
}

#[test]
fn lru_evicts_least_recently_used() {
    let dir = tempfile::tempdir().unwrap();
    let w = small_window();
    let (path, data) = random_file(dir.path(), "f", 16 * w, 11);
    // Room for three windows.
    let man = sliding(w, 3 * w, usize::MAX);
    let win = |i: usize| (i * w) as u64; // window i starts at i * w (a multiple of w / 2)
    assert!(touch(&man, &path, win(0), &data));
    assert!(touch(&man, &path, win(1), &data));
    assert!(touch(&man, &path, win(2), &data));
    // Use window 0 again: window 1 is now the least recently used.
    assert!(!touch(&man, &path, win(0) + 5, &data));
    assert!(touch(&man, &path, win(3), &data));
    assert_eq!(man.num_file_handles(), 3);
    assert!(
        !touch(&man, &path, win(0), &data),
        "window 0 was used recently"
    );
    assert!(!touch(&man, &path, win(2), &data));
    assert!(!touch(&man, &path, win(3), &data));
    assert!(touch(&man, &path, win(1), &data), "window 1 was evicted");
    assert_eq!(man.stats().evictions, 2);
    assert_eq!(man.stats().over_budget_maps, 0);
}

#[test]
fn lru_spans_files() {
    let dir = tempfile::tempdir().unwrap();
    let w = small_window();
    let (a, da) = random_file(dir.path(), "a", 4 * w, 12);
    let (b, db) = random_file(dir.path(), "b", 4 * w, 13);
    let man = sliding(w, 2 * w, usize::MAX);
    assert!(touch(&man, &a, 0, &da));
    assert!(touch(&man, &b, 0, &db));
    assert!(!touch(&man, &a, 1, &da));
    assert!(touch(&man, &b, w as u64 * 2, &db)); // evicts b's window at 0
    assert!(!touch(&man, &a, 2, &da));
    assert!(touch(&man, &b, 0, &db));
    assert_eq!(man.num_open_files(), 2);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]
    /// Against a naive LRU model: a request misses exactly when the model says its window is
    /// not mapped, and the victim is always the model's least recently used window.
    #[test]
    fn lru_victim_matches_model(
        capacity in 1usize..5,
        seq in proptest::collection::vec(0usize..8, 1..60),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let w = small_window();
        let (path, data) = random_file(dir.path(), "f", 9 * w, 14);
        let man = sliding(w, capacity * w, usize::MAX);
        let mut model: Vec<usize> = Vec::new(); // least recently used first
        for win in seq {
            let ofs = (win * w) as u64 + 7;
            let missed = touch(&man, &path, ofs, &data);
            let expect_miss = !model.contains(&win);
            prop_assert_eq!(missed, expect_miss, "window {} with model {:?}", win, model);
            model.retain(|&x| x != win);
            model.push(win);
            if model.len() > capacity {
                model.remove(0);
            }
            prop_assert_eq!(man.num_file_handles(), model.len());
        }
    }
}

#[test]
fn region_budget_and_pinned_over_budget() {
    let dir = tempfile::tempdir().unwrap();
    let w = small_window();
    let (path, data) = random_file(dir.path(), "f", 10 * w, 15);
    let man = sliding(w, usize::MAX, 2);
    for i in 0..10 {
        touch(&man, &path, (i * w) as u64, &data);
        assert!(man.num_file_handles() <= 2);
    }
    // Five cursors pinning five windows: the budget is soft when everything is in use.
    let mut cursors = Vec::new();
    for i in 0..5 {
        let mut c = man.make_cursor(&path).unwrap();
        let ofs = (i * 2 * w) as u64;
        assert_eq!(
            c.use_region(ofs, 16).unwrap(),
            &data[ofs as usize..ofs as usize + 16]
        );
        cursors.push(c);
    }
    assert_eq!(man.num_file_handles(), 5);
    assert!(man.stats().over_budget_maps >= 3);
    for (i, c) in cursors.iter().enumerate() {
        let ofs = i * 2 * w;
        assert_eq!(c.buffer(), &data[ofs..ofs + 16]);
        assert_eq!(c.region().unwrap().client_count, 2);
    }
    drop(cursors);
    assert_eq!(man.collect(), 5);
    assert_eq!(man.num_file_handles(), 0);
    assert_eq!(man.mapped_memory_size(), 0);
}

/// git's t5301: a window of one allocation unit and a memory budget smaller than one window
/// still read every byte correctly.
#[test]
fn t5301_tiny_window_and_budget_read_everything() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "pack", (1 << 20) + 12345, 16);
    let man = sliding(512, 512, usize::MAX);
    let w = man.window_size();
    assert_eq!(w, small_window());
    let mut c = man.make_cursor(&path).unwrap();
    let mut r = rng(16);
    let mut ofs = 0u64;
    let mut seen = Vec::with_capacity(data.len());
    while ofs < data.len() as u64 {
        let len = r.random_range(1..=w / 2);
        let got = c.use_region(ofs, len).unwrap();
        assert_eq!(got.len(), len.min(data.len() - ofs as usize));
        seen.extend_from_slice(got);
        ofs += got.len() as u64;
        assert!(man.mapped_memory_size() <= w);
        assert_eq!(man.num_file_handles(), 1);
    }
    assert_eq!(seen, data);
    // Random byte-wise reads too, through several cursors.
    let mut c2 = man.make_cursor(&path).unwrap();
    for _ in 0..2000 {
        let o = offset_in(&mut r, data.len() as u64);
        assert_eq!(c.use_region(o, 1).unwrap()[0], data[o as usize]);
        let o2 = offset_in(&mut r, data.len() as u64);
        let n = r.random_range(1..=w / 2);
        let got = c2.use_region(o2, n).unwrap();
        assert_eq!(got, &data[o2 as usize..(o2 as usize + n).min(data.len())]);
    }
    let s = man.stats();
    assert!(
        s.over_budget_maps > 0,
        "every window exceeds the budget: {s:?}"
    );
    assert!(s.peak_regions <= 2, "{s:?}");
}

#[test]
fn two_paths_to_one_file_share_regions() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f", 100_000, 17);
    let link = dir.path().join("hardlink");
    std::fs::hard_link(&path, &link).unwrap();
    let sym = dir.path().join("symlink");
    #[cfg(unix)]
    std::os::unix::fs::symlink(&path, &sym).unwrap();
    let rel_dir = dir.path().join("sub");
    std::fs::create_dir(&rel_dir).unwrap();
    let dotted = rel_dir.join("..").join("f");
    let man = StaticWindowMapManager::new();
    // Symbolic links on Windows need a privilege that tests do not have.
    let paths = if cfg!(unix) {
        vec![&path, &link, &sym, &dotted]
    } else {
        vec![&path, &link, &dotted]
    };
    let mut cursors: Vec<WindowCursor> =
        paths.iter().map(|p| man.make_cursor(p).unwrap()).collect();
    cursors.push(
        man.make_cursor_from_file(File::open(&path).unwrap())
            .unwrap(),
    );
    for c in &mut cursors {
        assert_eq!(c.use_region(10, 90).unwrap(), &data[10..100]);
    }
    assert_eq!(man.num_file_handles(), 1);
    assert_eq!(man.num_open_files(), 1);
    assert_eq!(cursors[0].region().unwrap().client_count, 1 + cursors.len());
    assert_eq!(man.stats().maps, 1);
}

#[test]
fn descriptor_budget_closes_least_recently_used() {
    let dir = tempfile::tempdir().unwrap();
    let w = small_window();
    let files: Vec<_> = (0..8)
        .map(|i| random_file(dir.path(), &format!("f{i}"), 4 * w, 20 + i))
        .collect();
    let man = SlidingWindowMapManager::builder()
        .window_size(w)
        .max_open_files(2)
        .build()
        .unwrap();
    let mut r = rng(21);
    for _ in 0..200 {
        let (p, d) = &files[r.random_range(0..files.len())];
        let mut c = man.make_cursor(p).unwrap();
        let o = offset_in(&mut r, d.len() as u64);
        assert_eq!(c.use_region(o, 1).unwrap()[0], d[o as usize]);
        assert!(man.stats().open_descriptors <= 2, "{:?}", man.stats());
    }
    let s = man.stats();
    assert!(s.descriptors_closed > 0);
    assert_eq!(s.over_budget_descriptors, 0);
    assert!(s.peak_open_descriptors <= 2);
    man.collect();
    assert_eq!(man.stats().open_descriptors, 0);
}

#[test]
fn whole_file_region_needs_no_descriptor() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "small", 5000, 22);
    let man = SlidingWindowMapManager::builder()
        .window_size(1 << 20)
        .build()
        .unwrap();
    let mut c = man.make_cursor(&path).unwrap();
    assert_eq!(c.use_region(0, 0).unwrap(), &data[..]);
    let s = man.stats();
    assert_eq!(s.descriptors_opened, 1);
    assert_eq!(
        s.open_descriptors, 0,
        "closed once one region covers the whole file"
    );
    // A partial window keeps its descriptor until the file has no region.
    let (big, bdata) = random_file(dir.path(), "big", 3 << 20, 23);
    let mut c = man.make_cursor(&big).unwrap();
    assert_eq!(c.use_region(10, 10).unwrap(), &bdata[10..20]);
    assert_eq!(man.stats().open_descriptors, 1);
    drop(c);
    man.collect();
    assert_eq!(man.stats().open_descriptors, 0);
}

/// Unix only: Windows refuses to truncate a mapped file (`tests/platform_windows.rs`).
#[cfg(unix)]
#[test]
fn file_that_shrank_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let w = small_window();
    let (path, data) = random_file(dir.path(), "f", 8 * w, 24);
    let man = sliding(w, usize::MAX, usize::MAX);
    let mut pinned = man.make_cursor(&path).unwrap();
    let last = (7 * w) as u64;
    assert_eq!(
        pinned.use_region(last, 16).unwrap(),
        &data[last as usize..last as usize + 16]
    );
    // Cache an unpinned window past the future end too.
    touch(&man, &path, (6 * w) as u64, &data);
    OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len((2 * w) as u64)
        .unwrap();
    let mut other = man.make_cursor(&path).unwrap();
    match other.use_region(0, 10) {
        Err(e @ Error::FileShrank { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("shrank") && msg.contains('f'), "{msg}");
            if let Error::FileShrank(d) = e {
                let smmap::error::FileShrank {
                    file_size,
                    mapped_end,
                    ..
                } = *d;
                assert_eq!(file_size, (2 * w) as u64);
                assert_eq!(mapped_end, (8 * w) as u64);
            }
        }
        other => panic!("expected FileShrank, got {other:?}"),
    }
    assert!(!other.is_valid());
    drop(pinned);
    // Once nothing past the end is pinned, the file is usable again at its new size.
    assert_eq!(other.use_region(0, 10).unwrap(), &data[..10]);
    assert_eq!(other.file_size(), (2 * w) as u64);
    assert!(matches!(
        other.use_region((3 * w) as u64, 1),
        Err(Error::OutOfBounds { .. })
    ));
}

#[test]
fn file_that_grew_is_seen_at_the_next_mapping() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut data) = random_file(dir.path(), "f", 1000, 25);
    let man = sliding(1 << 20, usize::MAX, usize::MAX);
    let mut c = man.make_cursor(&path).unwrap();
    assert_eq!(c.use_region(0, 0).unwrap(), &data[..]);
    let more = common::random_bytes(5000, 26);
    append(&path, &more);
    data.extend_from_slice(&more);
    assert_eq!(c.use_region(3000, 100).unwrap(), &data[3000..3100]);
    assert_eq!(c.file_size(), 6000);
    assert_eq!(c.use_region(0, 0).unwrap(), &data[..]);
}

#[test]
fn bad_input_is_an_error_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let man = SlidingWindowMapManager::builder()
        .window_size(1 << 16)
        .build()
        .unwrap();
    // Missing file, directory.
    let e = man.make_cursor(dir.path().join("missing")).unwrap_err();
    assert!(e.to_string().contains("missing"), "{e}");
    assert_eq!(e.raw_os_error(), Some(libc::ENOENT));
    assert!(man.make_cursor(dir.path()).is_err());
    // Empty file: every offset is out of bounds.
    let empty = dir.path().join("empty");
    std::fs::write(&empty, b"").unwrap();
    let mut c = man.make_cursor(&empty).unwrap();
    let e = c.use_region(0, 0).unwrap_err();
    assert!(
        matches!(
            &e,
            Error::OutOfBounds(d) if d.offset == 0 && d.file_size == 0
        ),
        "{e:?}"
    );
    assert!(e.to_string().contains("empty"), "{e}");
    // Offsets far past the end, sizes that overflow.
    let (path, data) = random_file(dir.path(), "f", 70_000, 27);
    let mut c = man.make_cursor(&path).unwrap();
    assert!(matches!(
        c.use_region(u64::MAX, usize::MAX),
        Err(Error::OutOfBounds { .. })
    ));
    assert_eq!(c.use_region(69_999, usize::MAX).unwrap(), &data[69_999..]);
    assert!(matches!(
        c.use_region(70_000, 1),
        Err(Error::OutOfBounds { .. })
    ));
    // A file removed after its cursor was made: the error names it.
    std::fs::remove_file(&path).unwrap();
    let mut c = man.make_cursor(dir.path().join("empty")).unwrap();
    drop(c.use_region(0, 1));
    let man2 = SlidingWindowMapManager::new();
    let (p2, _) = random_file(dir.path(), "gone", 100, 28);
    let mut c2 = man2.make_cursor(&p2).unwrap();
    std::fs::remove_file(&p2).unwrap();
    let e = c2.use_region(0, 1).unwrap_err();
    assert!(
        matches!(
&e, Error::Io(d) if d.op == "open"),
        "{e:?}"
    );
    assert!(e.to_string().contains("gone"), "{e}");
}

#[test]
fn replaced_file_is_detected() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "f", 100, 29);
    let man = SlidingWindowMapManager::new();
    let mut c = man.make_cursor(&path).unwrap();
    let tmp = dir.path().join("f.new");
    std::fs::write(&tmp, b"another file").unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    assert!(matches!(
        c.use_region(0, 1),
        Err(Error::FileReplaced { .. })
    ));
}

#[test]
fn file_handed_over_keeps_its_descriptor_until_released() {
    let dir = tempfile::tempdir().unwrap();
    let w = small_window();
    let (path, data) = random_file(dir.path(), "f", 4 * w, 30);
    let man = SlidingWindowMapManager::builder()
        .window_size(w)
        .max_open_files(1)
        .build()
        .unwrap();
    let file = File::open(&path).unwrap();
    std::fs::remove_file(&path).unwrap(); // only the descriptor reaches it now
    let mut c = man.make_cursor_from_file(file).unwrap();
    for i in 0..4 {
        let o = (i * w + 3) as u64;
        assert_eq!(
            c.use_region(o, 5).unwrap(),
            &data[o as usize..o as usize + 5]
        );
    }
    assert_eq!(man.stats().open_descriptors, 1);
    man.collect();
    assert_eq!(man.stats().open_descriptors, 1, "a cursor still needs it");
    drop(c);
    man.collect();
    assert_eq!(man.stats().open_descriptors, 0);
}

#[cfg(target_os = "linux")]
fn open_fd_count() -> u64 {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count() as u64)
        .unwrap_or(64)
}

#[cfg(target_os = "linux")]
fn set_nofile(n: u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid rlimit for getrlimit to fill.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) }, 0);
    lim.rlim_cur = n as libc::rlim_t;
    // SAFETY: a valid rlimit, lowering only the soft limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lim) }, 0);
}

/// EMFILE from `open`: the manager releases idle descriptors and retries once.
///
/// Linux only (it counts descriptors in `/proc`); a Windows process has no descriptor limit
/// that a test can lower.
#[cfg(target_os = "linux")]
#[test]
fn emfile_is_retried_after_releasing_idle_descriptors() {
    if !common::in_child("emfile_is_retried_after_releasing_idle_descriptors") {
        return common::run_child("emfile_is_retried_after_releasing_idle_descriptors");
    }
    let dir = tempfile::tempdir().unwrap();
    let w = small_window();
    let files: Vec<_> = (0..6)
        .map(|i| random_file(dir.path(), &format!("f{i}"), 4 * w, 40 + i))
        .collect();
    let man = SlidingWindowMapManager::builder()
        .window_size(w)
        .max_open_files(1000)
        .build()
        .unwrap();
    for (p, d) in &files[..5] {
        assert!(touch(&man, p, 0, d));
    }
    assert_eq!(man.stats().open_descriptors, 5);
    // No descriptor left for the process.
    set_nofile(open_fd_count() + 2);
    let fill: Vec<File> = std::iter::from_fn(|| File::open(&files[0].0).ok())
        .take(100)
        .collect();
    assert!(fill.len() < 100);
    let (p, d) = &files[5];
    let mut c = man.make_cursor(p).unwrap();
    assert_eq!(c.use_region(100, 10).unwrap(), &d[100..110]);
    let s = man.stats();
    assert_eq!(s.retries, 1, "{s:?}");
    assert_eq!(s.open_descriptors, 1, "{s:?}");
    // With nothing to release, the error is reported, not a panic.
    drop(c);
    man.collect();
    drop(fill);
    let held: Vec<File> = std::iter::from_fn(|| File::open(&files[0].0).ok())
        .take(100)
        .collect();
    let busy = SlidingWindowMapManager::builder()
        .window_size(w)
        .build()
        .unwrap();
    let mut c2 = busy.make_cursor(&files[3].0).unwrap();
    let e = c2.use_region(0, 1).unwrap_err();
    assert_eq!(e.raw_os_error(), Some(libc::EMFILE), "{e:?}");
    assert!(e.to_string().contains("f3"), "{e}");
    assert_eq!(busy.stats().retries, 1);
    drop(held);
    assert_eq!(c2.use_region(0, 4).unwrap(), &files[3].1[..4]);
}

#[cfg(target_os = "linux")]
fn vm_size() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

/// ENOMEM from `mmap`: the manager releases unused regions (and their address space) and
/// retries once; with nothing to release, the error is reported.
///
/// Linux only (it reads `/proc/self/status`); a Windows process has no address-space limit
/// that a test can lower.
#[cfg(target_os = "linux")]
#[test]
fn enomem_is_retried_after_releasing_unused_regions() {
    const NAME: &str = "enomem_is_retried_after_releasing_unused_regions";
    if !common::in_child(NAME) {
        return common::run_child(NAME);
    }
    let dir = tempfile::tempdir().unwrap();
    let w = 1 << 20;
    let (path, data) = random_file(dir.path(), "f", 12 * w, 90);
    let man = SlidingWindowMapManager::builder()
        .window_size(w)
        .build()
        .unwrap();
    // Cache eight windows: 8 MiB of address space that the manager can give back.
    for i in 0..8 {
        assert!(touch(&man, &path, (i * w) as u64, &data));
    }
    assert_eq!(man.num_file_handles(), 8);
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: a valid rlimit for getrlimit to fill.
    assert_eq!(unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut lim) }, 0);
    lim.rlim_cur = (vm_size() + w as u64 / 2) as libc::rlim_t;
    // SAFETY: a valid rlimit, lowering only the soft limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) }, 0);
    let mut c = man.make_cursor(&path).unwrap();
    let at = (10 * w + 5) as u64;
    assert_eq!(
        c.use_region(at, 100).unwrap(),
        &data[at as usize..at as usize + 100]
    );
    let s = man.stats();
    assert_eq!(s.retries, 1, "{s:?}");
    assert_eq!(s.regions, 1, "{s:?}");
    // Nothing left to release (the only region is pinned): the error is reported.
    lim.rlim_cur = (vm_size() + w as u64 / 2) as libc::rlim_t;
    // SAFETY: a valid rlimit, lowering only the soft limit.
    assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_AS, &lim) }, 0);
    let mut c2 = man.make_cursor(&path).unwrap();
    let e = match c2.use_region((5 * w) as u64, 2 * w) {
        Ok(_) => panic!("mapped without address space"),
        Err(e) => e,
    };
    assert_eq!(e.raw_os_error(), Some(libc::ENOMEM), "{e:?}");
    assert!(e.to_string().contains("mmap"), "{e}");
    assert_eq!(man.stats().retries, 2);
    assert_eq!(c.buffer(), &data[at as usize..at as usize + 100]);
}

#[test]
fn a_reused_inode_number_is_another_file() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _) = random_file(dir.path(), "a", 100, 91);
    let man = SlidingWindowMapManager::new();
    let old = man.make_cursor(&a).unwrap(); // registered, nothing mapped
    std::fs::remove_file(&a).unwrap();
    // Whether or not the file system reuses the inode number, the new file is itself.
    let (b, bdata) = random_file(dir.path(), "b", 100, 92);
    let mut c = man.make_cursor(&b).unwrap();
    assert_eq!(c.path().unwrap().file_name().unwrap(), "b");
    assert_eq!(c.use_region(0, 100).unwrap(), &bdata[..]);
    drop((old, c));
    man.collect();
    let s = man.stats();
    assert_eq!((s.regions, s.open_descriptors), (0, 0));
}

#[test]
fn growth_seen_by_another_cursor_serves_records_across_the_old_end() {
    let dir = tempfile::tempdir().unwrap();
    let (path, mut data) = random_file(dir.path(), "f", 100, 93);
    let man = sliding(1 << 20, usize::MAX, usize::MAX);
    let mut a = man.make_cursor(&path).unwrap();
    assert_eq!(a.use_region(0, 0).unwrap(), &data[..]);
    let more = common::random_bytes(100, 94);
    append(&path, &more);
    data.extend_from_slice(&more);
    let mut b = man.make_cursor(&path).unwrap();
    assert_eq!(b.use_region(150, 10).unwrap(), &data[150..160]);
    // `a` still holds the old whole-file region: a request across the old end is not cut
    // short there.
    assert_eq!(a.use_region(90, 20).unwrap(), &data[90..110]);
    assert_eq!(a.record::<[u8; 16]>(95).unwrap(), &data[95..111]);
}
