//! The managers at the limits of the process: its address space (`RLIMIT_AS`), its count of
//! mappings (`vm.max_map_count`) and its descriptors (`RLIMIT_NOFILE`). Each test lowers a
//! limit of its own process, so it runs in a child process of its own (`common::run_child`).
//!
//! Linux only: the limits are set with `setrlimit` and measured in `/proc`.

#![cfg(target_os = "linux")]

mod common;

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::time::Instant;

use common::{random_bytes, random_file, rng};
use rand::RngExt;
use rand::rngs::StdRng;
use smmap::{Error, SlidingWindowMapManager, StaticWindowMapManager, WindowCursor};

const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

/// Lowers the soft limit of `$resource` to `$n` (the hard limit stays).
macro_rules! set_soft_limit {
    ($resource:expr, $n:expr) => {{
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: a valid rlimit for getrlimit to fill.
        assert_eq!(unsafe { libc::getrlimit($resource, &mut lim) }, 0);
        lim.rlim_cur = ($n as libc::rlim_t).min(lim.rlim_max);
        // SAFETY: a valid rlimit, lowering only the soft limit.
        assert_eq!(unsafe { libc::setrlimit($resource, &lim) }, 0);
    }};
}

/// Runs the calling test in a child process unless this is that child.
macro_rules! in_child_only {
    ($name:literal) => {
        if !common::in_child($name) {
            return common::run_child($name);
        }
    };
}

fn vm_size() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status.lines().find(|l| l.starts_with("VmSize:")).unwrap();
    let kb: u64 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    kb * 1024
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

// ---- the address space ----------------------------------------------------------------------

/// Non-zero bytes at `.0` of a sparse file: zeros elsewhere.
type Marker = (u64, Vec<u8>);

/// A sparse file of `size` bytes with random markers at spread offsets, among them the edges
/// of the windows the tests use; returns the markers, sorted and apart.
fn sparse_file(path: &Path, size: u64, seed: u64) -> Vec<Marker> {
    let mut r = rng(seed);
    let mut offsets = vec![
        0,
        64 * MIB - 100,
        128 * MIB - 50,
        512 * MIB - 3000,
        GIB - 1,
        2 * GIB + 12_345,
        3 * GIB + 512 * MIB - 7,
    ];
    offsets.extend((0..8).map(|_| r.random_range(0..size - 8192)));
    offsets.sort_unstable();
    let mut markers: Vec<Marker> = Vec::new();
    for (i, o) in offsets.into_iter().enumerate() {
        let len = r.random_range(1..8192usize);
        if markers.last().is_none_or(|(p, d)| p + d.len() as u64 <= o) {
            markers.push((o, random_bytes(len, seed * 100 + i as u64)));
        }
    }
    let tail = random_bytes(5000, seed * 100 + 99);
    markers.push((size - tail.len() as u64, tail));
    let f = File::create(path).unwrap();
    f.set_len(size).unwrap();
    for (o, d) in &markers {
        f.write_all_at(d, *o).unwrap();
    }
    drop(f);
    // The naive reference: what `pread` reads back.
    let f = File::open(path).unwrap();
    for (o, d) in &markers {
        let mut back = vec![0; d.len()];
        f.read_exact_at(&mut back, *o).unwrap();
        assert_eq!(&back, d);
    }
    markers
}

/// Checks that `bytes` are zeros (compared a piece at a time against `zeros`, which is fast
/// even unoptimized); `at` is the offset of the first, for the message.
fn check_zeros(bytes: &[u8], at: u64, zeros: &[u8]) {
    for (i, piece) in bytes.chunks(zeros.len()).enumerate() {
        if piece != &zeros[..piece.len()] {
            let j = piece.iter().position(|&b| b != 0).unwrap();
            panic!(
                "byte {} is {:#x}, not 0",
                at + (i * zeros.len() + j) as u64,
                piece[j]
            );
        }
    }
}

