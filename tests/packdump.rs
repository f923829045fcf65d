//! The packdump example against git itself: `verify` against `git verify-pack -v` and `cat`
//! against `git cat-file --batch`, byte for byte, on packs git made (default, 64-bit offsets,
//! REF_DELTA, a version-1 index, windows of one unit and a budget below one window); and bad
//! input (truncated, inconsistent or corrupt indexes and packs) giving clear errors.

mod pack_util;
#[allow(dead_code)]
#[path = "../examples/packdump/mod.rs"]
mod packdump;

use std::io::Write;
use std::path::{Path, PathBuf};

use flate2::Compression;
use flate2::write::ZlibEncoder;
use rand::{RngExt, SeedableRng, rngs::StdRng};
use sha1::{Digest, Sha1};
use smmap::SlidingWindowMapManager;

use pack_util::{all_ids, assert_same, git, git_available, make_repo};
use packdump::cli::{self, Options};
use packdump::pack::{EntryKind, Kind, Pack};
use packdump::{Error, ObjectId};

fn opts() -> Options {
    Options::default()
}

fn default_manager() -> SlidingWindowMapManager {
    SlidingWindowMapManager::new()
}

/// Our `verify` output (or error).
fn our_verify(man: &SlidingWindowMapManager, idx: &Path) -> Result<Vec<u8>, Error> {
    let mut out = Vec::new();
    cli::verify(man, &opts(), idx, &mut out)?;
    Ok(out)
}

/// Ids of every object, plus two that are absent and a line that is no id.
fn cat_input(repo: &Path) -> Vec<u8> {
    let mut input = all_ids(repo).join("\n");
    input.push_str("\n0000000000000000000000000000000000000000\nnot-an-id\n");
    input.push_str("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF\n");
    input.into_bytes()
}

fn our_cat(man: &SlidingWindowMapManager, idx: &Path, input: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    cli::cat(
        man,
        &opts(),
        &[idx.to_path_buf()],
        &mut &input[..],
        &mut out,
    )
    .unwrap();
    out
}

/// `verify` and `cat` of every object compared with git; `lookup` of every object compared
/// with `git show-index` and `git cat-file --batch-check`.
fn check_against_git(man: &SlidingWindowMapManager, repo: &Path, idx: &Path, what: &str) {
    let idx_arg = idx.to_str().unwrap();
    let theirs = git(repo, &["verify-pack", "-v", idx_arg], None);
    let ours = our_verify(man, idx).unwrap();
    assert_same(&ours, &theirs, &format!("{what}: verify"));

    let input = cat_input(repo);
    let theirs = git(repo, &["cat-file", "--batch"], Some(&input));
    let ours = our_cat(man, idx, &input);
    assert_same(&ours, &theirs, &format!("{what}: cat"));

    // lookup: "<id> <offset> <type> <size>"
    let shown = git(repo, &["show-index"], Some(&std::fs::read(idx).unwrap()));
    let shown = String::from_utf8(shown).unwrap();
    let ids: Vec<String> = shown
        .lines()
        .map(|l| l.split_whitespace().nth(1).unwrap().to_owned())
        .collect();
    let check = git(
        repo,
        &[
            "cat-file",
            "--batch-check=%(objectname) %(objecttype) %(objectsize)",
        ],
        Some(ids.join("\n").as_bytes()),
    );
    let mut expected = String::new();
    for (l, c) in shown.lines().zip(String::from_utf8(check).unwrap().lines()) {
        let ofs = l.split_whitespace().next().unwrap();
        let mut c = c.split_whitespace();
        let id = c.next().unwrap();
        expected += &format!("{id} {ofs} {} {}\n", c.next().unwrap(), c.next().unwrap());
    }
    let mut ours = Vec::new();
    cli::lookup(man, &opts(), idx, &ids, &mut ours).unwrap();
    assert_same(&ours, expected.as_bytes(), &format!("{what}: lookup"));
}

/// How many entries of each kind the pack has: (whole, OFS_DELTA, REF_DELTA), and the index's
/// version.
fn census(man: &SlidingWindowMapManager, idx: &Path) -> (usize, usize, usize, u32) {
    let mut pack = Pack::open(man, idx).unwrap();
    let n = u64::from(pack.len());
    let mut counts = (0, 0, 0, pack.index().version());
    for i in 0..n {
        let ofs = pack.index().offset_at(i).unwrap();
        match pack.entry_header(ofs).unwrap().kind {
            EntryKind::Base(_) => counts.0 += 1,
            EntryKind::OfsDelta(_) => counts.1 += 1,
            EntryKind::RefDelta(_) => counts.2 += 1,
        }
    }
    counts
}

