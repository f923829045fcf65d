//! Python smmap's test suite (test_util, test_mman, test_tutorial), ported with the semantics
//! smmap chose: exact-size requests, relative sizes, errors instead of invalid cursors, random
//! file content compared with `std::fs::read`.

mod common;

use std::fs::File;

use common::{K_WINDOW_TEST_SIZE, offset_in, random_file, rng};
use rand::RngExt;
use smmap::{Error, SlidingWindowMapManager, StaticWindowMapManager, WindowCursor};

fn gran() -> u64 {
    smmap::allocation_granularity() as u64
}

/// test_util::test_util: the granularity and window rounding.
#[test]
fn util_granularity_and_rounding() {
    let g = smmap::allocation_granularity();
    assert!(g.is_power_of_two() && g >= 4096);
    let man = SlidingWindowMapManager::builder()
        .window_size(1)
        .build()
        .unwrap();
    assert_eq!(man.window_size(), 2 * g);
    let man = SlidingWindowMapManager::builder()
        .window_size(80051)
        .build()
        .unwrap();
    assert_eq!(man.window_size() % (2 * g), 0);
    assert!(man.window_size() >= 80051 && man.window_size() < 80051 + 2 * g);
}

/// test_util::test_window analog: where windows are placed, observed through regions.
#[test]
fn window_placement() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "window_test", K_WINDOW_TEST_SIZE, 1);
    let man = SlidingWindowMapManager::builder()
        .window_size(80051)
        .build()
        .unwrap();
    let w = man.window_size() as u64;
    let mut c = man.make_cursor(&path).unwrap();
    // A request of at most W/2 lies in the window at the multiple of W/2 below it (on a fresh
    // manager), or in a window already mapped that covers it.
    for &ofs in &[
        0u64,
        1,
        w / 2 - 1,
        w / 2,
        w - 1,
        7_969_170,
        K_WINDOW_TEST_SIZE as u64 - 1,
    ] {
        let len = (w / 2).min(K_WINDOW_TEST_SIZE as u64 - ofs) as usize;
        let fresh = SlidingWindowMapManager::builder()
            .window_size(80051)
            .build()
            .unwrap();
        let mut f = fresh.make_cursor(&path).unwrap();
        for cur in [&mut c, &mut f] {
            let got = cur.use_region(ofs, len).unwrap().to_vec();
            assert_eq!(got, &data[ofs as usize..ofs as usize + len]);
            let r = cur.region().unwrap();
            assert_eq!(r.ofs_begin % (w / 2), 0);
            assert!(r.ofs_begin <= ofs && ofs + len as u64 <= r.ofs_begin + r.size as u64);
            assert!(r.ofs_begin + r.size as u64 <= K_WINDOW_TEST_SIZE as u64);
            assert!(r.size as u64 <= w);
        }
        assert_eq!(
            f.region().unwrap().ofs_begin,
            ofs / (w / 2) * (w / 2),
            "window for {ofs}"
        );
    }
    // Longer requests get a region of their own that covers them, aligned down.
    let got = c.use_region(4200, 3 * w as usize).unwrap().to_vec();
    assert_eq!(got, &data[4200..4200 + 3 * w as usize]);
    let r = c.region().unwrap();
    assert_eq!(r.ofs_begin, 4200 / gran() * gran());
    assert!(r.ofs_begin + r.size as u64 >= 4200 + 3 * w);
}

