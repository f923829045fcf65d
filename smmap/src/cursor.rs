//! [`WindowCursor`]: a handle on one file and the region it currently uses.

use std::path::Path;
use std::ptr::NonNull;
use std::sync::Arc;

use crate::error::{Error, Location, Result};
use crate::manager::{FileId, Region, RegionInfo, Shared};
use crate::record::{self, MappedRecord, RecordCheckError};

/// A handle on one file and on the region of it that it currently uses.
///
/// A cursor is made by a manager's `make_cursor` and maps nothing until it is used. Each
/// [`use_region`](Self::use_region) returns exactly the bytes asked for (or up to the end of the
/// file): when they lie inside the region the cursor already holds, this is a bounds check and
/// pointer arithmetic, without a lock, an atomic or an allocation; otherwise the cursor asks the
/// manager for a region that covers them, which may map one.
///
/// While a cursor holds a region, the region stays mapped (it is *pinned*); dropping the cursor
/// or calling [`unuse_region`](Self::unuse_region) unpins it, and the manager may then unmap it
/// when a budget needs room.
///
/// Cursors are `Clone` (the clone uses the same region) and `Send`.
///
/// # Examples
///
/// ```
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("data.bin");
/// std::fs::write(&path, b"hello, mapped world")?;
/// let man = smmap::SlidingWindowMapManager::new();
/// let mut c = man.make_cursor(&path)?;
/// assert!(!c.is_valid());
/// assert_eq!(c.use_region(7, 6)?, b"mapped");
/// assert_eq!((c.ofs_begin(), c.ofs_end()), (7, 13));
/// assert_eq!(c.region().unwrap().client_count, 2); // the manager and this cursor
/// assert!(c.use_region(100, 1).is_err()); // past the end: an error, and the cursor is invalid
/// assert!(!c.is_valid());
/// # Ok(()) }
/// ```
pub struct WindowCursor {
    man: Arc<Shared>,
    file: FileId,
    path: Option<Arc<Path>>,
    region: Option<Arc<Region>>,
    /// Absolute file offset of the cursor's first byte.
    ofs: u64,
    /// Number of bytes the cursor exposes.
    size: usize,
    /// The file size known to this cursor (re-read at every new mapping).
    file_size: u64,
    /// Requests answered from the current region, not yet reported to the manager.
    hits: u64,
    /// The current region is held exclusively, for writing.
    excl: bool,
    /// The current region's first byte and length (0 without a region): what the hot path
    /// needs, without following the region pointer. Requests that run past the region (for
    /// instance past the end of the file as last read) take the slow path.
    win_begin: u64,
    win_len: u64,
    /// The current region's first byte in memory (dangling without a region).
    win_ptr: NonNull<u8>,
}

// SAFETY: `win_ptr` points into the mapping of `region`, an `Arc<Region>` the cursor owns; a
// `Region` is `Send + Sync` (a read-only or exclusively claimed mapping), and the pointer is
// only dereferenced through `&self`/`&mut self` methods under the same rules as `region`.
unsafe impl Send for WindowCursor {}
// SAFETY: as above; `&WindowCursor` only ever reads through `win_ptr`.
unsafe impl Sync for WindowCursor {}

impl WindowCursor {
    pub(crate) fn new(man: Arc<Shared>, file: FileId, path: Option<Arc<Path>>, size: u64) -> Self {
        WindowCursor {
            man,
            file,
            path,
            region: None,
            ofs: 0,
            size: 0,
            file_size: size,
            hits: 0,
            excl: false,
            win_begin: 0,
            win_len: 0,
            win_ptr: NonNull::dangling(),
        }
    }

