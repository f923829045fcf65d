//! [`MappedRef`]: a record (or records) kept mapped by a guard, and the cursor methods that make one.

use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;
use std::sync::Arc;

use super::{RecordIter, zero_sized};
use crate::cursor::WindowCursor;
use crate::error::{Error, Result};
use crate::manager::Shared;
use crate::record::{self, MappedRecord};
use crate::region::Region;

// ---- MappedRef ----------------------------------------------------------------------------

/// A record (or a slice of records) that stays mapped as long as this guard lives,
/// independently of the cursor that found it.
///
/// Made by [`WindowCursor::pin`] and [`WindowCursor::pin_records`]. The guard pins the region
/// that holds the record: the manager never unmaps a pinned region, so the record stays
/// readable however the cursor moves afterwards and whatever the budget evicts, and the guard
/// may outlive the cursor and the manager handle. Dropping the guard unpins the region (which
/// stays cached until a budget needs room). While a guard lives, its region counts in the
/// manager's budgets, and no cursor may claim its bytes for writing.
///
/// `MappedRef<T>` dereferences to `T` and `MappedRef<[T]>` to `[T]`. It is `Clone` (the clone
/// pins the region once more), and `Send` and `Sync` when `T` is `Sync`.
///
/// # Examples
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// use smmap::MappedRecord;
/// use smmap::byteorder::{BigEndian, U32};
///
/// #[derive(MappedRecord)]
/// #[repr(C)]
/// struct Entry {
///     id: U32<BigEndian>,
///     len: U32<BigEndian>,
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("entries");
/// let bytes: Vec<u8> = (0u32..10_000).flat_map(|i| [i, i * 2]).flat_map(u32::to_be_bytes).collect();
/// std::fs::write(&path, &bytes)?;
///
/// // Tiny windows and a budget of one window: every move of the cursor evicts.
/// let man = smmap::SlidingWindowMapManager::builder()
///     .window_size(1)
///     .max_memory_size(1)
///     .build()?;
/// let mut c = man.make_cursor(&path)?;
/// let first = c.pin::<Entry>(0)?;
/// let last = c.pin::<Entry>(9_999 * 8)?;
/// drop(c);
/// assert_eq!((first.id(), first.len()), (0, 0));
/// assert_eq!((last.id(), last.len()), (9_999, 19_998));
/// assert_eq!(last.offset(), 79_992);
/// # Ok(()) }
/// ```
pub struct MappedRef<T: ?Sized + 'static> {
    man: Arc<Shared>,
    /// `None` only for an empty slice, which needs no region.
    region: Option<Arc<Region>>,
    /// Offset of the first byte inside the region.
    rel: usize,
    /// Number of bytes.
    len: usize,
    /// File offset of the first byte.
    offset: u64,
    /// Behaves like a `&T` for the auto traits: `Send` and `Sync` when `T: Sync`.
    _ref: PhantomData<&'static T>,
}

impl<T: ?Sized + 'static> MappedRef<T> {
    /// Pins the region the cursor currently uses and keeps `[offset, offset + len)` of it.
    fn from_cursor(c: &WindowCursor, offset: u64, len: usize) -> Result<Self> {
        let man = c.shared().clone();
        let region = match (len, c.current_region()) {
            (0, _) => None,
            (_, Some(r)) => Some(man.pin_again(r.id)?),
            (_, None) => {
                return Err(Error::invalid_argument(
                    "the cursor holds no region to pin".to_owned(),
                ));
            }
        };
        let rel = region.as_ref().map_or(0, |r| (offset - r.begin) as usize);
        Ok(MappedRef {
            man,
            region,
            rel,
            len,
            offset,
            _ref: PhantomData,
        })
    }

    /// The guarded bytes.
    #[inline]
    fn bytes(&self) -> &[u8] {
        match &self.region {
            Some(r) => r
                .map
                .bytes()
                .get(self.rel..self.rel + self.len)
                .expect("a guard lies inside its region"),
            None => &[],
        }
    }

    /// The file offset of the (first) record.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data");
    /// std::fs::write(&path, b"0123456789")?;
    /// let man = smmap::SlidingWindowMapManager::new();
    /// let r = man.make_cursor(&path)?.pin::<[u8; 3]>(4)?;
    /// assert_eq!((r.offset(), &*r), (4, b"456"));
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn offset(&self) -> u64 {
        self.offset
    }
}

impl<T: MappedRecord> Deref for MappedRef<T> {
    type Target = T;

    #[inline]
    fn deref(&self) -> &T {
        record::cast(self.bytes()).expect("a guard holds one record")
    }
}

impl<T: MappedRecord> Deref for MappedRef<[T]> {
    type Target = [T];

    #[inline]
    fn deref(&self) -> &[T] {
        record::cast_slice(self.bytes()).expect("a guard holds whole records")
    }
}

impl<T: ?Sized + 'static> Clone for MappedRef<T> {
    fn clone(&self) -> Self {
        if let Some(r) = &self.region {
            // A region this guard pins cannot be claimed for writing (a claim needs the only
            // pin), so pinning it again always succeeds.
            self.man
                .pin_again(r.id)
                .expect("a region pinned by a guard is never held for writing");
        }
        MappedRef {
            man: self.man.clone(),
            region: self.region.clone(),
            rel: self.rel,
            len: self.len,
            offset: self.offset,
            _ref: PhantomData,
        }
    }
}