#[test]
fn default_pack_matches_git() {
    if !git_available("default_pack_matches_git") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let idx = make_repo(dir.path(), 1, 40, 20, &[]);
    let man = default_manager();
    let (whole, ofs, refs, version) = census(&man, &idx);
    assert!(ofs >= 20, "delta chains expected: {ofs} OFS_DELTA entries");
    assert!(whole >= 40 && refs == 0 && version == 2);
    check_against_git(&man, dir.path(), &idx, "default pack");
    // Deltas of depth > 1 are in the output.
    let out = String::from_utf8(our_verify(&man, &idx).unwrap()).unwrap();
    assert!(out.lines().any(|l| l.starts_with("chain length = 3")));
}

#[test]
fn large_offsets_match_git() {
    if !git_available("large_offsets_match_git") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let idx = make_repo(repo, 2, 30, 20, &[]);
    // Every offset above 0x100 goes to the 64-bit table.
    let pack = dir.path().join("t.pack");
    std::fs::copy(idx.with_extension("pack"), &pack).unwrap();
    git(
        repo,
        &[
            "index-pack",
            "--index-version=2,0x100",
            "-o",
            "t.idx",
            "t.pack",
        ],
        None,
    );
    let t_idx = repo.join("t.idx");
    let n = std::fs::read(&t_idx).unwrap().len() as u64;
    let objects = u64::from(Pack::open(&default_manager(), &t_idx).unwrap().len());
    let min = 8 + 1024 + 28 * objects + 40;
    assert!(
        (n - min) / 8 + 2 >= objects,
        "nearly every offset is a 64-bit one"
    );
    check_against_git(&default_manager(), repo, &t_idx, "64-bit offsets");
}

#[test]
fn ref_deltas_match_git() {
    if !git_available("ref_deltas_match_git") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let idx = make_repo(
        dir.path(),
        3,
        30,
        10,
        &["-c", "repack.useDeltaBaseOffset=false"],
    );
    let man = default_manager();
    let (_, ofs, refs, _) = census(&man, &idx);
    assert!(ofs == 0 && refs >= 20, "REF_DELTA entries: {refs}");
    check_against_git(&man, dir.path(), &idx, "REF_DELTA");
}

#[test]
fn index_v1_matches_git() {
    if !git_available("index_v1_matches_git") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let idx = make_repo(dir.path(), 4, 30, 10, &["-c", "pack.indexVersion=1"]);
    let man = default_manager();
    assert_eq!(census(&man, &idx).3, 1);
    check_against_git(&man, dir.path(), &idx, "index v1");
}

/// git's t5301: windows of one unit, and a budget smaller than one window (every new window
/// must evict); our output must not change, and git's under the same settings neither.
#[test]
fn tiny_windows_match_git() {
    if !git_available("tiny_windows_match_git") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    let idx = make_repo(repo, 5, 30, 30, &[]);
    let tiny = SlidingWindowMapManager::builder()
        .window_size(1)
        .build()
        .unwrap();
    assert_eq!(tiny.window_size(), 2 * smmap::allocation_granularity());
    let pack_len = std::fs::metadata(idx.with_extension("pack")).unwrap().len();
    assert!(pack_len > 20 * tiny.window_size() as u64, "{pack_len}");
    check_against_git(&tiny, repo, &idx, "one-unit windows");

    let starved = SlidingWindowMapManager::builder()
        .window_size(1)
        .max_memory_size(512)
        .build()
        .unwrap();
    let idx_arg = idx.to_str().unwrap();
    let theirs = git(
        repo,
        &[
            "-c",
            "core.packedGitWindowSize=512",
            "-c",
            "core.packedGitLimit=512",
            "verify-pack",
            "-v",
            idx_arg,
        ],
        None,
    );
    assert_same(
        &our_verify(&starved, &idx).unwrap(),
        &theirs,
        "budget below a window: verify",
    );
    let input = cat_input(repo);
    let theirs = git(repo, &["cat-file", "--batch"], Some(&input));
    assert_same(
        &our_cat(&starved, &idx, &input),
        &theirs,
        "budget below a window: cat",
    );
    let st = starved.stats();
    assert!(st.evictions > 100, "{st:?}");
    assert!(
        st.peak_mapped_bytes <= 8 * starved.window_size() as u64,
        "{st:?}"
    );
}

