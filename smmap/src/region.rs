//! Regions, their pin counts, the per-file window table that lets cursors switch windows
//! without the manager's lock, and the handle a cursor holds on its region.
//!
//! # The protocol
//!
//! Every region has a [`PinCell`]: one atomic word `generation << 32 | DEAD | count` (the number
//! of cursors and guards holding the region) and the time it was last let go of. A sliding
//! manager's windows of the standard placement (window `k` starts at `k * window_size / 2`) have
//! their cell in slot `k` of their file's [`WindowTable`]; the slot also holds a pointer to the
//! region. Slots are never freed while the table lives (a slab: a slot is reused by the next
//! window mapped at its place, with the next generation), and the table lives as long as any
//! cursor of the file or region in it. Other regions (longer requests, the static manager's
//! whole files, windows that do not fit the table) have a cell of their own.
//!
//! - **Pinning without the lock** ([`PinCell::try_pin`]): a compare-and-swap from a live state to
//!   the same state plus one. It fails on a dead cell (no region, or one being unmapped), and the
//!   generation in the word keeps a cell that died and came back from being taken for the one
//!   that was read. After pinning, the cursor checks the file's *writers gate* (below), then reads
//!   the slot's region pointer (valid: it was set before the cell came alive, and is cleared only
//!   after the cell died, which cannot happen while pinned) and re-checks that the region covers
//!   the request; if not, it unpins and takes the locked path.
//! - **Unmapping** ([`PinCell::try_kill`]): under the manager's lock, a compare-and-swap from
//!   "live, count 0" to "dead". Once dead, no pin can succeed until the manager revives the cell
//!   under its lock for a new region. So a region is unmapped only when no cursor holds it, and a
//!   cursor never touches a region it has not pinned: the region's memory (the struct and the
//!   mapping, both owned by the manager's registry) stays valid for every holder.
//! - **The writers gate** ([`WindowTable::writers`]): a count of the claims for writing (and of
//!   resizes) in progress on the file. A claim raises it *before* it checks that no other view
//!   overlaps the bytes it wants; a lock-free pin checks it *after* pinning. Both are sequentially
//!   consistent, so either the claim sees the pin (and is refused) or the pin sees the gate (and
//!   backs off to the locked path, which knows about claims). While the gate is up, every switch
//!   of a cursor of that file takes the lock.
//! - **Recency**: letting go of a region stamps its cell with [`now`] (the time-stamp counter on
//!   x86-64, a process-wide counter elsewhere). The manager's LRU set is keyed by stamps that are
//!   never later than a region's true last use; eviction pops the smallest key, and re-keys it if
//!   the region was used since (or is in use) before looking again. The region it unmaps has the
//!   smallest last-use stamp of all unused regions: exact when one thread works the manager, and
//!   within the stamps' ordering under races.

use std::ptr::NonNull;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU64, Ordering};

use crate::sys::Mapping;

/// A region id, unique within its manager.
pub(crate) type RegionId = u64;

const DEAD: u64 = 1 << 31;
const COUNT: u64 = DEAD - 1;
const GEN: u64 = 1 << 32;

/// A clock for recency: increasing within a thread, and across threads as far as the machine
/// keeps its time-stamp counters in step.
#[inline]
pub(crate) fn now() -> u64 {
    #[cfg(target_arch = "x86_64")]
    {
        // SAFETY: `rdtsc` is available on every x86-64 processor and has no preconditions.
        unsafe { core::arch::x86_64::_rdtsc() }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        static CLOCK: AtomicU64 = AtomicU64::new(1);
        CLOCK.fetch_add(1, Ordering::Relaxed)
    }
}

/// A region's pin count and recency (see the module documentation).
#[derive(Debug)]
pub(crate) struct PinCell {
    state: AtomicU64,
    last_use: AtomicU64,
}

impl PinCell {
    fn dead() -> Self {
        PinCell {
            state: AtomicU64::new(DEAD),
            last_use: AtomicU64::new(0),
        }
    }

    /// A live cell pinned once (by the cursor the region is mapped for).
    fn pinned_once() -> Self {
        PinCell {
            state: AtomicU64::new(1),
            last_use: AtomicU64::new(now()),
        }
    }

