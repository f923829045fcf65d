//! Typed zero-copy records: the [`MappedRecord`] trait and its implementations.
//!
//! A record is a type whose values can be read from any byte offset of a mapped file without
//! copying: its alignment is 1, it has no padding, and every bit pattern is a valid value. smmap
//! implements the trait for `u8`, `i8`, arrays of records and zerocopy's byte-order integer and
//! float types (re-exported as [`crate::byteorder`]); `#[derive(MappedRecord)]` implements it for
//! `#[repr(C)]` structs made of records.

use std::fmt;

use zerocopy::byteorder::{
    ByteOrder, F32, F64, I16, I32, I64, I128, Isize, U16, U32, U64, U128, Usize,
};

/// A type that can be read in place from any offset of a file's bytes.
///
/// Implemented by smmap for `u8`, `i8`, `[T; N]` where `T: MappedRecord`, and the byte-order
/// types of [`crate::byteorder`]; implemented for structs by `#[derive(MappedRecord)]`, which
/// checks every condition below at compile time.
///
/// # Safety
///
/// An implementation promises that:
/// - `Self::SIZE == size_of::<Self>()`;
/// - `align_of::<Self>() == 1`, so a `&Self` may point at any byte address;
/// - `Self` has no padding and every bit pattern of `SIZE` bytes is a valid `Self`, so any
///   bytes of a file may be viewed as a `Self` (and any `Self` written back as bytes);
/// - `Self` has no interior mutability (`UnsafeCell`), so a `&Self` over a shared read-only
///   mapping is never written through.
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not a record: it cannot be read at any file offset",
    label = "not a record",
    note = "derive `MappedRecord` for it, or use `u8`, `i8`, arrays or `smmap::byteorder` types"
)]
pub unsafe trait MappedRecord: Sized {
    /// The size of one record in bytes: `size_of::<Self>()`.
    const SIZE: usize;

    /// Whether [`check`](Self::check) reads the record (default `true`, which is always
    /// right). `false` tells smmap that the check accepts every value without reading it, so
    /// that a read in place need not look again, after the check, for bytes the SIGBUS guard
    /// found lost (see the crate documentation, "Files that change"). smmap's own records and
    /// the derive set it; an implementation that overrides `check` must leave it `true`.
    const CHECKS: bool = true;

    /// Checks the record's content when it is read through a cursor: its magic numbers
    /// (`#[mapped(magic = ...)]`) and its validation hook (`#[mapped(validate = ...)]`).
    ///
    /// The default accepts every value. Implementations produced by the derive call `check`
    /// on every field too, so nested records are checked.
    ///
    /// # Errors
    ///
    /// A [`RecordCheckError`] that the cursor turns into [`Error::BadMagic`](crate::Error) or
    /// [`Error::InvalidRecord`](crate::Error) with the path and the offset.
    #[inline]
    fn check(&self) -> Result<(), RecordCheckError> {
        Ok(())
    }

    /// Views `bytes` as a record, without copying and without [`check`](Self::check)ing it.
    ///
    /// Returns `None` unless `bytes.len() == Self::SIZE`.
    #[inline(always)]
    fn ref_from_bytes(bytes: &[u8]) -> Option<&Self> {
        cast(bytes)
    }

    /// Views `bytes` as a mutable record, without copying.
    ///
    /// Returns `None` unless `bytes.len() == Self::SIZE`.
    #[inline(always)]
    fn mut_from_bytes(bytes: &mut [u8]) -> Option<&mut Self> {
        cast_mut(bytes)
    }

    /// Views `bytes` as a slice of records, without copying and without checking them.
    ///
    /// Returns `None` unless `bytes.len()` is a multiple of `Self::SIZE` and `Self::SIZE > 0`.
    #[inline(always)]
    fn slice_from_bytes(bytes: &[u8]) -> Option<&[Self]> {
        cast_slice(bytes)
    }