    /// Makes the cursor expose `[offset, offset + size)` and returns those bytes.
    ///
    /// Exactly `min(size, file_size - offset)` bytes are returned; `size == 0` means "to the end
    /// of the region that holds `offset`" (the window for a sliding manager, the end of the file
    /// for the static one). Requests of at most `window_size / 2` bytes are always served by one
    /// window; longer ones get a region of their own.
    ///
    /// # Errors
    ///
    /// - [`Error::OutOfBounds`] if `offset >= file_size` (the size is re-read first); the cursor
    ///   is then invalid.
    /// - [`Error::FileShrank`] if the file became smaller than a live region.
    /// - [`Error::Io`] if the file cannot be opened or mapped (after releasing every unused
    ///   region and idle descriptor and retrying once, for lack of descriptors or memory).
    /// - [`Error::Busy`] if another cursor holds these bytes for writing.
    #[inline]
    pub fn use_region(&mut self, offset: u64, size: usize) -> Result<&[u8]> {
        // The hot path: inside the current region, a few comparisons and pointer arithmetic.
        let rel = offset.wrapping_sub(self.win_begin);
        if rel < self.win_len {
            let rest = self.win_len - rel;
            let want = if (size as u64).wrapping_sub(1) < rest {
                Some(size)
            } else if size == 0 {
                Some(rest as usize)
            } else {
                None
            };
            if let Some(want) = want {
                self.hits += 1;
                self.ofs = offset;
                self.size = want;
                return Ok(self.window_slice(rel as usize, want));
            }
        }
        self.use_region_slow(offset, size)
    }

    /// `len` bytes of the current region from `rel`.
    ///
    /// Callers guarantee `win_len > 0` (a region is held) and `rel + len <= win_len`.
    #[inline(always)]
    fn window_slice(&self, rel: usize, len: usize) -> &[u8] {
        debug_assert!(self.win_len > 0 && (rel + len) as u64 <= self.win_len);
        // SAFETY: `win_len > 0` only while `region` holds a mapping of `win_len` bytes starting
        // at `win_ptr` (`set_window`), and `rel <= win_len`: the result stays inside (or one
        // past the end of) that allocation.
        let start = unsafe { self.win_ptr.as_ptr().add(rel) };
        // SAFETY: `win_len > 0` only while `region` holds (and pins) a mapping of `win_len`
        // bytes starting at `win_ptr` (`set_window`), and callers keep `rel + len <= win_len`,
        // so `[start, start + len)` lies inside the mapping.
        // The bytes are readable for as long as `self` is borrowed: a pinned region is never
        // unmapped, and unpinning needs `&mut self`. No `&mut` to them exists meanwhile:
        // writers hold exclusive claims, which the manager refuses while another cursor pins
        // overlapping bytes, and this cursor's own mutable views borrow it mutably.
        unsafe { std::slice::from_raw_parts(start, len) }
    }

    /// Caches what the hot path needs about the current region.
    fn set_window(&mut self) {
        match &self.region {
            Some(r) => {
                let bytes = r.map.bytes();
                self.win_begin = r.begin;
                self.win_len = bytes.len() as u64;
                self.win_ptr = NonNull::from(bytes).cast();
            }
            None => {
                self.win_begin = 0;
                self.win_len = 0;
                self.win_ptr = NonNull::dangling();
            }
        }
    }

    #[cold]
    #[inline(never)]
    fn use_region_slow(&mut self, offset: u64, size: usize) -> Result<&[u8]> {
        self.excl = false;
        self.win_len = 0;
        let release = self.region.take().map(|r| r.id);
        let hits = std::mem::take(&mut self.hits);
        match self
            .man
            .obtain(self.file, offset, size as u64, release, hits)
        {
            Ok(o) => {
                self.file_size = o.file_size;
                let r = o.region;
                let want = if size == 0 {
                    r.end() - offset
                } else {
                    (size as u64).min(o.file_size - offset)
                };
                self.ofs = offset;
                self.size = want as usize;
                let rel = (offset - r.begin) as usize;
                self.region = Some(r);
                self.set_window();
                let r = self.region.as_ref().expect("just set");
                Ok(&r.map.bytes()[rel..rel + want as usize])
            }
            Err(e) => {
                self.size = 0;
                if let Error::OutOfBounds { file_size, .. } = &e {
                    self.file_size = *file_size;
                }
                Err(e)
            }
        }
    }

