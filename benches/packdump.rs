//! The packdump example's reader against baselines, in the same run:
//!
//! Lookups by id, in a synthetic version-2 index of 1,000,000 objects that obeys the format
//! (sorted random ids, fanout, CRCs, 32-bit offsets and a 64-bit table, both checksums),
//! 1024 random present ids per iteration:
//! - `lookup/smmap`: packdump's `PackIndex::lookup` (fanout, then a binary search through a
//!   `RecordTable`, then the offset tables), one `SlidingWindowMapManager` with its defaults;
//! - `lookup/raw_mmap`: the same algorithm written by hand over one `memmap2::Mmap` (the
//!   fanout range of ids viewed as `&[[u8; 20]]`, the same binary search loop);
//! - `lookup/gix_pack`: gitoxide's `gix_pack::index::File::lookup` and
//!   `pack_offset_at_index`.
//!
//! `lookup_cached/*`: the same in an index of 20,000 objects, which stays in the CPU's caches,
//! so that the cost of the lookup code shows rather than that of cache misses.
//!
//! Reading every object of a pack made by git (a few thousand commits, trees, edited text
//! files and random blobs, `git repack -adf`), in id order as `git cat-file
//! --batch-all-objects --batch` does, the `--batch` output written to a sink:
//! - `read_all/packdump`: open the pack and read and print every object, in this process;
//! - `read_all/git_cat_file`: the whole `git cat-file --batch-all-objects --batch` process,
//!   its output to `/dev/null`.
//!
//! `PACKDUMP_BENCH_REPO=<repository>` reads that repository's (single, repacked) pack instead.
//!
//! ```text
//! cargo bench --bench packdump
//! ```

#[allow(dead_code)]
#[path = "../examples/packdump/mod.rs"]
mod packdump;

#[path = "../tests/pack_util/mod.rs"]
mod pack_util;

use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use rand::seq::SliceRandom;
use rand::{Rng, RngExt, SeedableRng, rngs::StdRng};
use sha1::{Digest, Sha1};
use smmap::SlidingWindowMapManager;

use pack_util::git;
use packdump::ObjectId;
use packdump::idx::PackIndex;
use packdump::pack::Pack;

const OBJECTS: usize = 1_000_000;
/// An index small enough to stay in the CPU's caches: what the lookup code itself costs.
const CACHED_OBJECTS: usize = 20_000;
const BATCH: usize = 1024;

/// Writes a version-2 index of `n` random ids; returns its path and the ids.
fn synthetic_index(dir: &Path, n: usize) -> (PathBuf, Vec<[u8; 20]>) {
    let mut rng = StdRng::seed_from_u64(0x5eed);
    let mut ids: Vec<[u8; 20]> = (0..n)
        .map(|_| {
            let mut id = [0u8; 20];
            rng.fill_bytes(&mut id);
            id
        })
        .collect();
    ids.sort_unstable();
    ids.dedup();
    let n = ids.len();
    // Pack offsets: a random order of the objects in the pack, ~200 bytes apart, the last
    // 1% past 2 GiB (in the 64-bit table).
    let mut order: Vec<usize> = (0..n).collect();
    order.shuffle(&mut rng);
    let mut offsets = vec![0u64; n];
    for (rank, &i) in order.iter().enumerate() {
        offsets[i] = if rank < n * 99 / 100 {
            12 + rank as u64 * 200
        } else {
            (3u64 << 30) + rank as u64 * 200
        };
    }
    let mut out = Vec::with_capacity(1032 + n * 36 + 40);
    out.extend_from_slice(b"\xfftOc");
    out.extend_from_slice(&2u32.to_be_bytes());
    let mut counts = [0u32; 256];
    for id in &ids {
        counts[usize::from(id[0])] += 1;
    }
    let mut total = 0u32;
    for c in counts {
        total += c;
        out.extend_from_slice(&total.to_be_bytes());
    }
    for id in &ids {
        out.extend_from_slice(id);
    }
    for _ in 0..n {
        out.extend_from_slice(&rng.random::<u32>().to_be_bytes());
    }
    let mut large = Vec::new();
    for &o in &offsets {
        if o > 0x7fff_ffff {
            out.extend_from_slice(&(0x8000_0000u32 | large.len() as u32).to_be_bytes());
            large.push(o);
        } else {
            out.extend_from_slice(&(o as u32).to_be_bytes());
        }
    }
    for o in large {
        out.extend_from_slice(&o.to_be_bytes());
    }
    let mut pack_sum = [0u8; 20];
    rng.fill_bytes(&mut pack_sum);
    out.extend_from_slice(&pack_sum);
    let sum: [u8; 20] = Sha1::digest(&out).into();
    out.extend_from_slice(&sum);
    let path = dir.join("synthetic.idx");
    std::fs::write(&path, out).unwrap();
    (path, ids)
}

