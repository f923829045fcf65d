//! Code generation. Everything generated uses absolute paths through the `crate` path
//! (`::smmap` unless `#[mapped(crate = ...)]` says otherwise) and its hidden `__private`
//! module, so that it compiles under `#![no_implicit_prelude]` and whatever the user imported.

use proc_macro2::{Span, TokenStream, TokenTree};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{GenericParam, Ident, Type};

use crate::ast::{Field, Input, Kind, kind, peel};

/// Writes the `MappedRecord` implementation and the accessors of `input`.
pub(crate) fn expand(input: &Input<'_>) -> TokenStream {
    let krate = input
        .attrs
        .krate
        .as_ref()
        .map_or_else(|| quote!(::smmap), ToTokens::to_token_stream);
    let private = quote!(#krate::__private);
    let core = quote!(#private::core);
    let ident = input.ident;
    let (impl_generics, ty_generics, where_clause) = input.generics.split_for_impl();
    let params: Vec<Ident> = input
        .generics
        .params
        .iter()
        .filter_map(|p| match p {
            GenericParam::Type(t) => Some(t.ident.clone()),
            GenericParam::Const(c) => Some(c.ident.clone()),
            GenericParam::Lifetime(_) => None,
        })
        .collect();
    let generic = !params.is_empty();
    let existing: Vec<_> = where_clause
        .map(|w| w.predicates.iter().collect())
        .unwrap_or_default();

    // Every field must be a record. Field types that name a generic parameter get a bound on
    // the impl; the others are asserted in a constant spanned on the type, so that an error
    // points at the field.
    let record_bounds = unique(
        input
            .fields
            .iter()
            .filter(|f| mentions(f.ty, &params))
            .map(|f| {
                let ty = f.ty;
                quote_spanned!(ty.span()=> #ty: #krate::MappedRecord)
            }),
    );
    let record_where = quote!(where #(#existing,)* #(#record_bounds,)*);
    let record_asserts = input
        .fields
        .iter()
        .filter(|f| !mentions(f.ty, &params))
        .map(|f| {
            let ty = f.ty;
            quote_spanned!(ty.span()=> #private::assert_record::<#ty>();)
        });
    // Accessors of fields whose type names a generic parameter need bounds. Known kinds get
    // them from their own impls: a bound on them would hide the impl's associated types.
    let accessor_bounds = input
        .fields
        .iter()
        .filter(|f| mentions(f.ty, &params))
        .filter_map(|f| {
            let ty = f.ty;
            match (kind(ty), peel(ty)) {
                (Kind::Array, Type::Array(a)) => {
                    let elem = &a.elem;
                    Some(quote_spanned!(ty.span()=> #elem: #krate::MappedRecord))
                }
                (Kind::ByteOrder { .. } | Kind::Byte(_), _) => None,
                _ => Some(quote_spanned!(ty.span()=> #ty: #private::Field)),
            }
        });
    let accessor_bounds = unique(accessor_bounds);
    let accessor_where = quote!(where #(#existing,)* #(#accessor_bounds,)*);
    let plain_where = quote!(where #(#existing,)*);

    // Compile-time layout checks. They also catch type aliases that hide an aligned type. In a
    // generic record they live in `SIZE`, evaluated for each instance.
    let self_ty = if generic {
        quote!(Self)
    } else {
        quote!(#ident)
    };
    let align_msg = format!(
        "`{ident}` has an alignment greater than 1, so it cannot be read at any file offset: a \
         field type is aligned (a type alias of `u32`?); use `smmap::byteorder` types, `u8`, \
         `i8`, arrays and records"
    );
    let size_msg = format!(
        "`{ident}` has padding between its fields; use `smmap::byteorder` types, `u8`, `i8`, \
         arrays and records"
    );
    let sizes = input.fields.iter().map(|f| {
        let ty = f.ty;
        quote!(#core::mem::size_of::<#ty>())
    });
    let layout_asserts = quote_spanned! {ident.span()=>
        #core::assert!(#core::mem::align_of::<#self_ty>() == 1, #align_msg);
        #core::assert!(#core::mem::size_of::<#self_ty>() == 0 #(+ #sizes)*, #size_msg);
    };
    let magic_asserts: Vec<_> = input
        .fields
        .iter()
        .filter_map(|f| {
            let magic = f.attrs.magic.as_ref()?;
            let ty = f.ty;
            let msg = format!(
                "the magic of field `{}` differs in length from the field's `[u8; N]`; make \
                 their lengths equal",
                f.name
            );
            Some(quote_spanned! {magic.span()=>
                #core::assert!(#magic.len() == #core::mem::size_of::<#ty>(), #msg);
            })
        })
        .collect();
    let layout_const = respan(quote!(const _: () = { #layout_asserts };), ident.span());
    let (size, free_asserts) = if generic {
        (
            quote!({ #layout_asserts #(#magic_asserts)* #core::mem::size_of::<Self>() }),
            quote!(const _: () = { #(#record_asserts)* };),
        )
    } else {
        let magic_consts = input
            .fields
            .iter()
            .filter_map(|f| f.attrs.magic.as_ref())
            .zip(&magic_asserts)
            .map(|(magic, a)| respan(quote!(const _: () = { #a };), magic.span()));
        (
            quote!(#core::mem::size_of::<Self>()),
            quote! {
                const _: () = { #(#record_asserts)* };
                #layout_const
                #(#magic_consts)*
            },
        )
    };

    // check(): magic numbers, then nested records, then the validation hook.
    let magic_checks = input.fields.iter().filter_map(|f| {
        let magic = f.attrs.magic.as_ref()?;
        let m = &f.member;
        Some(quote_spanned! {magic.span()=>
            #private::check_magic(&self.#m, #magic, #core::mem::offset_of!(Self, #m))?;
        })
    });
    let field_checks = input.fields.iter().map(|f| {
        let m = &f.member;
        quote!(#private::check_field(&self.#m, #core::mem::offset_of!(Self, #m))?;)
    });
    let validate = input
        .attrs
        .validate
        .as_ref()
        .map(|path| quote_spanned!(path.span()=> #private::run_validate(self, #path)?;));

    // Whether check() reads anything: a magic number, a hook, or a field whose check does.
    let reads =
        input.attrs.validate.is_some() || input.fields.iter().any(|f| f.attrs.magic.is_some());
    let field_reads = input.fields.iter().map(|f| {
        let ty = f.ty;
        quote!(<#ty as #krate::MappedRecord>::CHECKS)
    });
    let offsets = input.fields.iter().map(|f| offset_const(f, &core));
    let accessors = input.fields.iter().map(|f| accessors(f, &private, &core));

    quote! {
        #[allow(
            unsafe_code,
            non_upper_case_globals,
            clippy::all,
            clippy::pedantic,
            clippy::nursery,
            clippy::restriction,
        )]
        const _: () = {
            #[automatically_derived]
            #[allow(unsafe_code, clippy::undocumented_unsafe_blocks)]
            // SAFETY: `#[repr(C)]` (or `C, packed`, or `transparent`) over fields that are all
            // records (bounds below) has alignment 1, no padding, every bit pattern valid and no
            // interior mutability; alignment and padding are also asserted at compile time.
            unsafe impl #impl_generics #krate::MappedRecord for #ident #ty_generics #record_where {
                const SIZE: #core::primitive::usize = #size;
                const CHECKS: #core::primitive::bool = #reads #(|| #field_reads)*;

                #[inline]
                fn check(&self) -> #core::result::Result<(), #krate::RecordCheckError> {
                    #(#magic_checks)*
                    #(#field_checks)*
                    #validate
                    #core::result::Result::Ok(())
                }
            }

            #free_asserts

            #[automatically_derived]
            impl #impl_generics #private::Field for #ident #ty_generics #plain_where {
                type Out<'__smmap> = &'__smmap Self where Self: '__smmap;
                type In = Self;

                #[inline]
                fn get(&self) -> &Self {
                    self
                }

                #[inline]
                fn set(&mut self, value: Self) {
                    *self = value;
                }
            }

            #[automatically_derived]
            #[allow(dead_code)]
            impl #impl_generics #ident #ty_generics #plain_where {
                #(#offsets)*
            }

            #[automatically_derived]
            #[allow(dead_code)]
            impl #impl_generics #ident #ty_generics #accessor_where {
                #(#accessors)*
            }
        };
    }
}

/// `tokens` with every span set to `span`, so that a failed assertion points at `span`.
fn respan(tokens: TokenStream, span: Span) -> TokenStream {
    tokens
        .into_iter()
        .map(|mut tt| {
            if let TokenTree::Group(g) = &tt {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(g.stream(), span));
                group.set_span(span);
                tt = TokenTree::Group(group);
            } else {
                tt.set_span(span);
            }
            tt
        })
        .collect()
}

/// The predicates without repetitions (a type used by several fields is bounded once).
fn unique(predicates: impl Iterator<Item = TokenStream>) -> Vec<TokenStream> {
    let mut seen = std::collections::HashSet::new();
    predicates.filter(|p| seen.insert(p.to_string())).collect()
}

/// Whether `ty` names one of the generic parameters.
fn mentions(ty: &Type, params: &[Ident]) -> bool {
    fn walk(tokens: TokenStream, params: &[Ident]) -> bool {
        tokens.into_iter().any(|tt| match tt {
            TokenTree::Ident(i) => params.contains(&i),
            TokenTree::Group(g) => walk(g.stream(), params),
            TokenTree::Punct(_) | TokenTree::Literal(_) => false,
        })
    }
    !params.is_empty() && walk(ty.to_token_stream(), params)
}

/// `span`, resolved at the call site, so that lints treat the item as generated.
fn generated(span: Span) -> Span {
    span.resolved_at(Span::call_site())
}

fn offset_const(f: &Field<'_>, core: &TokenStream) -> TokenStream {
    let vis = f.vis;
    let m = &f.member;
    let mut name = f.offset_const();
    name.set_span(generated(name.span()));
    let doc = format!("Byte offset of field `{}` in the record.", f.name);
    quote! {
        #[doc = #doc]
        #vis const #name: #core::primitive::usize = #core::mem::offset_of!(Self, #m);
    }
}

fn accessors(f: &Field<'_>, private: &TokenStream, core: &TokenStream) -> TokenStream {
    let vis = f.vis;
    let m = &f.member;
    let ty = f.ty;
    let mut getter = f.getter();
    getter.set_span(generated(getter.span()));
    let mut setter = f.setter();
    setter.set_span(generated(setter.span()));
    let name = &f.name;
    let (out, input, get_doc, set_doc) = match kind(ty) {
        Kind::ByteOrder { native, order } => {
            let native = format_ident!("{}", native);
            let what = order.map_or_else(|| format!("`{native}`"), |o| format!("{o} `{native}`"));
            (
                quote!(#core::primitive::#native),
                quote!(#core::primitive::#native),
                format!("Reads field `{name}`, a {what}."),
                format!("Writes field `{name}`, a {what}."),
            )
        }
        Kind::Byte(b) => {
            let b = format_ident!("{}", b);
            (
                quote!(#core::primitive::#b),
                quote!(#core::primitive::#b),
                format!("Reads field `{name}`."),
                format!("Writes field `{name}`."),
            )
        }
        Kind::Array => (
            quote!(&#ty),
            quote!(#ty),
            format!("Borrows field `{name}`."),
            format!("Writes field `{name}`."),
        ),
        Kind::Aligned { .. } | Kind::Invalid { .. } | Kind::Other => (
            quote_spanned!(ty.span()=> <#ty as #private::Field>::Out<'_>),
            quote_spanned!(ty.span()=> <#ty as #private::Field>::In),
            format!(
                "Reads field `{name}`: the native value of a byte-order type, `u8` or `i8`, or a \
                 reference to an array or a nested record."
            ),
            format!("Writes field `{name}`."),
        ),
    };
    quote! {
        #[doc = #get_doc]
        #[inline]
        #[must_use]
        #vis fn #getter(&self) -> #out {
            #private::Field::get(&self.#m)
        }

        #[doc = #set_doc]
        #[inline]
        #vis fn #setter(&mut self, value: #input) {
            #private::Field::set(&mut self.#m, value);
        }
    }
}
