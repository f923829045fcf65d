//! [`RecordIter`]: sequential iteration over records, one by one or a window at a time.

use std::fmt;
use std::marker::PhantomData;

use super::zero_sized;
use crate::cursor::{WindowCursor, check_error};
use crate::error::{Error, Result};
use crate::record::{self, MappedRecord};

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
    /// assert!(matches!(it.next(), Some(Err(smmap::Error::OutOfBounds(e))) if e.offset == 6));
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
            self.cursor.place_whole(self.pos, T::SIZE)?;
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

    /// The SIGBUS guard poisoned the cursor's region under the records at `pos`: reports the
    /// loss, and goes on, at the next call, with those records read through a new mapping.
    #[cold]
    fn lost(&mut self) -> Error {
        self.left += self.chunk_end.saturating_sub(self.pos) / T::SIZE as u64;
        self.chunk_end = self.pos;
        self.cursor.region_lost()
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
        let bad = chunk::<T>(&self.cursor, rel, len)?
            .iter()
            .enumerate()
            .find_map(|(i, rec)| rec.check().err().map(|e| (i, e)));
        // The checks read the records: bytes they found lost are an error, not bad records.
        if T::CHECKS && !self.cursor.intact() {
            return Some(Err(self.lost()));
        }
        let recs = chunk::<T>(&self.cursor, rel, len)?;
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

/// `len` bytes of records from `rel` in the cursor's region.
#[inline(always)]
fn chunk<T: MappedRecord>(cursor: &WindowCursor, rel: usize, len: usize) -> Option<&[T]> {
    cursor
        .window_bytes()
        .get(rel..rel + len)
        .and_then(record::cast_slice)
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
        let rec: T = *self
            .cursor
            .window_bytes()
            .get(rel..rel + T::SIZE)
            .and_then(record::cast::<T>)?;
        let checked = rec.check();
        // Checked after the copy: bytes the SIGBUS guard found lost are reported, not handed out.
        if !self.cursor.intact() {
            return Some(Err(self.lost()));
        }
        self.pos = pos + T::SIZE as u64;
        Some(match checked {
            Ok(()) => Ok(rec),
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
