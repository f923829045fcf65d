//! [`SlidingWindowMapBuffer`]: a byte-string-like, file-like view of a file or of a range of it.
//!
//! A buffer wraps a [`WindowCursor`] and moves it as needed, so that a file far larger than the
//! memory budget can be indexed, sliced, searched and read as one sequence of bytes. Indices are
//! relative to the start of the buffer: index 0 is the first byte of the range the buffer was
//! made over.
//!
//! The buffer implements [`std::io::Read`], [`std::io::Seek`] and [`std::io::BufRead`].
//! [`BufRead::fill_buf`] hands out the rest of the current window without copying, so that
//! [`BufRead::lines`], [`BufRead::read_until`] and friends scan at the speed of a memory map;
//! [`SlidingWindowMapBuffer::copy_to`] hands each window to a writer the same way.
//!
//! The type's documentation has an example of each kind of use and the rules for writing.

use std::borrow::Cow;
use std::io;
use std::ops::Range;

use memchr::memmem::{Finder, FinderRev};

use crate::config::MapMode;
use crate::cursor::WindowCursor;
use crate::error::{Error, Result};

/// The size of the temporary buffer through which [`SlidingWindowMapBuffer::move_within`]
/// copies bytes that one window cannot hold.
const MOVE_CHUNK: u64 = 64 * 1024;

/// A view of a file, or of a range of it, as one sequence of bytes, read through a
/// [`WindowCursor`] that slides over the file as needed.
///
/// The buffer covers `len()` bytes starting at the file offset [`offset`](Self::offset); every
/// index, range and position it takes or returns is relative to that start. Its length is fixed
/// when it is made: bytes appended to the file later are not part of it, and a file that shrinks
/// under it makes reads of the lost bytes fail with an error.
///
/// Besides random access ([`get`](Self::get), [`slice`](Self::slice), [`find`](Self::find),
/// [`rfind`](Self::rfind)), a buffer has a position, like a file: [`std::io::Read`],
/// [`std::io::BufRead`], [`read_byte`](Self::read_byte) and [`readline`](Self::readline) read
/// from it and advance it, [`std::io::Seek`] moves it. Random access does not move the
/// position. [`BufRead::fill_buf`](std::io::BufRead::fill_buf) hands out the rest of the
/// current window without copying, so that `lines`, `read_until` and friends scan at the speed
/// of a memory map; [`copy_to`](Self::copy_to) hands each window to a writer the same way.
///
/// The buffer keeps the region it last used mapped (pinned) until it uses another one or is
/// dropped, like its cursor; after a write it holds that region exclusively (see below).
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::io::{BufRead, Read, Seek, SeekFrom};
///
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("log.txt");
/// std::fs::write(&path, b"header\nfirst line\nsecond line\n")?;
/// let man = smmap::SlidingWindowMapManager::new();
///
/// // A view of the whole file.
/// let mut buf = smmap::SlidingWindowMapBuffer::new(man.make_cursor(&path)?)?;
/// assert_eq!(buf.len(), 30);
/// assert_eq!(buf.get(0), Some(b'h'));
/// assert_eq!(&*buf.slice(7..17)?, b"first line");
/// assert_eq!(buf.find(b"line", 0)?, Some(13));
/// assert_eq!(buf.rfind(b"line", 0)?, Some(25));
///
/// // File-like reading.
/// assert_eq!(buf.readline()?, b"header\n");
/// let rest: Vec<String> = buf.by_ref().lines().collect::<Result<_, _>>()?;
/// assert_eq!(rest, ["first line", "second line"]);
/// buf.seek(SeekFrom::End(-5))?;
/// let mut tail = String::new();
/// buf.read_to_string(&mut tail)?;
/// assert_eq!(tail, "line\n");
///
/// // A view of a range: indices are relative to its start.
/// let mut range = smmap::SlidingWindowMapBuffer::with_range(man.make_cursor(&path)?, 7, 10)?;
/// assert_eq!(range.len(), 10);
/// assert_eq!(range.get(0), Some(b'f'));
/// assert_eq!(range.get(10), None);
/// assert_eq!(range.find(b"line", 0)?, Some(6));
/// # Ok(()) }
/// ```
///
///
/// # Writing
///
/// Through a manager built with [`MapMode::ReadWrite`] (or [`MapMode::CopyOnWrite`], whose
/// changes stay in this process), a buffer can be written like Python's `mmap`:
/// [`std::io::Write`] and [`write_byte`](Self::write_byte) write at the position and advance
/// it; [`set`](Self::set), [`write_at`](Self::write_at), [`set_slice`](Self::set_slice) and
/// [`move_within`](Self::move_within) write at an index; [`resize`](Self::resize) grows or
/// truncates the file; [`flush`](Self::flush) and [`flush_range`](Self::flush_range) write the
/// changes back to the file. A buffer never grows by writing: writes past its end are errors,
/// as in Python. Every write through a [`MapMode::ReadOnly`] manager is an
/// [`Error::ReadOnly`].
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::io::{Seek, SeekFrom, Write};
///
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("data.txt");
/// std::fs::write(&path, b"hello, mapped world")?;
/// let man = smmap::SlidingWindowMapManager::builder()
///     .mode(smmap::MapMode::ReadWrite)
///     .build()?;
/// let mut buf = smmap::SlidingWindowMapBuffer::new(man.make_cursor(&path)?)?;
/// buf.seek(SeekFrom::Start(7))?;
/// buf.write_all(b"MAPPED")?;
/// buf.set(0, b'H')?;
/// buf.move_within(13, 12, 6)?; // memmove: "D world" becomes "DD worl"
/// assert!(buf.write_all(b"too long").is_err()); // past the end: nothing written
/// buf.flush()?;
/// assert_eq!(std::fs::read(&path)?, b"Hello, MAPPEDD worl");
/// # Ok(()) }
/// ```
///
/// Mutable access takes an *exclusive claim* on the region the buffer's cursor uses (see
/// [`WindowCursor::use_region_mut`]): while the buffer holds it, other cursors and buffers are
/// refused the bytes of that region and of regions that overlap it ([`Error::Busy`]), and a
/// write is refused while others use them. This is checked at run time; the claim ends when
/// the buffer moves to another region, [`unuse_region`](Self::unuse_region) is called, or the
/// buffer is dropped. Within one buffer, the borrow checker keeps a slice from living across a
/// write: every view the buffer hands out borrows it.
///
/// ```compile_fail,E0499
/// # fn f(buf: &mut smmap::SlidingWindowMapBuffer) -> smmap::Result<()> {
/// let head = buf.slice(0..4)?;
/// buf.write_byte(b'x')?; // error: `*buf` is already borrowed
/// assert_eq!(head[0], b'x');
/// # Ok(()) }
/// ```
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::io::BufRead;
///
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("words.txt");
/// std::fs::write(&path, b"alpha\nbeta\ngamma\n")?;
/// let man = smmap::SlidingWindowMapManager::new();
/// let mut buf = smmap::SlidingWindowMapBuffer::new(man.make_cursor(&path)?)?;
/// let mut count = 0;
/// let mut line = Vec::new();
/// while buf.read_until(b'\n', &mut line)? > 0 {
///     count += 1;
///     line.clear();
/// }
/// assert_eq!(count, 3);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct SlidingWindowMapBuffer {
    cursor: WindowCursor,
    /// File offset of index 0.
    start: u64,
    /// Number of bytes in the buffer.
    len: u64,
    /// The read position, relative to `start`; may lie past `len`.
    pos: u64,
    /// File offsets `[begin, end)` of the region the cursor used last, as far as known (only a
    /// hint: data always comes from the cursor itself).
    region: (u64, u64),
    /// The largest region seen so far: a lower bound of the window size of a sliding manager.
    max_region: u64,
}