    /// The bytes the cursor exposes (`[ofs_begin, ofs_end)`); empty when the cursor is invalid.
    #[inline]
    pub fn buffer(&self) -> &[u8] {
        if self.win_len == 0 {
            return &[];
        }
        self.window_slice((self.ofs - self.win_begin) as usize, self.size)
    }

    /// Whether the cursor holds a region.
    #[inline]
    pub fn is_valid(&self) -> bool {
        self.region.is_some()
    }

    /// Releases the cursor's region (it stays mapped, cached, until the manager needs room).
    /// Calling it again does nothing.
    pub fn unuse_region(&mut self) {
        self.excl = false;
        self.win_len = 0;
        if let Some(r) = self.region.take() {
            let id = r.id;
            // The manager unmaps a region only when it holds the last reference to it: ours goes
            // before the unpin makes the region evictable.
            drop(r);
            self.man.unpin(id, std::mem::take(&mut self.hits));
        }
    }

    /// File offset of the first byte the cursor exposes.
    #[inline]
    pub fn ofs_begin(&self) -> u64 {
        self.ofs
    }

    /// File offset one past the last byte the cursor exposes.
    #[inline]
    pub fn ofs_end(&self) -> u64 {
        self.ofs + self.size as u64
    }

    /// Number of bytes the cursor exposes (the last value when invalid).
    #[inline]
    pub fn size(&self) -> usize {
        self.size
    }

    /// Whether `ofs` is among the bytes the cursor exposes.
    #[inline]
    pub fn includes_ofs(&self, ofs: u64) -> bool {
        self.is_valid() && self.ofs <= ofs && ofs < self.ofs_end()
    }

    /// The size of the file as last read (at the last new mapping, or when the cursor was
    /// made).
    #[inline]
    pub fn file_size(&self) -> u64 {
        self.file_size
    }

    /// Reads the file's size again and returns it.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the file cannot be opened or `fstat`ed, [`Error::FileShrank`] if it is
    /// now smaller than a live region.
    pub fn refresh_file_size(&mut self) -> Result<u64> {
        self.file_size = self.man.refresh_size(self.file)?;
        self.set_window();
        Ok(self.file_size)
    }

    /// The path of the file, if it is known.
    #[inline]
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The region the cursor uses, if any.
    pub fn region(&self) -> Option<RegionInfo> {
        self.region
            .as_ref()
            .and_then(|r| self.man.region_info(r.id))
    }

