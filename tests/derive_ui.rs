//! Compile-fail cases of `#[derive(MappedRecord)]`: every message the derive emits, and the
//! compile-time checks of the generated code.
//!
//! The expected output depends on the compiler version; regenerate it with
//! `TRYBUILD=overwrite cargo test --test derive_ui` after a toolchain update, and read the diff.

#[test]
fn ui() {
    let t = trybuild::TestCases::new();
    t.compile_fail("tests/ui/*.rs");
}