/// The command line, as the program runs it.
#[test]
fn command_line() {
    if !git_available("command_line") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let idx = make_repo(dir.path(), 6, 8, 4, &[]);
    let idx_arg = idx.to_str().unwrap().to_owned();
    let run = |args: &[&str], input: &[u8]| {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let mut out = Vec::new();
        cli::run(&args, &mut &input[..], &mut out).map(|()| out)
    };
    let theirs = git(dir.path(), &["verify-pack", "-v", &idx_arg], None);
    let ours = run(
        &[
            "--window-size",
            "1",
            "--memory-limit",
            "512",
            "verify",
            &idx_arg,
        ],
        b"",
    )
    .unwrap();
    assert_same(&ours, &theirs, "verify on the command line");
    let input = cat_input(dir.path());
    let theirs = git(dir.path(), &["cat-file", "--batch"], Some(&input));
    assert_same(&run(&["cat", &idx_arg], &input).unwrap(), &theirs, "cat");
    let out = run(&["bench", &idx_arg, "200"], b"").unwrap();
    let out = String::from_utf8(out).unwrap();
    assert!(out.contains("lookups by id: 200 in"), "{out}");
    assert!(out.contains("object reads:  200 in"), "{out}");
    assert!(matches!(run(&["frobnicate"], b""), Err(Error::Usage(_))));
    assert!(matches!(
        run(&["lookup", &idx_arg, "123"], b""),
        Err(Error::Usage(_))
    ));
    assert!(matches!(
        run(&["--window-size", "x", "verify", &idx_arg], b""),
        Err(Error::Usage(_))
    ));
}

// ---- bad input ----------------------------------------------------------------------------

/// One entry of a hand-made pack: its id in the index and its bytes (header and data).
struct Raw {
    id: ObjectId,
    bytes: Vec<u8>,
}

fn zlib(data: &[u8]) -> Vec<u8> {
    let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// The type-and-size header of an entry.
fn entry_head(ty: u8, mut size: u64) -> Vec<u8> {
    let mut c = (ty << 4) | (size & 15) as u8;
    size >>= 4;
    let mut out = Vec::new();
    while size > 0 {
        out.push(c | 0x80);
        c = (size & 0x7f) as u8;
        size >>= 7;
    }
    out.push(c);
    out
}

/// The OFS_DELTA distance encoding.
fn ofs_distance(mut d: u64) -> Vec<u8> {
    let mut out = vec![(d & 0x7f) as u8];
    d >>= 7;
    while d > 0 {
        d -= 1;
        out.push(0x80 | (d & 0x7f) as u8);
        d >>= 7;
    }
    out.reverse();
    out
}

fn varint(mut v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let c = (v & 0x7f) as u8;
        v >>= 7;
        if v == 0 {
            out.push(c);
            return out;
        }
        out.push(c | 0x80);
    }
}

fn git_id(kind: &str, data: &[u8]) -> ObjectId {
    let mut h = Sha1::new();
    h.update(format!("{kind} {}\0", data.len()).as_bytes());
    h.update(data);
    ObjectId(h.finalize().into())
}

/// A whole blob entry.
fn blob(data: &[u8]) -> Raw {
    let mut bytes = entry_head(3, data.len() as u64);
    bytes.extend(zlib(data));
    Raw {
        id: git_id("blob", data),
        bytes,
    }
}

/// A REF_DELTA entry against `base` with `delta` as its data, listed as `id`.
fn ref_delta(id: ObjectId, base: ObjectId, delta: &[u8]) -> Raw {
    let mut bytes = entry_head(7, delta.len() as u64);
    bytes.extend(base.0);
    bytes.extend(zlib(delta));
    Raw { id, bytes }
}

/// Writes `name.pack` and `name.idx` (version 2, offsets above `large_above` in the 64-bit
/// table) for the entries, with correct CRCs and checksums; returns the `.idx` path.
fn write_pack(dir: &Path, name: &str, entries: &[Raw], large_above: u64) -> PathBuf {
    let mut pack = b"PACK".to_vec();
    pack.extend(2u32.to_be_bytes());
    pack.extend((entries.len() as u32).to_be_bytes());
    let mut rows = Vec::new();
    for e in entries {
        rows.push((e.id, pack.len() as u64, crc32fast::hash(&e.bytes)));
        pack.extend(&e.bytes);
    }
    let pack_sum: [u8; 20] = Sha1::digest(&pack).into();
    pack.extend(pack_sum);
    rows.sort();
    let mut idx = b"\xfftOc".to_vec();
    idx.extend(2u32.to_be_bytes());
    for b in 0..256 {
        let n = rows.iter().filter(|r| usize::from(r.0.0[0]) <= b).count() as u32;
        idx.extend(n.to_be_bytes());
    }
    for r in &rows {
        idx.extend(r.0.0);
    }
    for r in &rows {
        idx.extend(r.2.to_be_bytes());
    }
    let mut large = Vec::new();
    for r in &rows {
        if r.1 > large_above {
            idx.extend((0x8000_0000u32 | large.len() as u32).to_be_bytes());
            large.push(r.1);
        } else {
            idx.extend((r.1 as u32).to_be_bytes());
        }
    }
    for l in large {
        idx.extend(l.to_be_bytes());
    }
    idx.extend(pack_sum);
    let idx_sum: [u8; 20] = Sha1::digest(&idx).into();
    idx.extend(idx_sum);
    std::fs::write(dir.join(format!("{name}.pack")), pack).unwrap();
    let path = dir.join(format!("{name}.idx"));
    std::fs::write(&path, idx).unwrap();
    path
}

