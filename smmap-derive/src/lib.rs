//! `#[derive(MappedRecord)]` for [smmap](https://docs.rs/smmap).
//!
//! Use it through `smmap::MappedRecord`, which re-exports it; its documentation lives there.
//!
//! The crate is split like thiserror and serde: `ast` models the input (borrowed from syn,
//! spans kept), `attr` parses `#[repr]` and `#[mapped]`, `valid` checks what the syntax can
//! tell, and `expand` writes the implementation, leaving to compile-time assertions what only
//! the compiler knows (type aliases, the real layout).

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

mod ast;
mod attr;
mod expand;
mod valid;

/// Derives `smmap::MappedRecord` for a struct, plus accessors for its fields.
///
/// The struct must be `#[repr(C)]`, `#[repr(C, packed)]` or `#[repr(transparent)]` (plain
/// `packed` leaves the field order unspecified and is rejected), have at least one field, and be
/// made of records: `u8`, `i8`, `smmap::byteorder` types, arrays of records and other derived
/// records. Alignment, absence of padding and every field's `MappedRecord` bound are checked at
/// compile time, so a type alias hiding `u32` is caught too.
///
/// Generics: type and const parameters are accepted; every field type that names one gets a
/// `MappedRecord` bound on the impl (so `Entry<O: ByteOrder> { ofs: U32<O> }` works), and the
/// layout assertions run for each instance, in `SIZE`. Generic records cannot be `packed` (use
/// `repr(C)`: same layout). Lifetime parameters are rejected.
///
/// Generated for each field `len` (with the field's visibility):
/// - `fn len(&self)`: the native value of byte-order types (`u32` for `U32<BE>`), `u8`/`i8`,
///   or a reference to arrays and nested records;
/// - `fn set_len(&mut self, value)`: the native value, or a whole array or record;
/// - `const OFFSET_LEN: usize`, the field's offset (`core::mem::offset_of!`).
///
/// Tuple structs get `get_0()`, `set_0()` and `OFFSET_0`. A field named like a provided method
/// of `MappedRecord` (`check`, `as_bytes`, ...) is rejected, since its getter would shadow it.
///
/// Attributes:
/// - on a `[u8; N]` field, `#[mapped(magic = b"...")]`: `check()` returns
///   `RecordCheckError::BadMagic` when the field differs; the lengths must match;
/// - on the struct, `#[mapped(validate = path::to::fn)]` with `fn(&Self) -> Result<(), E>`,
///   `E: Display`: run by `check()` after the magic and nested checks, its error becomes
///   `RecordCheckError::Invalid`;
/// - on the struct, `#[mapped(crate = path)]` or `#[mapped(crate = "path")]`: where smmap is
///   when it is renamed or re-exported (default `::smmap`).
///
/// The generated `unsafe impl` carries `#[allow(unsafe_code)]`, so it builds under
/// `#![deny(unsafe_code)]` but not under `#![forbid(unsafe_code)]`.
#[proc_macro_derive(MappedRecord, attributes(mapped))]
pub fn derive_mapped_record(input: TokenStream) -> TokenStream {
    let input = parse_macro_input!(input as DeriveInput);
    derive(&input)
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}

fn derive(node: &DeriveInput) -> syn::Result<proc_macro2::TokenStream> {
    let mut errors = Errors::default();
    let input = ast::Input::from_syn(node, &mut errors)?;
    valid::validate(&input, &mut errors);
    errors.finish()?;
    Ok(expand::expand(&input))
}

/// Independent errors, combined into one `syn::Error`.
#[derive(Default)]
pub(crate) struct Errors(Option<syn::Error>);

impl Errors {
    /// Adds an error.
    pub(crate) fn push(&mut self, error: syn::Error) {
        match &mut self.0 {
            Some(all) => all.combine(error),
            None => self.0 = Some(error),
        }
    }

    /// `Err` with every error pushed, if any.
    pub(crate) fn finish(self) -> syn::Result<()> {
        self.0.map_or(Ok(()), Err)
    }
}