/// test_util::test_region analog: whole-file regions, regions clamped at the end of the file.
#[test]
fn regions() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "window_test", K_WINDOW_TEST_SIZE, 2);
    let fsize = data.len() as u64;
    let half = fsize / 2;
    let man = StaticWindowMapManager::new();
    let mut full = man.make_cursor(&path).unwrap();
    full.use_region(0, 0).unwrap();
    let r = full.region().unwrap();
    assert_eq!((r.ofs_begin, r.size as u64), (0, fsize));
    assert_eq!(full.buffer(), &data[..]);
    for ofs in [0, fsize - 1, half] {
        assert_eq!(
            full.use_region(ofs, 1).unwrap(),
            &data[ofs as usize..ofs as usize + 1]
        );
    }
    assert!(matches!(
        full.use_region(fsize, 1),
        Err(Error::OutOfBounds { .. })
    ));
    assert!(matches!(
        full.use_region(u64::MAX, 1),
        Err(Error::OutOfBounds { .. })
    ));

    // A sliding request from 4200 to past the end is clamped at the end of the file.
    let sman = SlidingWindowMapManager::builder()
        .window_size(1 << 20)
        .build()
        .unwrap();
    let mut c = sman.make_cursor(&path).unwrap();
    let got = c.use_region(4200, usize::MAX).unwrap();
    assert_eq!(got.len() as u64, fsize - 4200);
    let r = c.region().unwrap();
    assert_eq!(r.ofs_begin, 4096 / gran() * gran());
    assert_eq!(r.ofs_begin + r.size as u64, fsize);
    // The region outlives the file's name.
    std::fs::remove_file(&path).unwrap();
    assert_eq!(c.buffer(), &data[4200..]);
    assert_eq!(c.region().unwrap().client_count, 2);
    let c2 = c.clone();
    assert_eq!(c.region().unwrap().client_count, 3);
    drop(c2);
    assert_eq!(c.region().unwrap().client_count, 2);
}

/// test_util::test_region_list analog: a cursor knows its file before mapping anything.
#[test]
fn region_list() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "sample_file", 100, 3);
    let man = SlidingWindowMapManager::new();
    let by_path = man.make_cursor(&path).unwrap();
    let by_file = man
        .make_cursor_from_file(File::open(&path).unwrap())
        .unwrap();
    for c in [&by_path, &by_file] {
        assert_eq!(c.file_size(), 100);
        assert!(!c.is_valid());
    }
    assert_eq!(man.num_file_handles(), 0);
    // The same file by path and by descriptor is one file: its path is known to both.
    assert_eq!(by_path.path().unwrap().file_name().unwrap(), "sample_file");
    assert_eq!(by_file.path(), by_path.path());
    // A descriptor of a file the manager does not know by path has no path.
    let other = SlidingWindowMapManager::new();
    let by_file = other
        .make_cursor_from_file(File::open(&path).unwrap())
        .unwrap();
    assert_eq!(by_file.path(), None);
}

/// test_mman::test_cursor.
#[test]
fn cursor() {
    let dir = tempfile::tempdir().unwrap();
    let (path, _) = random_file(dir.path(), "cursor_test", K_WINDOW_TEST_SIZE, 4);
    let man = SlidingWindowMapManager::new();
    let mut cv = man.make_cursor(&path).unwrap();
    assert!(!cv.is_valid());
    assert_eq!(cv.file_size(), K_WINDOW_TEST_SIZE as u64);
    assert_eq!(cv.path().unwrap(), std::path::absolute(&path).unwrap());
    assert_eq!(cv.size(), 0);
    std::fs::remove_file(&path).unwrap();
    let cio = cv.clone();
    assert!(!cio.is_valid());
    assert_eq!(cio.file_size(), cv.file_size());
    cv.unuse_region();
    cv.unuse_region();
    drop(cio);
    drop(cv);
    assert_eq!(man.num_file_handles(), 0);
    assert_eq!(man.stats().open_descriptors, 0);
}

fn check_basics<F: Fn() -> (usize, usize, usize, usize, usize)>(q: F) {
    let (handles, open_files, window_ok, mapped, max_mem) = q();
    assert_eq!(handles, 0);
    assert_eq!(open_files, 0);
    assert_eq!(window_ok, 1);
    assert_eq!(mapped, 0);
    assert!(max_mem > 0);
}

