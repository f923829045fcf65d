//! Records beyond one read: guards that keep a record mapped ([`MappedRef`]), arrays of records
//! indexed like slices ([`RecordTable`]) and sequential iteration over records
//! ([`RecordIter`]).
//!
//! All three read through a [`WindowCursor`], so they work with both managers and stay within
//! the manager's budgets; none of them copies the file's bytes, except where an API yields
//! records by value.

use std::cmp::Ordering;
use std::fmt;
use std::marker::PhantomData;
use std::ops::{Deref, Range};
use std::sync::Arc;

use crate::cursor::{WindowCursor, check_error};
use crate::error::{Error, Result};
use crate::manager::{Region, Shared};
use crate::record::{self, MappedRecord};

fn zero_sized<T>(what: &str) -> Error {
    Error::InvalidArgument(format!(
        "{what} of zero-sized type {}",
        std::any::type_name::<T>()
    ))
}

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
            (_, Some(r)) => {
                man.pin_again(r.id)?;
                Some(r.clone())
            }
            (_, None) => {
                return Err(Error::InvalidArgument(
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

// ---- RecordTable --------------------------------------------------------------------------

/// An array of `len` records of type `T` stored from file offset `base`, indexed like a slice.
///
/// The table reads through its cursor, so the array may be far larger than a window or the
/// memory budget: a lookup maps the window that holds the record when the current one does not.
/// A lookup inside the current window is a range check and pointer arithmetic.
///
/// Every record is checked ([`MappedRecord::check`]: magic numbers and validation hooks) when
/// it is read.
///
/// # Examples
///
/// Looking up an object id in the sorted id table of a git pack index:
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// use smmap::{MappedRecord, RecordTable};
///
/// #[derive(MappedRecord)]
/// #[repr(C)]
/// struct ObjectId([u8; 20]);
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("ids");
/// let mut ids: Vec<[u8; 20]> = (0u32..1000).map(|i| {
///     let mut id = [0u8; 20];
///     id[..4].copy_from_slice(&i.wrapping_mul(2_654_435_761).to_be_bytes());
///     id
/// }).collect();
/// ids.sort();
/// let mut bytes = b"header".to_vec();
/// bytes.extend(ids.iter().flatten());
/// std::fs::write(&path, &bytes)?;
///
/// let man = smmap::SlidingWindowMapManager::builder().window_size(1).build()?;
/// let mut table = RecordTable::<ObjectId>::new(man.make_cursor(&path)?, 6, 1000)?;
/// assert_eq!(table.len(), 1000);
/// assert_eq!(table.get(999)?.get_0(), &ids[999]);
/// let wanted = ids[321];
/// assert_eq!(table.binary_search_by(|id| id.get_0().cmp(&wanted))?, Ok(321));
/// assert!(table.get(1000).is_err());
/// # Ok(()) }
/// ```
pub struct RecordTable<T> {
    cursor: WindowCursor,
    base: u64,
    len: u64,
    /// Records `[first, first + span)` lie inside the cursor's current region...
    first: u64,
    span: u64,
    /// ... and record `first` starts at this offset inside it.
    rel0: usize,
    _t: PhantomData<fn() -> T>,
}

impl<T: MappedRecord> RecordTable<T> {
    /// A table of `len` records of type `T` from file offset `base`, read through `cursor`.
    ///
    /// The file's size is read again to check that the table lies inside the file. Nothing is
    /// mapped until a record is read.
    ///
    /// # Errors
    ///
    /// - [`Error::OutOfBounds`] if `base + len * T::SIZE` exceeds the file's size (or
    ///   overflows).
    /// - [`Error::InvalidArgument`] if `T` is zero-sized.
    /// - [`Error::Io`] if the file's size cannot be read.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data");
    /// std::fs::write(&path, [1u8; 100])?;
    /// let man = smmap::SlidingWindowMapManager::new();
    /// assert!(smmap::RecordTable::<[u8; 10]>::new(man.make_cursor(&path)?, 0, 10).is_ok());
    /// assert!(smmap::RecordTable::<[u8; 10]>::new(man.make_cursor(&path)?, 1, 10).is_err());
    /// assert!(smmap::RecordTable::<[u8; 0]>::new(man.make_cursor(&path)?, 0, 10).is_err());
    /// # Ok(()) }
    /// ```
    pub fn new(mut cursor: WindowCursor, base: u64, len: u64) -> Result<Self> {
        if T::SIZE == 0 {
            return Err(zero_sized::<T>("a record table"));
        }
        let file_size = cursor.refresh_file_size()?;
        let bytes = len.checked_mul(T::SIZE as u64);
        match bytes.and_then(|b| base.checked_add(b)) {
            Some(end) if end <= file_size => Ok(RecordTable {
                cursor,
                base,
                len,
                first: 0,
                span: 0,
                rel0: 0,
                _t: PhantomData,
            }),
            _ => Err(Error::OutOfBounds {
                path: cursor.location(),
                offset: base,
                len: bytes.unwrap_or(u64::MAX),
                file_size,
            }),
        }
    }

    /// The number of records.
    #[inline]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the table has no records.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file offset of record 0.
    #[inline]
    pub fn base(&self) -> u64 {
        self.base
    }

    /// The cursor the table reads through.
    #[inline]
    pub fn cursor(&self) -> &WindowCursor {
        &self.cursor
    }

    /// Gives the cursor back.
    pub fn into_cursor(self) -> WindowCursor {
        self.cursor
    }

    /// Record `i`, read in place and checked.
    ///
    /// # Errors
    ///
    /// - [`Error::OutOfBounds`] if `i >= len()`, with the file offset record `i` would have
    ///   (`base + i * T::SIZE`, saturating) and the file's size; the table's end may lie before
    ///   the end of the file.
    /// - [`Error::BadMagic`] or [`Error::InvalidRecord`] if the record's check fails.
    /// - The errors of [`WindowCursor::use_region`] when a window must be mapped.
    ///
    /// # Examples
    ///
    /// ```
    /// use smmap::byteorder::{LittleEndian, U32};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data");
    /// let bytes: Vec<u8> = (0u32..50_000).flat_map(u32::to_le_bytes).collect();
    /// std::fs::write(&path, &bytes)?;
    /// let man = smmap::SlidingWindowMapManager::builder().window_size(1).build()?;
    /// let mut t = smmap::RecordTable::<U32<LittleEndian>>::new(man.make_cursor(&path)?, 0, 50_000)?;
    /// let sum: u64 = (0..t.len()).map(|i| t.get(i).map(|v| u64::from(v.get()))).sum::<Result<_, _>>()?;
    /// assert_eq!(sum, 49_999 * 50_000 / 2);
    /// assert!(matches!(t.get(50_000), Err(smmap::Error::OutOfBounds { offset: 200_000, .. })));
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn get(&mut self, i: u64) -> Result<&T> {
        let k = i.wrapping_sub(self.first);
        if k >= self.span {
            return self.get_slow(i);
        }
        self.hit(i, k)
    }

    /// Record `i`, the `k`-th of the cached range.
    #[inline(always)]
    fn hit(&self, i: u64, k: u64) -> Result<&T> {
        let rel = self.rel0 + k as usize * T::SIZE;
        let rec = self
            .cursor
            .window_bytes()
            .get(rel..rel + T::SIZE)
            .and_then(record::cast::<T>);
        match rec {
            Some(rec) => match rec.check() {
                Ok(()) => Ok(rec),
                Err(e) => Err(self.check_failed(i, e)),
            },
            // Not reached: the cached range lies inside the cursor's region.
            None => Err(self.out_of_bounds(i)),
        }
    }

    #[cold]
    #[inline(never)]
    fn get_slow(&mut self, i: u64) -> Result<&T> {
        self.locate(i)?;
        self.hit(i, i - self.first)
    }

    #[cold]
    fn check_failed(&self, i: u64, e: crate::record::RecordCheckError) -> Error {
        check_error::<T>(self.cursor.location(), self.base + i * T::SIZE as u64, e)
    }

    /// Places the cursor on a region holding record `i` and caches the range of records that
    /// region holds.
    #[cold]
    #[inline(never)]
    fn locate(&mut self, i: u64) -> Result<()> {
        self.span = 0;
        if i >= self.len {
            return Err(self.out_of_bounds(i));
        }
        let size = T::SIZE as u64;
        // No overflow: `base + len * size` was checked in `new`.
        let offset = self.base + i * size;
        if self.cursor.use_region(offset, T::SIZE)?.len() != T::SIZE {
            // The file shrank since the table was made.
            return Err(Error::OutOfBounds {
                path: self.cursor.location(),
                offset,
                len: size,
                file_size: self.cursor.file_size(),
            });
        }
        let r = self.cursor.current_region().expect("positioned above");
        let (begin, end) = (r.begin, r.end());
        // Records whose bytes lie entirely inside [begin, end).
        let first = begin.saturating_sub(self.base).div_ceil(size);
        let last = ((end - self.base) / size).min(self.len);
        debug_assert!(first <= i && i < last);
        self.first = first;
        self.span = last - first;
        self.rel0 = (self.base + first * size - begin) as usize;
        Ok(())
    }

    #[cold]
    fn out_of_bounds(&self, i: u64) -> Error {
        Error::OutOfBounds {
            path: self.cursor.location(),
            offset: i.saturating_mul(T::SIZE as u64).saturating_add(self.base),
            len: T::SIZE as u64,
            file_size: self.cursor.file_size(),
        }
    }

    /// Records `i..j` at once, without copying: from record `i` to the last record of the
    /// window that holds it (`j > i`, `j <= len()`), each checked. Scanning a table in order
    /// with `chunk_at` runs as fast as a loop over a slice.
    ///
    /// # Errors
    ///
    /// As [`get`](Self::get); a record whose check fails ends the chunk before it, or is the
    /// error when it is record `i`.
    ///
    /// # Examples
    ///
    /// ```
    /// use smmap::byteorder::{LittleEndian, U32};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data");
    /// let bytes: Vec<u8> = (0u32..50_000).flat_map(u32::to_le_bytes).collect();
    /// std::fs::write(&path, &bytes)?;
    /// let man = smmap::SlidingWindowMapManager::builder().window_size(1).build()?;
    /// let mut t = smmap::RecordTable::<U32<LittleEndian>>::new(man.make_cursor(&path)?, 0, 50_000)?;
    /// let (mut i, mut sum) = (0, 0u64);
    /// while i < t.len() {
    ///     let chunk = t.chunk_at(i)?;
    ///     sum += chunk.iter().map(|v| u64::from(v.get())).sum::<u64>();
    ///     i += chunk.len() as u64;
    /// }
    /// assert_eq!(sum, 49_999 * 50_000 / 2);
    /// # Ok(()) }
    /// ```
    pub fn chunk_at(&mut self, i: u64) -> Result<&[T]> {
        if i.wrapping_sub(self.first) >= self.span {
            self.locate(i)?;
        }
        let k = (i - self.first) as usize;
        let rel = self.rel0 + k * T::SIZE;
        let count = self.span as usize - k;
        let good = match self.view(rel, count) {
            Some(recs) => recs
                .iter()
                .position(|r| r.check().is_err())
                .unwrap_or(count),
            // Not reached: the cached range lies inside the cursor's region.
            None => return Err(self.out_of_bounds(i)),
        };
        if good == 0 {
            // Record `i` fails its check: `get` reports it.
            return self.get(i).map(std::slice::from_ref);
        }
        Ok(self.view(rel, count).map_or(&[][..], |recs| &recs[..good]))
    }

    /// `count` records from offset `rel` of the cursor's region.
    #[inline]
    fn view(&self, rel: usize, count: usize) -> Option<&[T]> {
        self.cursor
            .window_bytes()
            .get(rel..rel + count * T::SIZE)
            .and_then(record::cast_slice::<T>)
    }

    /// Binary searches the table with a comparator, like [`slice::binary_search_by`]: the
    /// table must be sorted by `f`'s order.
    ///
    /// Returns `Ok(Ok(i))` when `f` returns `Equal` for record `i` (any one of several
    /// matches), `Ok(Err(i))` when no record matches, `i` being where a matching record could
    /// be inserted to keep the order. Reads about `log2(len)` records.
    ///
    /// # Errors
    ///
    /// The errors of [`get`](Self::get) for the records read.
    ///
    /// # Examples
    ///
    /// ```
    /// use smmap::byteorder::{BigEndian, U32};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data");
    /// let bytes: Vec<u8> = (0u32..1000).map(|i| i * 2).flat_map(u32::to_be_bytes).collect();
    /// std::fs::write(&path, &bytes)?;
    /// let man = smmap::SlidingWindowMapManager::new();
    /// let mut t = smmap::RecordTable::<U32<BigEndian>>::new(man.make_cursor(&path)?, 0, 1000)?;
    /// assert_eq!(t.binary_search_by(|v| v.get().cmp(&500))?, Ok(250));
    /// assert_eq!(t.binary_search_by(|v| v.get().cmp(&501))?, Err(251));
    /// # Ok(()) }
    /// ```
    pub fn binary_search_by<F>(&mut self, f: F) -> Result<Result<u64, u64>>
    where
        F: FnMut(&T) -> Ordering,
    {
        self.binary_search_range_by(0..self.len, f)
    }

    /// Binary searches records `range` of the table with a comparator, as
    /// [`binary_search_by`](Self::binary_search_by) does over the whole table; the indices
    /// returned are indices of the whole table (a git pack index narrows the search with its
    /// fanout table this way).
    ///
    /// # Errors
    ///
    /// [`Error::InvalidArgument`] if `range` is decreasing or ends past `len()`; the errors
    /// of [`get`](Self::get) for the records read.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data");
    /// std::fs::write(&path, b"acegikmoqs")?;
    /// let man = smmap::SlidingWindowMapManager::new();
    /// let mut t = smmap::RecordTable::<u8>::new(man.make_cursor(&path)?, 0, 10)?;
    /// assert_eq!(t.binary_search_range_by(2..6, |b| b.cmp(&b'i'))?, Ok(4));
    /// assert_eq!(t.binary_search_range_by(2..6, |b| b.cmp(&b'q'))?, Err(6));
    /// assert_eq!(t.binary_search_range_by(2..6, |b| b.cmp(&b'a'))?, Err(2));
    /// assert!(t.binary_search_range_by(2..11, |b| b.cmp(&b'a')).is_err());
    /// # Ok(()) }
    /// ```
    pub fn binary_search_range_by<F>(
        &mut self,
        range: Range<u64>,
        mut f: F,
    ) -> Result<Result<u64, u64>>
    where
        F: FnMut(&T) -> Ordering,
    {
        if range.start > range.end || range.end > self.len {
            return Err(Error::InvalidArgument(format!(
                "range {range:?} of a record table of {} records",
                self.len
            )));
        }
        let (mut lo, mut hi) = (range.start, range.end);
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            match f(self.get(mid)?) {
                Ordering::Less => lo = mid + 1,
                Ordering::Greater => hi = mid,
                Ordering::Equal => return Ok(Ok(mid)),
            }
        }
        Ok(Err(lo))
    }

    /// Iterates over copies of the records, in order; each item is what [`get`](Self::get)
    /// returns for its index.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data");
    /// std::fs::write(&path, b"abcdefg")?;
    /// let man = smmap::SlidingWindowMapManager::new();
    /// let mut t = smmap::RecordTable::<[u8; 2]>::new(man.make_cursor(&path)?, 1, 3)?;
    /// let all: Vec<[u8; 2]> = t.iter().collect::<Result<_, _>>()?;
    /// assert_eq!(all, [*b"bc", *b"de", *b"fg"]);
    /// # Ok(()) }
    /// ```
    pub fn iter(&mut self) -> impl Iterator<Item = Result<T>> + '_
    where
        T: Copy,
    {
        (0..self.len).map(move |i| self.get(i).copied())
    }
}

impl<T> fmt::Debug for RecordTable<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordTable")
            .field("record", &std::any::type_name::<T>())
            .field("base", &self.base)
            .field("len", &self.len)
            .field("cursor", &self.cursor)
            .finish()
    }
}

