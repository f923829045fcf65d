//! Quickstart: scan a file of fixed-size records through a sliding-window manager whose budget is
//! smaller than the file, make 1,000,000 random record reads, and check both against `std::fs`.
//!
//! ```text
//! cargo run --release --example quickstart            # creates a 256 MiB file in a temp dir
//! cargo run --release --example quickstart -- FILE    # reads FILE as 24-byte records
//! ```
//!
//! `SMMAP_WINDOW` and `SMMAP_BUDGET` (bytes) override the window size (4 MiB) and the budget of
//! mapped bytes (64 MiB).

use std::error::Error;
use std::fs::File;
use std::io::{BufReader, BufWriter, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use smmap::byteorder::{LittleEndian, U32, U64};
use smmap::{MappedRecord, SlidingWindowMapManager};

/// `pread`: a read of `buf.len()` bytes at `offset` that does not move a shared file position
/// (`read_exact_at` on Unix; `seek_read`, which moves only this handle's position, on Windows).
fn read_exact_at(file: &File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        std::os::unix::fs::FileExt::read_exact_at(file, buf, offset)
    }
    #[cfg(windows)]
    {
        let (mut buf, mut offset) = (buf, offset);
        while !buf.is_empty() {
            match std::os::windows::fs::FileExt::seek_read(file, buf, offset)? {
                0 => return Err(std::io::ErrorKind::UnexpectedEof.into()),
                n => {
                    buf = &mut buf[n..];
                    offset += n as u64;
                }
            }
        }
        Ok(())
    }
}

/// One on-disk record: 24 bytes, little-endian, readable at any offset.
#[derive(MappedRecord)]
#[repr(C)]
struct Entry {
    key: U64<LittleEndian>,
    value: U64<LittleEndian>,
    len: U32<LittleEndian>,
    crc: U32<LittleEndian>,
}

const FILE_SIZE: u64 = 256 << 20;
const RANDOM_READS: u64 = 1_000_000;
const WINDOW: usize = 4 << 20;
const BUDGET: usize = 64 << 20;

/// A small, fast, deterministic generator (xorshift64*).
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

/// What the example sums for each record: every field, so that no byte goes unread.
fn digest(key: u64, value: u64, len: u32, crc: u32) -> u64 {
    key.rotate_left(7) ^ value ^ (u64::from(len) << 32 | u64::from(crc))
}

fn entry_digest(e: &Entry) -> u64 {
    digest(e.key(), e.value(), e.len(), e.crc())
}

fn bytes_digest(b: &[u8]) -> u64 {
    let e = Entry::ref_from_bytes(b).expect("24 bytes");
    entry_digest(e)
}

fn progress(len: u64, what: &str) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(len).with_message(what.to_string());
    bar.set_style(
        ProgressStyle::with_template("{msg:>12} [{bar:40}] {percent:>3}% {bytes_per_sec}")
            .expect("a valid template")
            .progress_chars("=> "),
    );
    bar
}

fn create_file(path: &Path) -> std::io::Result<()> {
    let mut w = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut rng = XorShift(0x5eed_1234_abcd_ef01);
    let bar = progress(FILE_SIZE, "writing");
    let mut buf = [0u8; Entry::SIZE];
    for i in 0..FILE_SIZE / Entry::SIZE as u64 {
        let (a, b) = (rng.next(), rng.next());
        buf[..8].copy_from_slice(&i.to_le_bytes());
        buf[8..16].copy_from_slice(&a.to_le_bytes());
        buf[16..24].copy_from_slice(&b.to_le_bytes());
        w.write_all(&buf)?;
        if i % 65536 == 0 {
            bar.set_position(i * Entry::SIZE as u64);
        }
    }
    // A tail shorter than one record: the scan must stop before it.
    let tail: Vec<u8> = (0..FILE_SIZE % Entry::SIZE as u64)
        .map(|_| rng.next() as u8)
        .collect();
    w.write_all(&tail)?;
    bar.finish_and_clear();
    w.flush()
}

