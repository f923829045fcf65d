//! `RecordTable`: a sorted array of object ids larger than a window, compared with a slice;
//! and a real git pack index (version 2) read with the derive and looked up through its
//! fanout table, checked against `git show-index`.

mod common;

use std::cmp::Ordering;
use std::path::{Path, PathBuf};
use std::process::Command;

use rand::{Rng, RngExt};
use smmap::byteorder::{BigEndian, U32, U64};
use smmap::{Error, MappedRecord, RecordTable, SlidingWindowMapManager, StaticWindowMapManager};

use common::rng;

#[derive(MappedRecord, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(transparent)]
struct ObjectId([u8; 20]);

/// 4 KiB pages per allocation granule (16 on Windows, whose granule is 64 KiB).
fn k() -> usize {
    common::scale()
}

fn tiny() -> SlidingWindowMapManager {
    SlidingWindowMapManager::builder()
        .window_size(1)
        .max_memory_size(4 * 8192 * k())
        .build()
        .unwrap()
}

/// `n` sorted distinct random ids after a random header of `base` bytes; returns the path.
fn id_file(dir: &Path, n: usize, base: usize, seed: u64) -> (PathBuf, Vec<[u8; 20]>) {
    let mut r = rng(seed);
    let mut ids: Vec<[u8; 20]> = (0..n)
        .map(|_| {
            let mut id = [0u8; 20];
            r.fill_bytes(&mut id);
            id
        })
        .collect();
    ids.sort();
    ids.dedup();
    let mut bytes = vec![0u8; base];
    r.fill_bytes(&mut bytes);
    bytes.extend(ids.iter().flatten());
    bytes.extend_from_slice(b"trailer");
    let path = dir.join(format!("ids{seed}"));
    std::fs::write(&path, &bytes).unwrap();
    (path, ids)
}

#[test]
fn sorted_ids_get_search_iter() {
    let dir = tempfile::tempdir().unwrap();
    let (path, ids) = id_file(dir.path(), 50_000 * k(), 1032, 1);
    let n = ids.len() as u64;
    let man = tiny();
    let mut t = RecordTable::<ObjectId>::new(man.make_cursor(&path).unwrap(), 1032, n).unwrap();
    assert!(n * 20 > 100 * man.window_size() as u64);
    assert_eq!((t.len(), t.is_empty(), t.base()), (n, false, 1032));

    // get: in order, backwards and at random.
    for i in 0..n {
        assert_eq!(t.get(i).unwrap().get_0(), &ids[i as usize]);
    }
    for i in (0..n).rev().step_by(7) {
        assert_eq!(t.get(i).unwrap().get_0(), &ids[i as usize]);
    }
    let mut r = rng(2);
    for _ in 0..5000 {
        let i = r.random_range(0..n);
        assert_eq!(t.get(i).unwrap().get_0(), &ids[i as usize]);
    }

    // binary_search_by: present ids, absent ids, extremes.
    for _ in 0..3000 {
        let want = if r.random_bool(0.5) {
            ids[r.random_range(0..ids.len())]
        } else {
            let mut id = [0u8; 20];
            r.fill_bytes(&mut id);
            id
        };
        let got = t.binary_search_by(|id| id.get_0().cmp(&want)).unwrap();
        let expect = ids.binary_search(&want);
        assert_eq!(got, expect.map(|i| i as u64).map_err(|i| i as u64));
    }
    for want in [[0u8; 20], [0xff; 20], ids[0], ids[ids.len() - 1]] {
        let got = t.binary_search_by(|id| id.get_0().cmp(&want)).unwrap();
        let expect = ids.binary_search(&want);
        assert_eq!(got, expect.map(|i| i as u64).map_err(|i| i as u64));
    }

    // Ranges: the same as searching the sub-slice, with whole-table indices.
    for _ in 0..500 {
        let a = r.random_range(0..=n);
        let b = r.random_range(a..=n);
        let want = ids[r.random_range(0..ids.len())];
        let got = t
            .binary_search_range_by(a..b, |id| id.get_0().cmp(&want))
            .unwrap();
        let expect = ids[a as usize..b as usize].binary_search(&want);
        assert_eq!(got, expect.map(|i| i as u64 + a).map_err(|i| i as u64 + a));
    }
    #[allow(clippy::reversed_empty_ranges)]
    let bad = t.binary_search_range_by(5..4, |_| Ordering::Equal);
    assert!(matches!(bad, Err(Error::InvalidArgument(_))));
    assert!(
        t.binary_search_range_by(0..n + 1, |_| Ordering::Less)
            .is_err()
    );

    // iter and chunk_at.
    let all: Vec<[u8; 20]> = t.iter().map(|id| id.unwrap().0).collect();
    assert_eq!(all, ids);
    let (mut i, mut chunks) = (0, 0);
    while i < n {
        let chunk = t.chunk_at(i).unwrap();
        assert!(!chunk.is_empty() && chunk.len() * 20 <= man.window_size());
        for (k, id) in chunk.iter().enumerate() {
            assert_eq!(id.get_0(), &ids[i as usize + k]);
        }
        i += chunk.len() as u64;
        chunks += 1;
    }
    assert_eq!(i, n);
    assert!(chunks > 100);
    assert!(man.mapped_memory_size() <= 4 * 8192 * k());

    // Errors.
    match t.get(n) {
        Err(Error::OutOfBounds(e)) => {
            let smmap::error::OutOfBounds {
                path: p,
                offset,
                len,
                ..
            } = *e;
            assert_eq!(p.path(), Some(path.as_path()));
            assert_eq!((offset, len), (1032 + n * 20, 20));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        t.get(u64::MAX),
        Err(Error::OutOfBounds(d)) if d.offset == u64::MAX
    ));
    assert!(t.chunk_at(n).is_err());
    // The table is usable after errors.
    assert_eq!(t.get(3).unwrap().get_0(), &ids[3]);
    let c = t.into_cursor();
    assert!(c.is_valid());
}