    /// Pins a live cell without the lock; fails on a dead one.
    #[inline]
    pub(crate) fn try_pin(&self) -> bool {
        let mut s = self.state.load(Ordering::Relaxed);
        loop {
            if s & DEAD != 0 || s & COUNT == COUNT {
                return false;
            }
            match self
                .state
                .compare_exchange_weak(s, s + 1, Ordering::SeqCst, Ordering::Relaxed)
            {
                Ok(_) => return true,
                Err(now) => s = now,
            }
        }
    }

    /// Pins a cell the caller knows to be live (under the manager's lock, which alone kills
    /// cells).
    pub(crate) fn pin_live(&self) {
        let prev = self.state.fetch_add(1, Ordering::SeqCst);
        debug_assert_eq!(prev & DEAD, 0, "pinned a dead region");
    }

    /// Lets go of one pin, stamping the cell's recency.
    #[inline]
    pub(crate) fn unpin(&self) {
        self.last_use.store(now(), Ordering::Relaxed);
        let prev = self.state.fetch_sub(1, Ordering::Release);
        debug_assert!(
            prev & COUNT > 0 && prev & DEAD == 0,
            "unpinned an unpinned region"
        );
    }

    /// The number of pins.
    pub(crate) fn pins(&self) -> usize {
        (self.state.load(Ordering::SeqCst) & COUNT) as usize
    }

    /// When the region was last let go of (or mapped).
    pub(crate) fn last_use(&self) -> u64 {
        self.last_use.load(Ordering::Relaxed)
    }

    /// Kills an unpinned live cell, so that nothing can pin it; fails if it is pinned.
    pub(crate) fn try_kill(&self) -> bool {
        let s = self.state.load(Ordering::Relaxed);
        s & (DEAD | COUNT) == 0
            && self
                .state
                .compare_exchange(s, s | DEAD, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
    }

    /// Brings a dead cell back, pinned once, with the next generation.
    fn revive(&self) {
        let s = self.state.load(Ordering::Relaxed);
        debug_assert_ne!(s & DEAD, 0);
        self.last_use.store(now(), Ordering::Relaxed);
        let next = (s & !(DEAD | COUNT)).wrapping_add(GEN) | 1;
        self.state.store(next, Ordering::Release);
    }
}

/// One slot of a [`WindowTable`].
#[derive(Debug)]
struct Slot {
    cell: PinCell,
    region: AtomicPtr<Region>,
}

/// A file's standard windows, by index, for switches without the lock (see the module docs).
#[derive(Debug)]
pub(crate) struct WindowTable {
    /// Half the window size (0: no windows here, as for the static manager).
    half: u64,
    /// The standard window length.
    window: u64,
    slots: Box<[Slot]>,
    /// Claims for writing and resizes in progress on the file: while not 0, cursors switch
    /// windows through the manager's lock.
    pub(crate) writers: AtomicU64,
}

/// Slots of a table at most (beyond, windows are found through the lock).
const MAX_SLOTS: u64 = 1 << 16;

impl WindowTable {
    /// A table for a file of `size` bytes with windows of `window` bytes (0: none), with room
    /// for the file to double.
    pub(crate) fn new(window: u64, size: u64) -> Arc<Self> {
        let half = window / 2;
        let n = size
            .saturating_mul(2)
            .checked_div(half)
            .map_or(0, |n| (n + 2).min(MAX_SLOTS));
        Arc::new(WindowTable {
            half,
            window,
            slots: (0..n)
                .map(|_| Slot {
                    cell: PinCell::dead(),
                    region: AtomicPtr::new(std::ptr::null_mut()),
                })
                .collect(),
            writers: AtomicU64::new(0),
        })
    }

    /// Raises the writers gate (see the module docs).
    pub(crate) fn raise_gate(&self) {
        self.writers.fetch_add(1, Ordering::SeqCst);
    }

    /// Lowers the writers gate.
    pub(crate) fn lower_gate(&self) {
        let prev = self.writers.fetch_sub(1, Ordering::SeqCst);
        debug_assert!(prev > 0);
    }

    /// The slot a window of `[begin, begin + len)` of a file of `file_size` bytes belongs in, if
    /// it has the standard placement and the table has room.
    fn slot_for(&self, begin: u64, len: u64, file_size: u64) -> Option<usize> {
        if self.half == 0 || !begin.is_multiple_of(self.half) {
            return None;
        }
        if len != self.window.min(file_size - begin) {
            return None;
        }
        let k = usize::try_from(begin / self.half).ok()?;
        (k < self.slots.len()).then_some(k)
    }