impl SlidingWindowMapBuffer {
    /// A buffer over the whole file of `cursor`.
    ///
    /// The file's size is read again, and the first window is mapped (when the file is not
    /// empty). A buffer over an empty file is empty: reads return nothing and searches find
    /// nothing.
    ///
    /// # Errors
    ///
    /// The errors of [`WindowCursor::refresh_file_size`] and [`WindowCursor::use_region`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data.bin");
    /// std::fs::write(&path, b"0123456789")?;
    /// let man = smmap::SlidingWindowMapManager::new();
    /// let buf = smmap::SlidingWindowMapBuffer::new(man.make_cursor(&path)?)?;
    /// assert_eq!(buf.len(), 10);
    /// # Ok(()) }
    /// ```
    pub fn new(cursor: WindowCursor) -> Result<Self> {
        Self::with_range(cursor, 0, u64::MAX)
    }

    /// A buffer over the `len` bytes of the file of `cursor` that start at file offset `offset`.
    ///
    /// `len` is clamped to the end of the file: a range that runs past it ends there (pass
    /// `u64::MAX` for "to the end of the file"). `offset == file_size` makes an empty buffer.
    /// The file's size is read again first, and the first window is mapped (when the buffer is
    /// not empty).
    ///
    /// # Errors
    ///
    /// - [`Error::OutOfBounds`] if `offset` is greater than the size of the file.
    /// - The errors of [`WindowCursor::refresh_file_size`] and [`WindowCursor::use_region`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data.bin");
    /// std::fs::write(&path, b"0123456789")?;
    /// let man = smmap::SlidingWindowMapManager::new();
    /// let mut buf = smmap::SlidingWindowMapBuffer::with_range(man.make_cursor(&path)?, 4, 100)?;
    /// assert_eq!(buf.len(), 6); // clamped to the end of the file
    /// assert_eq!(buf.get(0), Some(b'4'));
    /// assert!(smmap::SlidingWindowMapBuffer::with_range(man.make_cursor(&path)?, 11, 1).is_err());
    /// # Ok(()) }
    /// ```
    pub fn with_range(mut cursor: WindowCursor, offset: u64, len: u64) -> Result<Self> {
        let file_size = cursor.refresh_file_size()?;
        if offset > file_size {
            return Err(Error::from(crate::error::OutOfBounds {
                path: cursor.location(),
                offset,
                len: if len == u64::MAX { 0 } else { len },
                file_size,
            }));
        }
        let mut buf = SlidingWindowMapBuffer {
            cursor,
            start: offset,
            len: len.min(file_size - offset),
            pos: 0,
            region: (0, 0),
            max_region: 0,
        };
        if buf.len > 0 {
            buf.use_region(offset, 0)?;
        }
        Ok(buf)
    }

    /// The number of bytes in the buffer.
    #[inline]
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the buffer has no bytes.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The file offset of the buffer's first byte (index 0).
    #[inline]
    pub fn offset(&self) -> u64 {
        self.start
    }

    /// The cursor the buffer reads through.
    #[inline]
    pub fn cursor(&self) -> &WindowCursor {
        &self.cursor
    }

    /// Gives the cursor back; it keeps the region the buffer used last.
    pub fn into_cursor(self) -> WindowCursor {
        self.cursor
    }

    /// The read position (relative to the buffer's start), as [`Seek::stream_position`]
    /// returns it. It may lie past the end.
    ///
    /// [`Seek::stream_position`]: std::io::Seek::stream_position
    #[inline]
    pub fn tell(&self) -> u64 {
        self.pos
    }

    /// The byte at index `i`, or `None` if `i >= len()`.
    ///
    /// An I/O error while mapping the byte (for instance a file that shrank) also gives `None`;
    /// use [`try_get`](Self::try_get) to see it.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data.bin");
    /// std::fs::write(&path, b"abc")?;
    /// let man = smmap::SlidingWindowMapManager::new();
    /// let mut buf = smmap::SlidingWindowMapBuffer::new(man.make_cursor(&path)?)?;
    /// assert_eq!((buf.get(2), buf.get(3)), (Some(b'c'), None));
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn get(&mut self, i: u64) -> Option<u8> {
        self.try_get(i).ok().flatten()
    }

    /// The byte at index `i`, `Ok(None)` if `i >= len()`.
    ///
    /// # Errors
    ///
    /// The errors of [`WindowCursor::use_region`] (e.g. [`Error::FileShrank`] or
    /// [`Error::OutOfBounds`] if the file became shorter than the buffer).
    #[inline]
    pub fn try_get(&mut self, i: u64) -> Result<Option<u8>> {
        if i >= self.len {
            return Ok(None);
        }
        let b = self.chunk(i, self.len)?[0];
        self.verify_read(i, 1)?;
        Ok(Some(b))
    }