/// test_mman::test_memory_manager.
#[test]
fn memory_manager() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "manager_test", K_WINDOW_TEST_SIZE, 5);
    let slide = SlidingWindowMapManager::new();
    let stat = StaticWindowMapManager::new();
    check_basics(|| {
        (
            slide.num_file_handles(),
            slide.num_open_files(),
            usize::from(slide.window_size() == 1 << 30 || cfg!(target_pointer_width = "32")),
            slide.mapped_memory_size(),
            slide.max_mapped_memory_size(),
        )
    });
    check_basics(|| {
        (
            stat.num_file_handles(),
            stat.num_open_files(),
            usize::from(stat.window_size() == 0),
            stat.mapped_memory_size(),
            stat.max_mapped_memory_size(),
        )
    });
    assert_eq!(slide.collect(), 0);
    assert_eq!(stat.collect(), 0);
    assert_eq!(slide.max_file_handles(), usize::MAX);

    let makers: [&dyn Fn() -> WindowCursor; 4] = [
        &|| slide.make_cursor(&path).unwrap(),
        &|| {
            slide
                .make_cursor_from_file(File::open(&path).unwrap())
                .unwrap()
        },
        &|| stat.make_cursor(&path).unwrap(),
        &|| {
            stat.make_cursor_from_file(File::open(&path).unwrap())
                .unwrap()
        },
    ];
    for make in makers {
        let mut c = make();
        assert_eq!(c.use_region(10, 10).unwrap(), &data[10..20]);
        assert_eq!(c.ofs_begin(), 10);
        assert_eq!(c.size(), 10);
        assert_eq!(c.buffer(), &data[10..20]);
    }
    assert_eq!(slide.collect(), 1);
    assert_eq!(stat.collect(), 1);
    assert_eq!(slide.stats().open_descriptors, 0);
    assert_eq!(stat.stats().open_descriptors, 0);
}

/// The operations of test_mman::test_memman_operation, on one manager and one cursor.
fn memman_operation(mut c: WindowCursor, data: &[u8], man_window: u64, q: &dyn Fn() -> Q) {
    let fsize = data.len() as u64;
    let sliding = man_window > 0;
    let max_mem = q().max_mem;
    // 1.
    assert_eq!(q().open_files, 0);
    assert_eq!(q().mapped, 0);
    // 2. A request of half a window from 5000 is served by the window at 0.
    let size = (man_window / 2) as usize;
    let got = c.use_region(5000, size).unwrap();
    let want_len = if sliding { size } else { data.len() - 5000 };
    assert_eq!(got, &data[5000..5000 + want_len]);
    let rr = c.region().unwrap();
    assert_eq!(rr.client_count, 2);
    assert_eq!(q().open_files, 1);
    assert_eq!(q().handles, 1);
    assert_eq!(q().mapped, rr.size);
    assert_eq!(c.ofs_begin(), 5000);
    assert_eq!(rr.ofs_begin, 0);
    assert_eq!(rr.size as u64, if sliding { man_window } else { fsize });
    // 3. Inside the same region.
    let nsize = if sliding { size - 10 } else { data.len() - 10 };
    assert_eq!(c.use_region(0, nsize).unwrap(), &data[..nsize]);
    assert_eq!(c.region().unwrap(), rr);
    assert_eq!(q().handles, 1);
    assert_eq!(c.size(), nsize);
    // 4. Near the end of the file: exactly the bytes up to the end.
    let base = fsize - size as u64 + 4000;
    let base = if sliding { base } else { 4010 };
    let got = c.use_region(base, size).unwrap().to_vec();
    let end = if sliding {
        fsize.min(base + size as u64)
    } else {
        fsize
    };
    assert_eq!(got, &data[base as usize..end as usize]);
    let rr2 = c.region().unwrap();
    assert_eq!(rr2.client_count, 2);
    assert!(rr2.ofs_begin + rr2.size as u64 <= fsize);
    if sliding {
        assert_eq!(q().handles, 2);
        assert!(c.size() < size);
        assert_ne!(rr2, rr);
        assert!(rr2.ofs_begin < c.ofs_begin());
    } else {
        assert_eq!(q().handles, 1);
        assert_eq!(rr2, rr);
    }
    // 5.
    c.unuse_region();
    assert!(!c.is_valid());
    assert!(c.buffer().is_empty());
    assert_eq!(q().handles, if sliding { 2 } else { 1 });
    // 6. 5000 random accesses.
    let mut r = rng(fsize ^ man_window);
    for _ in 0..5000 {
        if sliding {
            assert!(q().mapped <= max_mem, "{} > {}", q().mapped, max_mem);
        }
        assert!(q().handles <= 15);
        let ofs = offset_in(&mut r, fsize);
        let len = if sliding {
            r.random_range(1..=size)
        } else {
            r.random_range(1..=data.len())
        };
        let got = c.use_region(ofs, len).unwrap();
        let want = len.min((fsize - ofs) as usize);
        assert_eq!(got.len(), want);
        assert_eq!(got, &data[ofs as usize..ofs as usize + want]);
        assert!(c.includes_ofs(ofs));
        assert!(c.includes_ofs(ofs + want as u64 - 1));
        assert!(!c.includes_ofs(ofs + want as u64));
    }
    // 7. Past the end: an error, and the cursor is invalid.
    match c.use_region(fsize, size) {
        Err(Error::OutOfBounds(e)) => {
            let smmap::error::OutOfBounds {
                offset, file_size, ..
            } = *e;
            assert_eq!((offset, file_size), (fsize, fsize));
        }
        other => panic!("expected OutOfBounds, got {other:?}"),
    }
    assert!(!c.is_valid());
    // 8.
    assert!(q().handles > 0);
    drop(c);
}