/// Rewrites a file's trailing SHA-1 over the rest (after an edit), and for a pack the copy in
/// its index.
fn reseal(path: &Path) {
    let mut b = std::fs::read(path).unwrap();
    let n = b.len() - 20;
    let sum: [u8; 20] = Sha1::digest(&b[..n]).into();
    b[n..].copy_from_slice(&sum);
    std::fs::write(path, &b).unwrap();
    if path.extension().is_some_and(|e| e == "pack") {
        let idx = path.with_extension("idx");
        let mut i = std::fs::read(&idx).unwrap();
        let m = i.len() - 40;
        i[m..m + 20].copy_from_slice(&sum);
        std::fs::write(&idx, &i).unwrap();
        reseal(&idx);
    }
}

/// Reads every object of the pack (open, verify, each object by id); the first error.
fn read_all(idx: &Path) -> Result<(), Error> {
    let man = SlidingWindowMapManager::builder()
        .window_size(1)
        .build()
        .unwrap();
    our_verify(&man, idx)?;
    let mut pack = Pack::open(&man, idx)?;
    for i in 0..pack.index().len() {
        let id = pack.index().id_at(i)?;
        pack.object(&id)?;
        let ofs = pack.index().offset_at(i)?;
        pack.info_at(ofs)?;
    }
    Ok(())
}

fn err_text(r: Result<impl std::fmt::Debug, Error>) -> String {
    match r {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e.to_string(),
    }
}

fn sample_entries() -> (Vec<Raw>, Vec<u8>) {
    let mut rng = StdRng::seed_from_u64(11);
    let base: Vec<u8> = (0..3000).map(|_| rng.random_range(b'a'..=b'z')).collect();
    let mut target = base[..1000].to_vec();
    target.extend(b"inserted");
    target.extend(&base[2000..]);
    let mut d = varint(base.len() as u64);
    d.extend(varint(target.len() as u64));
    d.extend([0x80 | 0x10 | 0x20, 0xe8, 0x03]); // copy 1000 bytes from 0
    d.push(8);
    d.extend(b"inserted");
    d.extend([0x80 | 0x03 | 0x10 | 0x20, 0xd0, 0x07, 0xe8, 0x03]); // 1000 from 2000
    let b = blob(&base);
    let delta = ref_delta(git_id("blob", &target), b.id, &d);
    (vec![b, blob(b"second"), delta, blob(b"")], target)
}

#[test]
fn delta_copy_and_insert() {
    use packdump::delta::apply;
    let base = b"0123456789";
    // base 10, result 7: copy 4 bytes from 2, insert "ab", copy 1 from 9.
    let delta = [10, 7, 0x91, 2, 4, 2, b'a', b'b', 0x91, 9, 1];
    assert_eq!(apply(base, &delta).unwrap(), b"2345ab9");
    assert!(apply(base, &[10, 4, 0x91, 8, 4]).is_err()); // past the base
    assert!(apply(base, &[10, 2, 5, b'a']).is_err()); // past the delta
    assert!(apply(base, &[9, 1, 1, b'a']).is_err()); // wrong base size
    assert!(apply(base, &[10, 1, 0]).is_err()); // reserved
    // Size 0 in a copy means 0x10000.
    let big: Vec<u8> = (0..0x10000u32).map(|i| (i % 251) as u8).collect();
    let mut d = varint(0x10000);
    d.extend(varint(0x10000));
    d.push(0x80);
    assert_eq!(apply(&big, &d).unwrap(), big);
}

#[test]
fn hand_made_pack_reads() {
    let dir = tempfile::tempdir().unwrap();
    let (entries, target) = sample_entries();
    let idx = write_pack(dir.path(), "good", &entries, u64::MAX);
    read_all(&idx).unwrap();
    let man = default_manager();
    let mut pack = Pack::open(&man, &idx).unwrap();
    let o = pack.object(&entries[2].id).unwrap().unwrap();
    assert_eq!((o.kind, &**o.data), (Kind::Blob, &target[..]));
    assert_eq!(
        pack.object(&git_id("blob", b""))
            .unwrap()
            .unwrap()
            .data
            .len(),
        0
    );
    assert!(pack.object(&ObjectId([7; 20])).unwrap().is_none());
    // The same with every offset but the first in the 64-bit table (git's readers accept at
    // most N - 1 of them: the first entry is at offset 12).
    let idx = write_pack(dir.path(), "large", &entries, 12);
    read_all(&idx).unwrap();
    let mut pack = Pack::open(&man, &idx).unwrap();
    assert_eq!(*pack.object(&entries[2].id).unwrap().unwrap().data, target);
}