    /// The bytes `range` of the buffer (relative indices).
    ///
    /// The bytes are borrowed from the mapping ([`Cow::Borrowed`]) when one window can hold
    /// them: always for ranges of at most half the manager's window size (once the buffer has
    /// seen a whole window, which it maps when it is made), for ranges inside the window in use,
    /// and for every range with a [`StaticWindowMapManager`](crate::StaticWindowMapManager).
    /// Longer ranges are copied window by window into a [`Cow::Owned`] vector, so that no
    /// mapping larger than a window is ever made for them. An empty range gives an empty slice.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidArgument`] if `range.start > range.end`, or if a copy of the range does
    ///   not fit in memory.
    /// - [`Error::OutOfBounds`] if `range.end > len()`. Its `offset` is the file offset of
    ///   `range.start`, `len` the length of the range and `file_size` the file offset of the end
    ///   of the buffer (the size of the file for a buffer over the whole file).
    /// - The errors of [`WindowCursor::use_region`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data.bin");
    /// std::fs::write(&path, b"0123456789")?;
    /// let man = smmap::SlidingWindowMapManager::new();
    /// let mut buf = smmap::SlidingWindowMapBuffer::with_range(man.make_cursor(&path)?, 2, 6)?;
    /// assert_eq!(&*buf.slice(1..4)?, b"345");
    /// assert!(buf.slice(4..7).is_err()); // past the end of the buffer
    /// # Ok(()) }
    /// ```
    pub fn slice(&mut self, range: Range<u64>) -> Result<Cow<'_, [u8]>> {
        if range.start > range.end {
            return Err(Error::invalid_argument(format!(
                "reversed range {}..{} of a buffer",
                range.start, range.end
            )));
        }
        let n = range.end - range.start;
        if range.end > self.len {
            return Err(Error::from(crate::error::OutOfBounds {
                path: self.cursor.location(),
                offset: self.start.saturating_add(range.start),
                len: n,
                file_size: self.start + self.len,
            }));
        }
        if n == 0 {
            return Ok(Cow::Borrowed(&[]));
        }
        let abs = self.start + range.start;
        let rest = self.use_region(abs, 0)? as u64;
        if let Ok(size) = usize::try_from(n)
            && (rest >= n || n <= self.max_region / 2)
        {
            // Then expose the rest of the region, for the reads that follow.
            // (The rest may be that of another window, shorter, when the bytes came from a
            // small read: then they are asked for again.)
            if self.use_region(abs, size)? != size
                || (self.use_region(abs, 0)? < size && self.use_region(abs, size)? != size)
            {
                return Err(self.short(abs, n));
            }
            return Ok(Cow::Borrowed(&self.cursor.buffer()[..size]));
        }
        let mut out = Vec::new();
        usize::try_from(n)
            .ok()
            .and_then(|size| out.try_reserve_exact(size).ok())
            .ok_or_else(|| {
                Error::invalid_argument(format!(
                    "a copy of {n} bytes of a buffer does not fit in memory"
                ))
            })?;
        let mut pos = range.start;
        while pos < range.end {
            let c = self.chunk(pos, range.end)?;
            out.extend_from_slice(c);
            let n = c.len();
            self.verify_read(pos, n)?;
            pos += n as u64;
        }
        Ok(Cow::Owned(out))
    }

    /// The index of the first occurrence of `needle` that starts at or after `start`, or
    /// `None`. An empty needle is found at `start` if `start <= len()` (as Python's
    /// `bytes.find`). Matches that straddle window boundaries are found.
    ///
    /// # Errors
    ///
    /// The errors of [`WindowCursor::use_region`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data.bin");
    /// std::fs::write(&path, b"abcabc")?;
    /// let man = smmap::SlidingWindowMapManager::new();
    /// let mut buf = smmap::SlidingWindowMapBuffer::new(man.make_cursor(&path)?)?;
    /// assert_eq!(buf.find(b"bc", 0)?, Some(1));
    /// assert_eq!(buf.find(b"bc", 2)?, Some(4));
    /// assert_eq!(buf.find(b"bc", 5)?, None);
    /// assert_eq!(buf.find(b"", 6)?, Some(6));
    /// # Ok(()) }
    /// ```
    pub fn find(&mut self, needle: &[u8], start: u64) -> Result<Option<u64>> {
        self.find_in(needle, start..u64::MAX)
    }

    /// The index of the last occurrence of `needle` that starts at or after `start`, or `None`.
    /// An empty needle is found at `len()` if `start <= len()` (as Python's `bytes.rfind`).
    ///
    /// # Errors
    ///
    /// The errors of [`WindowCursor::use_region`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data.bin");
    /// std::fs::write(&path, b"abcabc")?;
    /// let man = smmap::SlidingWindowMapManager::new();
    /// let mut buf = smmap::SlidingWindowMapBuffer::new(man.make_cursor(&path)?)?;
    /// assert_eq!(buf.rfind(b"ab", 0)?, Some(3));
    /// assert_eq!(buf.rfind(b"ab", 4)?, None);
    /// assert_eq!(buf.rfind(b"", 0)?, Some(6));
    /// # Ok(()) }
    /// ```
    pub fn rfind(&mut self, needle: &[u8], start: u64) -> Result<Option<u64>> {
        self.rfind_in(needle, start..u64::MAX)
    }

    /// The index of the first occurrence of `needle` that lies entirely inside `range`, or
    /// `None`: Python's `bytes.find(needle, start, end)` with non-negative bounds.
    ///
    /// As in Python, `range.end` is clamped to `len()`; a range that is then reversed (its
    /// start past its end, e.g. a start past `len()`) finds nothing, not even an empty needle,
    /// which is otherwise found at `range.start`.
    ///
    /// # Errors
    ///
    /// The errors of [`WindowCursor::use_region`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data.bin");
    /// std::fs::write(&path, b"abcabc")?;
    /// let man = smmap::SlidingWindowMapManager::new();
    /// let mut buf = smmap::SlidingWindowMapBuffer::new(man.make_cursor(&path)?)?;
    /// assert_eq!(buf.find_in(b"ca", 0..4)?, Some(2));
    /// assert_eq!(buf.find_in(b"ca", 0..3)?, None); // "ca" ends past the range
    /// assert_eq!(buf.find_in(b"", 2..100)?, Some(2));
    /// # Ok(()) }
    /// ```
    pub fn find_in(&mut self, needle: &[u8], range: Range<u64>) -> Result<Option<u64>> {
        let end = range.end.min(self.len);
        let s = range.start;
        if s > end {
            return Ok(None);
        }
        if needle.is_empty() {
            return Ok(Some(s));
        }
        if end - s < needle.len() as u64 {
            return Ok(None);
        }
        let finder = Finder::new(needle);
        let k = needle.len() - 1;
        // The last (at most `k`) bytes before `pos`: the start of matches that straddle the
        // boundary between the previous chunk and the next one.
        let mut carry: Vec<u8> = Vec::with_capacity(2 * k);
        let mut pos = s;
        while pos < end {
            let c = self.chunk(pos, end)?;
            let n = c.len();
            let mut found = None;
            if !carry.is_empty() {
                let kept = carry.len();
                carry.extend_from_slice(&c[..k.min(n)]);
                found = finder.find(&carry).map(|i| pos - kept as u64 + i as u64);
                carry.truncate(kept);
            }
            if found.is_none() {
                found = finder.find(c).map(|i| pos + i as u64);
            }
            if found.is_none() {
                if n >= k {
                    carry.clear();
                    carry.extend_from_slice(&c[n - k..]);
                } else {
                    carry.extend_from_slice(c);
                    let excess = carry.len().saturating_sub(k);
                    carry.drain(..excess);
                }
            }
            // What was searched was there: a match among lost bytes is no match.
            self.verify_read(pos, n)?;
            if found.is_some() {
                return Ok(found);
            }
            pos += n as u64;
        }
        Ok(None)
    }

    /// The index of the last occurrence of `needle` that lies entirely inside `range`, or
    /// `None`: Python's `bytes.rfind(needle, start, end)` with non-negative bounds.
    ///
    /// As in Python, `range.end` is clamped to `len()`; a range that is then reversed finds
    /// nothing, not even an empty needle, which is otherwise found at the (clamped) end.
    ///
    /// # Errors
    ///
    /// The errors of [`WindowCursor::use_region`].
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data.bin");
    /// std::fs::write(&path, b"abcabc")?;
    /// let man = smmap::SlidingWindowMapManager::new();
    /// let mut buf = smmap::SlidingWindowMapBuffer::new(man.make_cursor(&path)?)?;
    /// assert_eq!(buf.rfind_in(b"ab", 0..5)?, Some(3));
    /// assert_eq!(buf.rfind_in(b"ab", 0..4)?, Some(0));
    /// assert_eq!(buf.rfind_in(b"", 0..4)?, Some(4));
    /// # Ok(()) }
    /// ```
    pub fn rfind_in(&mut self, needle: &[u8], range: Range<u64>) -> Result<Option<u64>> {
        let end = range.end.min(self.len);
        let s = range.start;
        if s > end {
            return Ok(None);
        }
        if needle.is_empty() {
            return Ok(Some(end));
        }
        if end - s < needle.len() as u64 {
            return Ok(None);
        }
        let finder = FinderRev::new(needle);
        let k = needle.len() - 1;
        // The first (at most `k`) bytes at `cur_end`: the end of matches that straddle the
        // boundary between the chunk searched next and the one searched before.
        let mut carry: Vec<u8> = Vec::with_capacity(2 * k);
        let mut tmp: Vec<u8> = Vec::with_capacity(2 * k);
        let mut cur_end = end;
        while cur_end > s {
            let (begin, c) = self.back_chunk(s, cur_end)?;
            let n = c.len();
            let mut found = None;
            if !carry.is_empty() {
                let take = k.min(n);
                tmp.clear();
                tmp.extend_from_slice(&c[n - take..]);
                tmp.extend_from_slice(&carry);
                found = finder.rfind(&tmp).map(|i| cur_end - take as u64 + i as u64);
            }
            if found.is_none() {
                found = finder.rfind(c).map(|i| begin + i as u64);
            }
            if found.is_none() {
                if n >= k {
                    carry.clear();
                    carry.extend_from_slice(&c[..k]);
                } else {
                    tmp.clear();
                    tmp.extend_from_slice(c);
                    tmp.extend_from_slice(&carry);
                    tmp.truncate(k);
                    std::mem::swap(&mut carry, &mut tmp);
                }
            }
            self.verify_read(begin, n)?;
            if found.is_some() {
                return Ok(found);
            }
            cur_end = begin;
        }
        Ok(None)
    }

    /// Reads the byte at the position and advances the position; `Ok(None)` at or past the end.
    ///
    /// # Errors
    ///
    /// The errors of [`WindowCursor::use_region`].
    #[inline]
    pub fn read_byte(&mut self) -> Result<Option<u8>> {
        let b = self.try_get(self.pos)?;
        if b.is_some() {
            self.pos += 1;
        }
        Ok(b)
    }

    /// Reads from the position up to and including the next `b'\n'`, or to the end of the
    /// buffer if there is none, and advances the position past it. At or past the end it
    /// returns an empty vector.
    ///
    /// # Errors
    ///
    /// The errors of [`WindowCursor::use_region`]; the position is then left after the bytes
    /// read so far.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data.txt");
    /// std::fs::write(&path, b"one\ntwo")?;
    /// let man = smmap::SlidingWindowMapManager::new();
    /// let mut buf = smmap::SlidingWindowMapBuffer::new(man.make_cursor(&path)?)?;
    /// assert_eq!(buf.readline()?, b"one\n");
    /// assert_eq!(buf.readline()?, b"two");
    /// assert_eq!(buf.readline()?, b"");
    /// # Ok(()) }
    /// ```
    pub fn readline(&mut self) -> Result<Vec<u8>> {
        let mut line = Vec::new();
        self.read_until_into(b'\n', &mut line)?;
        Ok(line)
    }

    /// Appends the bytes from the position up to and including `delim` (or to the end) to
    /// `out`, advancing the position past them; returns their number.
    fn read_until_into(&mut self, delim: u8, out: &mut Vec<u8>) -> Result<usize> {
        let mut read = 0;
        while self.pos < self.len {
            let (used, done) = {
                let c = self.chunk(self.pos, self.len)?;
                match memchr::memchr(delim, c) {
                    Some(i) => {
                        out.extend_from_slice(&c[..=i]);
                        (i + 1, true)
                    }
                    None => {
                        out.extend_from_slice(c);
                        (c.len(), false)
                    }
                }
            };
            if !self.cursor.intact() {
                out.truncate(out.len() - used);
                return Err(self.lost_read(self.pos, used));
            }
            self.pos += used as u64;
            read += used;
            if done {
                break;
            }
        }
        Ok(read)
    }

    // ---- writing ------------------------------------------------------------------------

    /// Writes `b` at the position and advances the position: Python's `mmap.write_byte`.
    ///
    /// # Errors
    ///
    /// - [`Error::ReadOnly`] if the manager maps files read-only.
    /// - [`Error::OutOfBounds`] if the position is at or past the end; the position is then
    ///   unchanged.
    /// - The errors of [`WindowCursor::use_region_mut`], [`Error::Busy`] among them.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data.bin");
    /// std::fs::write(&path, b"abc")?;
    /// let man = smmap::SlidingWindowMapManager::builder()
    ///     .mode(smmap::MapMode::ReadWrite)
    ///     .build()?;
    /// let mut buf = smmap::SlidingWindowMapBuffer::new(man.make_cursor(&path)?)?;
    /// buf.write_byte(b'A')?;
    /// buf.write_byte(b'B')?;
    /// assert_eq!(buf.tell(), 2);
    /// assert_eq!(&*buf.slice(0..3)?, b"ABc");
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn write_byte(&mut self, b: u8) -> Result<()> {
        self.set(self.pos, b)?;
        self.pos += 1;
        Ok(())
    }

    /// Sets the byte at index `i` to `b`: Python's `m[i] = b`. The position does not move.
    ///
    /// # Errors
    ///
    /// - [`Error::ReadOnly`] if the manager maps files read-only.
    /// - [`Error::OutOfBounds`] if `i >= len()`.
    /// - The errors of [`WindowCursor::use_region_mut`], [`Error::Busy`] among them.
    #[inline]
    pub fn set(&mut self, i: u64, b: u8) -> Result<()> {
        self.check_writable(i)?;
        self.check_range(i, 1)?;
        self.chunk_mut_with(i, i + 1, |d| d[0] = b)
    }

    /// Writes `data` at index `i`, across windows: Python's `m[i:i + len(data)] = data`. The
    /// position does not move.
    ///
    /// The whole range is checked before anything is written: a write that does not fit is
    /// refused and changes nothing. An error met in a later window (for instance
    /// [`Error::Busy`]) leaves the bytes written to the earlier windows written.
    ///
    /// # Errors
    ///
    /// - [`Error::ReadOnly`] if the manager maps files read-only.
    /// - [`Error::OutOfBounds`] if `i + data.len() > len()` (also for empty `data` if
    ///   `i > len()`).
    /// - The errors of [`WindowCursor::use_region_mut`], [`Error::Busy`] among them.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data.bin");
    /// std::fs::write(&path, b"0123456789")?;
    /// let man = smmap::SlidingWindowMapManager::builder()
    ///     .mode(smmap::MapMode::ReadWrite)
    ///     .build()?;
    /// let mut buf = smmap::SlidingWindowMapBuffer::with_range(man.make_cursor(&path)?, 2, 6)?;
    /// buf.write_at(1, b"abc")?;
    /// assert!(buf.write_at(4, b"xyz").is_err()); // runs past the end of the buffer
    /// buf.flush()?;
    /// assert_eq!(std::fs::read(&path)?, b"012abc6789");
    /// # Ok(()) }
    /// ```
    pub fn write_at(&mut self, i: u64, data: &[u8]) -> Result<()> {
        self.check_writable(i)?;
        self.check_range(i, data.len() as u64)?;
        match self.write_in(i, data) {
            (_, None) => Ok(()),
            (_, Some(e)) => Err(e),
        }
    }

    /// Replaces the bytes `range` with `data`, which must be as long: Python's
    /// `m[a:b] = data`. The position does not move.
    ///
    /// # Errors
    ///
    /// - [`Error::InvalidArgument`] if `range` is reversed or `data.len()` differs from its
    ///   length (Python's "mmap slice assignment is wrong size").
    /// - The errors of [`write_at`](Self::write_at).
    pub fn set_slice(&mut self, range: Range<u64>, data: &[u8]) -> Result<()> {
        if range.start > range.end || range.end - range.start != data.len() as u64 {
            return Err(Error::invalid_argument(format!(
                "slice assignment of {} bytes to the range {}..{} of a buffer",
                data.len(),
                range.start,
                range.end
            )));
        }
        self.write_at(range.start, data)
    }

    /// Copies the `count` bytes at index `src` to index `dest`, as `memmove` (the ranges may
    /// overlap): Python's `mmap.move(dest, src, count)`. The position does not move.
    ///
    /// When both ranges lie in one window, the bytes are moved in place; otherwise they are
    /// copied through a bounded temporary buffer (64 KiB), window by window, front to back or
    /// back to front so that overlapping ranges are copied correctly.
    ///
    /// # Errors
    ///
    /// - [`Error::ReadOnly`] if the manager maps files read-only.
    /// - [`Error::OutOfBounds`] if either range runs past the end of the buffer (Python's
    ///   `ValueError`); nothing is copied then.
    /// - The errors of [`WindowCursor::use_region`] and [`WindowCursor::use_region_mut`];
    ///   a copy through several windows may then be left half done.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data.bin");
    /// std::fs::write(&path, b"0123456789")?;
    /// let man = smmap::SlidingWindowMapManager::builder()
    ///     .mode(smmap::MapMode::ReadWrite)
    ///     .build()?;
    /// let mut buf = smmap::SlidingWindowMapBuffer::new(man.make_cursor(&path)?)?;
    /// buf.move_within(2, 0, 5)?; // overlapping, forwards
    /// assert_eq!(&*buf.slice(0..10)?, b"0101234789");
    /// buf.move_within(0, 5, 5)?; // backwards
    /// assert_eq!(&*buf.slice(0..10)?, b"3478934789");
    /// assert!(buf.move_within(6, 0, 5).is_err()); // the destination runs past the end
    /// # Ok(()) }
    /// ```
    pub fn move_within(&mut self, dest: u64, src: u64, count: u64) -> Result<()> {
        self.check_writable(dest)?;
        self.check_range(dest, count)?;
        self.check_range(src, count)?;
        if count == 0 || dest == src {
            return Ok(());
        }
        let lo = dest.min(src);
        let span = dest.max(src) - lo + count;
        let abs_lo = self.start + lo;
        // One window holds both ranges: move them in place.
        let in_current = self.in_region(abs_lo) && self.region.1 - abs_lo >= span;
        if in_current || span <= self.max_region / 2 {
            // `span` fits in `usize`: it is at most a region's size.
            if !in_current {
                // Positions the cursor on a window that holds both ranges.
                self.use_region(abs_lo, span as usize)?;
            }
            let (s, d, n) = ((src - lo) as usize, (dest - lo) as usize, count as usize);
            let moved = self.chunk_mut_with(lo, lo + span, |b| {
                let whole = b.len() as u64 == span;
                if whole {
                    b.copy_within(s..s + n, d);
                }
                whole
            })?;
            if moved {
                return Ok(());
            }
        }
        // Otherwise through a bounded temporary buffer, in the direction that reads every byte
        // before it is overwritten.
        let step = count.min(MOVE_CHUNK);
        let mut tmp = vec![0u8; step as usize];
        if dest < src {
            let mut done = 0;
            while done < count {
                let n = (count - done).min(step) as usize;
                self.read_at(src + done, &mut tmp[..n])?;
                if let (_, Some(e)) = self.write_in(dest + done, &tmp[..n]) {
                    return Err(e);
                }
                done += n as u64;
            }
        } else {
            let mut left = count;
            while left > 0 {
                let n = left.min(step) as usize;
                left -= n as u64;
                self.read_at(src + left, &mut tmp[..n])?;
                if let (_, Some(e)) = self.write_in(dest + left, &tmp[..n]) {
                    return Err(e);
                }
            }
        }
        Ok(())
    }

    /// Grows or truncates the file so that the buffer is `new_len` bytes long: Python's
    /// `mmap.resize`. New bytes read as zeros. The position is kept, even if it is now past the
    /// end.
    ///
    /// Only a buffer that ends where the file ends (as the file is now) can be resized: for a
    /// buffer over the whole file, the file becomes `new_len` bytes long; for a buffer over a
    /// range that runs to the end of the file, the file becomes `offset() + new_len` bytes
    /// long. The buffer releases its region first; regions of the file past the new end are
    /// unmapped.
    ///
    /// # Errors
    ///
    /// - [`Error::ReadOnly`] unless the manager maps files with
    ///   [`MapMode::ReadWrite`](crate::MapMode) (a private, copy-on-write mapping cannot
    ///   change the file's size either).
    /// - [`Error::InvalidArgument`] if the buffer does not end at the end of the file, or if
    ///   `offset() + new_len` overflows.
    /// - The errors of [`WindowCursor::refresh_file_size`] and [`WindowCursor::resize`]
    ///   ([`Error::Busy`] if other cursors use bytes past the new end).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data.bin");
    /// std::fs::write(&path, b"0123456789")?;
    /// let man = smmap::SlidingWindowMapManager::builder()
    ///     .mode(smmap::MapMode::ReadWrite)
    ///     .build()?;
    /// let mut buf = smmap::SlidingWindowMapBuffer::new(man.make_cursor(&path)?)?;
    /// buf.resize(12)?;
    /// assert_eq!(&*buf.slice(8..12)?, b"89\0\0");
    /// buf.resize(4)?;
    /// assert_eq!(buf.len(), 4);
    /// assert_eq!(std::fs::read(&path)?, b"0123");
    ///
    /// // A range that does not reach the end of the file cannot be resized.
    /// let mut head = smmap::SlidingWindowMapBuffer::with_range(man.make_cursor(&path)?, 0, 2)?;
    /// assert!(head.resize(3).is_err());
    /// # Ok(()) }
    /// ```
    pub fn resize(&mut self, new_len: u64) -> Result<()> {
        if self.cursor.shared().cfg.mode != MapMode::ReadWrite {
            return Err(Error::from(crate::error::ReadOnly {
                path: self.cursor.location(),
                offset: self.start.saturating_add(new_len),
                op: "resize",
                needs: crate::config::NEEDS_RESIZE,
                mode: self.cursor.shared().cfg.mode,
            }));
        }
        let file_size = self.cursor.refresh_file_size()?;
        let end = self.start + self.len;
        if end != file_size {
            return Err(Error::invalid_argument(format!(
                "resizing the buffer over bytes {}..{end} of {}, which is {file_size} bytes \
                 long: only a buffer that ends at the end of the file can be resized",
                self.start,
                self.cursor.location()
            )));
        }
        let new_end = self.start.checked_add(new_len).ok_or_else(|| {
            Error::invalid_argument(format!(
                "resizing the buffer at offset {} to {new_len} bytes overflows",
                self.start
            ))
        })?;
        self.region = (0, 0);
        self.cursor.resize(new_end)?;
        self.len = new_len;
        Ok(())
    }

    /// Writes the changes made to the buffer's bytes back to the file and waits for the write
    /// (see [`WindowCursor::flush_range`]). Does nothing unless the manager maps files with
    /// [`MapMode::ReadWrite`](crate::MapMode).
    ///
    /// [`std::io::Write::flush`] does the same.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the system reports a failure to write.
    pub fn flush(&mut self) -> Result<()> {
        self.cursor.flush_range(self.start, self.len)
    }

    /// Writes the changes made to the bytes `[offset, offset + len)` of the buffer (relative
    /// indices) back to the file and waits for the write: Python's `mmap.flush(offset, size)`.
    ///
    /// Once it returns `Ok`, the bytes of that range written through the manager are on the
    /// file's storage; nothing is promised about the others (see
    /// [`WindowCursor::flush_range`]).
    ///
    /// # Errors
    ///
    /// - [`Error::OutOfBounds`] if the range runs past the end of the buffer.
    /// - [`Error::Io`] if the system reports a failure to write.
    pub fn flush_range(&self, offset: u64, len: u64) -> Result<()> {
        self.check_range(offset, len)?;
        self.cursor.flush_range(self.start + offset, len)
    }

    /// Releases the buffer's region, and with it the exclusive claim a write took: other
    /// cursors may then use those bytes again. The next access maps a region again.
    pub fn unuse_region(&mut self) {
        self.cursor.unuse_region();
        self.region = (0, 0);
    }

    /// Copies the bytes from the position to the end of the buffer into `w`, window by window
    /// without an intermediate copy, and moves the position to the end; returns the number of
    /// bytes copied.
    ///
    /// [`std::io::copy`] would copy through its own 8 KiB buffer first (it skips that only for
    /// readers of the standard library).
    ///
    /// # Errors
    ///
    /// The errors of [`WindowCursor::use_region`] (as [`io::Error`]s) and those of `w`; the
    /// position is then after the bytes written so far.
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data.bin");
    /// std::fs::write(&path, b"0123456789")?;
    /// let man = smmap::SlidingWindowMapManager::new();
    /// let mut buf = smmap::SlidingWindowMapBuffer::with_range(man.make_cursor(&path)?, 2, 5)?;
    /// let mut out = Vec::new();
    /// assert_eq!(buf.copy_to(&mut out)?, 5);
    /// assert_eq!(out, b"23456");
    /// # Ok(()) }
    /// ```
    pub fn copy_to<W: io::Write + ?Sized>(&mut self, w: &mut W) -> io::Result<u64> {
        let mut copied = 0;
        loop {
            let c = io::BufRead::fill_buf(self)?;
            if c.is_empty() {
                return Ok(copied);
            }
            w.write_all(c)?;
            let n = c.len();
            // The writer got the bytes of the window: if some were lost meanwhile, say so.
            self.verify_read(self.pos, n)?;
            io::BufRead::consume(self, n);
            copied += n as u64;
        }
    }

    /// [`Error::ReadOnly`] if the manager maps files read-only (`pos` is a relative index).
    #[inline]
    fn check_writable(&self, pos: u64) -> Result<()> {
        if self.cursor.shared().cfg.mode == MapMode::ReadOnly {
            return Err(Error::from(crate::error::ReadOnly {
                path: self.cursor.location(),
                offset: self.start.saturating_add(pos),
                op: "write",
                needs: crate::config::NEEDS_WRITE,
                mode: MapMode::ReadOnly,
            }));
        }
        Ok(())
    }

    /// [`Error::OutOfBounds`] unless `[pos, pos + n)` lies inside the buffer.
    #[inline]
    fn check_range(&self, pos: u64, n: u64) -> Result<()> {
        if pos > self.len || n > self.len - pos {
            return Err(Error::from(crate::error::OutOfBounds {
                path: self.cursor.location(),
                offset: self.start.saturating_add(pos),
                len: n,
                file_size: self.start + self.len,
            }));
        }
        Ok(())
    }

    /// Writes `data` at index `pos` (checked to lie inside the buffer), window by window.
    /// Returns how many bytes were written, and the error that stopped the write, if any.
    fn write_in(&mut self, pos: u64, data: &[u8]) -> (usize, Option<Error>) {
        let end = pos + data.len() as u64;
        let mut done = 0;
        while done < data.len() {
            let at = pos + done as u64;
            let r = self.chunk_mut_with(at, end, |d| {
                d.copy_from_slice(&data[done..done + d.len()]);
                d.len()
            });
            match r {
                Ok(n) => done += n,
                Err(e) => return (done, Some(e)),
            }
        }
        (done, None)
    }

    /// Fills `out` with the bytes from index `pos` (checked to lie inside the buffer).
    fn read_at(&mut self, pos: u64, out: &mut [u8]) -> Result<()> {
        let end = pos + out.len() as u64;
        let mut done = 0;
        while done < out.len() {
            let c = self.chunk(pos + done as u64, end)?;
            let n = c.len();
            out[done..done + n].copy_from_slice(c);
            self.verify_read(pos + done as u64, n)?;
            done += n;
        }
        Ok(())
    }

    /// Calls `f` with the bytes from index `pos` onwards, at most up to index `end`
    /// (`pos < end <= len`), borrowed mutably from one region (chosen as [`chunk`](Self::chunk)
    /// chooses it), and returns its result. The cursor then holds that region exclusively.
    #[inline]
    fn chunk_mut_with<R>(
        &mut self,
        pos: u64,
        end: u64,
        f: impl FnOnce(&mut [u8]) -> R,
    ) -> Result<R> {
        debug_assert!(pos < end && end <= self.len);
        let abs = self.start + pos;
        let avail = end - pos;
        let rest = if self.in_region(abs) {
            self.region.1 - abs
        } else {
            // Find a region as a read would (without claiming the one in use first).
            let mut rest = self.use_region(abs, 0)? as u64;
            let want = avail.min(self.max_region / 2);
            if rest < want {
                // `want` fits in `usize`: it is at most half a region's size.
                self.use_region(abs, want as usize)?;
                rest = self.use_region(abs, 0)? as u64;
            }
            rest
        };
        // At most the rest of a region: fits in `usize`.
        let n = rest.min(avail) as usize;
        let r = match self.cursor.use_region_mut(abs, n) {
            Ok(b) if b.len() == n => Ok(f(b)),
            Ok(_) => Err(self.short(abs, n as u64)),
            Err(e) => Err(e),
        };
        if !self.in_region(abs) || self.cursor.ofs_end() > self.region.1 {
            // The cursor left the region it was known to use (or lost it to an error).
            self.learn_region();
        }
        r
    }

    // ---- region handling ----------------------------------------------------------------

    /// `use_region` on the cursor, keeping track of the region in use and of the largest region
    /// seen (a lower bound of a sliding manager's window size, which the cursor does not
    /// expose). Returns the number of bytes the cursor now exposes.
    #[inline]
    fn use_region(&mut self, abs: u64, size: usize) -> Result<usize> {
        let (rb, re) = self.region;
        let known =
            self.cursor.is_valid() && abs >= rb && abs.saturating_add(size.max(1) as u64) <= re;
        let n = match self.cursor.use_region(abs, size) {
            Ok(b) => b.len(),
            Err(e) => {
                self.region = (0, 0);
                return Err(e);
            }
        };
        if !known || self.cursor.ofs_begin() < rb || self.cursor.ofs_end() > re {
            self.learn_region();
        }
        Ok(n)
    }

    #[cold]
    fn learn_region(&mut self) {
        // The region or the bytes of a small read that the cursor holds (known without the
        // manager's lock); only regions tell the window size.
        let len = self.cursor.window_bytes().len() as u64;
        if len == 0 {
            self.region = (0, 0);
            return;
        }
        if self.cursor.current_region().is_some() {
            self.max_region = self.max_region.max(len);
        }
        let begin = self.cursor.window_begin();
        self.region = (begin, begin + len);
    }

    /// For copying reads, after they copied or searched the `n` bytes at index `pos`: an error
    /// if the SIGBUS guard found bytes of the region lost meanwhile.
    #[inline]
    fn verify_read(&mut self, pos: u64, n: usize) -> Result<()> {
        if self.cursor.intact() {
            return Ok(());
        }
        Err(self.lost_read(pos, n))
    }

    /// The `n` bytes at index `pos` just read are lost: lets go of the region, and says so.
    #[cold]
    fn lost_read(&mut self, pos: u64, n: usize) -> Error {
        self.region = (0, 0);
        match self.cursor.check_read(self.start + pos, n as u64) {
            Err(e) => e,
            Ok(()) => Error::from(crate::error::FileChanged {
                path: self.cursor.location(),
                offset: self.start + pos,
                len: n as u64,
            }),
        }
    }

    /// Whether the file offset `abs` lies in the region the cursor uses.
    #[inline]
    fn in_region(&self, abs: u64) -> bool {
        self.cursor.is_valid() && abs >= self.region.0 && abs < self.region.1
    }

    fn short(&self, offset: u64, len: u64) -> Error {
        Error::from(crate::error::OutOfBounds {
            path: self.cursor.location(),
            offset,
            len,
            file_size: self.cursor.file_size(),
        })
    }

    /// The bytes from index `pos` onwards, at most up to index `end` (`pos < end <= len`),
    /// borrowed from one region: the rest of the region in use if it holds `pos`, otherwise the
    /// rest of a region that holds at least `min(end - pos, window_size / 2)` bytes from `pos`
    /// (so that a scan never crawls through the tail of a region that barely covers `pos`).
    #[inline]
    fn chunk(&mut self, pos: u64, end: u64) -> Result<&[u8]> {
        debug_assert!(pos < end && end <= self.len);
        let abs = self.start + pos;
        let avail = end - pos;
        // Fast path: `abs` lies among the bytes the cursor already exposes.
        if let Some((rel, n)) = self.exposed(abs, avail) {
            return Ok(&self.cursor.buffer()[rel..rel + n]);
        }
        let current = self.in_region(abs);
        let rest = self.use_region(abs, 0)? as u64;
        if !current && rest < avail {
            let want = avail.min(self.max_region / 2);
            if rest < want {
                // `want` fits in `usize`: it is at most half a region's size.
                self.use_region(abs, want as usize)?;
                self.use_region(abs, 0)?;
            }
        }
        let b = self.cursor.buffer();
        let n = b.len().min(usize::try_from(avail).unwrap_or(usize::MAX));
        Ok(&b[..n])
    }

    /// Where the file offset `abs` lies in `cursor.buffer()`, and how many bytes (at most
    /// `avail`) follow it there; `None` if the cursor does not expose `abs`.
    #[inline]
    fn exposed(&self, abs: u64, avail: u64) -> Option<(usize, usize)> {
        // A region the SIGBUS guard poisoned goes through `use_region`, which reports it.
        if !self.cursor.is_valid() || !self.cursor.intact() {
            return None;
        }
        let rel = usize::try_from(abs.checked_sub(self.cursor.ofs_begin())?).ok()?;
        let len = self.cursor.buffer().len();
        (rel < len).then(|| {
            (
                rel,
                (len - rel).min(usize::try_from(avail).unwrap_or(usize::MAX)),
            )
        })
    }

    /// The bytes from index `begin` to index `end` (`s <= begin < end <= len`), borrowed from
    /// one region, with `begin` as low as that region allows; returns `(begin, bytes)`. Used to
    /// scan backwards window by window.
    fn back_chunk(&mut self, s: u64, end: u64) -> Result<(u64, &[u8])> {
        debug_assert!(s < end && end <= self.len);
        let a_s = self.start + s;
        let a_e = self.start + end;
        let holds_end = |r: (u64, u64)| r.0 < a_e && a_e <= r.1;
        if !(self.cursor.is_valid() && holds_end(self.region)) {
            let w = self.max_region.max(2);
            let half = w / 2;
            // Sliding windows of `w` bytes start at multiples of `w / 2`: asking for the bytes
            // `w` before `a_e` maps the window that ends at `a_e` when `a_e` is a window start.
            let lo = a_e.saturating_sub(w).max(a_s);
            self.use_region(lo, (a_e - lo).min(half) as usize)?;
            if !holds_end(self.region) {
                let want = (a_e - a_s).min(half);
                self.use_region(a_e - want, want as usize)?;
            }
        }
        let b = if holds_end(self.region) {
            self.region.0.max(a_s)
        } else {
            // Unknown region (not expected): ask for the bytes that are needed.
            a_s.max(a_e - (a_e - a_s).min(self.max_region.max(2) / 2))
        };
        let want = usize::try_from(a_e - b).map_err(|_| self.short(b, a_e - b))?;
        if self.use_region(b, want)? != want
            || (self.use_region(b, 0)? < want && self.use_region(b, want)? != want)
        {
            return Err(self.short(b, a_e - b));
        }
        Ok((b - self.start, &self.cursor.buffer()[..want]))
    }
}