// ---- RecordIter ---------------------------------------------------------------------------

/// Sequential iteration over fixed-size records of type `T`, through a cursor: memory stays
/// bounded by the manager's budget however large the file is.
///
/// Two ways to consume it:
/// - as an [`Iterator`] of `Result<T>` (copies of the records, for `T: Copy`);
/// - [`next_chunk`](Self::next_chunk), which hands out, without copying, every following record
///   that lies in the current window at once, for loops as fast as over a slice.
///
/// Both may be mixed. Every record is checked ([`MappedRecord::check`]) before it is handed
/// out; a record whose check fails is yielded as an `Err` in its place, and the iteration
/// goes on with the next one. A record that crosses the end of a window is served by a window
/// that covers it.
///
/// **The end of the file.** Iterating to the end of the file ([`new`](Self::new)) yields every
/// whole record; if the file ends with a partial record (fewer than `T::SIZE` bytes), one more
/// item is yielded for it: `Err(Error::OutOfBounds)` with its offset. With a count
/// ([`with_count`](Self::with_count)), a record past the end of the file is likewise an
/// `Err(Error::OutOfBounds)`. After an error that is not a failed check (out of bounds, I/O, a
/// file that shrank), the iterator is finished and returns `None`.
///
/// # Examples
///
#[cfg_attr(feature = "derive", doc = "```")]
#[cfg_attr(not(feature = "derive"), doc = "```ignore")]
/// use smmap::MappedRecord;
/// use smmap::byteorder::{LittleEndian, U32, U64};
///
/// #[derive(MappedRecord, Clone, Copy)]
/// #[repr(C)]
/// struct Sample {
///     time: U64<LittleEndian>,
///     value: U32<LittleEndian>,
/// }
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("samples");
/// let mut bytes = Vec::new();
/// for t in 0u64..100_000 {
///     bytes.extend_from_slice(&t.to_le_bytes());
///     bytes.extend_from_slice(&(t as u32 % 7).to_le_bytes());
/// }
/// std::fs::write(&path, &bytes)?;
///
/// let man = smmap::SlidingWindowMapManager::builder()
///     .window_size(64 << 10)
///     .max_memory_size(128 << 10)
///     .build()?;
///
/// // Record by record.
/// let mut total = 0u64;
/// for s in man.make_cursor(&path)?.iter_records::<Sample>(0) {
///     total += u64::from(s?.value());
/// }
///
/// // A window at a time.
/// let mut it = man.make_cursor(&path)?.iter_records::<Sample>(0);
/// let mut total2 = 0u64;
/// while let Some(chunk) = it.next_chunk() {
///     total2 += chunk?.iter().map(|s| u64::from(s.value())).sum::<u64>();
/// }
/// assert_eq!(total, total2);
/// assert!(man.mapped_memory_size() <= 128 << 10);
/// # Ok(()) }
/// ```
pub struct RecordIter<T> {
    cursor: WindowCursor,
    /// File offset of the next record.
    pos: u64,
    /// Records in `[pos, chunk_end)` lie inside the cursor's current region.
    chunk_end: u64,
    /// Records left after `chunk_end`.
    left: u64,
    /// An error to yield before anything else (set up by the constructors).
    pending: Option<Error>,
    _t: PhantomData<fn() -> T>,
}

