//! Hundreds of packs through one manager with a budget of 32 descriptors: random lookups and
//! object reads across all of them answer what git answers, and the process never holds more
//! than 32 descriptors above what it started with.
//!
//! Alone in its test binary: other tests running at the same time would open descriptors too.

mod pack_util;
#[allow(dead_code)]
#[path = "../examples/packdump/mod.rs"]
mod packdump;

use std::path::PathBuf;

use rand::seq::SliceRandom;
use rand::{Rng, RngExt, SeedableRng, rngs::StdRng};
use smmap::SlidingWindowMapManager;

use pack_util::{assert_same, git, git_available, open_fds};
use packdump::pack::PackSet;
use packdump::{ObjectId, cli};

const PACKS: usize = 300;
const MAX_FILES: usize = 32;

#[test]
fn three_hundred_packs_within_32_descriptors() {
    if !git_available("three_hundred_packs_within_32_descriptors") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path();
    git(repo, &["init", "-q", "."], None);
    let mut rng = StdRng::seed_from_u64(300);

    // Per pack: two random blobs and three versions of a text (deltas), written by
    // `git hash-object -w` in one run.
    let files = repo.join("files");
    std::fs::create_dir(&files).unwrap();
    let mut paths = Vec::new();
    for p in 0..PACKS {
        for b in 0..2 {
            let mut data = vec![0u8; rng.random_range(500..12_000)];
            rng.fill_bytes(&mut data);
            let path = files.join(format!("{p}-{b}.bin"));
            std::fs::write(&path, data).unwrap();
            paths.push(path);
        }
        let mut text: Vec<String> = (0..300)
            .map(|k| format!("pack {p} line {k} {}\n", rng.random::<u32>()))
            .collect();
        for v in 0..3 {
            let k = rng.random_range(0..text.len());
            text[k] = format!("version {v}\n");
            let path = files.join(format!("{p}-t{v}.txt"));
            std::fs::write(&path, text.concat()).unwrap();
            paths.push(path);
        }
    }
    let list: String = paths.iter().map(|p| format!("{}\n", p.display())).collect();
    let ids = String::from_utf8(git(
        repo,
        &["hash-object", "-w", "--stdin-paths"],
        Some(list.as_bytes()),
    ))
    .unwrap();
    let ids: Vec<&str> = ids.lines().collect();
    assert_eq!(ids.len(), PACKS * 5);

    let packs_dir = repo.join("packs");
    std::fs::create_dir(&packs_dir).unwrap();
    let mut idx_paths: Vec<PathBuf> = Vec::new();
    for (p, chunk) in ids.chunks(5).enumerate() {
        let base = packs_dir.join(format!("p{p}"));
        let input = chunk.join("\n") + "\n";
        let hash = git(
            repo,
            &["pack-objects", "-q", base.to_str().unwrap()],
            Some(input.as_bytes()),
        );
        let hash = String::from_utf8(hash).unwrap();
        idx_paths.push(packs_dir.join(format!("p{p}-{}.idx", hash.trim())));
    }

    // Random ids (every pack's, in random order, some twice) and a few absent ones.
    let mut wanted: Vec<String> = ids.iter().map(|s| s.to_string()).collect();
    for _ in 0..500 {
        wanted.push(ids[rng.random_range(0..ids.len())].to_owned());
    }
    for _ in 0..20 {
        wanted.push(ObjectId(rng.random()).to_string());
    }
    wanted.shuffle(&mut rng);
    let input = wanted.join("\n") + "\n";
    let theirs = git(repo, &["cat-file", "--batch"], Some(input.as_bytes()));

    // Nothing but the manager opens files from here on.
    let start = open_fds();
    let man = SlidingWindowMapManager::builder()
        .window_size(1)
        .max_open_files(MAX_FILES)
        .build()
        .unwrap();
    let mut set = PackSet::open(&man, &idx_paths, 1 << 20).unwrap();
    let mut most = open_fds().saturating_sub(start);
    let mut ours = Vec::new();
    for id in &wanted {
        let id = ObjectId::from_hex(id.as_bytes()).unwrap();
        match set.object(&id).unwrap() {
            Some(o) => {
                ours.extend_from_slice(&id.hex());
                ours.extend_from_slice(format!(" {} {}\n", o.kind.name(), o.data.len()).as_bytes());
                ours.extend_from_slice(&o.data);
                ours.push(b'\n');
            }
            None => ours.extend_from_slice(format!("{id} missing\n").as_bytes()),
        }
        most = most.max(open_fds().saturating_sub(start));
    }
    assert_same(&ours, &theirs, "300 packs: objects");
    // `cat` over all of them, through the same manager.
    let mut out = Vec::new();
    cli::cat(
        &man,
        &cli::Options::default(),
        &idx_paths,
        &mut input.as_bytes(),
        &mut out,
    )
    .unwrap();
    most = most.max(open_fds().saturating_sub(start));
    assert_same(&out, &theirs, "300 packs: cat");

    let st = man.stats();
    eprintln!("{PACKS} packs: at most {most} descriptors above the start; {st:?}");
    assert!(most <= MAX_FILES, "{most} descriptors above the start");
    assert!(st.peak_open_descriptors <= MAX_FILES as u64, "{st:?}");
    assert!(
        st.descriptors_closed > 0 && st.descriptors_opened > MAX_FILES as u64,
        "the budget was exercised: {st:?}"
    );
    drop(set);
    drop(man);
    assert!(open_fds() <= start, "every descriptor closed at the end");
}