/// The OFS_DELTA distances of the format's documentation, through an entry header.
#[test]
fn ofs_delta_distances() {
    for (d, enc) in [
        (1u64, &[0x01u8][..]),
        (127, &[0x7f]),
        (128, &[0x80, 0x00]),
        (16511, &[0xff, 0x7f]),
        (16512, &[0x80, 0x80, 0x00]),
        (10842, &[0xd3, 0x5a]),
    ] {
        assert_eq!(ofs_distance(d), enc, "{d}");
    }
    let dir = tempfile::tempdir().unwrap();
    let base = blob(&[b'x'; 20_000]);
    let mut delta_data = varint(20_000);
    delta_data.extend(varint(3));
    delta_data.extend([0x80 | 0x10, 3]); // copy 3 bytes from 0
    let mut entries = vec![base];
    // Padding blobs so that the distance needs two and three bytes.
    let mut rng = StdRng::seed_from_u64(5);
    for k in 0..3 {
        let noise: Vec<u8> = (0..9000).map(|_| rng.random::<u8>()).collect();
        entries.push(blob(&noise));
        let at = 12 + entries.iter().map(|e| e.bytes.len()).sum::<usize>() as u64;
        let mut bytes = entry_head(6, delta_data.len() as u64);
        bytes.extend(ofs_distance(at - 12));
        bytes.extend(zlib(&delta_data));
        let id = git_id("blob", b"xxx");
        let mut id = id;
        id.0[19] = k; // three distinct ids for the same content, as listed
        entries.push(Raw { id, bytes });
    }
    let idx = write_pack(dir.path(), "ofs", &entries, u64::MAX);
    let man = default_manager();
    let mut pack = Pack::open(&man, &idx).unwrap();
    for e in entries[2..].iter().step_by(2) {
        let o = pack.object(&e.id).unwrap().unwrap();
        assert_eq!((o.kind, &**o.data), (Kind::Blob, &b"xxx"[..]));
    }
    // The listed ids of the deltas are not their content's: verify names the first.
    let e = err_text(our_verify(&man, &idx));
    assert!(e.contains("SHA-1 mismatch"), "{e}");
}

#[test]
fn truncated_files_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (entries, _) = sample_entries();
    let idx = write_pack(dir.path(), "t", &entries, u64::MAX);
    let idx_bytes = std::fs::read(&idx).unwrap();
    let pack_bytes = std::fs::read(idx.with_extension("pack")).unwrap();
    for cut in [
        0,
        3,
        7,
        100,
        1031,
        1032,
        1100,
        idx_bytes.len() - 41,
        idx_bytes.len() - 1,
    ] {
        std::fs::write(&idx, &idx_bytes[..cut]).unwrap();
        let e = err_text(read_all(&idx));
        assert!(e.contains("t.idx"), "cut at {cut}: {e}");
    }
    std::fs::write(&idx, &idx_bytes).unwrap();
    let pack = idx.with_extension("pack");
    for cut in [0, 5, 11, 12, 40, pack_bytes.len() / 2, pack_bytes.len() - 1] {
        std::fs::write(&pack, &pack_bytes[..cut]).unwrap();
        let e = err_text(read_all(&idx));
        assert!(e.contains("t.pack"), "cut at {cut}: {e}");
    }
    // A pack cut inside its last entry but sealed again: the zlib stream runs past the end.
    let last = pack_bytes.len() - 20 - 3;
    let mut cut = pack_bytes[..last].to_vec();
    cut.extend([0u8; 20]);
    std::fs::write(&pack, &cut).unwrap();
    reseal(&pack);
    let e = err_text(read_all(&idx));
    assert!(e.contains("t.pack") && e.contains("offset"), "{e}");
}

