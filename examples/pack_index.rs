//! Looks up object ids in a git pack index (`.idx`, version 2), declared with
//! `#[derive(MappedRecord)]` and read in place through a sliding window manager.
//!
//! ```text
//! cargo run --example pack_index -- path/to/pack-<hash>.idx [hex-id ...]
//! cargo run --example pack_index        # builds a small pack with git (or writes one itself)
//! ```
//!
//! Without ids, every tenth object of the index is looked up, plus one that is absent.

use std::error::Error;
use std::path::{Path, PathBuf};
use std::process::Command;

use smmap::byteorder::{BigEndian, U32, U64};
use smmap::{MappedRecord, RecordTable, SlidingWindowMapManager, WindowCursor};

/// The header: magic `\377tOc` and version 2.
#[derive(MappedRecord, Clone, Copy)]
#[repr(C)]
#[mapped(validate = version_2)]
struct IdxHeader {
    #[mapped(magic = b"\xfftOc")]
    magic: [u8; 4],
    version: U32<BigEndian>,
}

fn version_2(h: &IdxHeader) -> Result<(), String> {
    match h.version() {
        2 => Ok(()),
        v => Err(format!("pack index version {v} is not supported")),
    }
}

/// `fanout[b]`: the number of objects whose id's first byte is at most `b`.
#[derive(MappedRecord, Clone, Copy)]
#[repr(C)]
struct Fanout {
    counts: [U32<BigEndian>; 256],
}

/// An object id (SHA-1).
#[derive(MappedRecord, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
#[repr(transparent)]
struct ObjectId([u8; 20]);

/// A pack index opened for lookups: the tables of ids, 32-bit and 64-bit offsets.
struct PackIndex {
    fanout: [u32; 256],
    ids: RecordTable<ObjectId>,
    offsets: RecordTable<U32<BigEndian>>,
    large: RecordTable<U64<BigEndian>>,
}

impl PackIndex {
    fn open(man: &SlidingWindowMapManager, path: &Path) -> Result<Self, Box<dyn Error>> {
        let mut c: WindowCursor = man.make_cursor(path)?;
        c.record::<IdxHeader>(0)?; // checks the magic and the version
        let fanout = c.record::<Fanout>(8)?.counts.map(|n| n.get());
        let n = u64::from(fanout[255]);
        let ids_at = (8 + Fanout::SIZE) as u64;
        let offsets_at = ids_at + n * 24; // ids, then one CRC32 per object
        let large_at = offsets_at + n * 4;
        // The 64-bit table lies between the 32-bit offsets and the two trailing hashes.
        let large_len = (c.file_size().saturating_sub(large_at + 40)) / 8;
        Ok(PackIndex {
            fanout,
            ids: RecordTable::new(c, ids_at, n)?,
            offsets: RecordTable::new(man.make_cursor(path)?, offsets_at, n)?,
            large: RecordTable::new(man.make_cursor(path)?, large_at, large_len)?,
        })
    }

    fn len(&self) -> u64 {
        self.ids.len()
    }

    /// The pack offset of object `id`, if the pack holds it.
    fn lookup(&mut self, id: &[u8; 20]) -> Result<Option<u64>, Box<dyn Error>> {
        let b = usize::from(id[0]);
        let lo = if b == 0 { 0 } else { self.fanout[b - 1] };
        let range = u64::from(lo)..u64::from(self.fanout[b]);
        let Ok(i) = self
            .ids
            .binary_search_range_by(range, |x| x.get_0().cmp(id))?
        else {
            return Ok(None);
        };
        let ofs = self.offsets.get(i)?.get();
        if ofs & 0x8000_0000 == 0 {
            return Ok(Some(u64::from(ofs)));
        }
        Ok(Some(self.large.get(u64::from(ofs & 0x7fff_ffff))?.get()))
    }
}

fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hex(s: &str) -> Option<[u8; 20]> {
    if s.len() != 40 {
        return None;
    }
    let mut id = [0u8; 20];
    for (i, b) in id.iter_mut().enumerate() {
        *b = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(id)
}

fn git(dir: &Path, args: &[&str]) -> bool {
    Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .output()
        .is_ok_and(|o| o.status.success())
}

/// A pack made by git from a few hundred files, or `None` without git.
fn git_pack(dir: &Path) -> Option<PathBuf> {
    if !git(dir, &["init", "-q", "."]) {
        return None;
    }
    for i in 0..300u32 {
        let body: String = (0..i % 50 + 1)
            .map(|k| format!("line {k} of file {i}\n"))
            .collect();
        std::fs::write(dir.join(format!("f{i}.txt")), body).ok()?;
    }
    let ok = git(dir, &["add", "."])
        && git(
            dir,
            &[
                "-c",
                "user.name=smmap",
                "-c",
                "user.email=smmap@example.com",
                "commit",
                "-q",
                "-m",
                "files",
            ],
        )
        && git(dir, &["repack", "-a", "-d", "-q"]);
    if !ok {
        return None;
    }
    std::fs::read_dir(dir.join(".git/objects/pack"))
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "idx"))
}

/// A synthetic index (no pack behind it): 1000 ids from a xorshift generator, one offset in
/// the 64-bit table.
fn synthetic_index(dir: &Path) -> std::io::Result<PathBuf> {
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut ids: Vec<[u8; 20]> = (0..1000)
        .map(|_| {
            let mut id = [0u8; 20];
            for chunk in id.chunks_mut(8) {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                chunk.copy_from_slice(&x.to_be_bytes()[..chunk.len()]);
            }
            id
        })
        .collect();
    ids.sort();
    let mut out = b"\xfftOc".to_vec();
    out.extend_from_slice(&2u32.to_be_bytes());
    for b in 0..256 {
        let n = ids.iter().filter(|id| usize::from(id[0]) <= b).count() as u32;
        out.extend_from_slice(&n.to_be_bytes());
    }
    out.extend(ids.iter().flatten());
    out.extend(std::iter::repeat_n(0u8, 4 * ids.len())); // CRC32s
    for i in 0..ids.len() as u32 {
        let ofs = if i == 500 { 0x8000_0000 } else { 12 + i * 100 };
        out.extend_from_slice(&ofs.to_be_bytes());
    }
    out.extend_from_slice(&(5u64 << 32).to_be_bytes()); // the 64-bit table
    out.extend([0u8; 40]); // the pack's and the index's hashes
    let path = dir.join("synthetic.idx");
    std::fs::write(&path, out)?;
    Ok(path)
}

fn main() -> Result<(), Box<dyn Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tmp = tempfile::tempdir()?;
    let path = match args.first() {
        Some(p) => PathBuf::from(p),
        None => match git_pack(tmp.path()) {
            Some(p) => {
                println!("made a pack with git: {}", p.display());
                p
            }
            None => {
                println!("git is not available: writing a synthetic index");
                synthetic_index(tmp.path())?
            }
        },
    };

    // Small windows, to show that lookups work whatever the window.
    let man = SlidingWindowMapManager::builder()
        .window_size(64 << 10)
        .max_memory_size(1 << 20)
        .build()?;
    let mut idx = PackIndex::open(&man, &path)?;
    println!("{}: {} objects", path.display(), idx.len());

    let wanted: Vec<[u8; 20]> = if args.len() > 1 {
        args[1..]
            .iter()
            .map(|s| parse_hex(s).ok_or_else(|| format!("not a 40-digit hex id: {s}")))
            .collect::<Result<_, _>>()?
    } else {
        let mut w = Vec::new();
        for i in (0..idx.len()).step_by(10) {
            w.push(idx.ids.get(i)?.0);
        }
        w.push([0x5a; 20]);
        w
    };
    for id in &wanted {
        match idx.lookup(id)? {
            Some(ofs) => println!("{} at pack offset {ofs}", hex(id)),
            None => println!("{} is not in this pack", hex(id)),
        }
    }
    let stats = man.stats();
    println!(
        "{} lookups; {} windows mapped, {} mapped bytes now",
        wanted.len(),
        stats.maps,
        man.mapped_memory_size()
    );
    Ok(())
}