/// To copy the buffer into a writer, [`SlidingWindowMapBuffer::copy_to`] hands each window to
/// it without copying; [`std::io::copy`] would copy through an 8 KiB buffer of its own.
impl io::Read for SlidingWindowMapBuffer {
    /// Copies bytes from the position into `out`, across windows until `out` is full or the
    /// buffer ends, and advances the position. Returns 0 at or past the end.
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut filled = 0;
        while filled < out.len() && self.pos < self.len {
            let c = match self.chunk(self.pos, self.len) {
                Ok(c) => c,
                Err(_) if filled > 0 => break,
                Err(e) => return Err(e.into()),
            };
            let n = c.len().min(out.len() - filled);
            out[filled..filled + n].copy_from_slice(&c[..n]);
            if !self.cursor.intact() {
                if filled > 0 {
                    // The bytes before are good; the next call reports the loss.
                    break;
                }
                return Err(self.lost_read(self.pos, n).into());
            }
            filled += n;
            self.pos += n as u64;
        }
        Ok(filled)
    }

    fn read_to_end(&mut self, out: &mut Vec<u8>) -> io::Result<usize> {
        let before = out.len();
        if self.pos < self.len {
            let rest = usize::try_from(self.len - self.pos).unwrap_or(usize::MAX);
            out.try_reserve(rest)
                .map_err(|e| io::Error::new(io::ErrorKind::OutOfMemory, e))?;
        }
        while self.pos < self.len {
            let c = self.chunk(self.pos, self.len)?;
            out.extend_from_slice(c);
            let n = c.len();
            if !self.cursor.intact() {
                out.truncate(out.len() - n);
                return Err(self.lost_read(self.pos, n).into());
            }
            self.pos += n as u64;
        }
        Ok(out.len() - before)
    }
}

