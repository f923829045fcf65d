//! Compile-fail cases of `#[derive(MappedRecord)]`: every message the derive emits, and the
//! compile-time checks of the generated code.
//!
//! The expected output depends on the compiler version; regenerate it with
//! `TRYBUILD=overwrite cargo test --test derive_ui` after a toolchain update, and read the diff.

/// Not in a Windows process under wine: trybuild runs `cargo`, which is a Linux program there.
/// The derive's messages do not depend on the target; the native suite checks them.
#[test]
#[cfg_attr(
    all(windows, not(target_env = "msvc")),
    ignore = "trybuild needs a cargo the test process can run"
)]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