/// A hand-written lookup over one raw map of the index: fanout, binary search, offsets.
struct RawIndex {
    map: memmap2::Mmap,
    n: usize,
}

impl RawIndex {
    fn open(path: &Path) -> Self {
        let file = std::fs::File::open(path).unwrap();
        // SAFETY: the benchmark's own file, not changed while mapped.
        let map = unsafe { memmap2::Mmap::map(&file) }.unwrap();
        let n = Self::be32(&map, 8 + 4 * 255) as usize;
        RawIndex { map, n }
    }

    #[inline(always)]
    fn be32(b: &[u8], at: usize) -> u32 {
        u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
    }

    #[inline]
    fn lookup(&self, id: &[u8; 20]) -> Option<u64> {
        let m = &self.map[..];
        let b = usize::from(id[0]);
        let lo = if b == 0 {
            0
        } else {
            Self::be32(m, 8 + 4 * (b - 1)) as usize
        };
        let hi = Self::be32(m, 8 + 4 * b) as usize;
        let (ids, _) = m[1032 + 20 * lo..1032 + 20 * hi].as_chunks::<20>();
        let (mut l, mut h) = (0, ids.len());
        let i = loop {
            if l >= h {
                return None;
            }
            let mid = l + (h - l) / 2;
            match ids[mid].cmp(id) {
                std::cmp::Ordering::Less => l = mid + 1,
                std::cmp::Ordering::Greater => h = mid,
                std::cmp::Ordering::Equal => break lo + mid,
            }
        };
        let offsets = 1032 + 24 * self.n;
        let o = Self::be32(m, offsets + 4 * i);
        if o & 0x8000_0000 == 0 {
            return Some(u64::from(o));
        }
        let at = offsets + 4 * self.n + 8 * (o & 0x7fff_ffff) as usize;
        Some(u64::from_be_bytes(m[at..at + 8].try_into().unwrap()))
    }
}

fn lookups(c: &mut Criterion) {
    lookups_in(c, "lookup", OBJECTS);
    lookups_in(c, "lookup_cached", CACHED_OBJECTS);
}

