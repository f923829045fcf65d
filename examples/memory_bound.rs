//! Memory stays bounded while a file far larger than the budget is scanned: a 4 GiB sparse
//! file read end to end through a sliding-window manager with 16 MiB windows and a 64 MiB
//! budget. The example checks and prints
//!
//! - the peak of mapped bytes from `Stats`: at most the budget plus one window (the budget is
//!   soft only while every region is in use, and the cursor's own window is in use);
//! - the peak resident set size of the process (`VmHWM` of `/proc/self/status`, reset before
//!   the scan through `/proc/self/clear_refs`): under 256 MiB;
//! - the checksum of the bytes read, against the one of the bytes written (or, for a file
//!   given on the command line, against a plain `std::fs::File` read of it).
//!
//! ```text
//! cargo run --release --example memory_bound            # creates a 4 GiB sparse file
//! cargo run --release --example memory_bound -- FILE    # scans FILE instead
//! ```
//!
//! It exits with an error when a check fails. `tests/memory_bound.rs` runs the same logic on
//! a smaller sparse file.

use std::error::Error;
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use smmap::SlidingWindowMapManager;

const FILE_SIZE: u64 = 4 << 30;
const WINDOW: u64 = 16 << 20;
const BUDGET: u64 = 64 << 20;
/// The bound on the peak resident set size.
pub(crate) const RSS_LIMIT: u64 = 256 << 20;

/// The windows and the budget of a scan.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Config {
    pub(crate) window: u64,
    pub(crate) budget: u64,
}

/// What a scan measured.
#[derive(Debug)]
pub(crate) struct Outcome {
    pub(crate) bytes: u64,
    pub(crate) checksum: u64,
    pub(crate) peak_mapped_bytes: u64,
    pub(crate) peak_regions: u64,
    pub(crate) maps: u64,
    pub(crate) evictions: u64,
    pub(crate) over_budget_maps: u64,
    /// Peak resident set size during the scan, where the system reports it.
    pub(crate) peak_rss: Option<u64>,
    pub(crate) elapsed: Duration,
}

/// A small, fast, deterministic generator (xorshift64*).
struct XorShift(u64);