#[test]
fn inconsistent_indexes_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (entries, _) = sample_entries();
    let idx = write_pack(dir.path(), "i", &entries, u64::MAX);
    let good = std::fs::read(&idx).unwrap();
    let n = entries.len();
    let edit = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = good.clone();
        f(&mut b);
        std::fs::write(&idx, &b).unwrap();
        reseal(&idx);
        read_all(&idx)
    };
    // A fanout entry larger than the next.
    let e = err_text(edit(&|b| {
        b[8 + 4 * 10..8 + 4 * 11].copy_from_slice(&999u32.to_be_bytes())
    }));
    assert!(e.contains("fanout") && e.contains("i.idx"), "{e}");
    // An offset past the end of the pack.
    let offsets_at = 8 + 1024 + 24 * n;
    let e = err_text(edit(&|b| {
        b[offsets_at..offsets_at + 4].copy_from_slice(&0x7fff_0000u32.to_be_bytes())
    }));
    assert!(e.contains("outside"), "{e}");
    // A 64-bit offset index past the (empty) table.
    let e = err_text(edit(&|b| {
        b[offsets_at..offsets_at + 4].copy_from_slice(&0x8000_0003u32.to_be_bytes())
    }));
    assert!(e.contains("64-bit offset"), "{e}");
    // Ids out of order.
    let e = err_text(edit(&|b| {
        let ids = 8 + 1024;
        let (a, c) = b[ids..ids + 40].split_at_mut(20);
        a.swap_with_slice(c);
    }));
    assert!(e.contains("i.idx"), "{e}");
    // A CRC that differs: verify names the object.
    let crcs_at = 8 + 1024 + 20 * n;
    let e = err_text(edit(&|b| b[crcs_at] ^= 0x55));
    assert!(e.contains("CRC32 mismatch") && e.contains("object "), "{e}");
    // A bad checksum of the index itself.
    std::fs::write(&idx, {
        let mut b = good.clone();
        let at = b.len() - 1;
        b[at] ^= 1;
        b
    })
    .unwrap();
    let e = err_text(read_all(&idx));
    assert!(e.contains("index checksum mismatch"), "{e}");
    // An index that counts one object more than the pack: drop the last pack entry.
    std::fs::write(&idx, &good).unwrap();
    let fewer = write_pack(dir.path(), "fewer", &entries[..n - 1], u64::MAX);
    std::fs::copy(fewer.with_extension("pack"), idx.with_extension("pack")).unwrap();
    let e = err_text(Pack::open(&default_manager(), &idx).map(|_| ()));
    assert!(
        e.contains("holds 3 objects") && e.contains("lists 4"),
        "{e}"
    );
    // A version we do not know.
    let e = err_text(edit(&|b| b[7] = 3));
    assert!(e.contains("version 3"), "{e}");
}

#[test]
fn bad_deltas_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let base = blob(b"0123456789");
    let d = |ops: &[u8], result: u64| {
        let mut v = varint(10);
        v.extend(varint(result));
        v.extend(ops);
        v
    };
    let case = |name: &str, delta: Raw| {
        let idx = write_pack(dir.path(), name, &[blob(b"0123456789"), delta], u64::MAX);
        err_text(read_all(&idx))
    };
    let id = ObjectId([0xab; 20]);
    // Base missing.
    let e = case(
        "missing",
        ref_delta(id, ObjectId([1; 20]), &d(&[1, b'x'], 1)),
    );
    assert!(e.contains("not in the pack"), "{e}");
    // A copy past the base.
    let e = case("copy", ref_delta(id, base.id, &d(&[0x91, 8, 4], 4)));
    assert!(e.contains("past the base"), "{e}");
    // An insert past the delta.
    let e = case("insert", ref_delta(id, base.id, &d(&[5, b'a'], 5)));
    assert!(e.contains("past the end of the delta"), "{e}");
    // A result shorter than declared.
    let e = case("short", ref_delta(id, base.id, &d(&[1, b'a'], 2)));
    assert!(e.contains("declares 2"), "{e}");
    // A result size no delta of this length can make (no huge allocation).
    let e = case("huge", ref_delta(id, base.id, &d(&[1, b'a'], 1 << 60)));
    assert!(e.contains("at most"), "{e}");
    // A result such a delta could make, but too large to make (1.25 GiB from 20,480 one-byte
    // copies of 64 KiB).
    let big = blob(&vec![7u8; 1 << 16]);
    let mut ops = varint(1 << 16);
    ops.extend(varint(20_480 << 16));
    ops.extend(std::iter::repeat_n(0x80, 20_480));
    let idx = write_pack(
        dir.path(),
        "limit",
        &[blob(&vec![7u8; 1 << 16]), ref_delta(id, big.id, &ops)],
        u64::MAX,
    );
    let e = err_text(read_all(&idx));
    assert!(e.contains("more than the"), "{e}");
    // A cycle of two REF_DELTAs.
    let (a, b) = (ObjectId([0x11; 20]), ObjectId([0x22; 20]));
    let idx = write_pack(
        dir.path(),
        "cycle",
        &[
            ref_delta(a, b, &d(&[1, b'a'], 1)),
            ref_delta(b, a, &d(&[1, b'b'], 1)),
        ],
        u64::MAX,
    );
    let e = err_text(read_all(&idx));
    assert!(e.contains("loops"), "{e}");
    let man = default_manager();
    let mut pack = Pack::open(&man, &idx).unwrap();
    assert!(err_text(pack.object(&a)).contains("loops"));
    let ofs = pack.lookup(&b).unwrap().unwrap();
    assert!(err_text(pack.info_at(ofs)).contains("loops"));
    // A delta against itself.
    let idx = write_pack(
        dir.path(),
        "self",
        &[ref_delta(a, a, &d(&[1, b'a'], 1))],
        u64::MAX,
    );
    assert!(err_text(read_all(&idx)).contains("loops"));
}

