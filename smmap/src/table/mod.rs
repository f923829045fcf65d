//! Records beyond one read: guards that keep a record mapped ([`MappedRef`]), arrays of records
//! indexed like slices ([`RecordTable`]) and sequential iteration over records
//! ([`RecordIter`]).
//!
//! All three read through a [`WindowCursor`](crate::WindowCursor), so they work with both managers and stay within
//! the manager's budgets; none of them copies the file's bytes, except where an API yields
//! records by value.

mod guard;
mod iter;
mod record_table;

pub use guard::MappedRef;
pub use iter::RecordIter;
pub use record_table::RecordTable;

use crate::error::Error;

pub(super) fn zero_sized<T>(what: &str) -> Error {
    Error::invalid_argument(format!(
        "{what} of zero-sized type {}",
        std::any::type_name::<T>()
    ))
}
