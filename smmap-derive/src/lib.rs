//! `#[derive(MappedRecord)]` for [smmap](https://docs.rs/smmap).
//!
//! Use it through `smmap::MappedRecord`, which re-exports it; its documentation lives there.
//!
//! The crate is split like thiserror and serde: [`ast`] models the input (borrowed from syn,
//! spans kept), [`attr`] parses `#[repr]` and `#[mapped]`, [`valid`] checks what the syntax can
//! tell, and [`expand`] writes the implementation, leaving to compile-time assertions what only
//! the compiler knows (type aliases, the real layout).

use proc_macro::TokenStream;
use syn::{DeriveInput, parse_macro_input};

mod ast;
mod attr;
mod expand;
mod valid;

/// Derives `smmap::MappedRecord` and field accessors; see `smmap::MappedRecord`.
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