    /// Like [`use_region`](Self::use_region), for writing: makes the cursor expose
    /// `[offset, offset + size)` and returns those bytes mutably.
    ///
    /// The cursor then holds its region *exclusively*: until it moves to another region (or
    /// [`unuse_region`](Self::unuse_region) is called, or it is dropped), no other cursor or
    /// guard of the same manager may use bytes of that region, and this call is refused while
    /// any of them does. This is what keeps a `&mut [u8]` from aliasing other views of the same
    /// bytes (two regions of one file map the same pages). Other managers of the process are
    /// coordinated too: a claim is refused while another manager knows the file (has cursors
    /// on it or regions of it cached), and while the claim lasts, other managers refuse to map
    /// the file. Writes through
    /// [`MapMode::ReadWrite`](crate::MapMode) reach the file (durably after a flush);
    /// through [`MapMode::CopyOnWrite`](crate::MapMode) they stay in this process: such a
    /// claim excludes only the views of its own manager (private pages alias nothing in
    /// another mapping, so a read-only manager beside it reads the file as it is on disk),
    /// and the region with the private changes serves those bytes from then on (other cached
    /// regions over them are unmapped).
    ///
    /// # Errors
    ///
    /// - [`Error::ReadOnly`] if the manager maps files read-only.
    /// - [`Error::Busy`] if other cursors or guards use bytes of the region, another cursor
    ///   writes to them, or another manager of this process maps the same file.
    /// - The errors of [`use_region`](Self::use_region).
    ///
    /// # Examples
    ///
    /// ```
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// # let dir = tempfile::tempdir()?;
    /// # let path = dir.path().join("data.bin");
    /// std::fs::write(&path, b"hello, mapped world")?;
    /// let man = smmap::SlidingWindowMapManager::builder()
    ///     .mode(smmap::MapMode::ReadWrite)
    ///     .build()?;
    /// let mut c = man.make_cursor(&path)?;
    /// c.use_region_mut(7, 6)?.copy_from_slice(b"MAPPED");
    /// let mut reader = man.make_cursor(&path)?;
    /// assert!(reader.use_region(0, 5).is_err()); // the writer holds these bytes
    /// c.flush_range(7, 6)?;
    /// drop(c);
    /// assert_eq!(reader.use_region(0, 0)?, b"hello, MAPPED world");
    /// assert_eq!(std::fs::read(&path)?, b"hello, MAPPED world");
    /// # Ok(()) }
    /// ```
    ///
    /// A mutable view borrows the cursor, so the cursor's own shared views cannot coexist with
    /// it:
    ///
    /// ```compile_fail
    /// # fn f(c: &mut smmap::WindowCursor) -> smmap::Result<()> {
    /// let w = c.use_region_mut(0, 4)?;
    /// let r = c.buffer(); // error: `*c` is already borrowed mutably
    /// w[0] = r[0];
    /// # Ok(()) }
    /// ```
    ///
    /// ```compile_fail
    /// # fn f(c: &mut smmap::WindowCursor) -> smmap::Result<()> {
    /// let r = c.use_region(0, 4)?;
    /// let w = c.use_region_mut(0, 4)?; // error: `*c` is already borrowed
    /// w[0] = r[0];
    /// # Ok(()) }
    /// ```
    #[inline]
    pub fn use_region_mut(&mut self, offset: u64, size: usize) -> Result<&mut [u8]> {
        if !self.excl {
            self.claim_for_write(offset, size)?;
        }
        // Position the cursor (a hit when the exclusive region covers the request).
        let len = self.use_region(offset, size)?.len();
        if !self.excl {
            // The request needed another region: claim that one.
            self.claim_for_write(offset, size)?;
        }
        let r = self.region.as_ref().expect("positioned above");
        let rel = (self.ofs - r.begin) as usize;
        // SAFETY: the mapping is writable (the manager's mode is not ReadOnly, checked in
        // `claim_for_write`), and this cursor holds an exclusive claim on the whole region
        // (`self.excl`): the manager refuses every other pin of a region overlapping it while
        // the claim lasts, and the claim lasts until the cursor leaves the region, which needs
        // `&mut self` and so ends the returned borrow first. The cursor's own shared views
        // (`buffer`, `use_region`) also borrow `self`, so none is alive alongside this one.
        let bytes = unsafe { r.map.bytes_mut() };
        Ok(&mut bytes[rel..rel + len])
    }

    /// Places the cursor on a region covering the request and claims it for writing.
    #[cold]
    fn claim_for_write(&mut self, offset: u64, size: usize) -> Result<()> {
        if self.man.cfg.mode == crate::MapMode::ReadOnly {
            return Err(Error::ReadOnly {
                path: self.location(),
                offset,
                op: "write",
                needs: crate::manager::NEEDS_WRITE,
                mode: self.man.cfg.mode,
            });
        }
        self.use_region(offset, size)?;
        let id = self.region.as_ref().expect("positioned").id;
        if let Err(e) = self.man.claim_exclusive(self.file, id) {
            self.unuse_region();
            return Err(e);
        }
        self.excl = true;
        Ok(())
    }