struct Q {
    open_files: usize,
    handles: usize,
    mapped: usize,
    max_mem: usize,
}

/// test_mman::test_memman_operation: both managers, by path and by descriptor.
#[test]
fn memman_operation_both_managers() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "manager_operation_test", K_WINDOW_TEST_SIZE, 6);
    let max_mem = K_WINDOW_TEST_SIZE / 3;
    for by_file in [false, true] {
        let slide = SlidingWindowMapManager::builder()
            .window_size(K_WINDOW_TEST_SIZE / 100)
            .max_memory_size(max_mem)
            .max_open_handles(15)
            // Python smmap's semantics, where every use maps a region.
            .small_reads(Some(false))
            .build()
            .unwrap();
        let c = if by_file {
            slide
                .make_cursor_from_file(File::open(&path).unwrap())
                .unwrap()
        } else {
            slide.make_cursor(&path).unwrap()
        };
        let q = || Q {
            open_files: slide.num_open_files(),
            handles: slide.num_file_handles(),
            mapped: slide.mapped_memory_size(),
            max_mem: slide.max_mapped_memory_size(),
        };
        memman_operation(c, &data, slide.window_size() as u64, &q);
        assert!(slide.collect() > 0);
        assert_eq!(slide.num_file_handles(), 0);
        let s = slide.stats();
        assert!(s.evictions > 0, "{s:?}");
        assert_eq!(s.over_budget_maps, 0, "{s:?}");
        assert_eq!(s.open_descriptors, 0);

        let stat = StaticWindowMapManager::builder()
            .max_memory_size(max_mem)
            .max_open_handles(15)
            .build()
            .unwrap();
        let c = if by_file {
            stat.make_cursor_from_file(File::open(&path).unwrap())
                .unwrap()
        } else {
            stat.make_cursor(&path).unwrap()
        };
        let q = || Q {
            open_files: stat.num_open_files(),
            handles: stat.num_file_handles(),
            mapped: stat.mapped_memory_size(),
            max_mem: stat.max_mapped_memory_size(),
        };
        memman_operation(c, &data, 0, &q);
        assert_eq!(stat.collect(), 1);
        assert_eq!(stat.num_file_handles(), 0);
        // The whole file is larger than the budget: mapped anyway, and counted.
        assert_eq!(stat.stats().over_budget_maps, 1);
    }
}

/// test_tutorial::test_example.
#[test]
fn tutorial() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "test_file", 8 << 20, 7);
    let mman = SlidingWindowMapManager::new();
    assert_eq!(mman.num_file_handles(), 0);
    assert_eq!(mman.mapped_memory_size(), 0);
    let mut c = mman.make_cursor(&path).unwrap();
    assert!(!c.is_valid());
    let b = c.use_region(0, 0).unwrap();
    assert_eq!(b.len(), data.len()); // the default window holds the whole 8 MiB file
    assert_eq!(c.buffer()[0], data[0]);
    assert_eq!(&c.buffer()[1..10], &data[1..10]);
    assert_eq!(c.buffer()[c.size() - 1], data[data.len() - 1]);
    assert!(c.ofs_begin() < c.ofs_end());
    assert!(c.includes_ofs(100));
    assert!(c.use_region(data.len() as u64, 100).is_err());
    assert!(!c.is_valid());
    assert_eq!(c.use_region(100, 0).unwrap(), &data[100..]);
    c.unuse_region();
    assert!(!c.is_valid());
}
