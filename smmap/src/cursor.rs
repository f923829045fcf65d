//! [`WindowCursor`]: a handle on one file and the region it currently uses.

use std::path::Path;
use std::sync::Arc;

use crate::config::RegionInfo;
use crate::error::{Error, Location, Result};
use crate::ids::FileId;
use crate::manager::{Answer, Registered, Shared};
use crate::record::{self, MappedRecord, RecordCheckError};
use crate::region::{LOSS, PinnedRegion, Region, Window, WindowTable};
use crate::small::{self, Hint};

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
/// Under a budget smaller than the file, a small request whose window is cold may be served
/// by reading its bytes into a buffer the cursor owns instead of mapping the window (see
/// [`ManagerBuilder::small_reads`](crate::ManagerBuilder::small_reads)): the same bytes, through
/// the same methods; [`region`](Self::region) is then `None`.
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
// On cache lines of its own: a cursor writes its window and counters on every request, and
// threads that each use one of an array of cursors would otherwise contend for the lines
// their neighbours share.
#[repr(align(64))]
pub struct WindowCursor {
    man: Arc<Shared>,
    file: FileId,
    path: Option<Arc<Path>>,
    /// The file's standard windows, for switching without the manager's lock.
    table: Arc<WindowTable>,
    /// The current region, and what the hot path needs about it.
    win: Window,
    /// Absolute file offset of the cursor's first byte.
    ofs: u64,
    /// Number of bytes the cursor exposes.
    size: usize,
    /// The file size known to this cursor (re-read at every new mapping).
    file_size: u64,
    /// Requests answered without the manager's lock, not yet reported to it.
    hits: u64,
    /// Consecutive small reads of the current window's standard window, this one included.
    run: u32,
}