    /// The record of type `T` at `offset`, for writing (see
    /// [`use_region_mut`](Self::use_region_mut)). The record is not checked: it may be being
    /// written for the first time.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfBounds`] if the record does not lie entirely inside the file, and the
    /// errors of [`use_region_mut`](Self::use_region_mut).
    pub fn record_mut<T: MappedRecord>(&mut self, offset: u64) -> Result<&mut T> {
        if T::SIZE == 0 {
            return Err(Error::InvalidArgument(format!(
                "zero-sized record {}",
                std::any::type_name::<T>()
            )));
        }
        if self.use_region_mut(offset, T::SIZE)?.len() != T::SIZE {
            return Err(self.short_record(offset, T::SIZE as u64));
        }
        let bytes = self.use_region_mut(offset, T::SIZE)?;
        Ok(record::cast_mut(bytes).expect("length checked"))
    }

    /// Writes the changes made to `[offset, offset + len)` of this file back to it and waits
    /// for the write (`msync(MS_SYNC)`, and `fdatasync` if regions written since the last flush
    /// were unmapped). Does nothing unless the manager maps files with
    /// [`MapMode::ReadWrite`](crate::MapMode).
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the system reports a failure to write.
    pub fn flush_range(&self, offset: u64, len: u64) -> Result<()> {
        self.man.flush(Some(self.file), offset, len)
    }

    /// Writes every change made to this file back to it and waits for the write.
    ///
    /// # Errors
    ///
    /// [`Error::Io`] if the system reports a failure to write.
    pub fn flush(&self) -> Result<()> {
        self.man.flush(Some(self.file), 0, u64::MAX)
    }

    /// Grows or truncates the file to `new_len` bytes (`ftruncate`). New bytes read as zeros.
    /// The cursor releases its region first; cached regions past the new end are unmapped, in
    /// this manager and in every other manager of the process that maps the file.
    ///
    /// # Errors
    ///
    /// - [`Error::ReadOnly`] unless the manager maps files with
    ///   [`MapMode::ReadWrite`](crate::MapMode).
    /// - [`Error::Busy`] if other cursors or guards, of this manager or of another one of the
    ///   process, use regions past the new end, or another manager writes to the file.
    /// - [`Error::Io`] if the file cannot be opened or resized.
    pub fn resize(&mut self, new_len: u64) -> Result<()> {
        self.unuse_region();
        self.man.resize(self.file, new_len)?;
        self.file_size = new_len;
        self.set_window();
        Ok(())
    }

    /// File offset of the current region's first byte (0 without one).
    #[inline(always)]
    pub(crate) fn window_begin(&self) -> u64 {
        self.win_begin
    }

    /// All the bytes of the current region (empty without one), through the cached address.
    #[inline(always)]
    pub(crate) fn window_bytes(&self) -> &[u8] {
        if self.win_len == 0 {
            return &[];
        }
        self.window_slice(0, self.win_len as usize)
    }

    /// The region the cursor holds, if any.
    #[inline]
    pub(crate) fn current_region(&self) -> Option<&Arc<Region>> {
        self.region.as_ref()
    }

