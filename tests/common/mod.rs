//! Helpers shared by the integration tests: random file content and a naive reference.
#![allow(dead_code)]

use std::path::{Path, PathBuf};

use rand::{Rng, RngExt, SeedableRng, rngs::StdRng};

/// Deterministic random bytes (never all zeros: zeros hide offset bugs).
pub(crate) fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    let mut v = vec![0u8; len];
    StdRng::seed_from_u64(seed).fill_bytes(&mut v);
    v
}

/// Writes `len` random bytes to `dir/name`; returns the path and the content.
pub(crate) fn random_file(dir: &Path, name: &str, len: usize, seed: u64) -> (PathBuf, Vec<u8>) {
    let path = dir.join(name);
    let data = random_bytes(len, seed);
    std::fs::write(&path, &data).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data);
    (path, data)
}

/// A seeded RNG for a test.
pub(crate) fn rng(seed: u64) -> StdRng {
    StdRng::seed_from_u64(seed)
}

/// A random offset in `0..len`.
pub(crate) fn offset_in(rng: &mut StdRng, len: u64) -> u64 {
    rng.random_range(0..len)
}

/// Python smmap's test file size (8,005,195 bytes).
pub(crate) const K_WINDOW_TEST_SIZE: usize = 1000 * 1000 * 8 + 5195;

/// How many 4 KiB pages one allocation granule holds: 1 on Linux, 16 on Windows (64 KiB).
/// Tests laid out in 4 KiB pages scale their offsets by it.
pub(crate) fn scale() -> usize {
    smmap::allocation_granularity() / 4096
}

/// Runs one test of this binary again in a child process (for tests that change process
/// limits, or whose failure would be a crash) and checks that it passed.
pub(crate) fn run_child(test: &str) {
    let (status, text) = child_output(test);
    assert!(status.success(), "child failed ({status:?}):\n{text}");
    assert!(text.contains("1 passed"), "child ran no test:\n{text}");
}

/// Runs one test of this binary again in a child process: returns how it ended (for tests
/// whose child is expected to die) and what it printed.
pub(crate) fn child_output(test: &str) -> (std::process::ExitStatus, String) {
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env("SMMAP_CHILD", test)
        .output()
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status, text)
}

/// Whether this process is the child [`run_child`] started for `test`.
pub(crate) fn in_child(test: &str) -> bool {
    std::env::var("SMMAP_CHILD").is_ok_and(|t| t == test)
}