    /// Pins, without the lock, a window that holds `[offset, offset + need)`, if one is mapped
    /// and no writer is at work on the file: window `offset / half`, or else the one before it
    /// (whose second half holds `offset`; the locked path serves requests from it too).
    #[inline]
    pub(crate) fn try_pin_window(&self, offset: u64, need: u64) -> Option<PinnedRegion> {
        if self.half == 0 {
            return None;
        }
        let k = usize::try_from(offset / self.half).ok()?;
        self.try_pin_slot(k, offset, need)
            .or_else(|| self.try_pin_slot(k.checked_sub(1)?, offset, need))
    }

    #[inline]
    fn try_pin_slot(&self, k: usize, offset: u64, need: u64) -> Option<PinnedRegion> {
        let slot = self.slots.get(k)?;
        if !slot.cell.try_pin() {
            return None;
        }
        if self.writers.load(Ordering::SeqCst) != 0 {
            slot.cell.unpin();
            return None;
        }
        let p = NonNull::new(slot.region.load(Ordering::Acquire));
        let pinned = p.map(|region| PinnedRegion { region });
        match pinned {
            // A region the SIGBUS guard poisoned is left to the locked path, which replaces it.
            Some(r) if r.covers(offset, need) && !r.get().map.poisoned() => Some(r),
            _ => {
                slot.cell.unpin();
                None
            }
        }
    }
}

/// Where a region's pin cell lives.
#[derive(Debug)]
enum CellHome {
    /// A region outside any table has its own.
    Own(PinCell),
    /// A standard window's is in its slot of its file's table (kept alive by this `Arc`).
    Slot(Arc<WindowTable>, usize),
}

/// One mapping of `[begin, begin + len)` of one file, owned by its manager's registry.
#[derive(Debug)]
pub(crate) struct Region {
    pub(crate) begin: u64,
    pub(crate) id: RegionId,
    pub(crate) map: Mapping,
    cell: CellHome,
}

impl Region {
    /// A new region, pinned once, placed in `table`'s slot for it if it has the standard
    /// placement and that slot is free.
    pub(crate) fn new(
        begin: u64,
        id: RegionId,
        map: Mapping,
        table: &Arc<WindowTable>,
        file_size: u64,
    ) -> Arc<Region> {
        let len = map.len() as u64;
        let slot = table
            .slot_for(begin, len, file_size)
            .filter(|&k| table.slots[k].region.load(Ordering::Relaxed).is_null());
        match slot {
            Some(k) => {
                let region = Arc::new(Region {
                    begin,
                    id,
                    map,
                    cell: CellHome::Slot(table.clone(), k),
                });
                let s = &table.slots[k];
                s.region
                    .store(Arc::as_ptr(&region).cast_mut(), Ordering::Release);
                // Published after the pointer: a pin that succeeds sees it.
                s.cell.revive();
                region
            }
            None => Arc::new(Region {
                begin,
                id,
                map,
                cell: CellHome::Own(PinCell::pinned_once()),
            }),
        }
    }

    /// The region's pin cell.
    #[inline(always)]
    pub(crate) fn cell(&self) -> &PinCell {
        match &self.cell {
            CellHome::Own(c) => c,
            CellHome::Slot(t, k) => &t.slots[*k].cell,
        }
    }

    /// Kills the region's cell if it is unpinned (see [`PinCell::try_kill`]) and takes it out of
    /// its table: after `true`, nothing can pin it, and the manager may unmap it.
    pub(crate) fn try_retire(&self) -> bool {
        if !self.cell().try_kill() {
            return false;
        }
        if let CellHome::Slot(t, k) = &self.cell {
            t.slots[*k]
                .region
                .store(std::ptr::null_mut(), Ordering::Release);
        }
        true
    }