impl XorShift {
    fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// Adds the little-endian words of `bytes`, which start at word `first_word` of the file, to
/// `h`: each word times an odd number that depends on its position, so that a byte read from
/// the wrong offset changes the result, and a zero word (a hole) adds nothing.
pub(crate) fn checksum(mut h: u64, first_word: u64, bytes: &[u8]) -> u64 {
    for (i, w) in bytes.chunks_exact(8).enumerate() {
        let w = u64::from_le_bytes(w.try_into().expect("8 bytes"));
        h = h.wrapping_add(w.wrapping_mul(2 * (first_word + i as u64) + 1));
    }
    h
}

/// Creates a sparse file of `size` bytes (a multiple of 8, at least 64 KiB): holes, with 64
/// blocks of 4 KiB of random bytes at random word-aligned places, one in each 64th of the
/// file, and random last 8 bytes. Returns the checksum of the file.
pub(crate) fn create_sparse(path: &Path, size: u64, seed: u64) -> io::Result<u64> {
    assert!(size.is_multiple_of(8) && size >= 64 << 10);
    let mut f = File::create(path)?;
    f.set_len(size)?;
    let mut rng = XorShift(seed | 1);
    let part = size / 64;
    let mut h = 0u64;
    let mut block = vec![0u8; 4096];
    for k in 0..64 {
        for b in block.chunks_exact_mut(8) {
            b.copy_from_slice(&rng.next_u64().to_le_bytes());
        }
        let ofs = k * part + rng.next_u64() % (part - block.len() as u64) / 8 * 8;
        f.seek(SeekFrom::Start(ofs))?;
        f.write_all(&block)?;
        h = checksum(h, ofs / 8, &block);
    }
    let last = rng.next_u64() | 1;
    f.seek(SeekFrom::Start(size - 8))?;
    f.write_all(&last.to_le_bytes())?;
    h = checksum(h, size / 8 - 1, &last.to_le_bytes());
    f.sync_all()?;
    Ok(h)
}

/// The checksum of a file read with plain `std::fs::File` reads: the reference.
pub(crate) fn reference_checksum(path: &Path) -> io::Result<u64> {
    let mut f = File::open(path)?;
    let mut buf = vec![0u8; 1 << 20];
    let (mut h, mut word) = (0u64, 0u64);
    loop {
        let mut n = 0;
        while n < buf.len() {
            match f.read(&mut buf[n..]) {
                Ok(0) => break,
                Ok(k) => n += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        if n == 0 {
            return Ok(h);
        }
        h = checksum(h, word, &buf[..n]);
        word += n as u64 / 8;
        if n < buf.len() {
            return Ok(h);
        }
    }
}

/// Resets the peak resident set size (`VmHWM`) to the current one, where Linux allows it.
pub(crate) fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// The peak resident set size (`VmHWM`) in bytes, where the system reports it.
pub(crate) fn peak_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Scans the whole file through a sliding-window manager, half a window at a time (one
/// window per request, no copy).
pub(crate) fn scan(path: &Path, config: Config) -> smmap::Result<Outcome> {
    let man = SlidingWindowMapManager::builder()
        .window_size(config.window as usize)
        .max_memory_size(config.budget as usize)
        .build()?;
    let mut cursor = man.make_cursor(path)?;
    let size = cursor.file_size();
    let chunk = man.window_size() / 2;
    reset_peak_rss();
    let start = Instant::now();
    let (mut ofs, mut h) = (0u64, 0u64);
    while ofs < size {
        let b = cursor.use_region(ofs, chunk)?;
        h = checksum(h, ofs / 8, b);
        ofs += b.len() as u64;
    }
    let elapsed = start.elapsed();
    let peak_rss = peak_rss();
    drop(cursor);
    let st = man.stats();
    Ok(Outcome {
        bytes: ofs,
        checksum: h,
        peak_mapped_bytes: st.peak_mapped_bytes,
        peak_regions: st.peak_regions,
        maps: st.maps,
        evictions: st.evictions,
        over_budget_maps: st.over_budget_maps,
        peak_rss,
        elapsed,
    })
}

/// The example's checks: the bytes, the peak of mapped bytes, the peak resident set size.
pub(crate) fn check(o: &Outcome, config: Config, expected: u64) -> Result<(), String> {
    if o.checksum != expected {
        return Err(format!(
            "checksum {:#x} of the scan != {expected:#x} of the reference",
            o.checksum
        ));
    }
    if o.peak_mapped_bytes > config.budget + config.window {
        return Err(format!(
            "peak mapped bytes {} exceed the budget {} plus one window {}",
            o.peak_mapped_bytes, config.budget, config.window
        ));
    }
    match o.peak_rss {
        Some(rss) if rss >= RSS_LIMIT => Err(format!(
            "peak resident set size {rss} is not under {RSS_LIMIT}"
        )),
        _ => Ok(()),
    }
}

fn main() -> Result<(), Box<dyn Error>> {
    let config = Config {
        window: WINDOW,
        budget: BUDGET,
    };
    let tmp;
    let (path, expected) = match std::env::args_os().nth(1) {
        Some(p) => {
            let p = PathBuf::from(p);
            let h = reference_checksum(&p)?;
            (p, h)
        }
        None => {
            tmp = tempfile::tempdir()?;
            let p = tmp.path().join("sparse.bin");
            let h = create_sparse(&p, FILE_SIZE, 0x5ba25e)?;
            (p, h)
        }
    };
    let size = std::fs::metadata(&path)?.len();
    println!(
        "scanning {} ({} MiB) through {} MiB windows under a {} MiB budget",
        path.display(),
        size >> 20,
        config.window >> 20,
        config.budget >> 20
    );
    let o = scan(&path, config)?;
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    println!(
        "scan:        {:.2} s, {:.2} GB/s, checksum {:#018x}",
        o.elapsed.as_secs_f64(),
        o.bytes as f64 / o.elapsed.as_secs_f64() / 1e9,
        o.checksum
    );
    println!(
        "peak mapped: {:.1} MiB (limit: budget + one window = {:.1} MiB); {} regions at most, \
         {} maps, {} evictions, {} over budget",
        mib(o.peak_mapped_bytes),
        mib(config.budget + config.window),
        o.peak_regions,
        o.maps,
        o.evictions,
        o.over_budget_maps
    );
    match o.peak_rss {
        Some(rss) => println!(
            "peak RSS:    {:.1} MiB (VmHWM; limit {:.0} MiB)",
            mib(rss),
            mib(RSS_LIMIT)
        ),
        None => println!("peak RSS:    not reported by this system"),
    }
    check(&o, config, expected)?;
    println!("ok");
    Ok(())
}