/// Checks the bytes `chunk` read at `at` against the markers; returns how many marker bytes
/// it held.
fn check_chunk(chunk: &[u8], at: u64, markers: &[Marker], zeros: &[u8]) -> u64 {
    let end = at + chunk.len() as u64;
    let first = markers.partition_point(|(o, d)| o + d.len() as u64 <= at);
    let mut pos = at;
    let mut seen = 0;
    for (o, d) in markers[first..].iter().take_while(|(o, _)| *o < end) {
        let from = (*o).max(at);
        let to = (o + d.len() as u64).min(end);
        check_zeros(
            &chunk[(pos - at) as usize..(from - at) as usize],
            pos,
            zeros,
        );
        assert!(
            chunk[(from - at) as usize..(to - at) as usize]
                == d[(from - o) as usize..(to - o) as usize],
            "marker at {o}, bytes {from}..{to}"
        );
        seen += to - from;
        pos = to;
    }
    check_zeros(&chunk[(pos - at) as usize..], pos, zeros);
    seen
}

/// Reads the whole file through `c`, one region at a time (`use_region(offset, 0)`: to the end
/// of the region), checking every byte; returns the shortest and longest region met.
fn scan(c: &mut WindowCursor, markers: &[Marker]) -> (usize, usize) {
    let zeros = vec![0u8; MIB as usize];
    let size = c.file_size();
    let (mut shortest, mut longest) = (usize::MAX, 0);
    let (mut ofs, mut seen) = (0, 0);
    while ofs < size {
        let chunk = c.use_region(ofs, 0).unwrap();
        assert!(!chunk.is_empty());
        seen += check_chunk(chunk, ofs, markers, &zeros);
        ofs += chunk.len() as u64;
        let region = c.region().unwrap().size;
        shortest = shortest.min(region);
        longest = longest.max(region);
    }
    assert_eq!(ofs, size);
    let total: u64 = markers.iter().map(|(_, d)| d.len() as u64).sum();
    assert_eq!(seen, total, "every marker byte was read");
    (shortest, longest)
}

/// Under an address space of 1 GiB, a sliding manager with the default settings reads a 4 GiB
/// file end to end (its window defaults to an eighth of the limit), one with the old default
/// window of 1 GiB does too (it maps windows smaller when they do not fit), and the static
/// manager, which maps files whole, returns an error.
#[test]
fn address_space_of_1gib_sliding_defaults_read_4gib_static_errs() {
    in_child_only!("address_space_of_1gib_sliding_defaults_read_4gib_static_errs");
    set_soft_limit!(libc::RLIMIT_AS, GIB);
    let at_start = vm_size();
    assert!(
        at_start < GIB / 2,
        "the test process itself uses {at_start} bytes"
    );
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sparse");
    let markers = sparse_file(&path, 4 * GIB, 61);

    let t = Instant::now();
    let man = SlidingWindowMapManager::new();
    // An eighth of the limit, unless the default is smaller already (64 MiB on 32-bit).
    let window = if cfg!(target_pointer_width = "64") {
        128
    } else {
        64
    };
    assert_eq!(man.window_size() as u64, window * MIB);
    assert_eq!(man.max_mapped_memory_size() as u64, 512 * MIB);
    let mut c = man.make_cursor(&path).unwrap();
    let (shortest, longest) = scan(&mut c, &markers);
    assert_eq!((shortest, longest), (man.window_size(), man.window_size()));
    let s = man.stats();
    assert_eq!(s.over_budget_maps, 0, "{s:?}");
    assert!(s.peak_mapped_bytes <= 512 * MIB, "{s:?}");
    println!(
        "defaults: window {} MiB, budget {} MiB, VmSize at start {} MiB, {} maps, {:?}",
        man.window_size() as u64 / MIB,
        man.max_mapped_memory_size() as u64 / MIB,
        at_start / MIB,
        s.maps,
        t.elapsed()
    );
    drop(c);
    drop(man);

    // 1 GiB windows do not fit beside the process: they are mapped smaller, and the bytes are
    // the same.
    let t = Instant::now();
    let man = SlidingWindowMapManager::builder()
        .window_size(GIB as usize)
        .build()
        .unwrap();
    let mut c = man.make_cursor(&path).unwrap();
    let (shortest, longest) = scan(&mut c, &markers);
    assert!(longest < GIB as usize, "{longest}");
    // A small request far into the file, and one of a whole half window.
    let at = markers[5].0;
    let want = &markers[5].1[..100];
    assert_eq!(c.use_region(at, 100).unwrap(), want);
    let half = c.use_region(GIB, (GIB / 2) as usize).unwrap();
    assert_eq!(half.len() as u64, GIB / 2);
    let s = man.stats();
    assert!(s.retries > 0, "{s:?}");
    println!(
        "1 GiB windows: regions of {} to {} MiB, {} retries, {:?}",
        shortest as u64 / MIB,
        longest as u64 / MIB,
        s.retries,
        t.elapsed()
    );
    drop(c);
    drop(man);

    // The static manager maps files whole: an error, not an abort.
    let man = StaticWindowMapManager::new();
    let mut c = man.make_cursor(&path).unwrap();
    match c.use_region(0, 1) {
        // (A 32-bit process cannot even ask for a mapping of 4 GiB: no errno then.)
        Err(e @ Error::Io(_)) if matches!(&e, Error::Io(d) if d.op == "mmap") => {
            assert!(e.raw_os_error().is_none_or(|n| n == libc::ENOMEM), "{e:?}");
        }
        other => panic!("expected an mmap error, got {other:?}"),
    }
    assert!(!c.is_valid());
    // A file that fits is mapped as ever.
    let (small, data) = random_file(dir.path(), "small", 100_000, 62);
    let mut c = man.make_cursor(&small).unwrap();
    assert_eq!(c.use_region(0, 0).unwrap(), &data[..]);
}

