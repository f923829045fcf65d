//! Parsing of `#[repr(...)]` and `#[mapped(...)]`.
//!
//! Parsing is lenient where it can be: a duplicate key is reported and parsing goes on, so that
//! independent mistakes are reported together.

use proc_macro2::Span;
use syn::parse::ParseStream;
use syn::spanned::Spanned;
use syn::{Attribute, LitByteStr, LitInt, LitStr, Path, Token, parenthesized};

use crate::Errors;

/// What `#[repr(...)]` attributes of the input say.
#[derive(Default)]
pub(crate) struct Repr {
    /// The span of the first `repr` attribute, if any.
    pub(crate) attr: Option<Span>,
    /// `C`.
    pub(crate) c: Option<Span>,
    /// `transparent`.
    pub(crate) transparent: Option<Span>,
    /// `packed` or `packed(N)`.
    pub(crate) packed: Option<Span>,
    /// `align(N)`.
    pub(crate) align: Option<(Span, String)>,
    /// `Rust`, `u8`, `i32`, ... : reprs that never make a record.
    pub(crate) other: Vec<(Span, String)>,
}

/// Struct-level `#[mapped(...)]` keys.
#[derive(Default)]
pub(crate) struct StructAttrs {
    /// `crate = path` or `crate = "path"`.
    pub(crate) krate: Option<Path>,
    /// `validate = path::to::fn`.
    pub(crate) validate: Option<Path>,
    /// `#[repr(...)]`.
    pub(crate) repr: Repr,
}

/// Field-level `#[mapped(...)]` keys.
#[derive(Default)]
pub(crate) struct FieldAttrs {
    /// `magic = b"..."`.
    pub(crate) magic: Option<LitByteStr>,
}

fn duplicate(errors: &mut Errors, key: &Path) {
    let name = key
        .get_ident()
        .map_or_else(|| "this".to_owned(), ToString::to_string);
    errors.push(syn::Error::new(
        key.span(),
        format!("duplicate `{name}` attribute; remove one of them"),
    ));
}

fn skip_value(input: ParseStream<'_>) -> syn::Result<()> {
    if input.peek(Token![=]) {
        input.parse::<Token![=]>()?;
        input.parse::<syn::Expr>()?;
    } else if input.peek(syn::token::Paren) {
        let content;
        parenthesized!(content in input);
        content.parse::<proc_macro2::TokenStream>()?;
    }
    Ok(())
}

/// Parses the struct's `#[repr]` and `#[mapped]` attributes.
pub(crate) fn struct_attrs(attrs: &[Attribute], errors: &mut Errors) -> StructAttrs {
    let mut out = StructAttrs::default();
    for attr in attrs {
        if attr.path().is_ident("repr") {
            out.repr.attr.get_or_insert(attr.span());
            let res = attr.parse_nested_meta(|meta| {
                let span = meta.path.span();
                let name = meta
                    .path
                    .get_ident()
                    .map(ToString::to_string)
                    .unwrap_or_default();
                match name.as_str() {
                    "C" => out.repr.c = Some(span),
                    "transparent" => out.repr.transparent = Some(span),
                    "packed" => {
                        out.repr.packed = Some(span);
                        skip_value(meta.input)?;
                    }
                    "align" => {
                        let content;
                        parenthesized!(content in meta.input);
                        let n: LitInt = content.parse()?;
                        out.repr.align = Some((span, n.to_string()));
                    }
                    _ => {
                        skip_value(meta.input)?;
                        out.repr.other.push((span, name));
                    }
                }
                Ok(())
            });
            // A malformed `repr` is reported by rustc itself.
            drop(res);
        } else if attr.path().is_ident("mapped") {
            let res = attr.parse_nested_meta(|meta| {
                if meta.path.is_ident("crate") {
                    let value = meta.value()?;
                    let path = if value.peek(LitStr) {
                        value.parse::<LitStr>()?.parse::<Path>()?
                    } else {
                        value.parse::<Path>()?
                    };
                    if out.krate.is_some() {
                        duplicate(errors, &meta.path);
                    } else {
                        out.krate = Some(path);
                    }
                    Ok(())
                } else if meta.path.is_ident("validate") {
                    let path: Path = meta.value()?.parse()?;
                    if out.validate.is_some() {
                        duplicate(errors, &meta.path);
                    } else {
                        out.validate = Some(path);
                    }
                    Ok(())
                } else if meta.path.is_ident("magic") {
                    Err(meta.error(
                        "`magic` goes on a `[u8; N]` field, not on the struct; move it to the field",
                    ))
                } else {
                    Err(meta.error(format!(
                        "unknown `mapped` attribute `{}`; expected `crate = path` or `validate = path::to::fn` on a struct",
                        path_string(&meta.path)
                    )))
                }
            });
            if let Err(e) = res {
                errors.push(e);
            }
        }
    }
    out
}

/// Parses a field's `#[mapped]` attributes.
pub(crate) fn field_attrs(attrs: &[Attribute], errors: &mut Errors) -> FieldAttrs {
    let mut out = FieldAttrs::default();
    for attr in attrs {
        if !attr.path().is_ident("mapped") {
            continue;
        }
        let res = attr.parse_nested_meta(|meta| {
            if meta.path.is_ident("magic") {
                let value = meta.value()?;
                let lit: LitByteStr = value.parse().map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "`magic` expects a byte string literal, e.g. `magic = b\"\\xfftOc\"`",
                    )
                })?;
                if out.magic.is_some() {
                    duplicate(errors, &meta.path);
                } else {
                    out.magic = Some(lit);
                }
                Ok(())
            } else if meta.path.is_ident("crate") || meta.path.is_ident("validate") {
                Err(meta.error(format!(
                    "`{}` goes on the struct, not on a field; move it next to `#[repr(C)]`",
                    path_string(&meta.path)
                )))
            } else {
                Err(meta.error(format!(
                    "unknown `mapped` attribute `{}`; expected `magic = b\"...\"` on a field",
                    path_string(&meta.path)
                )))
            }
        });
        if let Err(e) = res {
            errors.push(e);
        }
    }
    out
}

fn path_string(path: &Path) -> String {
    let s = quote::quote!(#path).to_string();
    s.replace(' ', "")
}