    #[inline(always)]
    pub(crate) fn end(&self) -> u64 {
        self.begin + self.map.len() as u64
    }

    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

impl Drop for Region {
    fn drop(&mut self) {
        // A retired standard window may outlive its place in the table (a flush in progress
        // holds it), and the slot then serves the next window mapped there: its cell says
        // nothing about this region any more.
        let own_cell = match &self.cell {
            CellHome::Own(_) => true,
            CellHome::Slot(t, k) => std::ptr::eq(t.slots[*k].region.load(Ordering::Relaxed), self),
        };
        debug_assert!(
            !own_cell
                || self.cell().state.load(Ordering::Relaxed) & DEAD != 0
                || self.cell().pins() == 0,
            "a pinned region is dropped"
        );
    }
}

/// A cursor's hold on a region it has pinned: the region stays mapped, and its struct alive,
/// until the pin is let go of ([`PinnedRegion::unpin`], or the manager's locked unpin).
#[derive(Debug, Clone, Copy)]
pub(crate) struct PinnedRegion {
    region: NonNull<Region>,
}

// SAFETY: a `PinnedRegion` only gives `&Region` access, and `Region` is `Sync`; the pin it
// stands for may be let go of from any thread.
unsafe impl Send for PinnedRegion {}
// SAFETY: as above.
unsafe impl Sync for PinnedRegion {}

impl PinnedRegion {
    /// A hold on a region the caller has pinned (the manager's registry keeps it alive while
    /// pinned).
    pub(crate) fn from_pinned(region: &Arc<Region>) -> Self {
        PinnedRegion {
            region: NonNull::from(&**region),
        }
    }

    /// The region.
    #[inline(always)]
    pub(crate) fn get(&self) -> &Region {
        // SAFETY: the holder has pinned the region: the manager unmaps and drops a region only
        // after `try_retire` succeeded, which needs the count at 0; the registry's `Arc`
        // keeps the struct alive until then.
        unsafe { self.region.as_ref() }
    }

    /// Whether the region holds `[offset, offset + need)`.
    #[inline(always)]
    fn covers(&self, offset: u64, need: u64) -> bool {
        let r = self.get();
        offset >= r.begin && offset.saturating_add(need) <= r.end()
    }

    /// Lets go of the pin without the lock. Not for a region held for writing (that goes
    /// through the manager, which ends the claim).
    #[inline]
    pub(crate) fn unpin(self) {
        self.get().cell().unpin();
    }
}

/// A cursor's current region and what its hot path needs about it (start, length, address),
/// without following the region pointer.
///
/// The window holds one of two kinds of content: a pinned region (`pinned` is `Some`), or bytes
/// the cursor read itself into `own` (a *small read*, see `cursor.rs`; `pinned` is `None`). The
/// hot path does not tell them apart: it checks `begin`/`len` and reads through `ptr`.
///
/// Invariant: when `len > 0`, either `pinned` is `Some` and `[ptr, ptr + len)` is the pinned
/// region's mapping, readable while the pin lasts (and writable when `exclusive`), or `pinned`
/// is `None`, `exclusive` is false, `len <= own.len()` and `ptr` is `own`'s address (`own` is
/// not touched while `len > 0`: every method that changes it first sets `len` to 0). When
/// `len == 0` nothing is read through `ptr`.
#[derive(Debug)]
pub(crate) struct Window {
    pinned: Option<PinnedRegion>,
    begin: u64,
    len: u64,
    ptr: NonNull<u8>,
    exclusive: bool,
    /// The loss of the region's bytes (see `intact`) was already reported to the cursor's
    /// user by a call that could not let go of the region.
    told: AtomicBool,
    /// The bytes of the last small read (kept between reads to reuse the allocation).
    own: Vec<u8>,
}

// SAFETY: `ptr` points into the mapping of the region `pinned` holds, which any thread may read
// (a `Region` is `Sync`); mutable access needs `&mut Window` and an exclusive claim, so sending
// the window to another thread or sharing `&Window` gives no thread more than the claim allows.
unsafe impl Send for Window {}
// SAFETY: `&Window` only reads through `ptr` (see above).
unsafe impl Sync for Window {}

impl Window {
    /// No region.
    pub(crate) const fn empty() -> Self {
        Window {
            pinned: None,
            begin: 0,
            len: 0,
            ptr: NonNull::dangling(),
            exclusive: false,
            told: AtomicBool::new(false),
            own: Vec::new(),
        }
    }

    /// Whether the window holds bytes the cursor read itself (no region).
    #[inline(always)]
    pub(crate) fn is_owned(&self) -> bool {
        self.len > 0 && self.pinned.is_none()
    }