impl io::BufRead for SlidingWindowMapBuffer {
    /// The bytes from the position to the end of the current window (or of the buffer), without
    /// copying; empty at or past the end.
    #[inline]
    fn fill_buf(&mut self) -> io::Result<&[u8]> {
        if self.pos >= self.len {
            return Ok(&[]);
        }
        Ok(self.chunk(self.pos, self.len)?)
    }

    #[inline]
    fn consume(&mut self, amt: usize) {
        self.pos = self.pos.saturating_add(amt as u64);
    }

    /// As the provided method, searching each window with `memchr`'s vectorized search.
    fn read_until(&mut self, delim: u8, out: &mut Vec<u8>) -> io::Result<usize> {
        Ok(self.read_until_into(delim, out)?)
    }

    /// As the provided method (so [`lines`](io::BufRead::lines) too), on top of
    /// [`read_until`](io::BufRead::read_until): on invalid UTF-8 the bytes read are dropped
    /// from `buf` and an [`io::ErrorKind::InvalidData`] error is returned.
    fn read_line(&mut self, buf: &mut String) -> io::Result<usize> {
        let old = buf.len();
        let mut bytes = std::mem::take(buf).into_bytes();
        let r = self
            .read_until_into(b'\n', &mut bytes)
            .map_err(io::Error::from);
        match String::from_utf8(bytes) {
            Ok(s) => {
                *buf = s;
                r
            }
            Err(e) => {
                // `buf` was valid UTF-8: the error lies in the bytes just read.
                let mut bytes = e.into_bytes();
                bytes.truncate(old);
                *buf = String::from_utf8(bytes).unwrap_or_default();
                r.and(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "stream did not contain valid UTF-8",
                )))
            }
        }
    }
}