fn lookups_in(c: &mut Criterion, group: &str, objects: usize) {
    let dir = tempfile::tempdir().unwrap();
    let (path, ids) = synthetic_index(dir.path(), objects);
    let mut rng = StdRng::seed_from_u64(1);
    let wanted: Vec<[u8; 20]> = (0..1 << 16)
        .map(|_| ids[rng.random_range(0..ids.len())])
        .collect();
    let mask = wanted.len() - 1;

    let man = SlidingWindowMapManager::new();
    let mut ours = PackIndex::open(&man, &path).unwrap();
    let raw = RawIndex::open(&path);
    let gix = gix_pack::index::File::at(&path, gix_hash::Kind::Sha1).unwrap();
    // All three agree.
    for id in wanted.iter().take(2000) {
        let a = ours.lookup(&ObjectId(*id)).unwrap().unwrap();
        let b = raw.lookup(id).unwrap();
        let i = gix.lookup(gix_hash::oid::from_bytes_unchecked(id)).unwrap();
        assert_eq!((a, b), (gix.pack_offset_at_index(i), a));
    }

    // On a shared machine the load changes between criterion's benchmarks: the three, also
    // measured in turns (in a rotating order) within each round, give ratios that share it.
    {
        let mut k = 0usize;
        let mut times: [Vec<f64>; 3] = Default::default();
        for round in 0..150 {
            for j in 0..3 {
                let which = (round + j) % 3;
                let t = std::time::Instant::now();
                let mut sum = 0u64;
                for _ in 0..BATCH {
                    let id = &wanted[k & mask];
                    k += 1;
                    sum = sum.wrapping_add(match which {
                        0 => ours.lookup(&ObjectId(*id)).unwrap().unwrap_or(0),
                        1 => raw.lookup(black_box(id)).unwrap_or(0),
                        _ => gix
                            .lookup(gix_hash::oid::from_bytes_unchecked(black_box(id)))
                            .map_or(0, |i| gix.pack_offset_at_index(i)),
                    });
                }
                black_box(sum);
                times[which].push(t.elapsed().as_secs_f64());
            }
        }
        let median = |v: &mut Vec<f64>| {
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        let [a, b, c] = times.each_mut().map(median);
        eprintln!(
            "{group}: {objects} objects, in turns: smmap {:.0} ns/lookup, raw_mmap {:.0}, \
             gix_pack {:.0}; smmap/raw {:.3}, smmap/gix {:.3}",
            a / BATCH as f64 * 1e9,
            b / BATCH as f64 * 1e9,
            c / BATCH as f64 * 1e9,
            a / b,
            a / c
        );
    }

    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Elements(BATCH as u64));
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(4));
    let mut k = 0usize;
    g.bench_function("smmap", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for _ in 0..BATCH {
                let id = ObjectId(wanted[k & mask]);
                k += 1;
                sum = sum.wrapping_add(ours.lookup(black_box(&id)).unwrap().unwrap_or(0));
            }
            sum
        })
    });
    g.bench_function("raw_mmap", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for _ in 0..BATCH {
                let id = &wanted[k & mask];
                k += 1;
                sum = sum.wrapping_add(raw.lookup(black_box(id)).unwrap_or(0));
            }
            sum
        })
    });
    g.bench_function("gix_pack", |b| {
        b.iter(|| {
            let mut sum = 0u64;
            for _ in 0..BATCH {
                let id = gix_hash::oid::from_bytes_unchecked(&wanted[k & mask]);
                k += 1;
                let off = gix
                    .lookup(black_box(id))
                    .map_or(0, |i| gix.pack_offset_at_index(i));
                sum = sum.wrapping_add(off);
            }
            sum
        })
    });
    g.finish();
}

/// A repository made with `git fast-import`: `commits` commits, each editing two of 16 text
/// files of ~20 KB (delta chains), one random blob every 8 commits, then `git repack -adf`.
fn bench_repo(dir: &Path, commits: usize) {
    let mut rng = StdRng::seed_from_u64(42);
    git(dir, &["init", "-q", "."], None);
    let mut files: Vec<Vec<String>> = (0..16)
        .map(|f| {
            (0..500)
                .map(|k| format!("file {f} line {k}: {:x}\n", rng.random::<u64>()))
                .collect()
        })
        .collect();
    let mut s = Vec::new();
    for c in 0..commits {
        writeln!(s, "commit refs/heads/main").unwrap();
        writeln!(
            s,
            "committer smmap <smmap@example.com> {} +0000",
            1_700_000_000 + c
        )
        .unwrap();
        let msg = format!("commit {c}\n");
        write!(s, "data {}\n{msg}", msg.len()).unwrap();
        for _ in 0..2 {
            let f = rng.random_range(0..files.len());
            for _ in 0..4 {
                let k = rng.random_range(0..files[f].len());
                files[f][k] = format!("edited {c} {:x}\n", rng.random::<u64>());
            }
            let body = files[f].concat();
            writeln!(s, "M 100644 inline src/file{f}.txt").unwrap();
            write!(s, "data {}\n{body}\n", body.len()).unwrap();
        }
        if c % 8 == 0 {
            let mut blob = vec![0u8; rng.random_range(100..50_000)];
            rng.fill_bytes(&mut blob);
            writeln!(s, "M 100644 inline assets/blob{c}.bin").unwrap();
            writeln!(s, "data {}", blob.len()).unwrap();
            s.extend_from_slice(&blob);
            s.push(b'\n');
        }
    }
    git(dir, &["fast-import", "--quiet"], Some(&s));
    git(dir, &["repack", "-a", "-d", "-f", "-q"], None);
}