impl<T: MappedRecord> RecordIter<T> {
    /// Iterates over the records from `offset` to the end of the file (as known to the
    /// cursor; see [`WindowCursor::refresh_file_size`]), including a trailing partial record,
    /// yielded as an error (see the type's documentation).
    ///
    /// `offset` past the end of the file yields one `Err(Error::OutOfBounds)`; `T` zero-sized
    /// one `Err(Error::InvalidArgument)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data");
    /// std::fs::write(&path, b"abcdefg")?;
    /// let man = smmap::SlidingWindowMapManager::new();
    /// let mut it = smmap::RecordIter::<[u8; 3]>::new(man.make_cursor(&path)?, 0);
    /// assert_eq!(it.next().unwrap()?, *b"abc");
    /// assert_eq!(it.next().unwrap()?, *b"def");
    /// assert!(matches!(it.next(), Some(Err(smmap::Error::OutOfBounds { offset: 6, .. }))));
    /// assert!(it.next().is_none());
    /// # Ok(()) }
    /// ```
    pub fn new(cursor: WindowCursor, offset: u64) -> Self {
        let size = cursor.file_size();
        let count = if T::SIZE == 0 {
            0
        } else if offset > size {
            1
        } else {
            (size - offset).div_ceil(T::SIZE as u64)
        };
        Self::with_count(cursor, offset, count)
    }