    /// A buffer of `len` bytes to read the bytes of a small read into, after `take` (the
    /// window then holds nothing until [`set_owned`](Self::set_owned)).
    pub(crate) fn owned_buffer(&mut self, len: usize) -> &mut [u8] {
        debug_assert!(self.pinned.is_none());
        self.len = 0;
        self.ptr = NonNull::dangling();
        if self.own.len() < len {
            self.own.resize(len, 0);
        }
        &mut self.own[..len]
    }

    /// Holds the first `len` bytes of the buffer of [`owned_buffer`](Self::owned_buffer)
    /// as the bytes of the file from `begin`.
    pub(crate) fn set_owned(&mut self, begin: u64, len: usize) {
        debug_assert!(self.pinned.is_none());
        assert!(len <= self.own.len());
        self.begin = begin;
        self.len = len as u64;
        self.exclusive = false;
        self.ptr = NonNull::new(self.own.as_mut_ptr()).unwrap_or(NonNull::dangling());
    }

    /// A copy of the window's own bytes, for a clone of its cursor (empty if it holds a
    /// region or nothing).
    pub(crate) fn clone_owned(&self) -> Window {
        let mut w = Window::empty();
        if self.is_owned() {
            let n = self.len as usize;
            w.owned_buffer(n).copy_from_slice(&self.own[..n]);
            w.set_owned(self.begin, n);
        }
        w
    }

    /// File offset of the region's first byte (0 without one).
    #[inline(always)]
    pub(crate) fn begin(&self) -> u64 {
        self.begin
    }

    /// Length of the region (0 without one).
    #[inline(always)]
    pub(crate) fn len(&self) -> u64 {
        self.len
    }

    /// Whether the region's bytes are all there: `false` once the SIGBUS guard replaced some
    /// of them with zeros. One load of a process-wide flag while no mapping was ever poisoned.
    #[inline(always)]
    pub(crate) fn intact(&self) -> bool {
        !crate::sys::poison_seen() || self.intact_after_a_loss()
    }

    #[cold]
    #[inline(never)]
    fn intact_after_a_loss(&self) -> bool {
        !self.region().is_some_and(|r| r.map.poisoned())
    }

    /// Records that the loss of the region's bytes was reported.
    #[cold]
    pub(crate) fn tell_lost(&self) {
        self.told.store(true, Ordering::Relaxed);
    }

    /// Whether the loss of the region's bytes was reported.
    pub(crate) fn told_lost(&self) -> bool {
        self.told.load(Ordering::Relaxed)
    }

    /// The region, if any.
    #[inline]
    pub(crate) fn region(&self) -> Option<&Region> {
        self.pinned.as_ref().map(PinnedRegion::get)
    }

    /// Whether the region is held for writing.
    #[inline(always)]
    pub(crate) fn is_exclusive(&self) -> bool {
        self.exclusive
    }

    /// Records that the manager granted an exclusive claim on the region (see
    /// `Shared::claim_exclusive`): no other view of its bytes exists until the window lets go.
    pub(crate) fn set_exclusive(&mut self) {
        debug_assert!(self.pinned.is_some());
        self.exclusive = true;
    }

    /// Takes the pinned region out (the caller lets go of the pin) and whether it was held for
    /// writing.
    #[inline]
    pub(crate) fn take(&mut self) -> Option<(PinnedRegion, bool)> {
        let excl = std::mem::replace(&mut self.exclusive, false);
        *self.told.get_mut() = false;
        // Own bytes (if any) are kept allocated for the next small read.
        self.len = 0;
        self.begin = 0;
        self.ptr = NonNull::dangling();
        self.pinned.take().map(|p| (p, excl))
    }

    /// Holds a region the caller has pinned (replacing none: `take` first).
    #[inline]
    pub(crate) fn set(&mut self, pinned: PinnedRegion) {
        debug_assert!(self.pinned.is_none());
        let r = pinned.get();
        self.begin = r.begin;
        self.len = r.len() as u64;
        self.ptr = r.map.ptr();
        self.exclusive = false;
        *self.told.get_mut() = false;
        self.pinned = Some(pinned);
    }