#[test]
fn corrupt_entries_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..5000u32).flat_map(|i| (i * 7).to_le_bytes()).collect();
    let one = |name: &str, bytes: Vec<u8>| {
        let raw = Raw {
            id: git_id("blob", &data),
            bytes,
        };
        let idx = write_pack(dir.path(), name, &[raw], u64::MAX);
        err_text(read_all(&idx))
    };
    let z = zlib(&data);
    // A corrupt zlib stream.
    let mut bad = z.clone();
    for b in &mut bad[10..20] {
        *b ^= 0xa5;
    }
    let e = one("zlib", [entry_head(3, data.len() as u64), bad].concat());
    assert!(e.contains("offset 12"), "{e}");
    // A size larger than the stream gives.
    let e = one(
        "bigger",
        [entry_head(3, data.len() as u64 + 1), z.clone()].concat(),
    );
    assert!(e.contains("its header says"), "{e}");
    // A smaller one.
    let e = one(
        "smaller",
        [entry_head(3, data.len() as u64 - 1), z.clone()].concat(),
    );
    assert!(e.contains("more than its size"), "{e}");
    // A size no stream of this pack can give (no huge allocation).
    let e = one("huge", [entry_head(3, 1 << 50), z.clone()].concat());
    assert!(e.contains("cannot come from"), "{e}");
    // Types 0 and 5.
    for ty in [0, 5] {
        let e = one(
            "type",
            [entry_head(ty, data.len() as u64), z.clone()].concat(),
        );
        assert!(e.contains(&format!("invalid object type {ty}")), "{e}");
    }
    // An OFS_DELTA reaching before the pack's start.
    let e = one(
        "ofs",
        [entry_head(6, 3), ofs_distance(100), zlib(&[1, 1, 1, b'a'])].concat(),
    );
    assert!(e.contains("OFS_DELTA distance 100"), "{e}");
    // A size field that never ends.
    let e = one("varint", vec![0xb0; 40]);
    assert!(e.contains("size"), "{e}");
}

/// Random damage to a real pack and its index: every outcome is an answer or an error,
/// never a panic.
#[test]
fn random_damage_never_panics() {
    let dir = tempfile::tempdir().unwrap();
    let (entries, _) = sample_entries();
    let idx = write_pack(dir.path(), "r", &entries, 40);
    let pack = idx.with_extension("pack");
    let (good_idx, good_pack) = (std::fs::read(&idx).unwrap(), std::fs::read(&pack).unwrap());
    let mut rng = StdRng::seed_from_u64(99);
    let mut errors = 0;
    for round in 0..300 {
        let (mut i, mut p) = (good_idx.clone(), good_pack.clone());
        let target = if round % 2 == 0 { &mut i } else { &mut p };
        for _ in 0..rng.random_range(1..4) {
            let at = rng.random_range(0..target.len());
            target[at] = rng.random();
        }
        std::fs::write(&idx, &i).unwrap();
        std::fs::write(&pack, &p).unwrap();
        if rng.random_bool(0.5) {
            reseal(&pack); // so that the damage is found past the checksums
        }
        if read_all(&idx).is_err() {
            errors += 1;
        }
    }
    assert!(errors > 200, "{errors} of 300 damaged packs reported");
}