    /// Iterates over `count` records from `offset`. Records past the end of the file are
    /// yielded as `Err(Error::OutOfBounds)` (the first one, then the iterator is finished).
    ///
    /// A zero-sized `T` yields one `Err(Error::InvalidArgument)`.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data");
    /// std::fs::write(&path, b"abcdefg")?;
    /// let man = smmap::SlidingWindowMapManager::new();
    /// let it = smmap::RecordIter::<[u8; 2]>::with_count(man.make_cursor(&path)?, 1, 2);
    /// assert_eq!(it.collect::<Result<Vec<_>, _>>()?, [*b"bc", *b"de"]);
    /// # Ok(()) }
    /// ```
    pub fn with_count(cursor: WindowCursor, offset: u64, count: u64) -> Self {
        let pending = (T::SIZE == 0).then(|| zero_sized::<T>("an iteration over records"));
        RecordIter {
            cursor,
            pos: offset,
            chunk_end: offset,
            left: if pending.is_some() { 0 } else { count },
            pending,
            _t: PhantomData,
        }
    }

    /// The file offset of the next record.
    #[inline]
    pub fn offset(&self) -> u64 {
        self.pos
    }

    /// The number of records still to iterate over (including any that will be errors).
    #[inline]
    pub fn remaining(&self) -> u64 {
        (self.chunk_end - self.pos) / T::SIZE.max(1) as u64 + self.left
    }

