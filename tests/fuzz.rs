//! The fuzz targets' properties (`tests/fuzz_props/mod.rs`), on random inputs for a few seconds,
//! and on every input the fuzzers ever found failing (`tests/fuzz-regressions/<target>/`).

#[path = "../examples/packdump/mod.rs"]
#[allow(dead_code)]
mod packdump;

mod fuzz_props;

use proptest::prelude::*;

fn inputs() -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(any::<u8>(), 0..12_000)
}

proptest! {
    // A fixed seed: the same cases in every run, so that what CI checks is what was checked
    // here (the fuzzers explore; see `fuzz/`).
    #![proptest_config(ProptestConfig {
        cases: 256,
        rng_seed: proptest::test_runner::RngSeed::Fixed(0x5eed_f022),
        ..ProptestConfig::default()
    })]

    #[test]
    fn record_reads_match_the_bytes(data in inputs()) {
        fuzz_props::record_reads(&data);
    }

    #[test]
    fn buffer_ops_match_a_vec(data in inputs()) {
        fuzz_props::buffer_ops(&data);
    }

    #[test]
    fn pack_parsers_never_panic(data in inputs()) {
        fuzz_props::pack_parsers(&data);
    }
}

/// Replays the inputs kept under `tests/fuzz-regressions/<target>/`.
fn replay(target: &str, prop: fn(&[u8])) {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-regressions")
        .join(target);
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "md") {
            continue;
        }
        eprintln!("{}", path.display());
        prop(&std::fs::read(&path).unwrap());
    }
}

#[test]
fn fuzz_regressions_record_reads() {
    replay("record_reads", fuzz_props::record_reads);
}

#[test]
fn fuzz_regressions_buffer_ops() {
    replay("buffer_ops", fuzz_props::buffer_ops);
}

#[test]
fn fuzz_regressions_pack_parsers() {
    replay("pack_parsers", fuzz_props::pack_parsers);
}