fn pack_of(repo: &Path) -> PathBuf {
    let dir = repo.join(".git/objects/pack");
    let dir = if dir.exists() {
        dir
    } else {
        repo.join("objects/pack")
    };
    std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "idx"))
        .expect("a pack")
}

fn read_all(c: &mut Criterion) {
    let has_git = Command::new("git")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !has_git {
        eprintln!("read_all: git is not available: skipped");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let repo = match std::env::var_os("PACKDUMP_BENCH_REPO") {
        Some(r) => PathBuf::from(r),
        None => {
            bench_repo(tmp.path(), 3000);
            tmp.path().to_path_buf()
        }
    };
    let idx = pack_of(&repo);
    let man = SlidingWindowMapManager::new();
    let mut ids: Vec<ObjectId> = {
        let mut p = Pack::open(&man, &idx).unwrap();
        (0..p.index().len())
            .map(|i| p.index().id_at(i).unwrap())
            .collect()
    };
    ids.sort_unstable();
    let bytes = std::fs::metadata(idx.with_extension("pack")).unwrap().len();
    eprintln!(
        "read_all: {} objects, a pack of {bytes} bytes ({})",
        ids.len(),
        idx.display()
    );

    // Same output as git's.
    let mut ours = Vec::new();
    read_every(&man, &idx, &ids, &mut ours);
    let theirs = git(&repo, &["cat-file", "--batch-all-objects", "--batch"], None);
    assert!(ours == theirs, "packdump and git print the same");
    drop((ours, theirs));

    let mut g = c.benchmark_group("read_all");
    g.throughput(Throughput::Elements(ids.len() as u64));
    g.sample_size(10);
    g.warm_up_time(Duration::from_secs(1));
    g.measurement_time(Duration::from_secs(8));
    g.bench_function("packdump", |b| {
        b.iter(|| {
            let man = SlidingWindowMapManager::new();
            read_every(&man, &idx, &ids, &mut std::io::sink());
        })
    });
    g.bench_function("git_cat_file", |b| {
        b.iter(|| {
            let st = Command::new("git")
                .current_dir(&repo)
                .args(["cat-file", "--batch-all-objects", "--batch"])
                .env("GIT_CONFIG_NOSYSTEM", "1")
                .stdout(Stdio::null())
                .status()
                .unwrap();
            assert!(st.success());
        })
    });
    g.finish();
}

/// Opens the pack and prints every object of `ids` as `git cat-file --batch` does.
fn read_every(man: &SlidingWindowMapManager, idx: &Path, ids: &[ObjectId], out: &mut dyn Write) {
    let mut pack = Pack::open(man, idx).unwrap();
    let mut w = std::io::BufWriter::with_capacity(1 << 16, out);
    for id in ids {
        let o = pack.object(id).unwrap().unwrap();
        w.write_all(&id.hex()).unwrap();
        writeln!(w, " {} {}", o.kind.name(), o.data.len()).unwrap();
        w.write_all(&o.data).unwrap();
        w.write_all(b"\n").unwrap();
    }
    w.flush().unwrap();
}

criterion_group!(benches, lookups, read_all);
criterion_main!(benches);
