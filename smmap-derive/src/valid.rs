//! Checks that can be made on the syntax; the rest is left to assertions in generated code.

use quote::ToTokens;
use syn::{GenericParam, Type};

use crate::Errors;
use crate::ast::{Field, Input, Kind, Style, kind, peel};

/// Names of `MappedRecord`'s provided items that a getter must not shadow.
const TRAIT_METHODS: &[&str] = &[
    "check",
    "as_bytes",
    "ref_from_bytes",
    "mut_from_bytes",
    "slice_from_bytes",
];

/// Validates the whole input, pushing every independent error.
pub(crate) fn validate(input: &Input<'_>, errors: &mut Errors) {
    check_repr(input, errors);
    check_generics(input, errors);
    match input.style {
        Style::Unit => errors.push(syn::Error::new(
            input.ident.span(),
            format!(
                "unit struct `{}` is zero-sized and cannot be a record; add at least one field",
                input.ident
            ),
        )),
        Style::Named | Style::Tuple if input.fields.is_empty() => errors.push(syn::Error::new(
            input.ident.span(),
            format!(
                "`{}` has no fields, so it is zero-sized and cannot be a record; add at least one field",
                input.ident
            ),
        )),
        Style::Named | Style::Tuple => {}
    }
    for field in &input.fields {
        check_field_type(field, field.ty, errors);
        check_magic(field, errors);
        if input.style == Style::Named && TRAIT_METHODS.contains(&field.name.as_str()) {
            errors.push(syn::Error::new(
                field.span,
                format!(
                    "field {} would get a getter `{}()` that shadows `MappedRecord::{}`; rename the field",
                    field.display(),
                    field.name,
                    field.name
                ),
            ));
        }
    }
}

fn check_repr(input: &Input<'_>, errors: &mut Errors) {
    let repr = &input.attrs.repr;
    let Some(attr_span) = repr.attr else {
        errors.push(syn::Error::new(
            input.ident.span(),
            format!(
                "`{}` needs a defined layout to be a record; add `#[repr(C)]` (or `#[repr(C, packed)]`)",
                input.ident
            ),
        ));
        return;
    };
    if let Some((span, n)) = &repr.align {
        errors.push(syn::Error::new(
            *span,
            format!(
                "`align({n})` makes the record aligned, but records are read at any file offset; remove it"
            ),
        ));
    }
    for (span, name) in &repr.other {
        let msg = if name == "Rust" {
            "`repr(Rust)` leaves the field order unspecified; use `#[repr(C)]`".to_owned()
        } else {
            format!("`repr({name})` does not give a struct a defined layout; use `#[repr(C)]`")
        };
        errors.push(syn::Error::new(*span, msg));
    }
    if repr.c.is_none() && repr.transparent.is_none() {
        if let Some(span) = repr.packed {
            errors.push(syn::Error::new(
                span,
                "`#[repr(packed)]` alone leaves the field order unspecified; use `#[repr(C, packed)]` \
                 or `#[repr(C)]`",
            ));
        } else if repr.align.is_none() && repr.other.is_empty() {
            errors.push(syn::Error::new(
                attr_span,
                format!(
                    "`{}` needs a defined layout to be a record; add `#[repr(C)]` (or `#[repr(C, packed)]`)",
                    input.ident
                ),
            ));
        }
    }
}

fn check_generics(input: &Input<'_>, errors: &mut Errors) {
    let mut has_type_params = false;
    for param in &input.generics.params {
        match param {
            GenericParam::Lifetime(lt) => errors.push(syn::Error::new(
                lt.lifetime.span(),
                format!(
                    "a record cannot borrow: remove the lifetime parameter `{}`; records are read \
                     from file bytes and hold no references",
                    lt.lifetime
                ),
            )),
            GenericParam::Type(_) | GenericParam::Const(_) => has_type_params = true,
        }
    }
    if has_type_params && let Some(span) = input.attrs.repr.packed {
        errors.push(syn::Error::new(
            span,
            "generic records cannot be `packed` (their fields could not be borrowed); \
             use `#[repr(C)]`, which has the same layout since every record has alignment 1",
        ));
    }
}

