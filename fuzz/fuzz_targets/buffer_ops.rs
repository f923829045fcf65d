//! `buffer_ops` of `tests/fuzz_props/mod.rs` on the fuzzer's inputs.
#![no_main]

#[path = "../../examples/packdump/mod.rs"]
#[allow(dead_code)]
mod packdump;

#[path = "../../tests/fuzz_props/mod.rs"]
mod fuzz_props;

libfuzzer_sys::fuzz_target!(|data: &[u8]| fuzz_props::buffer_ops(data));