    /// `len` bytes of the region from `rel`.
    ///
    /// # Panics
    ///
    /// If `[rel, rel + len)` is not inside the region (callers check first; the compiler
    /// folds this check into theirs).
    #[inline(always)]
    pub(crate) fn slice(&self, rel: usize, len: usize) -> &[u8] {
        assert!(rel as u64 <= self.len && len as u64 <= self.len - rel as u64);
        // SAFETY: `[rel, rel + len)` lies inside the `self.len` bytes at `ptr` (checked above;
        // with `self.len == 0`, `len == 0`, and a dangling pointer is valid for an empty
        // slice). With a region, they are its mapping, which stays mapped while the region is
        // pinned, and unpinning needs `&mut self`, which ends this borrow first; no `&mut` to
        // these bytes exists meanwhile: writers hold exclusive claims, which the manager
        // refuses while another view pins overlapping bytes, and this window's own mutable
        // slices borrow it mutably. Without a region, they are the first `self.len` bytes of
        // `own` (see the invariant), which is only changed through `&mut self`.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr().wrapping_add(rel), len) }
    }

    /// Whether the region holds the `len` bytes (`len > 0`) at file offset `offset`.
    #[inline(always)]
    pub(crate) fn holds(&self, offset: u64, len: usize) -> bool {
        let rel = offset.wrapping_sub(self.begin);
        len > 0 && rel < self.len && len as u64 <= self.len - rel
    }

    /// The `len` bytes (`len > 0`) at file offset `offset`, if the region holds them all: the
    /// hot path of reads in place, one bounds check.
    #[inline(always)]
    pub(crate) fn bytes_at(&self, offset: u64, len: usize) -> Option<&[u8]> {
        if !self.holds(offset, len) {
            return None;
        }
        let rel = offset.wrapping_sub(self.begin);
        // SAFETY: `[rel, rel + len)` lies inside the region (checked above), which stays
        // mapped and free of `&mut` views while the borrow lasts (see `slice`).
        Some(unsafe {
            std::slice::from_raw_parts(self.ptr.as_ptr().wrapping_add(rel as usize), len)
        })
    }

    /// `len` bytes of the region from `rel`, mutably.
    ///
    /// # Panics
    ///
    /// If the region is not held for writing or the range is not inside it.
    #[inline]
    pub(crate) fn slice_mut(&mut self, rel: usize, len: usize) -> &mut [u8] {
        assert!(
            self.exclusive && self.pinned.is_some(),
            "a mutable view needs an exclusive claim"
        );
        assert!(rel as u64 <= self.len && len as u64 <= self.len - rel as u64);
        // SAFETY: the range lies inside the mapping (checked above). The mapping is writable:
        // exclusive claims are granted only to managers that map files writable. The claim
        // (`exclusive`) means no other cursor, guard or manager holds a view of these bytes
        // (the manager refuses their pins while it lasts), and the claim lasts until the window
        // lets go of the region, which needs `&mut self` and so ends the returned borrow first.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().wrapping_add(rel), len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cells_pin_kill_and_revive() {
        let c = PinCell::dead();
        assert!(!c.try_pin(), "dead");
        c.revive();
        assert_eq!(c.pins(), 1);
        assert!(!c.try_kill(), "pinned");
        assert!(c.try_pin());
        c.unpin();
        c.unpin();
        assert!(c.try_kill());
        assert!(!c.try_pin());
        let before = c.state.load(Ordering::Relaxed);
        c.revive();
        assert_ne!(
            before >> 32,
            c.state.load(Ordering::Relaxed) >> 32,
            "next generation"
        );
    }

    #[test]
    fn pins_race_kills_without_losing_counts() {
        let c = Arc::new(PinCell::pinned_once());
        c.unpin();
        let threads: Vec<_> = (0..2)
            .map(|_| {
                let c = c.clone();
                std::thread::spawn(move || {
                    let mut pinned = 0;
                    for _ in 0..100_000 {
                        if c.try_pin() {
                            pinned += 1;
                            c.unpin();
                        }
                    }
                    pinned
                })
            })
            .collect();
        let mut kills = 0u64;
        while kills == 0 || !threads.iter().all(|t| t.is_finished()) {
            if c.try_kill() {
                kills += 1;
                // Dead: no pin can succeed until it is revived.
                assert_eq!(c.pins(), 0);
                c.revive();
                c.unpin();
            }
            // Leave the cell alive most of the time.
            for _ in 0..500 {
                std::hint::spin_loop();
            }
        }
        let pinned: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
        assert_eq!(c.pins(), 0, "every pin let go of");
        assert!(pinned > 0 && kills > 0, "pinned {pinned}, kills {kills}");
    }
}