fn type_string(ty: &Type) -> String {
    let s = ty.to_token_stream().to_string();
    s.replace(" < ", "<")
        .replace(" >", ">")
        .replace("< ", "<")
        .replace(" ;", ";")
}

fn check_field_type(field: &Field<'_>, ty: &Type, errors: &mut Errors) {
    let name = field.display();
    let err = |msg: String| syn::Error::new_spanned(ty, msg);
    match kind(ty) {
        Kind::Aligned { replacement, align } => {
            errors.push(err(format!(
                "field {name} has {align}, but records are read at any file offset; \
                 use `smmap::byteorder::{replacement}<LittleEndian>` (or `BigEndian`)"
            )));
            return;
        }
        Kind::Invalid { replacement: "u8" } => {
            errors.push(err(format!(
                "field {name} is a `bool`, but not every bit pattern is a valid `bool`; \
                 use `u8` and compare it with 0"
            )));
            return;
        }
        Kind::Invalid { .. } => {
            errors.push(err(format!(
                "field {name} is a `char`, but not every bit pattern is a valid `char`; \
                 use `smmap::byteorder::U32<LittleEndian>` (or `BigEndian`) and `char::from_u32`"
            )));
            return;
        }
        Kind::ByteOrder { .. } | Kind::Byte(_) | Kind::Array | Kind::Other => {}
    }
    let msg = match peel(ty) {
        Type::Array(a) => return check_field_type(field, &a.elem, errors),
        Type::Reference(_) => format!(
            "field {name} is a reference, but a record is plain bytes read from a file; store an \
             offset (e.g. `U64<LittleEndian>`) and read the target as another record"
        ),
        Type::Ptr(_) => format!(
            "field {name} is a raw pointer, but a record is plain bytes read from a file; store an \
             offset (e.g. `U64<LittleEndian>`) instead"
        ),
        Type::Slice(_) => format!(
            "field {name} is a slice, whose length is not known at compile time; use an array `[T; N]`"
        ),
        Type::Path(p) if p.qself.is_none() && p.path.is_ident("str") => format!(
            "field {name} is a `str`, whose length is not known at compile time; use a byte array `[u8; N]`"
        ),
        Type::Tuple(t) if t.elems.is_empty() => {
            format!("field {name} is `()`, which is zero-sized; remove it")
        }
        Type::Tuple(_) => format!(
            "field {name} is a tuple, which has no defined layout; use an array or a nested record"
        ),
        Type::FnPtr(_) => format!(
            "field {name} is a function pointer, but a record is plain bytes read from a file; remove it"
        ),
        Type::TraitObject(_) | Type::ImplTrait(_) => {
            format!("field {name} has no size known at compile time; use a concrete record type")
        }
        Type::Never(_) => format!("field {name} is `!`, which has no values; remove it"),
        _ => return,
    };
    errors.push(err(msg));
}

fn check_magic(field: &Field<'_>, errors: &mut Errors) {
    let Some(magic) = &field.attrs.magic else {
        return;
    };
    let ty = peel(field.ty);
    let not_bytes = || {
        syn::Error::new_spanned(
            field.ty,
            format!(
                "`magic` needs a `[u8; N]` field, but {} has type `{}`; declare the field as a byte array",
                field.display(),
                type_string(field.ty)
            ),
        )
    };
    match ty {
        Type::Array(a) => {
            if !matches!(kind(&a.elem), Kind::Byte("u8")) {
                errors.push(not_bytes());
                return;
            }
            if let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Int(n),
                ..
            }) = &a.len
                && let Ok(n) = n.base10_parse::<usize>()
                && magic.value().len() != n
            {
                errors.push(syn::Error::new(
                    magic.span(),
                    format!(
                        "magic is {} bytes long but field {} is `[u8; {n}]`; make their lengths equal",
                        magic.value().len(),
                        field.display()
                    ),
                ));
            }
        }
        _ => {
            if !matches!(kind(ty), Kind::Other) || !matches!(ty, Type::Path(_)) {
                errors.push(not_bytes());
            }
        }
    }
}