impl WindowCursor {
    pub(crate) fn new(man: Arc<Shared>, reg: Registered) -> Self {
        WindowCursor {
            man,
            file: reg.file,
            path: reg.path,
            table: reg.table,
            win: Window::empty(),
            ofs: 0,
            size: 0,
            file_size: reg.size,
            hits: 0,
            run: 0,
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
    /// - [`Error::FileChanged`] if the SIGBUS guard found bytes of the cursor's region lost
    ///   since the last call (the file was truncated by another process): the cursor lets go of
    ///   the region, and the next call maps the file anew.
    #[inline]
    pub fn use_region(&mut self, offset: u64, size: usize) -> Result<&[u8]> {
        // The hot path: inside the current region, a few comparisons and pointer arithmetic.
        let rel = offset.wrapping_sub(self.win.begin());
        let win_len = self.win.len();
        if rel < win_len && self.win.intact() {
            let rest = win_len - rel;
            let want = if (size as u64).wrapping_sub(1) < rest {
                Some(size)
            } else if size == 0 && !self.win.is_owned() {
                // To the end of the window: the bytes of a small read are not one.
                Some(rest as usize)
            } else {
                None
            };
            if let Some(want) = want {
                self.hits += 1;
                self.ofs = offset;
                self.size = want;
                return Ok(self.win.slice(rel as usize, want));
            }
        }
        self.use_region_switch(offset, size)
    }

    /// A request outside the current region: the next fastest, another window already
    /// mapped, switched to without the lock; or else the slow path.
    #[inline(never)]
    fn use_region_switch(&mut self, offset: u64, size: usize) -> Result<&[u8]> {
        let need = (size as u64).max(1);
        if self.switch_fast(offset, need, size != 0) {
            return Ok(self.expose_switched(offset, size));
        }
        self.use_region_slow(offset, size, true)
    }

    /// After a switch to a window that holds `[offset, offset + max(size, 1))`: exposes the
    /// request (`size == 0`: to the end of the window).
    #[inline(always)]
    fn expose_switched(&mut self, offset: u64, size: usize) -> &[u8] {
        let rel = offset - self.win.begin();
        let want = if size == 0 {
            self.win.len() - rel
        } else {
            size as u64
        };
        self.ofs = offset;
        self.size = want as usize;
        self.win.slice(rel as usize, want as usize)
    }

    /// Switches to another window of the file that is mapped and holds
    /// `[offset, offset + need)`, without the manager's lock (see `region.rs`): loads and a
    /// few plain stores, no read-modify-write. Only for requests inside the file as last read
    /// (the others may need its size read again), and not while the cursor holds its window
    /// for writing or by a count, or while its window lost bytes to a truncation (the slow
    /// path reports that first).
    ///
    /// `kept`: the windows the cursor keeps are tried first. Not for a request for the rest
    /// of a window (`use_region(offset, 0)`): the table prefers the window that starts in the
    /// half-window of `offset` (the longest rest) where a kept window may be the one before
    /// it; nor where the caller tried them.
    #[inline(always)]
    fn switch_fast(&mut self, offset: u64, need: u64, kept: bool) -> bool {
        let ok = self.win.intact()
            && !self.win.is_exclusive()
            && need <= self.file_size.saturating_sub(offset)
            && ((kept && Window::detours() == 0 && self.win.switch_kept(offset, need))
                || self.win.try_switch(&self.table, offset, need));
        self.hits += u64::from(ok);
        ok
    }

    /// What the manager is told about a request the current window does not serve.
    /// `prev`: the window the cursor held, as `(begin, len, is_owned)`.
    fn hint(&self, offset: u64, size: usize, small_ok: bool, prev: (u64, u64, bool)) -> Hint {
        if !small_ok {
            return Hint::Map;
        }
        let (begin, len, owned) = prev;
        let end = begin + len;
        // Continues where the window ends: starts at most its own length before that end. The
        // bytes of a small read (a line or a block) are short: a request after them continues a
        // scan only if it also starts where the previous request ended (the probes of a search
        // narrowing down land next to their last bytes too).
        let sequential = len > 0
            && offset >= begin
            && offset.saturating_add(size as u64) > end
            && offset <= end
            && (!owned || offset == self.ofs.saturating_add(self.size as u64));
        let half = (self.man.cfg.window_size / 2).max(1) as u64;
        let run = if owned && offset / half == begin / half {
            self.run
        } else {
            0
        };
        Hint::Read { sequential, run }
    }

    /// The slow path of [`use_region`](Self::use_region); `small_ok`: the request may be
    /// served by a small read.
    #[cold]
    #[inline(never)]
    fn use_region_slow(&mut self, offset: u64, size: usize, small_ok: bool) -> Result<&[u8]> {
        // A tick of the recency clock: the window let go of below is stamped later than every
        // window let go of before this call (see `region::PinCell::stamp`).
        crate::region::now();
        if !self.win.intact() {
            if !self.win.told_lost() {
                return Err(self.region_lost());
            }
            self.unuse_region();
        }
        // Another window of the file, already mapped: pinned without the manager's lock. Only
        // for requests inside the file as last read: the others may need the size re-read.
        let need = (size as u64).max(1);
        let lock_free = !self.win.is_exclusive() && need <= self.file_size.saturating_sub(offset);
        let prev = (self.win.begin(), self.win.len(), self.win.is_owned());
        let old = self.win.take();
        if lock_free && self.win.switch(&self.table, offset, need) {
            if let Some((old, _)) = old {
                old.unpin();
            }
            self.hits += 1;
            return Ok(self.expose_switched(offset, size));
        }
        let hint = self.hint(offset, size, small_ok, prev);
        let release = old.map(|(p, _)| p.get().id);
        let hits = std::mem::take(&mut self.hits);
        match self
            .man
            .obtain(self.file, offset, size as u64, release, hits, hint)
        {
            Ok(Answer::Read(plan)) => self.small_read(offset, size, &plan, hint),
            Ok(Answer::Mapped(o)) => {
                self.run = 0;
                self.file_size = o.file_size;
                let r = o.region.get();
                let want = if size == 0 {
                    r.end() - offset
                } else {
                    (size as u64).min(o.file_size - offset)
                };
                self.ofs = offset;
                self.size = want as usize;
                let rel = (offset - r.begin) as usize;
                self.win.set(o.region);
                Ok(self.win.slice(rel, want as usize))
            }
            Err(e) => {
                self.size = 0;
                if let Error::OutOfBounds(e) = &e {
                    self.file_size = e.file_size;
                }
                Err(e)
            }
        }
    }

    /// Serves a request by reading the bytes the manager planned into the window's own buffer
    /// (see `small.rs`). A file found shorter than planned is left to the mapped path, which
    /// re-reads its size.
    #[cold]
    #[inline(never)]
    fn small_read(
        &mut self,
        offset: u64,
        size: usize,
        plan: &small::ReadPlan,
        hint: Hint,
    ) -> Result<&[u8]> {
        let buf = self.win.owned_buffer(plan.len);
        match small::read_at(&plan.fd, buf, plan.begin) {
            Ok(n) if n == plan.len => {}
            Ok(_) => return self.use_region_slow(offset, size, false),
            Err(source) => {
                self.size = 0;
                return Err(Error::from(crate::error::Io {
                    op: "pread",
                    path: self.location(),
                    offset: Some(plan.begin),
                    source,
                }));
            }
        }
        self.win.set_owned(plan.begin, plan.len);
        self.run = match hint {
            Hint::Read { run, .. } => run.saturating_add(1),
            Hint::Map => 0,
        };
        self.file_size = plan.file_size;
        let want = (size as u64).min(plan.file_size - offset) as usize;
        self.ofs = offset;
        self.size = want;
        Ok(self.win.slice((offset - plan.begin) as usize, want))
    }

    /// Places the cursor on a mapped region (not a small read) that holds
    /// `[offset, offset + min(size, file_size - offset))`, as `use_region` places it; returns
    /// the number of bytes exposed.
    pub(crate) fn use_region_mapped(&mut self, offset: u64, size: usize) -> Result<usize> {
        if self.win.is_owned() {
            self.win.take();
        } else if self.win.len() > 0 {
            // The hot path, for a request inside the current region.
            let rel = offset.wrapping_sub(self.win.begin());
            let rest = self.win.len().wrapping_sub(rel);
            if rel < self.win.len() && self.win.intact() && (size == 0 || size as u64 <= rest) {
                self.hits += 1;
                self.ofs = offset;
                self.size = if size == 0 { rest as usize } else { size };
                return Ok(self.size);
            }
        }
        self.use_region_slow(offset, size, false).map(<[u8]>::len)
    }

    /// The bytes the cursor exposes (`[ofs_begin, ofs_end)`); empty when the cursor is invalid.
    #[inline]
    pub fn buffer(&self) -> &[u8] {
        if self.win.len() == 0 {
            return &[];
        }
        self.win
            .slice((self.ofs - self.win.begin()) as usize, self.size)
    }

    /// Whether the cursor holds a region.
    #[inline]
    pub fn is_valid(&self) -> bool {
        self.win.len() > 0
    }

    /// Releases the cursor's region (it stays mapped, cached, until the manager needs room).
    /// Calling it again does nothing.
    pub fn unuse_region(&mut self) {
        match self.win.take() {
            // The claim for writing ends in the manager.
            Some((p, true)) => self.man.unpin(p.get().id, std::mem::take(&mut self.hits)),
            // Nothing of the region is touched after this.
            Some((p, false)) => p.unpin(),
            None => {}
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
        Ok(self.file_size)
    }

    /// The path of the file, if it is known.
    #[inline]
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The region the cursor uses, if any.
    pub fn region(&self) -> Option<RegionInfo> {
        self.win.region().and_then(|r| self.man.region_info(r.id))
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
        if !self.win.is_exclusive() {
            self.claim_for_write(offset, size)?;
        }
        // Position the cursor (a hit when the exclusive region covers the request).
        let len = self.use_region_mapped(offset, size)?;
        if !self.win.is_exclusive() {
            // The request needed another region: claim that one.
            self.claim_for_write(offset, size)?;
        }
        let rel = (self.ofs - self.win.begin()) as usize;
        Ok(self.win.slice_mut(rel, len))
    }

    /// Places the cursor on a region covering the request and claims it for writing.
    #[cold]
    fn claim_for_write(&mut self, offset: u64, size: usize) -> Result<()> {
        if self.man.cfg.mode == crate::config::MapMode::ReadOnly {
            return Err(Error::from(crate::error::ReadOnly {
                path: self.location(),
                offset,
                op: "write",
                needs: crate::config::NEEDS_WRITE,
                mode: self.man.cfg.mode,
            }));
        }
        self.use_region_mapped(offset, size)?;
        let id = self.win.region().expect("positioned").id;
        if self.win.held_by_hazard() {
            // The manager ends a claim by dropping a counted pin.
            match self.man.pin_again(id) {
                Ok(arc) => self.win.count_pin(PinnedRegion::from_pinned(&arc)),
                Err(e) => {
                    self.unuse_region();
                    return Err(e);
                }
            }
        }
        if let Err(e) = self.man.claim_exclusive(self.file, id) {
            self.unuse_region();
            return Err(e);
        }
        self.win.set_exclusive();
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
            return Err(Error::invalid_argument(format!(
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
    /// What is promised, once it returns `Ok`: every byte of the range written through this
    /// manager (by any of its cursors and buffers) before the call is on the file's storage, as
    /// far as the device honours the system's sync. Nothing is promised about the bytes outside
    /// the range: they may have been written with it (the system writes whole pages, and a file
    /// whose written regions were unmapped is synced whole), may be written later by the system
    /// on its own, or, if the system stops first (a crash, a power loss), not at all. A process
    /// that is killed loses none of its writes either way: they are in the system's page cache
    /// as soon as they are made; the flush is what puts them on the device.
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
    /// [`Error::Io`] if the system reports a failure to write; [`Error::FileChanged`] if
    /// writes went to pages the file lost meanwhile (it was truncated by another process: see
    /// the crate documentation, "Files that change"), once for them.
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
        Ok(())
    }

    /// File offset of the current region's first byte (0 without one).
    #[inline(always)]
    pub(crate) fn window_begin(&self) -> u64 {
        self.win.begin()
    }

    /// Whether the current region's bytes are all there (see `Window::intact`).
    #[inline(always)]
    pub(crate) fn intact(&self) -> bool {
        self.win.intact()
    }

    /// All the bytes of the current region (empty without one), through the cached address.
    #[inline(always)]
    pub(crate) fn window_bytes(&self) -> &[u8] {
        self.win.slice(0, self.win.len() as usize)
    }

    /// The region the cursor holds, if any.
    #[inline]
    pub(crate) fn current_region(&self) -> Option<&Region> {
        self.win.region()
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
    #[inline(always)]
    pub fn record<T: MappedRecord>(&mut self, offset: u64) -> Result<&T> {
        // One load tells whether bytes were lost anywhere (then see `record_switch`) and
        // whether a manager is near its budget (then switches go through the table).
        let detours = Window::detours();
        // The hot path: the record lies in the current region.
        if detours & LOSS == 0 && self.win.holds(offset, T::SIZE) {
            return self.record_held(offset);
        }
        // The next likeliest: a window the cursor keeps, switched to in place (it checks the
        // rest of `switch_fast`'s conditions, and needs no check of the size).
        if detours == 0 && T::SIZE > 0 && self.win.switch_kept(offset, T::SIZE as u64) {
            self.hits += 1;
            return self.record_in_window(offset);
        }
        self.record_switch::<T>(offset)
    }

    /// The record at `offset`, which the current region holds, counted as a hit.
    #[inline(always)]
    fn record_held<T: MappedRecord>(&mut self, offset: u64) -> Result<&T> {
        self.hits += 1;
        self.record_in_window(offset)
    }

    /// A record outside the current region: through another mapped window, switched to
    /// without the lock, or else the slow path. Not inlined, so that the hit path stays small
    /// in the caller's loop.
    /// (The caller tried the windows the cursor keeps, and the current one, unless bytes were
    /// lost somewhere: then the current window serves only if its own bytes are all there.)
    #[inline(never)]
    fn record_switch<T: MappedRecord>(&mut self, offset: u64) -> Result<&T> {
        if Window::detours() & LOSS != 0 && self.win.intact() && self.win.holds(offset, T::SIZE) {
            return self.record_held(offset);
        }
        if T::SIZE > 0 && self.switch_fast(offset, T::SIZE as u64, false) {
            return self.record_in_window(offset);
        }
        self.record_slow::<T>(offset)
    }

    /// The record at `offset`, which the current window holds (after a hit or a switch).
    #[inline(always)]
    fn record_in_window<T: MappedRecord>(&mut self, offset: u64) -> Result<&T> {
        let bytes = self
            .win
            .bytes_at(offset, T::SIZE)
            .expect("the window holds the record");
        let rec: &T = record::cast(bytes).expect("sized");
        self.ofs = offset;
        self.size = T::SIZE;
        self.checked(rec, offset)
    }

    /// `rec`, the record at `offset` the cursor exposes, if its check passes and the bytes it
    /// read were there.
    #[inline(always)]
    fn checked<'a, T: MappedRecord>(&'a self, rec: &'a T, offset: u64) -> Result<&'a T> {
        let checked = rec.check();
        // The check read the record: bytes it found lost are an error, not a bad record.
        if T::CHECKS && !self.win.intact() {
            return Err(self.tell_lost());
        }
        match checked {
            Ok(()) => Ok(rec),
            Err(e) => Err(check_error::<T>(self.location(), offset, e)),
        }
    }

    /// Places the cursor on a region that holds the record at `offset`, and reads it.
    #[cold]
    #[inline(never)]
    fn record_slow<T: MappedRecord>(&mut self, offset: u64) -> Result<&T> {
        if T::SIZE == 0 {
            if offset > self.file_size {
                return Err(self.short_record(offset, 0));
            }
        } else {
            self.place_whole(offset, T::SIZE)?;
        }
        let bytes = if T::SIZE == 0 { &[][..] } else { self.buffer() };
        let rec: &T = record::cast(bytes).expect("length checked");
        self.checked(rec, offset)
    }

    /// `count` consecutive records of type `T` from `offset`, read in place and checked.
    ///
    /// # Errors
    ///
    /// As [`record`](Self::record); [`Error::InvalidArgument`] if `T` is zero-sized or the
    /// length overflows.
    pub fn records<T: MappedRecord>(&mut self, offset: u64, count: usize) -> Result<&[T]> {
        if T::SIZE == 0 {
            return Err(Error::invalid_argument(format!(
                "records of zero-sized type {}",
                std::any::type_name::<T>()
            )));
        }
        let Some(total) = T::SIZE.checked_mul(count) else {
            return Err(Error::invalid_argument(format!(
                "{count} records of {} bytes overflow the address space",
                T::SIZE
            )));
        };
        if count == 0 {
            return Ok(&[]);
        }
        self.place_whole(offset, total)?;
        let recs: &[T] = record::cast_slice(self.buffer()).expect("length checked");
        let bad = recs
            .iter()
            .enumerate()
            .find_map(|(i, r)| r.check().err().map(|e| (i, e)));
        if T::CHECKS && !self.win.intact() {
            return Err(self.tell_lost());
        }
        if let Some((i, e)) = bad {
            let at = offset + (i * T::SIZE) as u64;
            return Err(check_error::<T>(self.location(), at, e));
        }
        Ok(recs)
    }

    /// Places the cursor on a region holding all of `[offset, offset + len)` (a window that
    /// covers it, or a region of its own when it is longer than half a window): the one way
    /// records, tables and iterators place a whole record (or run of records). A range that
    /// runs past the end of the file is `Error::OutOfBounds`, and the cursor is then invalid.
    pub(crate) fn place_whole(&mut self, offset: u64, len: usize) -> Result<()> {
        if self.use_region(offset, len)?.len() != len {
            return Err(self.short_record(offset, len as u64));
        }
        Ok(())
    }

    /// After the SIGBUS guard poisoned the cursor's region: lets go of it and says which of
    /// its bytes are lost (from the first page replaced with zeros to its end).
    #[cold]
    #[inline(never)]
    pub(crate) fn region_lost(&mut self) -> Error {
        let e = self.lost_error();
        self.unuse_region();
        self.size = 0;
        e
    }

    /// As [`region_lost`](Self::region_lost), for calls that hand out views and so cannot let
    /// go of the region: the next call does, without reporting the loss again.
    #[cold]
    #[inline(never)]
    pub(crate) fn tell_lost(&self) -> Error {
        self.win.tell_lost();
        self.lost_error()
    }

    fn lost_error(&self) -> Error {
        let (offset, len) = match self.win.region() {
            Some(r) => {
                let from = r.map.lost_from().unwrap_or(0) as u64;
                (r.begin + from, r.len() as u64 - from)
            }
            None => (self.ofs, 0),
        };
        Error::from(crate::error::FileChanged {
            path: self.location(),
            offset,
            len,
        })
    }

    /// For copying reads, after they copied `[offset, offset + len)` out of the cursor's
    /// region: whether those bytes were all there. If the SIGBUS guard poisoned the region
    /// meanwhile, the cursor lets go of it and the bytes just read are reported lost.
    #[inline]
    pub(crate) fn check_read(&mut self, offset: u64, len: u64) -> Result<()> {
        if self.win.intact() {
            return Ok(());
        }
        self.region_lost();
        Err(Error::from(crate::error::FileChanged {
            path: self.location(),
            offset,
            len,
        }))
    }

    fn short_record(&mut self, offset: u64, len: u64) -> Error {
        self.unuse_region();
        self.size = 0;
        Error::from(crate::error::OutOfBounds {
            path: self.location(),
            offset,
            len,
            file_size: self.file_size,
        })
    }
}

/// Turns a record check failure into an [`Error`] naming the file and the offset.
pub(crate) fn check_error<T>(path: Location, offset: u64, e: RecordCheckError) -> Error {
    match e {
        RecordCheckError::BadMagic {
            field_offset,
            expected,
            found,
        } => Error::from(crate::error::BadMagic {
            path,
            offset: offset + field_offset as u64,
            expected: expected.to_vec(),
            found,
        }),
        RecordCheckError::Invalid {
            field_offset,
            message,
        } => Error::from(crate::error::InvalidRecord {
            path,
            offset: offset + field_offset as u64,
            record: std::any::type_name::<T>(),
            message,
        }),
    }
}

impl Clone for WindowCursor {
    fn clone(&self) -> Self {
        self.man.add_user(self.file);
        let mut c = WindowCursor {
            man: self.man.clone(),
            file: self.file,
            path: self.path.clone(),
            table: self.table.clone(),
            win: Window::empty(),
            ofs: self.ofs,
            size: 0,
            file_size: self.file_size,
            hits: 0,
            run: 0,
        };
        if self.win.is_owned() {
            c.win = self.win.clone_owned();
            c.size = self.size;
        } else if let Some(r) = self.win.region()
            && let Ok(arc) = self.man.pin_again(r.id)
        {
            c.win.set(PinnedRegion::from_pinned(&arc));
            c.size = self.size;
        }
        c
    }
}

impl Drop for WindowCursor {
    fn drop(&mut self) {
        let pinned = self.win.take().map(|(p, _)| p.get().id);
        if let Some(h) = self.win.take_hazard() {
            self.table.unregister(&h);
        }
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