// ---- the count of mappings --------------------------------------------------------------------

fn max_map_count() -> usize {
    std::fs::read_to_string("/proc/sys/vm/max_map_count")
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

fn map_count() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .count()
}

/// Windows left to the workload by the mappings that use up the rest of the count.
const LEFT: usize = 3000;
/// At most this many mappings are made to use up the count (some systems allow billions).
const MAX_FILL: usize = 1 << 21;

/// A manager without budgets of regions or bytes, with windows of one allocation unit, reads
/// more windows than the process can map at once: when `mmap` fails for the count of mappings
/// (`ENOMEM`), it unmaps the unused ones and goes on, and every read is right.
///
/// The process's count is first used up to `LEFT` by mappings of another file (one page each,
/// never merged: all of offset 0), so that the workload needs more mappings than
/// `vm.max_map_count` allows whatever its value. The windows touched are apart in the file, so
/// that the kernel cannot merge neighbours into one mapping.
#[test]
fn more_windows_than_max_map_count_read_right() {
    in_child_only!("more_windows_than_max_map_count_read_right");
    let t = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let g = smmap::allocation_granularity() as u64;
    // Window k starts at k * g and is 2 * g long; every third one is used.
    let windows = 3 * LEFT as u64;
    let stride = 3 * g;
    let path = dir.path().join("f");
    {
        let f = File::create(&path).unwrap();
        f.set_len(windows * stride).unwrap();
        let mut r = rng(71);
        for k in 0..windows {
            let o = k * stride + r.random_range(0..g);
            f.write_all_at(&random_bytes(64, 7100 + k), o).unwrap();
        }
    }
    let data = std::fs::read(&path).unwrap();
    let filler_file = dir.path().join("filler");
    std::fs::write(&filler_file, random_bytes(g as usize, 72)).unwrap();
    let filler_fd = File::open(&filler_file).unwrap();

    let man = SlidingWindowMapManager::builder()
        .window_size(1)
        .max_open_handles(usize::MAX)
        .max_memory_size(usize::MAX)
        .build()
        .unwrap();
    assert_eq!(man.window_size() as u64, 2 * g);
    let mut c = man.make_cursor(&path).unwrap();
    let mut pinned: Vec<WindowCursor> = Vec::with_capacity(64);
    let mut r = rng(73);
    let limit = max_map_count();
    let baseline = map_count();
    let fill = limit.saturating_sub(baseline + LEFT);
    if fill > MAX_FILL {
        println!("vm.max_map_count is {limit}: too many mappings to use up; not run");
        return;
    }
    let mut filler = Vec::with_capacity(fill);
    for _ in 0..fill {
        let m = memmap2::MmapOptions::new()
            .len(g as usize)
            .map_raw_read_only(&filler_fd)
            .unwrap();
        filler.push(m);
    }
    let filled = map_count();
    assert!(filled + LEFT >= limit - 50, "{filled} of {limit}");

    let read = |c: &mut WindowCursor, k: u64, r: &mut StdRng| {
        let o = k * stride + r.random_range(0..2 * g - 64);
        let got = c.use_region(o, 64).unwrap();
        assert!(got == &data[o as usize..o as usize + 64], "64 bytes at {o}");
    };
    // Every used window in turn, twice, then at random, with a few cursors holding theirs.
    for k in (0..windows).chain(0..windows) {
        read(&mut c, k, &mut r);
    }
    for i in 0..4 * windows {
        let k = r.random_range(0..windows);
        if i % 64 == 0 {
            if pinned.len() == pinned.capacity() {
                pinned.swap_remove(r.random_range(0..pinned.len()));
            }
            let mut p = man.make_cursor(&path).unwrap();
            read(&mut p, k, &mut r);
            pinned.push(p);
        } else {
            read(&mut c, k, &mut r);
        }
    }
    let s = man.stats();
    println!(
        "max_map_count {limit}, {baseline} mappings at start, {fill} filler, peak {} windows \
         ({} mappings in all), {} maps, {} retries, {:?}",
        s.peak_regions,
        filled as u64 + s.peak_regions,
        s.maps,
        s.retries,
        t.elapsed()
    );
    assert!(s.retries > 0, "{s:?}");
    assert!(s.peak_regions as usize > LEFT / 2, "{s:?}");
    assert!((s.peak_regions as usize) < LEFT + 50, "{s:?}");
    assert!(s.maps >= windows, "{s:?}");
    drop(filler);
    drop((c, pinned));
    man.collect();
    let s = man.stats();
    assert_eq!((s.regions, s.mapped_bytes, s.open_descriptors), (0, 0, 0));
}