    /// Gives the cursor back.
    pub fn into_cursor(self) -> WindowCursor {
        self.cursor
    }

    /// Places the cursor on a region holding the record at `pos` and sets up the chunk of
    /// records that region holds. On an error the iteration is finished.
    #[cold]
    #[inline(never)]
    fn load(&mut self) -> Result<()> {
        let size = T::SIZE as u64;
        let res = (|| {
            // Ask for one whole record first: this re-anchors the window at a record that
            // crosses the end of the current one.
            if self.cursor.use_region(self.pos, T::SIZE)?.len() != T::SIZE {
                return Err(Error::OutOfBounds {
                    path: self.cursor.location(),
                    offset: self.pos,
                    len: size,
                    file_size: self.cursor.file_size(),
                });
            }
            // Then everything the region holds from there.
            Ok(self.cursor.use_region(self.pos, 0)?.len() as u64)
        })();
        match res {
            Ok(avail) => {
                let n = (avail / size).min(self.left);
                self.left -= n;
                self.chunk_end = self.pos + n * size;
                Ok(())
            }
            Err(e) => {
                self.left = 0;
                self.chunk_end = self.pos;
                Err(e)
            }
        }
    }

    /// Hands out, without copying, the following records that lie in the current window (at
    /// least one), or `None` at the end.
    ///
    /// A record whose check fails is returned alone as an `Err` (the records before it in
    /// the window come first, as an `Ok` chunk); the next call goes on after it.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfBounds`] for a record past the end of the file, [`Error::BadMagic`] or
    /// [`Error::InvalidRecord`] for a record whose check fails, and the errors of
    /// [`WindowCursor::use_region`] when a window must be mapped.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data");
    /// std::fs::write(&path, vec![1u8; 1_000_000])?;
    /// let man = smmap::SlidingWindowMapManager::builder().window_size(1).build()?;
    /// let mut it = man.make_cursor(&path)?.iter_records::<[u8; 10]>(0);
    /// let (mut chunks, mut records) = (0, 0);
    /// while let Some(chunk) = it.next_chunk() {
    ///     let chunk = chunk?;
    ///     assert!(chunk.len() * 10 <= man.window_size());
    ///     chunks += 1;
    ///     records += chunk.len();
    /// }
    /// assert_eq!(records, 100_000);
    /// assert!(chunks > 1);
    /// # Ok(()) }
    /// ```
    pub fn next_chunk(&mut self) -> Option<Result<&[T]>> {
        if let Some(e) = self.pending.take() {
            return Some(Err(e));
        }
        if self.pos >= self.chunk_end {
            if self.left == 0 {
                return None;
            }
            if let Err(e) = self.load() {
                return Some(Err(e));
            }
        }
        let (pos, end) = (self.pos, self.chunk_end);
        let rel = (pos - self.cursor.window_begin()) as usize;
        let len = (end - pos) as usize;
        let recs: &[T] = self
            .cursor
            .window_bytes()
            .get(rel..rel + len)
            .and_then(record::cast_slice)?;
        let bad = recs
            .iter()
            .enumerate()
            .find_map(|(i, rec)| rec.check().err().map(|e| (i, e)));
        match bad {
            None => {
                self.pos = end;
                Some(Ok(recs))
            }
            Some((0, e)) => {
                self.pos += T::SIZE as u64;
                Some(Err(check_error::<T>(self.cursor.location(), pos, e)))
            }
            Some((i, _)) => {
                self.pos += (i * T::SIZE) as u64;
                Some(Ok(&recs[..i]))
            }
        }
    }
}

