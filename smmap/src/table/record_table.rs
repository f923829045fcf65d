//! [`RecordTable`]: an array of records indexed like a slice.

use std::cmp::Ordering;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Range;

use super::zero_sized;
use crate::cursor::{WindowCursor, check_error};
use crate::error::{Error, Result};
use crate::record::{self, MappedRecord};

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
            _ => Err(Error::from(crate::error::OutOfBounds {
                path: cursor.location(),
                offset: base,
                len: bytes.unwrap_or(u64::MAX),
                file_size,
            })),
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
    /// assert!(matches!(t.get(50_000), Err(smmap::Error::OutOfBounds(e)) if e.offset == 200_000));
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn get(&mut self, i: u64) -> Result<&T> {
        let k = i.wrapping_sub(self.first);
        if k >= self.span || !self.cursor.intact() {
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
            Some(rec) => {
                let checked = rec.check();
                // The check read the record: bytes it found lost are an error, not a bad
                // record (the next call lets go of the region).
                if T::CHECKS && !self.cursor.intact() {
                    return Err(self.cursor.tell_lost());
                }
                match checked {
                    Ok(()) => Ok(rec),
                    Err(e) => Err(self.check_failed(i, e)),
                }
            }
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
        // Out of bounds only if the file shrank since the table was made.
        self.cursor.place_whole(offset, T::SIZE)?;
        // The region, or the bytes of a small read, that the cursor holds.
        let begin = self.cursor.window_begin();
        let end = begin + self.cursor.window_bytes().len() as u64;
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
        Error::from(crate::error::OutOfBounds {
            path: self.cursor.location(),
            offset: i.saturating_mul(T::SIZE as u64).saturating_add(self.base),
            len: T::SIZE as u64,
            file_size: self.cursor.file_size(),
        })
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
        if i.wrapping_sub(self.first) >= self.span || !self.cursor.intact() {
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
        if !self.cursor.intact() {
            self.span = 0;
            return Err(self.cursor.region_lost());
        }
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
            return Err(Error::invalid_argument(format!(
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