fn main() -> Result<(), Box<dyn Error>> {
    let tmp;
    let path: PathBuf = match std::env::args_os().nth(1) {
        Some(p) => PathBuf::from(p),
        None => {
            tmp = tempfile::tempdir()?;
            let p = tmp.path().join("records.bin");
            println!(
                "creating {} MiB of 24-byte records in {}",
                FILE_SIZE >> 20,
                p.display()
            );
            create_file(&p)?;
            p
        }
    };
    let file_size = std::fs::metadata(&path)?.len();
    let count = file_size / Entry::SIZE as u64;
    if count == 0 {
        return Err(format!("{} holds no 24-byte record", path.display()).into());
    }

    let env = |name: &str, default: usize| -> Result<usize, Box<dyn Error>> {
        match std::env::var(name) {
            Ok(v) => Ok(v.parse().map_err(|e| format!("{name}={v}: {e}"))?),
            Err(_) => Ok(default),
        }
    };
    let man = SlidingWindowMapManager::builder()
        .window_size(env("SMMAP_WINDOW", WINDOW)?)
        .max_memory_size(env("SMMAP_BUDGET", BUDGET)?)
        .build()?;
    println!(
        "file {} ({} bytes, {count} records); window {} MiB, budget {} MiB",
        path.display(),
        file_size,
        man.window_size() >> 20,
        man.max_mapped_memory_size() >> 20
    );
    let mut cursor = man.make_cursor(&path)?;

    // 1. Sequential scan, half a window of records at a time (always one window, no copy).
    let per_chunk = (man.window_size() / 2 / Entry::SIZE) as u64;
    let bar = progress(file_size, "scanning");
    let t = Instant::now();
    let mut scan_sum = 0u64;
    let mut i = 0;
    while i < count {
        let n = per_chunk.min(count - i);
        let recs = cursor.records::<Entry>(i * Entry::SIZE as u64, n as usize)?;
        scan_sum = recs
            .iter()
            .fold(scan_sum, |s, e| s.wrapping_add(entry_digest(e)));
        i += n;
        bar.set_position(i * Entry::SIZE as u64);
    }
    bar.finish_and_clear();
    let scan = t.elapsed();

    // The same with std: a buffered reader.
    let t = Instant::now();
    let mut reader = BufReader::with_capacity(1 << 20, File::open(&path)?);
    let mut std_sum = 0u64;
    let mut rec = [0u8; Entry::SIZE];
    for _ in 0..count {
        reader.read_exact(&mut rec)?;
        std_sum = std_sum.wrapping_add(bytes_digest(&rec));
    }
    let std_scan = t.elapsed();
    if scan_sum != std_sum {
        return Err(format!("scan checksum {scan_sum:#x} != std::fs checksum {std_sum:#x}").into());
    }
    let gbs = |d: std::time::Duration| file_size as f64 / d.as_secs_f64() / 1e9;
    println!(
        "scan:   {:>8.3} s  {:>6.2} GB/s   (BufReader: {:.3} s, {:.2} GB/s; {:.2}x)   checksum {scan_sum:#018x} ok",
        scan.as_secs_f64(),
        gbs(scan),
        std_scan.as_secs_f64(),
        gbs(std_scan),
        std_scan.as_secs_f64() / scan.as_secs_f64()
    );

    // 2. Random record reads.
    let indices: Vec<u64> = {
        let mut rng = XorShift(42);
        (0..RANDOM_READS).map(|_| rng.next() % count).collect()
    };
    let bar = progress(RANDOM_READS, "random");
    let t = Instant::now();
    let mut rand_sum = 0u64;
    for (k, &i) in indices.iter().enumerate() {
        let e = cursor.record::<Entry>(i * Entry::SIZE as u64)?;
        rand_sum = rand_sum.wrapping_add(entry_digest(e));
        if k % 65536 == 0 {
            bar.set_position(k as u64);
        }
    }
    bar.finish_and_clear();
    let random = t.elapsed();

    // The same with std: one pread per record.
    let file = File::open(&path)?;
    let t = Instant::now();
    let mut pread_sum = 0u64;
    for &i in &indices {
        read_exact_at(&file, &mut rec, i * Entry::SIZE as u64)?;
        pread_sum = pread_sum.wrapping_add(bytes_digest(&rec));
    }
    let pread = t.elapsed();
    if rand_sum != pread_sum {
        return Err(
            format!("random checksum {rand_sum:#x} != pread checksum {pread_sum:#x}").into(),
        );
    }
    let st = man.stats();

    // 3. The same random reads through a manager whose budget holds the whole file: after the
    //    first touch of each window every read is a hit, at the speed of a raw memory map.
    let whole = SlidingWindowMapManager::builder()
        .window_size(man.window_size())
        .build()?;
    let mut c = whole.make_cursor(&path)?;
    let t = Instant::now();
    let mut warm_sum = 0u64;
    for &i in &indices {
        warm_sum = warm_sum.wrapping_add(entry_digest(c.record::<Entry>(i * Entry::SIZE as u64)?));
    }
    let warm = t.elapsed();
    if warm_sum != pread_sum {
        return Err(
            format!("random checksum {warm_sum:#x} != pread checksum {pread_sum:#x}").into(),
        );
    }

    // The random-access figures side by side: records per second and the speed relative to
    // one pread per record.
    let mrs = |d: std::time::Duration| RANDOM_READS as f64 / d.as_secs_f64() / 1e6;
    let vs_pread = |d: std::time::Duration| pread.as_secs_f64() / d.as_secs_f64();
    let map_rate = st.maps as f64 / RANDOM_READS as f64;
    let budget_share = (man.max_mapped_memory_size() as f64 / file_size as f64 * 100.0).min(100.0);
    println!(
        "random: {RANDOM_READS} reads of one record at a random offset, checksum {rand_sum:#018x} ok"
    );
    println!(
        "  {:<30} {:>7.2} M records/s  {:>6.2}x pread   \
         ({:.2}% of the reads mapped a window, {:.0}% were small reads into the cursor's buffer)",
        format!("smmap, budget {budget_share:.0}% of the file"),
        mrs(random),
        vs_pread(random),
        map_rate * 100.0,
        st.small_reads as f64 / RANDOM_READS as f64 * 100.0,
    );
    println!(
        "  {:<30} {:>7.2} M records/s  {:>6.2}x pread   ({} windows mapped)",
        "smmap, budget >= file",
        mrs(warm),
        vs_pread(warm),
        whole.num_file_handles()
    );
    println!(
        "  {:<30} {:>7.2} M records/s  {:>6.2}x",
        "pread, one call per record",
        mrs(pread),
        1.0
    );
    drop(c);

    drop(cursor);
    let s = man.stats();
    println!("stats:  {s:#?}");
    man.collect();
    println!(
        "after collect: {} regions, {} bytes mapped, {} descriptors open",
        man.num_file_handles(),
        man.mapped_memory_size(),
        man.stats().open_descriptors
    );
    Ok(())
}
