//! What every scenario of the suite shares: the run's scale (full or quick), the group
//! settings, the test files and their page-cache state, the record type, the random offsets
//! and the raw baselines' building blocks.

use std::fs::File;
use std::hint::black_box;
use std::io::{self, BufWriter, Read, Write};
#[cfg(unix)]
use std::os::unix::fs::FileExt;
#[cfg(unix)]
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion, SamplingMode, Throughput};
use smmap::MappedRecord;
use smmap::byteorder::{LittleEndian, U64};

pub(crate) const KIB: u64 = 1 << 10;
pub(crate) const MIB: u64 = 1 << 20;
pub(crate) const GIB: u64 = 1 << 30;

/// `SMMAP_BENCH_QUICK=1`: smaller files (1 GiB becomes 256 MiB) and shorter measurements, to
/// check that the suite runs; its figures are not the ones to quote.
pub(crate) fn quick() -> bool {
    std::env::var_os("SMMAP_BENCH_QUICK").is_some_and(|v| v != "0" && !v.is_empty())
}

/// `SMMAP_BENCH_ONLY=P2,P4`: runs only the named scenarios (all of them when unset).
pub(crate) fn enabled(scenario: &str) -> bool {
    match std::env::var("SMMAP_BENCH_ONLY") {
        Ok(list) if !list.trim().is_empty() => list
            .split(',')
            .any(|s| s.trim().eq_ignore_ascii_case(scenario)),
        _ => true,
    }
}

/// The size of the suite's "1 GiB" file (256 MiB in quick mode).
pub(crate) fn big_file_size() -> u64 {
    if quick() { 256 * MIB } else { GIB }
}

/// `1 GiB`, `256 MiB`, `64 KiB`: sizes as they appear in benchmark names.
pub(crate) fn size_name(bytes: u64) -> String {
    if bytes >= GIB && bytes.is_multiple_of(GIB) {
        format!("{}GiB", bytes / GIB)
    } else if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{}MiB", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{}KiB", bytes / KIB)
    } else {
        format!("{bytes}B")
    }
}

/// A benchmark group with the suite's settings: 10 samples of equal iteration counts (flat
/// sampling: one iteration of a scan takes long enough), a short warm-up and measurement.
pub(crate) fn group<'a>(
    c: &'a mut Criterion,
    name: &str,
    throughput: Throughput,
) -> BenchmarkGroup<'a, WallTime> {
    let mut g = c.benchmark_group(name);
    let (warm_up, measure) = if quick() {
        (Duration::from_millis(100), Duration::from_millis(300))
    } else {
        (Duration::from_millis(700), Duration::from_secs(3))
    };
    g.sample_size(10)
        .sampling_mode(SamplingMode::Flat)
        .warm_up_time(warm_up)
        .measurement_time(measure)
        .throughput(throughput);
    g
}

/// A small, fast, deterministic generator (xorshift64*).
pub(crate) struct XorShift(pub(crate) u64);

impl XorShift {
    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value below `n` (n > 0; the modulo bias is negligible for the sizes used here).
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// What a file is filled with.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Content {
    /// Lowercase letters with about one newline in 64 bytes (text for line counting; any
    /// bytes for the scans and records).
    Text,
    /// Uniformly random bytes.
    Random,
}

/// A file of the suite in its own temporary directory, removed on drop.
pub(crate) struct Fixture {
    _dir: tempfile::TempDir,
    pub(crate) path: PathBuf,
    pub(crate) size: u64,
    /// Newlines in the file.
    pub(crate) newlines: u64,
    /// Wrapping sum of the file's little-endian u64 words (`sum_words` over the whole file).
    pub(crate) word_sum: u64,
}

impl Fixture {
    /// Writes `size` bytes (a multiple of 8) of `content`, fsyncs them and puts the file in
    /// the suite's page-cache state (see [`recache`]).
    pub(crate) fn new(name: &str, size: u64, content: Content, seed: u64) -> Self {
        assert!(size.is_multiple_of(8), "fixture sizes are multiples of 8");
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join(name);
        let mut w = BufWriter::with_capacity(MIB as usize, File::create(&path).expect("create"));
        let mut rng = XorShift(seed | 1);
        let mut chunk = vec![0u8; MIB as usize];
        let (mut newlines, mut word_sum, mut left) = (0u64, 0u64, size);
        while left > 0 {
            let n = chunk.len().min(left as usize);
            let chunk = &mut chunk[..n];
            for block in chunk.chunks_mut(8) {
                let x = rng.next_u64().to_le_bytes();
                for (b, v) in block.iter_mut().zip(x) {
                    *b = match content {
                        Content::Random => v,
                        Content::Text if v & 63 == 0 => b'\n',
                        Content::Text => b'a' + v % 26,
                    };
                }
            }
            newlines += count_newlines(chunk);
            word_sum = word_sum.wrapping_add(sum_words(chunk));
            w.write_all(chunk).expect("write");
            left -= n as u64;
        }
        w.flush().expect("flush");
        w.get_ref().sync_all().expect("fsync");
        drop(w);
        assert_eq!(std::fs::metadata(&path).expect("metadata").len(), size);
        recache(&path);
        Fixture {
            _dir: dir,
            path,
            size,
            newlines,
            word_sum,
        }
    }

