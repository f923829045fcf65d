//! Helpers of the packdump tests: running the machine's `git`, and repositories made with it.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use rand::{Rng, RngExt, SeedableRng, rngs::StdRng};

/// Whether `git` can be run; if not, says that the test is skipped.
pub(crate) fn git_available(test: &str) -> bool {
    let ok = Command::new("git")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        eprintln!("{test}: git is not available: skipped");
    }
    ok
}

/// Runs `git args` in `dir` with `input` on its standard input (written from another thread,
/// so that large outputs cannot block it); returns its standard output. Panics with git's
/// standard error if it fails.
pub(crate) fn git(dir: &Path, args: &[&str], input: Option<&[u8]>) -> Vec<u8> {
    let mut child = Command::new("git")
        .current_dir(dir)
        .args(args)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", dir)
        // No fsync: these repositories are thrown away.
        .env("GIT_CONFIG_COUNT", "1")
        .env("GIT_CONFIG_KEY_0", "core.fsync")
        .env("GIT_CONFIG_VALUE_0", "none")
        .env("GIT_AUTHOR_NAME", "smmap")
        .env("GIT_AUTHOR_EMAIL", "smmap@example.com")
        .env("GIT_COMMITTER_NAME", "smmap")
        .env("GIT_COMMITTER_EMAIL", "smmap@example.com")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("git runs");
    let mut stdin = child.stdin.take().expect("piped");
    let input = input.map(<[u8]>::to_vec);
    let writer = std::thread::spawn(move || {
        if let Some(input) = input {
            let _ = stdin.write_all(&input);
        }
    });
    let out = child.wait_with_output().expect("git runs");
    writer.join().expect("writer");
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Lines of random words.
fn text_lines(rng: &mut StdRng, n: usize) -> Vec<String> {
    const WORDS: &[&str] = &[
        "window", "region", "cursor", "manager", "pack", "index", "delta", "object", "offset",
        "budget", "mapped", "record", "table", "fanout", "inflate", "commit", "tree", "blob",
    ];
    (0..n)
        .map(|k| {
            let words: Vec<&str> = (0..rng.random_range(3..9))
                .map(|_| WORDS[rng.random_range(0..WORDS.len())])
                .collect();
            format!("{k:04} {} {}\n", words.join(" "), rng.random::<u32>())
        })
        .collect()
}

/// Makes a repository in `dir`: a text file of about 20 KB edited over `commits` commits
/// (delta chains), `blobs` files of random bytes (some in a subdirectory), an annotated tag;
/// everything repacked into one pack with `repack_args` (after `git`, e.g. `-c
/// repack.useDeltaBaseOffset=false`). Returns the pack's `.idx`.
pub(crate) fn make_repo(
    dir: &Path,
    seed: u64,
    commits: usize,
    blobs: usize,
    repack_config: &[&str],
) -> PathBuf {
    let mut rng = StdRng::seed_from_u64(seed);
    git(dir, &["init", "-q", "."], None);
    std::fs::create_dir_all(dir.join("data/more")).unwrap();
    let mut lines = text_lines(&mut rng, 450);
    for c in 0..commits {
        // Edit a few lines, insert one.
        for _ in 0..3 {
            let k = rng.random_range(0..lines.len());
            lines[k] = format!("{k:04} edited in commit {c} {}\n", rng.random::<u64>());
        }
        let at = rng.random_range(0..lines.len());
        lines.insert(at, format!("inserted in commit {c}\n"));
        std::fs::write(dir.join("notes.txt"), lines.concat()).unwrap();
        if c < blobs {
            let mut blob = vec![0u8; rng.random_range(1..30_000)];
            rng.fill_bytes(&mut blob);
            let sub = if c % 2 == 0 { "data" } else { "data/more" };
            std::fs::write(dir.join(format!("{sub}/blob{c}.bin")), blob).unwrap();
        }
        git(dir, &["add", "-A"], None);
        git(dir, &["commit", "-q", "-m", &format!("commit {c}")], None);
        if c == commits / 2 {
            git(dir, &["tag", "-a", "v1", "-m", "the middle"], None);
        }
    }
    // Blobs beyond one per commit, in a last commit.
    if blobs > commits {
        for b in commits..blobs {
            let mut blob = vec![0u8; rng.random_range(1..30_000)];
            rng.fill_bytes(&mut blob);
            std::fs::write(dir.join(format!("data/extra{b}.bin")), blob).unwrap();
        }
        git(dir, &["add", "-A"], None);
        git(dir, &["commit", "-q", "-m", "more blobs"], None);
    }
    let mut args: Vec<&str> = repack_config.to_vec();
    args.extend(["repack", "-a", "-d", "-f", "-q"]);
    git(dir, &args, None);
    single_idx(dir)
}

/// The only `.idx` of the repository in `dir`.
pub(crate) fn single_idx(dir: &Path) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir.join(".git/objects/pack"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "idx"))
        .collect();
    assert_eq!(found.len(), 1, "one pack: {found:?}");
    found.into_iter().next().unwrap()
}

/// Every object id of the repository, one per line.
pub(crate) fn all_ids(dir: &Path) -> Vec<String> {
    let out = git(
        dir,
        &[
            "cat-file",
            "--batch-all-objects",
            "--batch-check=%(objectname)",
        ],
        None,
    );
    String::from_utf8(out)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Asserts that two outputs are equal byte for byte, showing the first line that differs.
pub(crate) fn assert_same(ours: &[u8], theirs: &[u8], what: &str) {
    if ours == theirs {
        return;
    }
    let (a, b) = (
        String::from_utf8_lossy(ours),
        String::from_utf8_lossy(theirs),
    );
    for (k, (x, y)) in a.lines().zip(b.lines()).enumerate() {
        assert_eq!(x, y, "{what}: line {k} differs");
    }
    panic!(
        "{what}: outputs differ in length ({} bytes, git {} bytes; {} lines, git {})",
        ours.len(),
        theirs.len(),
        a.lines().count(),
        b.lines().count()
    );
}

/// The open descriptors of this process.
pub(crate) fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd")
        .map(|d| d.count())
        .unwrap_or(0)
}