    /// The manager's shared state.
    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.man
    }

    pub(crate) fn location(&self) -> Location {
        Location(self.path.as_deref().map(Path::to_path_buf))
    }

    /// The record of type `T` at `offset`, read in place and checked
    /// ([`MappedRecord::check`]: magic numbers and validation hooks).
    ///
    /// A record that crosses the end of the current window is served by a window that covers
    /// it, records longer than half a window included.
    ///
    /// # Errors
    ///
    /// [`Error::OutOfBounds`] if the record does not lie entirely inside the file,
    /// [`Error::BadMagic`] or [`Error::InvalidRecord`] if its check fails, and the errors of
    /// [`use_region`](Self::use_region).
    #[inline]
    pub fn record<T: MappedRecord>(&mut self, offset: u64) -> Result<&T> {
        // The hot path: the record lies in the current region.
        let rel = offset.wrapping_sub(self.win_begin);
        if T::SIZE > 0 && rel < self.win_len && T::SIZE as u64 <= self.win_len - rel {
            self.hits += 1;
            self.ofs = offset;
            self.size = T::SIZE;
        } else {
            self.record_slow::<T>(offset)?;
        }
        let bytes = if T::SIZE == 0 { &[][..] } else { self.buffer() };
        let rec: &T = record::cast(bytes).expect("length checked");
        if let Err(e) = rec.check() {
            return Err(check_error::<T>(self.location(), offset, e));
        }
        Ok(rec)
    }

    /// Places the cursor on a region that holds the record at `offset`.
    #[cold]
    #[inline(never)]
    fn record_slow<T: MappedRecord>(&mut self, offset: u64) -> Result<()> {
        if T::SIZE == 0 {
            if offset > self.file_size {
                return Err(self.short_record(offset, 0));
            }
        } else if self.use_region(offset, T::SIZE)?.len() != T::SIZE {
            return Err(self.short_record(offset, T::SIZE as u64));
        }
        Ok(())
    }

    /// `count` consecutive records of type `T` from `offset`, read in place and checked.
    ///
    /// # Errors
    ///
    /// As [`record`](Self::record); [`Error::InvalidArgument`] if `T` is zero-sized or the
    /// length overflows.
    pub fn records<T: MappedRecord>(&mut self, offset: u64, count: usize) -> Result<&[T]> {
        if T::SIZE == 0 {
            return Err(Error::InvalidArgument(format!(
                "records of zero-sized type {}",
                std::any::type_name::<T>()
            )));
        }
        let Some(total) = T::SIZE.checked_mul(count) else {
            return Err(Error::InvalidArgument(format!(
                "{count} records of {} bytes overflow the address space",
                T::SIZE
            )));
        };
        if count == 0 {
            return Ok(&[]);
        }
        if self.use_region(offset, total)?.len() != total {
            return Err(self.short_record(offset, total as u64));
        }
        let recs: &[T] = record::cast_slice(self.buffer()).expect("length checked");
        for (i, r) in recs.iter().enumerate() {
            if let Err(e) = r.check() {
                let at = offset + (i * T::SIZE) as u64;
                return Err(check_error::<T>(
                    Location(self.path.as_deref().map(Path::to_path_buf)),
                    at,
                    e,
                ));
            }
        }
        Ok(recs)
    }

    fn short_record(&mut self, offset: u64, len: u64) -> Error {
        self.unuse_region();
        self.size = 0;
        Error::OutOfBounds {
            path: self.location(),
            offset,
            len,
            file_size: self.file_size,
        }
    }
}

/// Turns a record check failure into an [`Error`] naming the file and the offset.
pub(crate) fn check_error<T>(path: Location, offset: u64, e: RecordCheckError) -> Error {
    match e {
        RecordCheckError::BadMagic {
            field_offset,
            expected,
            found,
        } => Error::BadMagic {
            path,
            offset: offset + field_offset as u64,
            expected: expected.to_vec(),
            found,
        },
        RecordCheckError::Invalid {
            field_offset,
            message,
        } => Error::InvalidRecord {
            path,
            offset: offset + field_offset as u64,
            record: std::any::type_name::<T>(),
            message,
        },
    }
}

impl Clone for WindowCursor {
    fn clone(&self) -> Self {
        self.man.add_user(self.file);
        let region = match &self.region {
            Some(r) if self.man.pin_again(r.id).is_ok() => Some(r.clone()),
            _ => None,
        };
        let mut c = WindowCursor {
            man: self.man.clone(),
            file: self.file,
            path: self.path.clone(),
            size: if region.is_some() { self.size } else { 0 },
            region,
            ofs: self.ofs,
            file_size: self.file_size,
            hits: 0,
            excl: false,
            win_begin: 0,
            win_len: 0,
            win_ptr: NonNull::dangling(),
        };
        c.set_window();
        c
    }
}

impl Drop for WindowCursor {
    fn drop(&mut self) {
        let pinned = self.region.take().map(|r| r.id);
        self.man.release_user(self.file, pinned, self.hits);
    }
}

impl std::fmt::Debug for WindowCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WindowCursor")
            .field("path", &self.path)
            .field("valid", &self.is_valid())
            .field("ofs_begin", &self.ofs)
            .field("size", &self.size)
            .field("file_size", &self.file_size)
            .finish()
    }
}