#[test]
fn construction_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (path, ids) = id_file(dir.path(), 1000, 10, 3);
    let size = 10 + ids.len() as u64 * 20 + 7;
    let man = SlidingWindowMapManager::new();
    let c = || man.make_cursor(&path).unwrap();
    let max = (size - 10) / 20;
    assert!(RecordTable::<ObjectId>::new(c(), 10, max).is_ok());
    assert!(
        RecordTable::<ObjectId>::new(c(), size, 0)
            .unwrap()
            .is_empty()
    );
    for (base, len) in [
        (10, max + 1),
        (size - 19, 1),
        (size + 1, 0),
        (0, u64::MAX / 20 + 1),
        (u64::MAX, 1),
        (u64::MAX - 10, 0),
    ] {
        match RecordTable::<ObjectId>::new(c(), base, len) {
            Err(Error::OutOfBounds(e)) => {
                let smmap::error::OutOfBounds {
                    path: p, offset, ..
                } = *e;
                assert_eq!(offset, base);
                assert_eq!(p.path(), Some(path.as_path()));
            }
            other => panic!("{base} {len}: {other:?}"),
        }
    }
    assert!(matches!(
        RecordTable::<[u8; 0]>::new(c(), 0, 5),
        Err(Error::InvalidArgument(_))
    ));
    // An empty table: every index is out of bounds.
    let mut e = RecordTable::<ObjectId>::new(c(), 0, 0).unwrap();
    assert!(e.get(0).is_err());
    assert_eq!(e.binary_search_by(|_| Ordering::Less).unwrap(), Err(0));
    assert_eq!(e.iter().count(), 0);
}

#[derive(MappedRecord, Clone, Copy, Debug)]
#[repr(C)]
struct Tagged {
    #[mapped(magic = b"ID")]
    tag: [u8; 2],
    n: U32<BigEndian>,
}

#[test]
fn records_are_checked() {
    let dir = tempfile::tempdir().unwrap();
    let mut bytes = Vec::new();
    for i in 0..10_000u32 {
        bytes.extend_from_slice(if i == 6000 { b"XX" } else { b"ID" });
        bytes.extend_from_slice(&i.to_be_bytes());
    }
    let path = dir.path().join("tagged");
    std::fs::write(&path, &bytes).unwrap();
    let man = tiny();
    let mut t = RecordTable::<Tagged>::new(man.make_cursor(&path).unwrap(), 0, 10_000).unwrap();
    assert_eq!(t.get(5999).unwrap().n(), 5999);
    assert!(matches!(
        t.get(6000),
        Err(Error::BadMagic(d)) if d.offset == 36_000
    ));
    assert_eq!(t.get(6001).unwrap().n(), 6001);
    let items: Vec<_> = t.iter().collect();
    assert_eq!(items.iter().filter(|r| r.is_err()).count(), 1);
    assert!(items[6000].is_err());
    // chunk_at stops before the bad record, then reports it.
    let mut i = 5000;
    loop {
        match t.chunk_at(i) {
            Ok(chunk) => i += chunk.len() as u64,
            Err(e) => {
                assert_eq!(i, 6000, "{e}");
                break;
            }
        }
    }
    assert_eq!(t.chunk_at(6001).unwrap()[0].n(), 6001);
}

// ---- a real git pack index ------------------------------------------------------------------

/// The header of a pack index, version 2.
#[derive(MappedRecord, Clone, Copy, Debug)]
#[repr(C)]
struct IdxHeader {
    #[mapped(magic = b"\xfftOc")]
    magic: [u8; 4],
    version: U32<BigEndian>,
}

/// The fanout table: `fanout[b]` = number of objects whose first byte is at most `b`.
type Fanout = [U32<BigEndian>; 256];

fn git(dir: &Path, args: &[&str], input: Option<&[u8]>) -> Option<Vec<u8>> {
    use std::io::Write;
    let mut cmd = Command::new("git");
    cmd.current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().ok()?;
    let mut stdin = child.stdin.take()?;
    if let Some(input) = input {
        stdin.write_all(input).ok()?;
    }
    drop(stdin);
    let out = child.wait_with_output().ok()?;
    out.status.success().then_some(out.stdout)
}