    /// The record's bytes, as they are on disk.
    #[inline(always)]
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: `self` is `size_of::<Self>()` readable bytes; `MappedRecord` guarantees there
        // is no padding (every byte is initialized) and no interior mutability.
        unsafe { std::slice::from_raw_parts((self as *const Self).cast::<u8>(), size_of::<Self>()) }
    }
}

/// Why a record's [`MappedRecord::check`] rejected it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum RecordCheckError {
    /// A magic field does not hold the declared bytes.
    BadMagic {
        /// Offset of the magic field inside the record.
        field_offset: usize,
        /// The declared magic.
        expected: &'static [u8],
        /// The bytes found.
        found: Vec<u8>,
    },
    /// The validation hook rejected the record.
    Invalid {
        /// Offset inside the record of the (nested) record that failed, 0 for the outermost.
        field_offset: usize,
        /// The hook's message.
        message: String,
    },
}

impl RecordCheckError {
    /// The same error for a record nested at `field_offset` inside another one.
    pub fn nested(self, field_offset: usize) -> Self {
        match self {
            RecordCheckError::BadMagic {
                field_offset: f,
                expected,
                found,
            } => RecordCheckError::BadMagic {
                field_offset: f + field_offset,
                expected,
                found,
            },
            RecordCheckError::Invalid {
                field_offset: f,
                message,
            } => RecordCheckError::Invalid {
                field_offset: f + field_offset,
                message,
            },
        }
    }
}