// ---- descriptors ------------------------------------------------------------------------------

/// A file of the descriptor test and what it holds: `data` from offset 0 (the whole file when
/// `sparse` is false), and zeros then `tail` at its end when it is sparse.
struct Many {
    path: std::path::PathBuf,
    size: u64,
    data: Vec<u8>,
    tail: Vec<u8>,
}

impl Many {
    /// A random request inside the file and the bytes it must return.
    fn request(&self, r: &mut StdRng) -> (u64, usize, Vec<u8>) {
        let len = r.random_range(1..200usize);
        match r.random_range(0..3) {
            0 => {
                let o = r.random_range(0..self.data.len() as u64);
                let end = (o as usize + len).min(self.data.len());
                let want = self.data[o as usize..end].to_vec();
                (o, want.len(), want)
            }
            1 if !self.tail.is_empty() => {
                let base = self.size - self.tail.len() as u64;
                let o = base + r.random_range(0..self.tail.len() as u64);
                let end = ((o - base) as usize + len).min(self.tail.len());
                (
                    o,
                    end - (o - base) as usize,
                    self.tail[(o - base) as usize..end].to_vec(),
                )
            }
            _ if self.tail.is_empty() => {
                let o = r.random_range(0..self.data.len() as u64);
                (o, 1, vec![self.data[o as usize]])
            }
            _ => {
                // In the hole between the two, near the data (the system reads holes ahead as
                // it reads files, zeroing pages: far into the hole, that costs time).
                let from = self.data.len() as u64;
                (r.random_range(from..from + 65_536), len, vec![0; len])
            }
        }
    }
}