/// The built program itself (cargo builds the examples with the tests): exit codes and the
/// message naming the object.
#[test]
fn program_exit_codes() {
    let exe = std::env::current_exe().unwrap();
    let Some(bin) = exe
        .parent()
        .and_then(Path::parent)
        .map(|d| d.join("examples/packdump"))
        .filter(|p| p.exists())
    else {
        eprintln!("program_exit_codes: the example is not built: skipped");
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let (entries, _) = sample_entries();
    let idx = write_pack(dir.path(), "x", &entries, u64::MAX);
    let run = |args: &[&str]| {
        std::process::Command::new(&bin)
            .args(args)
            .output()
            .unwrap()
    };
    let idx_arg = idx.to_str().unwrap();
    let ok = run(&["verify", idx_arg]);
    assert!(ok.status.success(), "{ok:?}");
    let mut expected = Vec::new();
    cli::verify(&default_manager(), &opts(), &idx, &mut expected).unwrap();
    assert_eq!(ok.stdout, expected);
    // A CRC that differs: exit 1, the object named.
    let mut b = std::fs::read(&idx).unwrap();
    let crcs_at = 8 + 1024 + 20 * entries.len();
    b[crcs_at + 4] ^= 1;
    std::fs::write(&idx, &b).unwrap();
    reseal(&idx);
    let bad = run(&["verify", idx_arg]);
    assert_eq!(bad.status.code(), Some(1));
    let err = String::from_utf8(bad.stderr).unwrap();
    let mut ids: Vec<ObjectId> = entries.iter().map(|e| e.id).collect();
    ids.sort();
    assert!(
        err.contains("CRC32 mismatch") && err.contains(&ids[1].to_string()),
        "{err}"
    );
    // A usage error: exit 2.
    assert_eq!(run(&["nonsense"]).status.code(), Some(2));
}

/// A synthetic index (no pack behind it) of `n` random ids, version 1 or 2 (with every
/// offset past 2 GiB in the 64-bit table); returns the ids and offsets in id order.
fn synthetic_index(path: &Path, n: usize, version: u32, seed: u64) -> Vec<(ObjectId, u64)> {
    let mut rng = StdRng::seed_from_u64(seed);
    let mut rows: Vec<(ObjectId, u64)> = (0..n)
        .map(|i| {
            let ofs = if version == 2 && i % 7 == 3 {
                (5u64 << 32) + i as u64
            } else {
                12 + 100 * i as u64
            };
            (ObjectId(rng.random()), ofs)
        })
        .collect();
    rows.sort();
    let mut out = Vec::new();
    if version == 2 {
        out.extend(b"\xfftOc");
        out.extend(2u32.to_be_bytes());
    }
    for b in 0..256 {
        let c = rows.iter().filter(|r| usize::from(r.0.0[0]) <= b).count() as u32;
        out.extend(c.to_be_bytes());
    }
    if version == 2 {
        rows.iter().for_each(|r| out.extend(r.0.0));
        rows.iter()
            .for_each(|_| out.extend(rng.random::<u32>().to_be_bytes()));
        let mut large = Vec::new();
        for r in &rows {
            if r.1 > 0x7fff_ffff {
                out.extend((0x8000_0000 | large.len() as u32).to_be_bytes());
                large.push(r.1);
            } else {
                out.extend((r.1 as u32).to_be_bytes());
            }
        }
        large.iter().for_each(|l| out.extend(l.to_be_bytes()));
    } else {
        for r in &rows {
            out.extend((r.1 as u32).to_be_bytes());
            out.extend(r.0.0);
        }
    }
    out.extend([0x5a; 20]);
    let sum: [u8; 20] = Sha1::digest(&out).into();
    out.extend(sum);
    std::fs::write(path, out).unwrap();
    rows
}

/// Lookups in indexes whose id table spans many windows (fanout ranges that cross a window
/// boundary take the record-by-record search), versions 1 and 2, against the rows written.
#[test]
fn lookups_across_windows() {
    use packdump::idx::PackIndex;
    let dir = tempfile::tempdir().unwrap();
    for version in [1, 2] {
        let path = dir.path().join(format!("v{version}.idx"));
        let rows = synthetic_index(&path, 4000, version, u64::from(version));
        let tiny = || SlidingWindowMapManager::builder().window_size(1);
        // Every row with whole-file and one-unit windows; some with a budget below a window
        // (every move evicts).
        for (man, step) in [
            (default_manager(), 1),
            (tiny().build().unwrap(), 1),
            (tiny().max_memory_size(1).build().unwrap(), 37),
        ] {
            let mut idx = PackIndex::open(&man, &path).unwrap();
            assert_eq!((idx.version(), idx.len()), (version, rows.len() as u64));
            for (i, (id, ofs)) in rows.iter().enumerate().step_by(step) {
                assert_eq!(idx.find(id).unwrap(), Some(i as u64), "{id}");
                assert_eq!(idx.lookup(id).unwrap(), Some(*ofs), "{id}");
                assert_eq!(idx.id_at(i as u64).unwrap(), *id);
                let mut absent = *id;
                absent.0[19] ^= 1;
                if rows.binary_search_by(|r| r.0.cmp(&absent)).is_err() {
                    assert_eq!(idx.lookup(&absent).unwrap(), None);
                }
            }
        }
    }
}
