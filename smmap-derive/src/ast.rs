//! The derive's model of its input, borrowed from syn so that every part keeps its span.

use proc_macro2::Span;
use syn::{Data, DeriveInput, Fields, Generics, Ident, Index, Member, Type, Visibility};

use crate::Errors;
use crate::attr::{self, FieldAttrs, StructAttrs};

/// A struct that `#[derive(MappedRecord)]` is applied to.
pub(crate) struct Input<'a> {
    pub(crate) ident: &'a Ident,
    pub(crate) generics: &'a Generics,
    pub(crate) attrs: StructAttrs,
    pub(crate) style: Style,
    pub(crate) fields: Vec<Field<'a>>,
}

/// How the struct declares its fields.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// `struct S { a: A }`.
    Named,
    /// `struct S(A);`.
    Tuple,
    /// `struct S;`.
    Unit,
}

/// One field of the struct.
pub(crate) struct Field<'a> {
    /// `self.<member>`.
    pub(crate) member: Member,
    /// The field's name without `r#`, or its index for tuple fields.
    pub(crate) name: String,
    /// The span to give to the items generated for this field.
    pub(crate) span: Span,
    pub(crate) ty: &'a Type,
    pub(crate) vis: &'a Visibility,
    pub(crate) attrs: FieldAttrs,
}

impl<'a> Input<'a> {
    /// Builds the model; enums and unions are rejected here, attribute errors go to `errors`.
    pub(crate) fn from_syn(node: &'a DeriveInput, errors: &mut Errors) -> syn::Result<Self> {
        let data = match &node.data {
            Data::Struct(data) => data,
            Data::Enum(data) => {
                return Err(syn::Error::new(
                    data.enum_token.span,
                    "`MappedRecord` cannot be derived for enums: not every bit pattern is a valid \
                     discriminant; use a struct with an integer field (e.g. `u8` or \
                     `U16<LittleEndian>`) and convert it with `TryFrom`",
                ));
            }
            Data::Union(data) => {
                return Err(syn::Error::new(
                    data.union_token.span,
                    "`MappedRecord` cannot be derived for unions; use a struct with a byte array \
                     field (`[u8; N]`) and view its bytes as the record you need",
                ));
            }
        };
        let attrs = attr::struct_attrs(&node.attrs, errors);
        let style = match &data.fields {
            Fields::Named(_) => Style::Named,
            Fields::Unnamed(_) => Style::Tuple,
            Fields::Unit => Style::Unit,
        };
        let fields = data
            .fields
            .iter()
            .enumerate()
            .map(|(i, field)| {
                let (member, name, span) = match &field.ident {
                    Some(ident) => {
                        let name = ident.to_string();
                        let name = name.strip_prefix("r#").unwrap_or(&name).to_owned();
                        (Member::Named(ident.clone()), name, ident.span())
                    }
                    None => {
                        let span = syn::spanned::Spanned::span(&field.ty);
                        (
                            Member::Unnamed(Index {
                                index: i as u32,
                                span,
                            }),
                            i.to_string(),
                            span,
                        )
                    }
                };
                Field {
                    member,
                    name,
                    span,
                    ty: &field.ty,
                    vis: &field.vis,
                    attrs: attr::field_attrs(&field.attrs, errors),
                }
            })
            .collect();
        Ok(Input {
            ident: &node.ident,
            generics: &node.generics,
            attrs,
            style,
            fields,
        })
    }
}

impl Field<'_> {
    /// The getter's name: the field's own identifier, or `get_<index>` for tuple fields.
    pub(crate) fn getter(&self) -> Ident {
        match &self.member {
            Member::Named(ident) => ident.clone(),
            Member::Unnamed(_) => Ident::new(&format!("get_{}", self.name), self.span),
        }
    }

    /// The setter's name: `set_<name>` or `set_<index>`.
    pub(crate) fn setter(&self) -> Ident {
        Ident::new(&format!("set_{}", self.name), self.span)
    }

    /// The offset constant's name: `OFFSET_<NAME>` or `OFFSET_<index>`.
    pub(crate) fn offset_const(&self) -> Ident {
        Ident::new(&format!("OFFSET_{}", self.name.to_uppercase()), self.span)
    }

    /// How the field is named in messages: `` `len` `` or `` `0` ``.
    pub(crate) fn display(&self) -> String {
        format!("`{}`", self.name)
    }
}