impl io::Seek for SlidingWindowMapBuffer {
    /// Moves the position, relative to the buffer's start, its end or the position. Seeking
    /// past the end is allowed (reads then return nothing); seeking before the start is an
    /// [`io::ErrorKind::InvalidInput`] error and leaves the position unchanged.
    fn seek(&mut self, from: io::SeekFrom) -> io::Result<u64> {
        let new = match from {
            io::SeekFrom::Start(n) => Some(n),
            io::SeekFrom::End(d) => self.len.checked_add_signed(d),
            io::SeekFrom::Current(d) => self.pos.checked_add_signed(d),
        };
        match new {
            Some(p) => {
                self.pos = p;
                Ok(p)
            }
            None => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "invalid seek to a negative or overflowing position",
            )),
        }
    }

    #[inline]
    fn stream_position(&mut self) -> io::Result<u64> {
        Ok(self.pos)
    }
}

impl io::Write for SlidingWindowMapBuffer {
    /// Writes all of `data` at the position, across windows, and advances the position past
    /// it: Python's `mmap.write`. Returns `data.len()`.
    ///
    /// As in Python, a write that does not fit entirely between the position and the end of
    /// the buffer is refused and writes nothing: an [`io::ErrorKind::WriteZero`] error that
    /// wraps an [`Error::OutOfBounds`], with the position unchanged. (A buffer never grows by
    /// writing; see [`resize`](SlidingWindowMapBuffer::resize).) Writing nothing returns
    /// `Ok(0)`, wherever the position is.
    ///
    /// Other errors are those of [`WindowCursor::use_region_mut`] turned into [`io::Error`]s:
    /// [`io::ErrorKind::PermissionDenied`] for [`Error::ReadOnly`] (the manager maps files
    /// read-only), [`io::ErrorKind::ResourceBusy`] for [`Error::Busy`] (another cursor uses
    /// these bytes). When such an error stops a write that crosses windows after some windows
    /// were written, the bytes written so far are counted (and the position advanced past
    /// them); the next call reports the error.
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.check_writable(self.pos)?;
        if data.is_empty() {
            return Ok(0);
        }
        if let Err(e) = self.check_range(self.pos, data.len() as u64) {
            return Err(io::Error::new(io::ErrorKind::WriteZero, e));
        }
        let (n, err) = self.write_in(self.pos, data);
        self.pos += n as u64;
        match err {
            Some(e) if n == 0 => Err(e.into()),
            _ => Ok(n),
        }
    }

    /// [`SlidingWindowMapBuffer::flush`]: writes the changes made to the buffer's bytes back
    /// to the file and waits for the write.
    fn flush(&mut self) -> io::Result<()> {
        Ok(SlidingWindowMapBuffer::flush(self)?)
    }
}