/// 1,000 files, every fourth one a little larger than `window` (sparse), so that its windows
/// do not cover it whole and keep a descriptor. (Not more of them: the system reads holes
/// ahead as it reads files, up to megabytes around each access, and zeroes what it reads.)
fn many_files(dir: &Path, window: u64) -> Vec<Many> {
    let mut r = rng(81);
    (0..1000u64)
        .map(|i| {
            let len = r.random_range(1..32_768usize);
            let (path, data) = random_file(dir, &format!("f{i:04}"), len, 8100 + i);
            if i % 4 != 0 {
                return Many {
                    path,
                    size: len as u64,
                    data,
                    tail: Vec::new(),
                };
            }
            let size = window + r.random_range(8192..4 * MIB);
            let tail = random_bytes(r.random_range(1..8192), 8200 + i);
            let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.set_len(size).unwrap();
            f.write_all_at(&tail, size - tail.len() as u64).unwrap();
            Many {
                path,
                size,
                data,
                tail,
            }
        })
        .collect()
}

/// Goes through every file three times, in random orders, through `man`, keeping 250 cursors
/// (on as many files) holding their regions meanwhile (those of the large files at their end);
/// checks every read.
fn through_every_file(man: &SlidingWindowMapManager, files: &[Many], seed: u64) {
    let mut r = rng(seed);
    let mut held: Vec<(WindowCursor, usize)> = Vec::with_capacity(250);
    let mut order: Vec<usize> = (0..files.len()).collect();
    for _ in 0..3 {
        for i in (1..order.len()).rev() {
            order.swap(i, r.random_range(0..=i));
        }
        for &i in &order {
            let f = &files[i];
            let mut c = man.make_cursor(&f.path).unwrap();
            for _ in 0..2 {
                let (o, n, want) = f.request(&mut r);
                let got = c
                    .use_region(o, n)
                    .unwrap_or_else(|e| panic!("file {i} at {o}: {e}"));
                assert_eq!(got, &want[..], "file {i} at {o}");
            }
            if !f.tail.is_empty() {
                // Held at the end of the file: a short window (the file is a little longer
                // than one), not the whole file, so it keeps its descriptor.
                let o = f.size - f.tail.len() as u64;
                assert_eq!(c.use_region(o, f.tail.len()).unwrap(), &f.tail[..]);
                assert!(c.region().unwrap().size < man.window_size());
            }
            if held.len() == held.capacity() {
                let (mut c, j) = held.swap_remove(r.random_range(0..held.len()));
                let (o, n, want) = files[j].request(&mut r);
                let got = c
                    .use_region(o, n)
                    .unwrap_or_else(|e| panic!("file {j} at {o}: {e}"));
                assert_eq!(got, &want[..], "file {j} at {o}");
            }
            held.push((c, i));
        }
    }
}

/// With `RLIMIT_NOFILE` at 64, 1,000 files go through one manager with the default settings:
/// every read is right and no `EMFILE` reaches the caller, whether the manager was built under
/// the limit (its descriptor budget is then 64 - 25) or before it was lowered (its budget is
/// then far above it, and `open` fails: the manager closes its idle descriptors and retries).
#[test]
fn thousand_files_under_a_limit_of_64_descriptors() {
    in_child_only!("thousand_files_under_a_limit_of_64_descriptors");
    let t = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let earlier = SlidingWindowMapManager::new();
    let files = many_files(dir.path(), earlier.window_size() as u64);
    let before = open_fds();
    set_soft_limit!(libc::RLIMIT_NOFILE, 64);

    let man = SlidingWindowMapManager::new();
    assert_eq!(man.max_open_files(), 64 - 25);
    through_every_file(&man, &files, 82);
    let s = man.stats();
    assert!(s.peak_open_descriptors <= 39, "{s:?}");
    assert_eq!(s.over_budget_descriptors, 0, "{s:?}");
    assert!(s.descriptors_closed > 0, "{s:?}");
    println!("built under the limit: {s:?}, {:?}", t.elapsed());
    drop(man);

    assert!(earlier.max_open_files() > 64);
    through_every_file(&earlier, &files, 83);
    let s = earlier.stats();
    assert!(s.retries > 0, "{s:?}");
    println!("built before: {s:?}, {:?}", t.elapsed());
    drop(earlier);
    assert_eq!(open_fds(), before);
}