/// What a field type is, as far as its syntax tells.
pub(crate) enum Kind {
    /// A byte-order type of `smmap::byteorder` (judged by its last path segment, e.g. `U32`):
    /// the native type its getter returns and the byte order, when it is spelled out.
    ByteOrder {
        native: &'static str,
        order: Option<&'static str>,
    },
    /// `u8` or `i8`.
    Byte(&'static str),
    /// `[T; N]`.
    Array,
    /// A primitive whose alignment is greater than 1 (`u32`, `f64`, ...): the byte-order type
    /// to use instead and its alignment, in words.
    Aligned {
        replacement: &'static str,
        align: &'static str,
    },
    /// `bool` or `char`: not every bit pattern is valid.
    Invalid { replacement: &'static str },
    /// Anything else: left to the `MappedRecord` bound.
    Other,
}

const BYTE_ORDER: &[(&str, &str)] = &[
    ("U16", "u16"),
    ("U32", "u32"),
    ("U64", "u64"),
    ("U128", "u128"),
    ("Usize", "usize"),
    ("I16", "i16"),
    ("I32", "i32"),
    ("I64", "i64"),
    ("I128", "i128"),
    ("Isize", "isize"),
    ("F32", "f32"),
    ("F64", "f64"),
];

const ALIGNED: &[(&str, &str, &str)] = &[
    ("u16", "U16", "alignment 2"),
    ("u32", "U32", "alignment 4"),
    ("u64", "U64", "alignment 8"),
    ("u128", "U128", "alignment 16"),
    ("usize", "Usize", "the alignment of a pointer"),
    ("i16", "I16", "alignment 2"),
    ("i32", "I32", "alignment 4"),
    ("i64", "I64", "alignment 8"),
    ("i128", "I128", "alignment 16"),
    ("isize", "Isize", "the alignment of a pointer"),
    ("f32", "F32", "alignment 4"),
    ("f64", "F64", "alignment 8"),
];

/// Looks through `(T)` and invisible groups.
pub(crate) fn peel(mut ty: &Type) -> &Type {
    loop {
        match ty {
            Type::Paren(p) => ty = &p.elem,
            Type::Group(g) => ty = &g.elem,
            _ => return ty,
        }
    }
}

/// Classifies a field type by its syntax.
pub(crate) fn kind(ty: &Type) -> Kind {
    let ty = peel(ty);
    if let Type::Array(_) = ty {
        return Kind::Array;
    }
    let Type::Path(p) = ty else {
        return Kind::Other;
    };
    if p.qself.is_some() {
        return Kind::Other;
    }
    let Some(last) = p.path.segments.last() else {
        return Kind::Other;
    };
    let name = last.ident.to_string();
    let single = p.path.segments.len() == 1 && p.path.leading_colon.is_none();
    let primitive_path = single
        || p.path
            .segments
            .iter()
            .rev()
            .nth(1)
            .is_some_and(|s| s.ident == "primitive");
    if last.arguments.is_none() && primitive_path {
        match name.as_str() {
            "u8" => return Kind::Byte("u8"),
            "i8" => return Kind::Byte("i8"),
            "bool" => return Kind::Invalid { replacement: "u8" },
            "char" => return Kind::Invalid { replacement: "U32" },
            _ => {}
        }
        if let Some(&(_, replacement, align)) = ALIGNED.iter().find(|(n, _, _)| *n == name) {
            return Kind::Aligned { replacement, align };
        }
    }
    if let syn::PathArguments::AngleBracketed(args) = &last.arguments
        && let Some(&(_, native)) = BYTE_ORDER.iter().find(|(n, _)| *n == name)
        && args.args.len() == 1
    {
        let order = match args.args.first() {
            Some(syn::GenericArgument::Type(Type::Path(o))) => {
                match o
                    .path
                    .segments
                    .last()
                    .map(|s| s.ident.to_string())
                    .as_deref()
                {
                    Some("BigEndian" | "BE" | "NetworkEndian") => Some("big-endian"),
                    Some("LittleEndian" | "LE") => Some("little-endian"),
                    Some("NativeEndian") => Some("native-endian"),
                    _ => None,
                }
            }
            _ => None,
        };
        return Kind::ByteOrder { native, order };
    }
    Kind::Other
}