/// Makes a repository with a few hundred random blobs in one pack; returns the `.idx` path.
fn make_pack(dir: &Path) -> Option<PathBuf> {
    git(dir, &["init", "-q", "."], None)?;
    let mut r = rng(7);
    let mut blobs = Vec::new();
    for i in 0..400 {
        let len = r.random_range(1..3000);
        let mut blob = vec![0u8; len];
        r.fill_bytes(&mut blob);
        blob.extend_from_slice(format!("blob {i}").as_bytes());
        let name = format!("b{i}");
        std::fs::write(dir.join(&name), &blob).ok()?;
        blobs.push(name);
    }
    let mut args = vec!["hash-object", "-w"];
    args.extend(blobs.iter().map(String::as_str));
    git(dir, &args, None)?;
    // `repack -a` packs what is reachable: commit the blobs.
    git(dir, &["add", "."], None)?;
    git(
        dir,
        &[
            "-c",
            "user.name=smmap",
            "-c",
            "user.email=smmap@example.com",
            "commit",
            "-q",
            "-m",
            "blobs",
        ],
        None,
    )?;
    git(dir, &["repack", "-a", "-d", "-q"], None)?;
    let packs = dir.join(".git/objects/pack");
    std::fs::read_dir(packs)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|e| e == "idx"))
}

fn hex(id: &[u8]) -> String {
    id.iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn git_pack_index_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let Some(idx) = make_pack(dir.path()) else {
        eprintln!("git is not available: skipped");
        return;
    };
    // git's own view: "<offset> <id> (<crc>)" per object.
    let shown = git(
        dir.path(),
        &["show-index"],
        Some(&std::fs::read(&idx).unwrap()),
    )
    .expect("git show-index");
    let mut expected: Vec<(String, u64)> = String::from_utf8(shown)
        .unwrap()
        .lines()
        .map(|l| {
            let mut f = l.split_whitespace();
            let ofs = f.next().unwrap().parse().unwrap();
            (f.next().unwrap().to_owned(), ofs)
        })
        .collect();
    expected.sort();
    assert!(expected.len() >= 400);

    for man_kind in ["sliding", "static"] {
        let cursor = || match man_kind {
            "sliding" => tiny().make_cursor(&idx).unwrap(),
            _ => StaticWindowMapManager::new().make_cursor(&idx).unwrap(),
        };
        let mut c = cursor();
        let header = *c.record::<IdxHeader>(0).unwrap();
        assert_eq!(header.version(), 2);
        let fanout = *c.record::<Fanout>(8).unwrap();
        let fan = |b: usize| u64::from(fanout[b].get());
        let n = fan(255);
        assert_eq!(n, expected.len() as u64);
        let ids_at = 8 + Fanout::SIZE as u64;
        let mut ids = RecordTable::<ObjectId>::new(c, ids_at, n).unwrap();
        let offsets_at = ids_at + n * (20 + 4);
        let mut offsets = RecordTable::<U32<BigEndian>>::new(cursor(), offsets_at, n).unwrap();
        // No 64-bit offsets in a small pack: the large-offset table is empty.
        let large = RecordTable::<U64<BigEndian>>::new(cursor(), offsets_at + 4 * n, 0).unwrap();
        assert!(large.is_empty());

        for (k, (hex_id, ofs)) in expected.iter().enumerate() {
            let id: [u8; 20] = (0..20)
                .map(|i| u8::from_str_radix(&hex_id[2 * i..2 * i + 2], 16).unwrap())
                .collect::<Vec<_>>()
                .try_into()
                .unwrap();
            let b = id[0] as usize;
            let lo = if b == 0 { 0 } else { fan(b - 1) };
            let found = ids
                .binary_search_range_by(lo..fan(b), |x| x.get_0().cmp(&id))
                .unwrap();
            assert_eq!(found, Ok(k as u64), "{hex_id}");
            assert_eq!(hex(ids.get(k as u64).unwrap().get_0()), *hex_id);
            let o = offsets.get(k as u64).unwrap().get();
            assert_eq!(o & 0x8000_0000, 0, "small pack: no 64-bit offsets");
            assert_eq!(u64::from(o), *ofs, "{hex_id}");
        }
        // An absent id.
        let absent = [0x5au8; 20];
        let lo = fan(0x59);
        let found = ids
            .binary_search_range_by(lo..fan(0x5a), |x| x.get_0().cmp(&absent))
            .unwrap();
        assert!(found.is_err());
    }

    // A corrupted magic is reported with its offset.
    let mut bytes = std::fs::read(&idx).unwrap();
    bytes[1] = b'X';
    let bad = dir.path().join("bad.idx");
    std::fs::write(&bad, &bytes).unwrap();
    let mut c = tiny().make_cursor(&bad).unwrap();
    assert!(matches!(
        c.record::<IdxHeader>(0),
        Err(Error::BadMagic(d)) if d.offset == 0
    ));
}
