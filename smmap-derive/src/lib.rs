//! `#[derive(MappedRecord)]` for [smmap](https://docs.rs/smmap).

use proc_macro::TokenStream;

/// Derives `smmap::MappedRecord`.
#[proc_macro_derive(MappedRecord, attributes(mapped))]
pub fn derive_mapped_record(input: TokenStream) -> TokenStream {
    let _ = input;
    TokenStream::new()
}