impl<T: MappedRecord + Copy> Iterator for RecordIter<T> {
    type Item = Result<T>;

    #[inline]
    fn next(&mut self) -> Option<Result<T>> {
        if self.pos >= self.chunk_end {
            if let Some(e) = self.pending.take() {
                return Some(Err(e));
            }
            if self.left == 0 {
                return None;
            }
            if let Err(e) = self.load() {
                return Some(Err(e));
            }
        }
        let pos = self.pos;
        let rel = (pos - self.cursor.window_begin()) as usize;
        let rec: &T = self
            .cursor
            .window_bytes()
            .get(rel..rel + T::SIZE)
            .and_then(record::cast)?;
        self.pos = pos + T::SIZE as u64;
        Some(match rec.check() {
            Ok(()) => Ok(*rec),
            Err(e) => Err(check_error::<T>(self.cursor.location(), pos, e)),
        })
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        let n = self.remaining() + u64::from(self.pending.is_some());
        (0, usize::try_from(n).ok())
    }
}

impl<T: MappedRecord + Copy> std::iter::FusedIterator for RecordIter<T> {}

impl<T> fmt::Debug for RecordIter<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordIter")
            .field("record", &std::any::type_name::<T>())
            .field("offset", &self.pos)
            .field("cursor", &self.cursor)
            .finish()
    }
}