    /// A fixture whose bytes are given (for data with a structure, such as a sorted index).
    pub(crate) fn from_bytes(name: &str, bytes: &[u8]) -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let path = dir.path().join(name);
        let f = File::create(&path).expect("create");
        (&f).write_all(bytes).expect("write");
        f.sync_all().expect("fsync");
        drop(f);
        recache(&path);
        Fixture {
            _dir: dir,
            path,
            size: bytes.len() as u64,
            newlines: count_newlines(bytes),
            word_sum: sum_words(bytes),
        }
    }

    /// Puts the file back in the suite's page-cache state; call it before each variant, with
    /// no map of the file alive (the kernel keeps mapped pages).
    pub(crate) fn recache(&self) {
        recache(&self.path);
    }

    pub(crate) fn open(&self) -> File {
        File::open(&self.path).expect("open")
    }
}

/// The page-cache state every variant starts from: the file's pages dropped from the page
/// cache (`fsync` + `posix_fadvise(POSIX_FADV_DONTNEED)`) and read back sequentially, so that
/// the whole file is cached as readahead caches it (large folios), whatever ran before.
pub(crate) fn recache(path: &Path) {
    let f = File::open(path).expect("open");
    f.sync_all().expect("fsync");
    // Elsewhere than on Unix the pages stay cached; they are read back all the same.
    #[cfg(unix)]
    {
        // SAFETY: `posix_fadvise` only takes a descriptor that `f` keeps open for the call and
        // plain integers; it does not touch memory of this process.
        let rc = unsafe { libc::posix_fadvise(f.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
        assert_eq!(rc, 0, "posix_fadvise(DONTNEED) on {}", path.display());
    }
    let mut buf = vec![0u8; MIB as usize];
    let mut r = &f;
    loop {
        match r.read(&mut buf) {
            Ok(0) => break,
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => panic!("reading {} back: {e}", path.display()),
        }
    }
}

/// A whole-file read-only `memmap2` map: the raw baseline.
pub(crate) fn raw_map(path: &Path) -> memmap2::Mmap {
    let f = File::open(path).expect("open");
    // SAFETY: the suite's own temporary file, which nothing modifies or truncates while it
    // is mapped.
    unsafe { memmap2::Mmap::map(&f).expect("mmap") }
}

/// The 24-byte record of the random-access scenarios and of the record scans.
#[derive(MappedRecord, Clone, Copy)]
#[repr(C)]
pub(crate) struct Rec {
    pub(crate) a: U64<LittleEndian>,
    pub(crate) b: U64<LittleEndian>,
    pub(crate) c: U64<LittleEndian>,
}

pub(crate) const REC: usize = Rec::SIZE;

/// What a random read does with a record: reads all three fields.
#[inline(always)]
pub(crate) fn digest(r: &Rec) -> u64 {
    r.a().rotate_left(7) ^ r.b() ^ r.c().rotate_left(29)
}

/// [`digest`] of a record's 24 bytes, for the baselines that read bytes.
#[inline(always)]
pub(crate) fn digest_bytes(b: &[u8]) -> u64 {
    let w = |i: usize| u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    w(0).rotate_left(7) ^ w(1) ^ w(2).rotate_left(29)
}

/// `n` random record offsets (multiples of 24) of a file of `file_size` bytes.
pub(crate) fn record_offsets(file_size: u64, n: usize, seed: u64) -> Vec<u64> {
    let records = file_size / REC as u64;
    let mut rng = XorShift(seed | 1);
    (0..n).map(|_| rng.below(records) * REC as u64).collect()
}

/// Wrapping sum of the little-endian u64 words of `b` (a trailing partial word is ignored);
/// the work of the scans, a loop the compiler vectorizes.
#[inline]
pub(crate) fn sum_words(b: &[u8]) -> u64 {
    b.chunks_exact(8).fold(0u64, |a, w| {
        a.wrapping_add(u64::from_le_bytes(w.try_into().expect("8 bytes")))
    })
}

/// Newlines in `b` (memchr's vectorized count: faster than memory, so that the readers are
/// what is measured).
#[inline]
pub(crate) fn count_newlines(b: &[u8]) -> u64 {
    memchr::memchr_iter(b'\n', b).count() as u64
}

/// Sum of the `b` fields of the whole records of `bytes` (the record scans' work).
#[inline]
pub(crate) fn sum_field_b(bytes: &[u8]) -> u64 {
    bytes.chunks_exact(REC).fold(0u64, |s, r| {
        s.wrapping_add(u64::from_le_bytes(r[8..16].try_into().expect("8 bytes")))
    })
}

/// One `pread` of exactly `buf.len()` bytes at `ofs`.
#[inline]
pub(crate) fn pread(file: &File, buf: &mut [u8], ofs: u64) {
    #[cfg(unix)]
    file.read_exact_at(buf, ofs).expect("pread");
    #[cfg(windows)]
    {
        use std::os::windows::fs::FileExt;
        let mut done = 0;
        while done < buf.len() {
            let n = file
                .seek_read(&mut buf[done..], ofs + done as u64)
                .expect("ReadFile at an offset");
            assert!(n > 0, "short read");
            done += n;
        }
    }
}

/// The random reads through a raw whole-file map: pointer arithmetic and a bounds check.
pub(crate) fn raw_records(map: &[u8], offsets: &[u64]) -> u64 {
    offsets.iter().fold(0u64, |acc, &o| {
        let o = o as usize;
        acc.wrapping_add(digest_bytes(&map[o..o + REC]))
    })
}

/// The random reads through `pread`, one system call per record.
pub(crate) fn pread_records(file: &File, offsets: &[u64]) -> u64 {
    let mut buf = [0u8; REC];
    offsets.iter().fold(0u64, |acc, &o| {
        pread(file, &mut buf, o);
        acc.wrapping_add(digest_bytes(black_box(&buf)))
    })
}

/// The random reads through a cursor, `WindowCursor::record`.
pub(crate) fn cursor_records(c: &mut smmap::WindowCursor, offsets: &[u64]) -> u64 {
    offsets.iter().fold(0u64, |acc, &o| {
        acc.wrapping_add(digest(c.record::<Rec>(o).expect("a record")))
    })
}

/// Prints how much of `path` the process has mapped and how much of that the kernel maps with
/// 2 MiB entries (`FilePmdMapped` in `/proc/self/smaps`; Linux only): a random read costs a
/// TLB miss more without them (about 22 ns rather than 12 per record on the 1 GiB file here),
/// and whether the page cache holds the file in large folios that allow them can change from
/// one `recache` to the next. Printed after each variant's warm-up, to read a run by.
pub(crate) fn report_mapping(label: &str, path: &Path) {
    #[cfg(target_os = "linux")]
    {
        let Ok(smaps) = std::fs::read_to_string("/proc/self/smaps") else {
            return;
        };
        let name = path.to_string_lossy();
        let (mut inside, mut rss, mut pmd) = (false, 0u64, 0u64);
        for line in smaps.lines() {
            let head = line.split_whitespace().next().unwrap_or("");
            if head.contains('-') && head.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
                inside = line.ends_with(&*name);
            } else if inside {
                let kib = || {
                    line.split_whitespace()
                        .nth(1)
                        .and_then(|v| v.parse::<u64>().ok())
                        .unwrap_or(0)
                };
                if line.starts_with("Rss:") {
                    rss += kib();
                } else if line.starts_with("FilePmdMapped:") {
                    pmd += kib();
                }
            }
        }
        eprintln!(
            "{label}: {} MiB of the file mapped, {} MiB of it with 2 MiB entries",
            rss / 1024,
            pmd / 1024
        );
    }
    #[cfg(not(target_os = "linux"))]
    let _ = (label, path);
}

/// A sliding-window manager with these windows and budget.
pub(crate) fn sliding(window: u64, budget: u64) -> smmap::SlidingWindowMapManager {
    smmap::SlidingWindowMapManager::builder()
        .window_size(window as usize)
        .max_memory_size(budget as usize)
        .build()
        .expect("a sliding-window manager")
}

/// A static manager (one region per file).
pub(crate) fn static_manager() -> smmap::StaticWindowMapManager {
    smmap::StaticWindowMapManager::builder()
        .build()
        .expect("a static manager")
}

/// A sliding-window manager whose budget holds every window of a file of `file_size` bytes
/// (windows overlap by half: twice the file, plus a window), so that nothing is evicted.
pub(crate) fn sliding_unbounded(window: u64, file_size: u64) -> smmap::SlidingWindowMapManager {
    sliding(window, 2 * file_size + 2 * window)
}