impl<T: ?Sized + 'static> Drop for MappedRef<T> {
    fn drop(&mut self) {
        if let Some(r) = self.region.take() {
            let id = r.id;
            // The manager unmaps a region only when it holds the last `Arc`: drop ours first.
            drop(r);
            self.man.unpin(id, 0);
        }
    }
}

impl<T: MappedRecord + fmt::Debug> fmt::Debug for MappedRef<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MappedRef")
            .field("offset", &self.offset)
            .field("value", &**self)
            .finish()
    }
}

impl<T: MappedRecord + fmt::Debug> fmt::Debug for MappedRef<[T]> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MappedRef")
            .field("offset", &self.offset)
            .field("value", &&**self)
            .finish()
    }
}

impl WindowCursor {
    /// The record of type `T` at `offset`, checked as by [`record`](Self::record), in a guard
    /// that keeps it mapped after the cursor moves on (see [`MappedRef`]).
    ///
    /// The cursor is left on the region that holds the record.
    ///
    /// # Errors
    ///
    /// The errors of [`record`](Self::record); [`Error::InvalidArgument`] if `T` is
    /// zero-sized; [`Error::Busy`] if this cursor holds the region for writing.
    ///
    /// # Examples
    ///
    /// ```
    /// use smmap::byteorder::{LittleEndian, U64};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("numbers");
    /// let bytes: Vec<u8> = (0u64..100_000).flat_map(u64::to_le_bytes).collect();
    /// std::fs::write(&path, &bytes)?;
    /// let man = smmap::SlidingWindowMapManager::builder().window_size(1).build()?;
    /// let mut c = man.make_cursor(&path)?;
    /// let pinned: Vec<_> = (0..100_000u64)
    ///     .step_by(10_000)
    ///     .map(|i| c.pin::<U64<LittleEndian>>(i * 8))
    ///     .collect::<Result<_, _>>()?;
    /// assert!(pinned.iter().enumerate().all(|(k, v)| v.get() == k as u64 * 10_000));
    /// assert!(c.pin::<U64<LittleEndian>>(799_996).is_err()); // runs past the end
    /// # Ok(()) }
    /// ```
    pub fn pin<T: MappedRecord>(&mut self, offset: u64) -> Result<MappedRef<T>> {
        if T::SIZE == 0 {
            return Err(zero_sized::<T>("a guard"));
        }
        self.record::<T>(offset)?;
        // A guard keeps a region: the record is mapped even if it was a small read.
        self.use_region_mapped(offset, T::SIZE)?;
        MappedRef::from_cursor(self, offset, T::SIZE)
    }

    /// `count` consecutive records of type `T` from `offset`, checked as by
    /// [`records`](Self::records), in a guard that keeps them mapped after the cursor moves on
    /// (see [`MappedRef`]).
    ///
    /// # Errors
    ///
    /// The errors of [`records`](Self::records); [`Error::Busy`] if this cursor holds the
    /// region for writing.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data");
    /// std::fs::write(&path, b"abcdefghij")?;
    /// let man = smmap::SlidingWindowMapManager::new();
    /// let mut c = man.make_cursor(&path)?;
    /// let pairs = c.pin_records::<[u8; 2]>(2, 3)?;
    /// drop(c);
    /// assert_eq!(&*pairs, &[*b"cd", *b"ef", *b"gh"]);
    /// # Ok(()) }
    /// ```
    pub fn pin_records<T: MappedRecord>(
        &mut self,
        offset: u64,
        count: usize,
    ) -> Result<MappedRef<[T]>> {
        let len = self.records::<T>(offset, count)?.len() * T::SIZE;
        if len > 0 {
            self.use_region_mapped(offset, len)?;
        }
        MappedRef::from_cursor(self, offset, len)
    }

    /// Iterates over the records of type `T` from `offset` to the end of the file, through
    /// this cursor (see [`RecordIter::new`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use smmap::byteorder::{BigEndian, U16};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data");
    /// std::fs::write(&path, [0, 1, 0, 2, 0, 3])?;
    /// let man = smmap::SlidingWindowMapManager::new();
    /// let values: Vec<u16> = man
    ///     .make_cursor(&path)?
    ///     .iter_records::<U16<BigEndian>>(2)
    ///     .map(|r| r.map(|v| v.get()))
    ///     .collect::<Result<_, _>>()?;
    /// assert_eq!(values, [2, 3]);
    /// # Ok(()) }
    /// ```
    pub fn iter_records<T: MappedRecord>(self, offset: u64) -> RecordIter<T> {
        RecordIter::new(self, offset)
    }

    /// Iterates over `count` records of type `T` from `offset`, through this cursor (see
    /// [`RecordIter::with_count`]).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data");
    /// std::fs::write(&path, b"abcdef")?;
    /// let man = smmap::SlidingWindowMapManager::new();
    /// let mut it = man.make_cursor(&path)?.iter_records_n::<[u8; 2]>(1, 3);
    /// assert_eq!(it.next().unwrap()?, *b"bc");
    /// assert_eq!(it.next().unwrap()?, *b"de");
    /// assert!(it.next().unwrap().is_err()); // "f" is not a whole record
    /// assert!(it.next().is_none());
    /// # Ok(()) }
    /// ```
    pub fn iter_records_n<T: MappedRecord>(self, offset: u64, count: u64) -> RecordIter<T> {
        RecordIter::with_count(self, offset, count)
    }
}