impl fmt::Display for RecordCheckError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordCheckError::BadMagic {
                field_offset,
                expected,
                found,
            } => write!(
                f,
                "bad magic at record offset {field_offset}: expected {expected:02x?}, found {found:02x?}"
            ),
            RecordCheckError::Invalid { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for RecordCheckError {}

// SAFETY: size 1, alignment 1, every bit pattern is a valid u8, no interior mutability.
unsafe impl MappedRecord for u8 {
    const SIZE: usize = 1;
    const CHECKS: bool = false;
}

// SAFETY: size 1, alignment 1, every bit pattern is a valid i8, no interior mutability.
unsafe impl MappedRecord for i8 {
    const SIZE: usize = 1;
    const CHECKS: bool = false;
}

// SAFETY: an array has the alignment of its element (1), no padding between elements (size is
// N * size_of::<T>() with no gaps since T has alignment 1 and no padding), every bit pattern is
// valid since it is for each T, and no interior mutability since T has none.
unsafe impl<T: MappedRecord, const N: usize> MappedRecord for [T; N] {
    const SIZE: usize = N * T::SIZE;
    const CHECKS: bool = T::CHECKS;

    #[inline]
    fn check(&self) -> Result<(), RecordCheckError> {
        for (i, item) in self.iter().enumerate() {
            item.check().map_err(|e| e.nested(i * T::SIZE))?;
        }
        Ok(())
    }
}

macro_rules! byteorder_records {
    ($($ty:ident => $n:expr),* $(,)?) => {$(
        // SAFETY: zerocopy's byte-order types are `#[repr(transparent)]` wrappers of `[u8; N]`
        // (plus a zero-sized `PhantomData<O>`): size N, alignment 1, no padding, every bit
        // pattern valid, no interior mutability.
        unsafe impl<O: ByteOrder> MappedRecord for $ty<O> {
            const SIZE: usize = $n;
            const CHECKS: bool = false;
        }
    )*};
}

byteorder_records! {
    U16 => 2, U32 => 4, U64 => 8, U128 => 16, Usize => size_of::<usize>(),
    I16 => 2, I32 => 4, I64 => 8, I128 => 16, Isize => size_of::<isize>(),
    F32 => 4, F64 => 8,
}

/// Views `bytes` as a `&T`.
///
/// Returns `None` when `bytes` is not exactly `T::SIZE` long.
#[inline(always)]
pub(crate) fn cast<T: MappedRecord>(bytes: &[u8]) -> Option<&T> {
    if bytes.len() != T::SIZE || T::SIZE != size_of::<T>() {
        return None;
    }
    // SAFETY: `bytes` is `size_of::<T>()` bytes long (checked above) and valid for reads for the
    // lifetime of the borrow; `T: MappedRecord` guarantees alignment 1 (any address is
    // aligned), that every bit pattern is a valid `T`, and no interior mutability, so a shared
    // `&T` over shared bytes is sound.
    Some(unsafe { &*bytes.as_ptr().cast::<T>() })
}

/// Views `bytes` as a `&[T]` of `bytes.len() / T::SIZE` records.
///
/// Returns `None` when `bytes.len()` is not a multiple of `T::SIZE` or `T` is zero-sized.
#[inline(always)]
pub(crate) fn cast_slice<T: MappedRecord>(bytes: &[u8]) -> Option<&[T]> {
    if T::SIZE == 0 || T::SIZE != size_of::<T>() || !bytes.len().is_multiple_of(T::SIZE) {
        return None;
    }
    let count = bytes.len() / T::SIZE;
    // SAFETY: `count * size_of::<T>() == bytes.len()`, so the slice covers exactly the bytes
    // borrowed; alignment 1, validity of every bit pattern and absence of interior mutability
    // come from `T: MappedRecord`.
    Some(unsafe { std::slice::from_raw_parts(bytes.as_ptr().cast::<T>(), count) })
}

/// Views `bytes` as a `&mut T`.
///
/// Returns `None` when `bytes` is not exactly `T::SIZE` long.
#[inline(always)]
pub(crate) fn cast_mut<T: MappedRecord>(bytes: &mut [u8]) -> Option<&mut T> {
    if bytes.len() != T::SIZE || T::SIZE != size_of::<T>() {
        return None;
    }
    // SAFETY: `bytes` is exactly `size_of::<T>()` bytes, exclusively borrowed for the lifetime of
    // the result; alignment 1 and validity of every bit pattern come from `T: MappedRecord`, and
    // since `T` has no padding every value written through the `&mut T` is valid bytes.
    Some(unsafe { &mut *bytes.as_mut_ptr().cast::<T>() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use zerocopy::byteorder::{BigEndian, LittleEndian};

    #[test]
    fn sizes() {
        assert_eq!(<U32<BigEndian> as MappedRecord>::SIZE, 4);
        assert_eq!(<[U16<LittleEndian>; 3] as MappedRecord>::SIZE, 6);
        assert_eq!(<[[u8; 20]; 2] as MappedRecord>::SIZE, 40);
        assert_eq!(<Usize<BigEndian> as MappedRecord>::SIZE, size_of::<usize>());
    }

    #[test]
    fn cast_reads_any_offset() {
        let bytes: Vec<u8> = (0u8..32).collect();
        for ofs in 0..28 {
            let v: &U32<BigEndian> = cast(&bytes[ofs..ofs + 4]).unwrap();
            assert_eq!(
                v.get(),
                u32::from_be_bytes(bytes[ofs..ofs + 4].try_into().unwrap())
            );
        }
        assert!(cast::<U32<BigEndian>>(&bytes[..3]).is_none());
        let s: &[U16<LittleEndian>] = cast_slice(&bytes[1..9]).unwrap();
        assert_eq!(s.len(), 4);
        assert_eq!(s[3].get(), u16::from_le_bytes([bytes[7], bytes[8]]));
        assert!(cast_slice::<U16<LittleEndian>>(&bytes[..3]).is_none());
    }

    #[test]
    fn cast_mut_writes() {
        let mut bytes = [0u8; 8];
        let v: &mut U32<LittleEndian> = cast_mut(&mut bytes[3..7]).unwrap();
        v.set(0xdead_beef);
        assert_eq!(&bytes[3..7], &0xdead_beefu32.to_le_bytes());
    }
}
