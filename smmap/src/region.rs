//! Regions, their pin counts, the per-file window table that lets cursors switch windows
//! without the manager's lock, and the handle a cursor holds on its region.
//!
//! # The protocol
//!
//! Every region has a [`PinCell`]: one atomic word `generation << 32 | DEAD | count` (the number
//! of guards, tables and cursors holding the region by a count) and the time it was last let go
//! of. A sliding manager's windows of the standard placement (window `k` starts at
//! `k * window_size / 2`) have their cell in slot `k` of their file's [`WindowTable`]; the slot
//! also holds a pointer to the region. Slots are never freed while the table lives (a slab: a
//! slot is reused by the next window mapped at its place, with the next generation), and the
//! table lives as long as any cursor of the file or region in it. Other regions (longer
//! requests, the static manager's whole files, windows that do not fit the table) have a cell
//! of their own, and are only ever held by a count, taken under the manager's lock.
//!
//! A cursor holds a standard window it switched to without the lock by a **hazard** instead of
//! a count: a word of its own ([`Hazard`], registered with the file's table) that names the slot
//! and the generation it holds, `generation << 32 | (k + 1)`. A switch is then loads and plain
//! stores: no read-modify-write, no full fence. That matters more than the few cycles a locked
//! instruction costs: a locked instruction (like a full fence) waits for every earlier memory
//! access, so a switch after a cache miss would wait for that miss, and random reads would lose
//! the overlap of their misses that a raw map gets.
//!
//! - **Pinning without the lock** ([`WindowTable::probe`], [`WindowTable::pin`]): the cursor
//!   reads the slot's state `s`; if it is live, it stores `tag(s, k)` in its hazard, executes a
//!   *light barrier*, and reads the state again. If the state (without the count) is unchanged
//!   and the writers gate (below) is down, the region is held: the slot's region pointer is valid
//!   (set before the cell came alive in this generation, cleared only after it died, which it
//!   cannot while the hazard is seen, below), and the cursor checks that the region covers the
//!   request. Otherwise it clears its hazard and takes the locked path. Letting go is a store of
//!   0 (release) to the hazard.
//! - **Unmapping** ([`Region::try_retire`], under the manager's lock): a compare-and-swap of the
//!   cell from "live, count 0" to "dead" ([`PinCell::try_kill`]), then a *heavy barrier*, then a
//!   scan of the file's hazards for `tag(s, k)`. If one names the window, the kill is undone (the
//!   same state back: nothing else changes a dead cell, only the manager, which holds the lock)
//!   and the region stays; otherwise the slot's pointer is cleared and the region is unmapped.
//! - **Why it holds**: the light and heavy barriers together act as a full fence between the
//!   cursor's hazard store and its second state load, paired with one between the manager's
//!   kill and its scan (Dekker's pattern). The heavy barrier makes every thread of the process
//!   execute a full fence (`membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` on Linux,
//!   `FlushProcessWriteBuffers` on Windows; see `sys`), so the light one only has to keep the
//!   compiler from reordering; where the system has no such call (macOS, Linux without
//!   `membarrier`), the light barrier is a full fence. So either the scan sees the hazard, and
//!   the region stays, or the cursor's second load sees the kill, and it backs off: a cursor
//!   never holds an unmapped region. A generation is 32 bits: a cursor would have to stop
//!   between its two loads while one slot is remapped 2^32 times to be fooled.
//! - **Kept windows** ([`Window::switch_kept`]): a cursor also keeps the windows it switched to
//!   through the table, one per half-window of the file (up to 1024; where the process-wide barrier
//!   is set up, or the system has none: see `sys::keeps_windows`), as *idle holds*: the tag in
//!   place `h % places` of its hazard's `idle` array for the half-window `h` the window served (the
//!   window is slot `h`'s or slot `h - 1`'s), and what a switch needs (bounds, address, tag,
//!   region) in the cursor's own memory, at the same place. A switch for an offset looks at the
//!   place of its half-window, whichever half-window the window there was kept for, and takes it if
//!   its bounds hold the request: it stores the tag in `cur`, executes the light barrier, and loads
//!   the idle place again: if it still holds the tag, the window is held. Nothing of the table is
//!   read: random reads over the windows a cursor keeps cost a few loads and stores of its own
//!   lines, and every load counts (a load issued behind a cache miss holds a place in the
//!   processor's load buffer until the miss is done, so the fewer loads a switch makes, the more
//!   misses overlap). A kept window is stored in its place (plain store) while `cur` announces it,
//!   before the store to `cur` that lets go of it (release); the manager reads every `cur`
//!   (acquire) before the idle places, so a scan that no longer sees the window in use sees it
//!   kept.
//! - **Taking kept windows back**: in [`Region::try_retire`], after the kill and the scan of
//!   `cur`, the manager swaps the window's tag out of the idle places that hold it (compare and
//!   swap to 0, [`WindowTable::take_back`]), executes a second heavy barrier, and scans `cur`
//!   again: a cursor that announced the window before the swap is seen (the kill is undone and
//!   the window stays, held by that `cur`); a later one loads the emptied place and backs off
//!   to the table (which sees the kill). Kept windows are not users ([`Region::users`]): they
//!   never make a region busy, so budgets, `collect` and claims see only the cursors that use
//!   a window. A manager that learns of a smaller file takes back the copies kept of the
//!   regions past the new end that it cannot unmap ([`Region::take_back_kept`]): a kept window
//!   then always lies inside the file as its manager knows it, and a switch to one needs no
//!   check of the size. Raising the writers gate takes every kept window of the file back
//!   (below).
//! - **Counted pins** (guards, tables, cursor clones, claims for writing: all under the lock)
//!   are the cell's count; a kill needs it at 0. A cursor that claims its window for writing
//!   first takes a counted pin on it and lets go of its hazard (the manager ends claims by
//!   dropping a count).
//! - **The writers gate** ([`WindowTable::writers`]): a count of the claims for writing (and of
//!   resizes) in progress on the file. A claim raises it, executes a heavy barrier, takes every
//!   window the file's cursors keep back (a swap to 0 of every idle place) and executes a
//!   second heavy barrier if there was one, and only then checks that no other view (count or
//!   hazard) overlaps the bytes it wants; a cursor checks the gate after its hazard store and
//!   light barrier when it switches through the table. So either the claim sees the hazard
//!   (and is refused) or the cursor sees the gate (and backs off to the locked path, which
//!   knows about claims). A switch to a kept window does not look at the gate: it either
//!   loaded its place before the swap, and then its announcement is seen by the claim's check
//!   (after the second barrier), or it finds the place empty and goes to the table. A window
//!   is kept only after a switch through the table, and a cursor that stores a window in its
//!   place executes the light barrier and looks at the gate again: if it is up, the cursor
//!   empties the place itself; otherwise the sweep (after the claim's heavy barrier) sees the
//!   place. While the gate is up, every switch of a cursor of that file takes the lock.
//! - **Who holds a region** ([`Region::users`]): its count plus the hazards announcing it in
//!   use (kept windows are not counted). Exact for
//!   the calling thread's own cursors and after a heavy barrier; a snapshot otherwise (as
//!   `RegionInfo::client_count` documents).
//! - **Recency**: letting go of a region stamps its cell ([`PinCell::stamp`]). While a manager is
//!   near its budget (the next mapping may evict), every stamp is the next tick of a
//!   process-wide clock ([`now`]) and the LRU order is exact for one thread, and within lost
//!   updates of the clock under races; cursors then switch through the table, which stamps,
//!   and not to their kept windows (one word, `sys::detours`, tells a read both whether bytes
//!   were lost anywhere and whether a manager is near its budget). Otherwise a switch through
//!   the table stamps the clock's current time, storing it only when it changes (a store in a
//!   switch costs a place in the store buffer until the misses before it are done), and a
//!   switch to a kept window stamps nothing: uses since the last stamp are then not ordered,
//!   which only matters once evictions start, and then the stamps are exact again. The
//!   manager's LRU set is keyed by stamps never later than a region's last use; eviction pops the
//!   smallest key, and re-keys it if the region was used since (or is in use) before looking
//!   again.

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

pub(crate) use crate::sys::LOSS;
use crate::sys::Mapping;

/// A region id, unique within its manager.
pub(crate) type RegionId = u64;

const DEAD: u64 = 1 << 31;
const COUNT: u64 = DEAD - 1;
const GEN: u64 = 1 << 32;

/// The clock for recency (see [`now`]).
static CLOCK: AtomicU64 = AtomicU64::new(1);

/// The next tick of the clock for recency: a process-wide counter that each call advances
/// with a plain load and store (no read-modify-write: a window switch must not wait for the
/// memory accesses before it, which a locked instruction, or `rdtsc` on some machines, makes
/// it do). Strictly increasing within a thread that is alone at it; when threads race, an
/// update may be lost and a stamp repeat or fall behind another thread's (a thread stopped between
/// its load and its store sets the clock back by what the others ticked meanwhile), which makes
/// the LRU order approximate by that much, never unsound.
#[inline]
pub(crate) fn now() -> u64 {
    let t = CLOCK.load(Ordering::Relaxed).wrapping_add(1);
    CLOCK.store(t, Ordering::Relaxed);
    t
}

/// Records whether a manager is near its budget (`on`), in its flag `pressed`.
pub(crate) fn note_pressure(pressed: &mut bool, on: bool) {
    if *pressed != on {
        *pressed = on;
        crate::sys::note_pressure(on);
    }
}

/// A region's pin count and recency (see the module documentation).
#[derive(Debug)]
pub(crate) struct PinCell {
    state: AtomicU64,
    last_use: AtomicU64,
    /// How often cursors switched to the region while a manager was near its budget, halved
    /// now and then by the manager: the frequency its admission of new windows compares with
    /// (see `small.rs`, "Admission"). Counted with a plain load and store: a lost update under
    /// races only makes it approximate.
    uses: AtomicU32,
}

impl PinCell {
    fn dead() -> Self {
        PinCell {
            state: AtomicU64::new(DEAD),
            last_use: AtomicU64::new(0),
            uses: AtomicU32::new(0),
        }
    }

    /// A live cell pinned once (by the cursor the region is mapped for).
    fn pinned_once() -> Self {
        PinCell {
            state: AtomicU64::new(1),
            last_use: AtomicU64::new(now()),
            uses: AtomicU32::new(0),
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
        self.stamp();
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

    /// Kills an unpinned live cell, so that nothing can pin it; fails if it is pinned. Returns
    /// the state it had, for [`undo_kill`](Self::undo_kill).
    pub(crate) fn try_kill(&self) -> Option<u64> {
        let s = self.state.load(Ordering::Relaxed);
        (s & (DEAD | COUNT) == 0
            && self
                .state
                .compare_exchange(s, s | DEAD, Ordering::Acquire, Ordering::Relaxed)
                .is_ok())
        .then_some(s)
    }

    /// Brings a cell killed by [`try_kill`](Self::try_kill) back to the state it had, same
    /// generation (under the manager's lock, which alone changes dead cells: nothing changed it
    /// meanwhile).
    fn undo_kill(&self, prev: u64) {
        debug_assert_eq!(self.state.load(Ordering::Relaxed), prev | DEAD);
        self.state.store(prev, Ordering::Release);
    }

    /// Counts a use of the region for admission (a plain load and store, see `uses`).
    #[inline(always)]
    pub(crate) fn count_use(&self) {
        let n = self.uses.load(Ordering::Relaxed);
        self.uses.store(n.saturating_add(1), Ordering::Relaxed);
    }

    /// The uses counted since the region was mapped (halved by [`age`](Self::age)).
    pub(crate) fn uses(&self) -> u32 {
        self.uses.load(Ordering::Relaxed)
    }

    /// Sets the count of uses (a window mapped with the count its history had), or halves it
    /// (`None`, the manager's periodic aging).
    pub(crate) fn set_uses(&self, uses: Option<u32>) {
        let n = uses.unwrap_or_else(|| self.uses() / 2);
        self.uses.store(n, Ordering::Relaxed);
    }

    /// Records a use of the region now (a cursor leaving it). While some manager is near its
    /// budget, with the next tick of the clock: the LRU order is exact. Otherwise with the
    /// clock's current time, and only if the stamp changes: then no eviction is due, the order
    /// of uses between two ticks (the managers' slow paths tick) is not kept, and a switch of
    /// windows stores nothing here.
    #[inline(always)]
    fn stamp(&self) {
        if crate::sys::detours() >= crate::sys::PRESSURE {
            // Near a budget: the next tick, and a use counted for admission.
            self.last_use.store(now(), Ordering::Relaxed);
            self.count_use();
        } else {
            let t = CLOCK.load(Ordering::Relaxed);
            if self.last_use.load(Ordering::Relaxed) != t {
                self.last_use.store(t, Ordering::Relaxed);
            }
        }
    }

    /// Brings a dead cell back, pinned once, with the next generation.
    fn revive(&self) {
        let s = self.state.load(Ordering::Relaxed);
        debug_assert_ne!(s & DEAD, 0);
        self.last_use.store(now(), Ordering::Relaxed);
        self.uses.store(0, Ordering::Relaxed);
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

/// A cursor's announcements (see the module docs): `cur`, the standard window it uses without
/// a count, and `idle`, the windows it keeps for later switches, each `generation << 32 |
/// (slot + 1)`, 0 for none. A window kept for half-window `h` (slot `h`'s or slot `h - 1`'s)
/// is in `idle[h % places]`; the places past `places` are never used. On cache lines of their
/// own: written by their cursor, read only by the manager's scans (and an idle hold taken back
/// by the manager's compare-and-swap).
#[derive(Debug)]
#[repr(align(64))]
pub(crate) struct Hazard {
    cur: AtomicU64,
    /// Places in use in `idle` (a power of two, or 0).
    places: usize,
    idle: [AtomicU64; MAX_IDLE],
}

impl Hazard {
    /// A hazard with `places` places for idle holds (a power of two, or 0).
    fn new(places: usize) -> Self {
        debug_assert!(places <= MAX_IDLE && (places == 0 || places.is_power_of_two()));
        Hazard {
            cur: AtomicU64::new(0),
            places,
            idle: [const { AtomicU64::new(0) }; MAX_IDLE],
        }
    }

    /// Lets go of the window announced in use (the caller reads nothing of it afterwards).
    #[inline]
    fn clear(&self) {
        self.cur.store(0, Ordering::Release);
    }

    /// The place of an idle hold for half-window `h` (slot `h`'s window, or slot `h - 1`'s).
    #[inline(always)]
    fn idle_at(&self, h: usize) -> Option<&AtomicU64> {
        (self.places > 0).then(|| &self.idle[h & (self.places - 1)])
    }
}

/// The hazard value naming slot `k` in the generation of cell state `state`.
#[inline(always)]
fn tag(state: u64, k: usize) -> u64 {
    (state & !(DEAD | COUNT)) | (k as u64 + 1)
}

/// A file's standard windows, by index, for switches without the lock (see the module docs).
#[derive(Debug)]
pub(crate) struct WindowTable {
    /// Half the window size (0: no windows here, as for the static manager).
    half: u64,
    /// `log2(half)` when `half` is a power of two (a shift instead of a division, whose
    /// latency a switch would wait for), else `u32::MAX`.
    shift: u32,
    /// The standard window length.
    window: u64,
    slots: Box<[Slot]>,
    /// Claims for writing and resizes in progress on the file: while not 0, cursors switch
    /// windows through the manager's lock.
    pub(crate) writers: AtomicU64,
    /// The hazards of the file's cursors (each registers one on its first switch without the
    /// lock). Locked only to register, unregister and scan, never on a switch.
    hazards: Mutex<Vec<Arc<Hazard>>>,
}

/// Slots of a table at most (beyond, windows are found through the lock).
const MAX_SLOTS: u64 = 1 << 16;
/// Idle holds a cursor keeps at most (see [`Hazard`]): one per half-window of a file of
/// 2 GiB with 4 MiB windows, or of 32 GiB with 64 MiB ones; beyond, half-windows share places
/// and a switch between two of them goes through the table. A hazard holds this many words
/// (8 KiB); a cursor's own copy, 40 bytes a place, only the places its file can use.
const MAX_IDLE: usize = 1024;

impl WindowTable {
    /// A table for a file of `size` bytes with windows of `window` bytes (0: none), with room
    /// for the file to double.
    pub(crate) fn new(window: u64, size: u64) -> Arc<Self> {
        // Before any cursor can announce a hazard in the table.
        crate::sys::init_barriers();
        let half = window / 2;
        let n = size
            .saturating_mul(2)
            .checked_div(half)
            .map_or(0, |n| (n + 2).min(MAX_SLOTS));
        Arc::new(WindowTable {
            half,
            shift: if half.is_power_of_two() {
                half.trailing_zeros()
            } else {
                u32::MAX
            },
            window,
            slots: (0..n)
                .map(|_| Slot {
                    cell: PinCell::dead(),
                    region: AtomicPtr::new(std::ptr::null_mut()),
                })
                .collect(),
            writers: AtomicU64::new(0),
            hazards: Mutex::new(Vec::new()),
        })
    }

    /// A hazard for a new cursor of the file, scanned by the manager until it is
    /// [`unregister`](Self::unregister)ed.
    pub(crate) fn register(&self) -> Arc<Hazard> {
        let h = Arc::new(Hazard::new(self.idle_places()));
        lock_hazards(&self.hazards).push(h.clone());
        h
    }

    /// Stops scanning a hazard (its cursor is going away; it announces nothing).
    pub(crate) fn unregister(&self, h: &Arc<Hazard>) {
        debug_assert!(
            h.cur.load(Ordering::Relaxed) == 0
                && h.idle[..h.places]
                    .iter()
                    .all(|i| i.load(Ordering::Relaxed) == 0),
            "a hazard unregistered in use"
        );
        let mut v = lock_hazards(&self.hazards);
        if let Some(i) = v.iter().position(|x| Arc::ptr_eq(x, h)) {
            v.swap_remove(i);
        }
    }

    /// How many idle holds a cursor of the file keeps at most: one per slot, up to
    /// [`MAX_IDLE`] (a power of two, or 0 without slots).
    fn idle_places(&self) -> usize {
        match self.slots.len() {
            0 => 0,
            n => n.next_power_of_two().min(MAX_IDLE),
        }
    }

    /// How many cursors announce `tag` in use. Exact for the calling thread's own cursors; for
    /// other threads' only after a [`heavy_barrier`](crate::sys::heavy_barrier).
    fn holders(&self, tag: u64) -> usize {
        lock_hazards(&self.hazards)
            .iter()
            .filter(|h| h.cur.load(Ordering::Acquire) == tag)
            .count()
    }

    /// Takes back every idle hold of `tag` (window `k`'s): a compare-and-swap to 0, which a
    /// cursor that switches to the window afterwards sees (see the module docs). Returns how
    /// many it took. Under the manager's lock, after [`holders`](Self::holders) found no
    /// cursor using the window: the in-use announcements are read before the idle ones.
    fn take_back(&self, tag: u64, k: usize) -> usize {
        lock_hazards(&self.hazards)
            .iter()
            .flat_map(|h| [h.idle_at(k), h.idle_at(k + 1)])
            .flatten()
            .filter(|i| {
                i.compare_exchange(tag, 0, Ordering::SeqCst, Ordering::Relaxed)
                    .is_ok()
            })
            .count()
    }

    /// Raises the writers gate (see the module docs). `false` if the process-wide barrier
    /// that makes the cursors' hazards visible failed (it cannot once set up): the caller then
    /// refuses claims, as if the bytes were in use.
    #[must_use]
    pub(crate) fn raise_gate(&self) -> bool {
        self.writers.fetch_add(1, Ordering::SeqCst);
        if !crate::sys::heavy_barrier() {
            return false;
        }
        // Every kept window is taken back: a switch to one does not look at the gate (see the
        // module docs, "The writers gate").
        self.sweep_kept() == 0 || crate::sys::heavy_barrier()
    }

    /// Takes back every window the file's cursors keep; returns how many there were.
    fn sweep_kept(&self) -> usize {
        lock_hazards(&self.hazards)
            .iter()
            .flat_map(|h| &h.idle[..h.places])
            .filter(|p| p.swap(0, Ordering::SeqCst) != 0)
            .count()
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

    /// Stamps the use of the window in slot `k` (a cursor leaving it, see [`now`]).
    #[inline(always)]
    fn stamp(&self, k: u32) {
        if let Some(slot) = self.slots.get(k as usize) {
            slot.cell.stamp();
        }
    }

    /// The slot of the window that starts at or before `offset` within half a window.
    #[inline(always)]
    fn index(&self, offset: u64) -> Option<usize> {
        let k = if self.shift != u32::MAX {
            offset >> self.shift
        } else {
            offset.checked_div(self.half)?
        };
        usize::try_from(k).ok()
    }

    /// The slot of a live window that would hold `[offset, offset + need)`, and its state:
    /// window `offset / half`, or else the one before it (whose second half holds `offset`;
    /// the locked path serves requests from it too). Reads nothing but the slots' states: the
    /// region is only known to cover the request once pinned ([`pin`](Self::pin)).
    #[inline(always)]
    fn probe(&self, offset: u64, need: u64) -> Option<(usize, u64)> {
        let k = self.index(offset)?;
        let s = self.slots.get(k)?.cell.state.load(Ordering::Acquire);
        if s & DEAD == 0 {
            return Some((k, s));
        }
        let k = k.checked_sub(1)?;
        if offset.saturating_add(need) > k as u64 * self.half + self.window {
            return None;
        }
        let s = self.slots[k].cell.state.load(Ordering::Acquire);
        (s & DEAD == 0).then_some((k, s))
    }

    /// Pins the window of slot `k`, found live in state `s` by [`probe`](Self::probe), through
    /// `hz` (whatever it announced is let go of), if it is still that window, no writer is at
    /// work on the file, and it holds `[offset, offset + need)`. On `None`, `hz` announces
    /// nothing.
    #[inline(always)]
    fn pin(&self, k: usize, s: u64, offset: u64, need: u64, hz: &Hazard) -> Option<PinnedRegion> {
        let slot = &self.slots[k];
        // Release: this store also lets go of the window the hazard named before, whose reads
        // must be done before a manager that sees the new tag unmaps it or grants a claim.
        hz.cur.store(tag(s, k), Ordering::Release);
        // Orders the announcement before the loads below, against the manager's heavy barrier
        // between a kill (or the gate) and its scan.
        crate::sys::light_barrier();
        let again = slot.cell.state.load(Ordering::Acquire);
        // Acquire on the gate: a claim that ended (lowered it, release) happened before the
        // reads through this pin.
        if again & !COUNT == s & !COUNT && self.writers.load(Ordering::Acquire) == 0 {
            // Valid: set before the cell came alive in this generation, cleared only after it
            // died, which it cannot while the hazard is seen (see the module docs).
            if let Some(region) = NonNull::new(slot.region.load(Ordering::Acquire)) {
                let r = PinnedRegion { region };
                // A region the SIGBUS guard poisoned is left to the locked path.
                if r.covers(offset, need) && !r.get().map.poisoned() {
                    return Some(r);
                }
            }
        }
        hz.clear();
        None
    }
}

fn lock_hazards(m: &Mutex<Vec<Arc<Hazard>>>) -> std::sync::MutexGuard<'_, Vec<Arc<Hazard>>> {
    // The list stays consistent whatever panicked while it was locked (a push or a removal).
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
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

    /// Kills the region's cell if nothing holds it (no count, no hazard: see the module docs)
    /// and takes it out of its table: after `true`, nothing can pin it, and the manager may
    /// unmap it. Under the manager's lock.
    pub(crate) fn try_retire(&self) -> bool {
        match &self.cell {
            CellHome::Own(c) => c.try_kill().is_some(),
            CellHome::Slot(t, k) => {
                let slot = &t.slots[*k];
                let live = slot.cell.state.load(Ordering::Relaxed);
                // A hazard this thread can see already: no need for the barrier.
                if t.holders(tag(live, *k)) > 0 {
                    return false;
                }
                let Some(prev) = slot.cell.try_kill() else {
                    return false;
                };
                let tg = tag(prev, *k);
                // Every cursor that announced this window in use before the kill is seen now;
                // every later one sees the kill and backs off.
                if !crate::sys::heavy_barrier() || t.holders(tg) > 0 {
                    slot.cell.undo_kill(prev);
                    return false;
                }
                // Idle holds are taken back; a cursor that switched to one meanwhile is seen
                // using it after the second barrier, or saw it taken back and backed off.
                if t.take_back(tg, *k) > 0 && (!crate::sys::heavy_barrier() || t.holders(tg) > 0) {
                    slot.cell.undo_kill(prev);
                    return false;
                }
                slot.region.store(std::ptr::null_mut(), Ordering::Release);
                true
            }
        }
    }

    /// Takes back the copies of this region that cursors keep (a standard window), without
    /// unmapping it: a cursor reaches it again only through the table or the manager, which
    /// check requests against the file's size (for a region past a new, smaller end). Under
    /// the manager's lock. No barrier follows: a switch of another thread that loaded its place
    /// just before may still serve one read from the region, which stays mapped (memory-safe;
    /// that read is one made before the manager learned the size, as a read already under way
    /// would be).
    pub(crate) fn take_back_kept(&self) {
        if let CellHome::Slot(t, k) = &self.cell {
            let s = t.slots[*k].cell.state.load(Ordering::Relaxed);
            t.take_back(tag(s, *k), *k);
        }
    }

    /// How many cursors and guards hold the region: its count and the hazards that name it.
    /// Exact for the calling thread's cursors, and for all once the gate is up; otherwise a
    /// snapshot.
    pub(crate) fn users(&self) -> usize {
        match &self.cell {
            CellHome::Own(c) => c.pins(),
            CellHome::Slot(t, k) => {
                let cell = &t.slots[*k].cell;
                let s = cell.state.load(Ordering::SeqCst);
                (s & COUNT) as usize + t.holders(tag(s, *k))
            }
        }
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
        // SAFETY: the holder has pinned the region, by a count or by a hazard that announces it
        // in use: the manager unmaps and drops a region only after `try_retire` succeeded,
        // which needs the count at 0, no hazard announcing it after a heavy barrier, and its
        // kept copies taken back with no hazard announcing it after a second one (see the
        // module docs); the registry's `Arc` keeps the struct alive until then.
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
    /// The cursor's hazard, once it switched windows without the lock (registered with its
    /// file's table; the cursor unregisters it when it goes).
    hazard: Option<Arc<Hazard>>,
    /// [`COUNTED`] if the region is held by a count, [`FREE`] without a region, else the
    /// region's slot in its table, held by `hazard` (letting go of it is a store to the
    /// hazard).
    slot: u32,
    /// The windows the cursor keeps (its hazard's idle holds, at the same places), once the
    /// hazard is registered: a switch to one of them reads only these and the hazard. In one
    /// word, loaded once by a switch: `log2(half)` of the table in bits 0 to 5
    /// and the mask of the places' indices (their number minus one) in bits 32 to 63; 0 while
    /// nothing can be kept (no hazard yet, a table without power-of-two windows, or a system
    /// with a process-wide barrier that the process could not set up, see
    /// `sys::keeps_windows`).
    geometry: u64,
    /// `geometry`, or 0 while the window holds a counted pin (switches to kept windows let go
    /// of the window in use by a store, which only a hazard's hold allows): what a switch
    /// loads.
    fast: u64,
    /// `mask + 1` places while `geometry` is not 0.
    places: Box<[Idle]>,
}

/// A window a cursor keeps without using it: what a switch to it needs. Valid while the
/// hazard's idle place holds `tag` (the region stays mapped until the manager takes the hold
/// back); `region` is only followed once the hazard announces `tag` in use and the place is
/// found still to hold it (see the module docs). The bounds are the window's own, so that a
/// switch checks a request as [`Window::holds`] does, on the values it then stores.
#[derive(Debug, Clone, Copy)]
struct Idle {
    begin: u64,
    len: u64,
    ptr: NonNull<u8>,
    /// The window's tag (its slot is `tag as u32 - 1`).
    tag: u64,
    region: NonNull<Region>,
}

/// An idle place that keeps nothing (no tag is 0, and no request fits its length).
const NO_IDLE: Idle = Idle {
    begin: 0,
    len: 0,
    ptr: NonNull::dangling(),
    tag: 0,
    region: NonNull::dangling(),
};

/// Whether `[offset, offset + need)` (`need > 0`) lies inside `[begin, begin + len)`: the bounds
/// check of every read in place, a subtraction, an addition with a carry and a comparison.
/// Whatever the arguments, a `true` means `rel + need <= len` for `rel = offset - begin`
/// (wrapping), so that the bytes at `rel` lie inside the window; and it is exact while
/// `begin + len <= 2^64`, which windows (inside files, whose sizes are `i64`s) always are: an
/// `offset` before `begin` gives a `rel` of at least `2^64 - begin`, whose sum with `need`
/// either carries or exceeds `len` (both would need `begin + len > 2^64`). Equal to
/// `rel < len && need <= len - rel`, the check it replaced, on every input.
#[inline(always)]
fn fits(offset: u64, need: u64, begin: u64, len: u64) -> bool {
    need > 0
        && offset
            .wrapping_sub(begin)
            .checked_add(need)
            .is_some_and(|end| end <= len)
}

/// [`Window::slot`] of a region held by a count.
const COUNTED: u32 = u32::MAX;
/// [`Window::slot`] without a region.
const FREE: u32 = u32::MAX - 1;

// SAFETY: `ptr` points into the mapping of the region `pinned` holds, which any thread may read
// (a `Region` is `Sync`); mutable access needs `&mut Window` and an exclusive claim, so sending
// the window to another thread or sharing `&Window` gives no thread more than the claim allows.
// The kept windows' pointers are only followed as the module docs say, by the owner of
// `&mut Window`.
unsafe impl Send for Window {}
// SAFETY: `&Window` only reads through `ptr` (see above).
unsafe impl Sync for Window {}

impl Window {
    /// No region.
    pub(crate) fn empty() -> Self {
        Window {
            pinned: None,
            begin: 0,
            len: 0,
            ptr: NonNull::dangling(),
            exclusive: false,
            told: AtomicBool::new(false),
            own: Vec::new(),
            hazard: None,
            slot: FREE,
            geometry: 0,
            fast: 0,
            places: Box::new([]),
        }
    }

    /// Switches to a window the cursor keeps that holds `[offset, offset + need)` (the one at
    /// the place of the half-window `offset` lies in): the window switch of the cursor's fast
    /// path, a few loads and stores of the cursor's own. `false` (the window unchanged) if it keeps
    /// none or holds a counted pin (as it does for writing); `false` with the window let go of
    /// if the manager took the kept window back (as it does to unmap it, and when a writer
    /// raises the file's gate).
    ///
    /// Only while no bytes were lost anywhere and no manager is near its budget
    /// (`sys::detours() == 0`, which the caller checks just before; either may change
    /// meanwhile, which costs one switch's stamp, or leaves the loss to the next call to
    /// find, as for a loss during the read itself): the window let go of is not stamped
    /// (see "Recency" in the module docs), and the slow path finds out where bytes were lost.
    /// The request is not checked against the cursor's idea of the file's size: a kept window
    /// lies inside the file as its manager knows it (windows are cut at the end of the file
    /// when mapped, and a manager that learns of a smaller size takes the copies kept of the
    /// regions past it back, [`Region::take_back_kept`], as it unmaps them).
    #[inline(always)]
    pub(crate) fn switch_kept(&mut self, offset: u64, need: u64) -> bool {
        debug_assert!(!self.exclusive || self.slot == COUNTED);
        // Every load counts here: a switch waits behind the cache misses before it, and each
        // load holds a place in the processor's load buffer meanwhile, so that fewer misses
        // overlap. What is read before the fence below is kept in registers.
        let geometry = self.fast;
        debug_assert_eq!(
            geometry,
            if self.slot == COUNTED {
                0
            } else {
                self.geometry
            }
        );
        if geometry == 0 {
            return false;
        }
        // The window kept for the half-window `offset` is in, by its place (it may be one
        // kept for another half-window at the same place: what counts is that it holds the
        // bytes, and that its place still keeps it).
        let h = offset >> (geometry & 63);
        let i = (h as usize) & (geometry >> 32) as usize;
        // SAFETY: `i` is masked by `mask`, and `places` has `mask + 1` entries while
        // `geometry` is not 0 (see the field); `fast` is `geometry` here (it is 0 or
        // `geometry`, and not 0).
        let e = unsafe { self.places.get_unchecked(i) };
        // Checked as `holds` checks them, on the values stored below, so that the caller's
        // `bytes_at` needs no check of its own once inlined. (An empty place has length 0.)
        let (begin, len) = (e.begin, e.len);
        if !fits(offset, need, begin, len) {
            return false;
        }
        let Some(hz) = self.hazard.as_deref() else {
            return false;
        };
        let tag = e.tag;
        // Release: lets go of the window announced before (as in `WindowTable::pin`).
        hz.cur.store(tag, Ordering::Release);
        // Orders the announcement before the load of the place, against the manager's heavy
        // barrier between taking the hold back and looking for cursors using the window (the
        // light barrier, without the test of `light_barrier`: see `sys::keeps_windows`).
        crate::sys::kept_barrier();
        let place = hz.idle[i & (MAX_IDLE - 1)].load(Ordering::Acquire);
        // Held: the place still keeps the window, so the manager has not unmapped it, and
        // cannot while the announcement is seen; nor has a writer claimed bytes of it since
        // (raising the gate takes every kept window back; see the module docs).
        if place != tag {
            self.refuse_kept(i);
            return false;
        }
        self.begin = begin;
        self.len = len;
        self.ptr = e.ptr;
        self.pinned = Some(PinnedRegion { region: e.region });
        self.slot = (tag as u32).wrapping_sub(1);
        // A loss was only ever told after the guard saw one (`detours` is 0).
        debug_assert!(!*self.told.get_mut());
        true
    }

    /// A switch to the window kept at place `i` found that the manager took it back after the
    /// hazard announced it: nothing is announced any more, the place is emptied, and the
    /// window let go of is forgotten. Out of the switch's way (it is rare, and its calls would
    /// cost the switch registers).
    #[cold]
    #[inline(never)]
    fn refuse_kept(&mut self, i: usize) {
        if let Some(hz) = &self.hazard {
            hz.clear();
        }
        if let Some(e) = self.places.get_mut(i) {
            *e = NO_IDLE;
        }
        self.forget_region();
    }

    /// After the hazard let go of the window's region (a switch that failed once it had
    /// announced another window): the window is empty, and nothing of the region is read
    /// again (not even to stamp it: it may be unmapped already). The bytes of a small read
    /// stay, for the slow path's scan and run detection.
    fn forget_region(&mut self) {
        if self.pinned.take().is_some() {
            self.slot = FREE;
            self.take();
        }
    }

    /// Switches, without the lock, to the window of `table` that holds
    /// `[offset, offset + need)`, if it is mapped, and keeps it: the switch of the cursor's
    /// fast path when it keeps no such window ([`switch_kept`](Self::switch_kept)). Refused
    /// (`false`, the window unchanged) while the window holds a counted pin or no hazard is
    /// registered yet; on a failure after the window was let go of, `false` with the window
    /// empty.
    #[inline(always)]
    pub(crate) fn try_switch(&mut self, table: &WindowTable, offset: u64, need: u64) -> bool {
        if self.slot == COUNTED {
            return false;
        }
        let Some(hz) = &self.hazard else {
            return false;
        };
        let Some((k, s)) = table.probe(offset, need) else {
            return false;
        };
        // Letting go of the window: its use is stamped; the hazard's next store releases it.
        if self.slot != FREE {
            table.stamp(self.slot);
        }
        match table.pin(k, s, offset, need, hz) {
            Some(p) => {
                self.hold(p, k as u32);
                if let Some(h) = table.index(offset) {
                    self.keep(table, h, tag(s, k));
                }
                true
            }
            None => {
                self.forget_region();
                false
            }
        }
    }

    /// Keeps the window just switched to and announced in use as `tag`, as an idle hold for
    /// the half-window `h` (in place of the window kept there before), unless a writer raised
    /// the file's gate meanwhile.
    #[inline]
    fn keep(&mut self, table: &WindowTable, h: usize, tag: u64) {
        let (Some(hz), Some(p)) = (self.hazard.as_deref(), self.pinned) else {
            return;
        };
        if self.geometry == 0 {
            return;
        }
        let i = h & (self.geometry >> 32) as usize;
        let (Some(place), Some(local)) = (hz.idle.get(i), self.places.get_mut(i)) else {
            return;
        };
        // Seen by the manager before the announcement that lets go of the window in use
        // (released by that store, read after it: see `WindowTable::take_back`).
        place.store(tag, Ordering::Relaxed);
        // Against a gate raised meanwhile (Dekker's pattern again, with the heavy barrier
        // between raising the gate and taking kept windows back): either its sweep sees this
        // place, or this load sees the gate and the place is emptied here.
        crate::sys::light_barrier();
        if table.writers.load(Ordering::Acquire) != 0 {
            place.store(0, Ordering::Release);
            *local = NO_IDLE;
            return;
        }
        *local = Idle {
            begin: self.begin,
            len: self.len,
            ptr: self.ptr,
            tag,
            region: p.region,
        };
    }

    /// As [`try_switch`](Self::try_switch), for the slow path: registers the hazard first if
    /// needed. The caller has let go of the window's region (`take`).
    pub(crate) fn switch(&mut self, table: &WindowTable, offset: u64, need: u64) -> bool {
        debug_assert!(self.pinned.is_none());
        if self.hazard.is_none() {
            let hz = table.register();
            // Not where the system has a process-wide barrier that the process could not set
            // up (see `sys::keeps_windows`).
            if table.shift != u32::MAX && hz.places > 0 && crate::sys::keeps_windows() {
                let mask = hz.places - 1;
                self.geometry = u64::from(table.shift) | (mask as u64) << 32;
                self.fast = self.geometry;
                self.places = vec![NO_IDLE; mask + 1].into_boxed_slice();
            }
            self.hazard = Some(hz);
        }
        self.try_switch(table, offset, need)
    }

    /// The cursor's hazard, to unregister when the cursor goes (after `take`).
    pub(crate) fn take_hazard(&mut self) -> Option<Arc<Hazard>> {
        debug_assert!(self.pinned.is_none());
        let hz = self.hazard.take()?;
        // The windows kept are let go of (nothing of them is read after this).
        for place in &hz.idle[..hz.places] {
            place.store(0, Ordering::Release);
        }
        self.geometry = 0;
        self.fast = 0;
        self.places = Box::new([]);
        Some(hz)
    }

    /// Whether the region is held by the hazard rather than by a count: a claim for writing
    /// needs a count (the manager ends it), see [`count_pin`](Self::count_pin).
    pub(crate) fn held_by_hazard(&self) -> bool {
        self.slot < FREE
    }

    /// Replaces the hazard's hold on the region with a counted pin the caller took (under the
    /// manager's lock, while the hazard kept the region alive).
    pub(crate) fn count_pin(&mut self, counted: PinnedRegion) {
        debug_assert!(self.held_by_hazard());
        debug_assert!(self.pinned.is_some_and(|p| p.region == counted.region));
        self.slot = COUNTED;
        self.fast = 0;
        if let Some(h) = &self.hazard {
            h.clear();
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

    /// Why a read may have to leave the fastest paths (`sys::detours`): 0 while no bytes
    /// were lost anywhere and no manager is near its budget; [`LOSS`] set once bytes were
    /// lost (then [`intact`](Self::intact) tells whether this window's were).
    #[inline(always)]
    pub(crate) fn detours() -> u32 {
        crate::sys::detours()
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

    /// Takes the pinned region out and whether it was held for writing; the caller lets go of
    /// its pin. A region held by the hazard is let go of here (its use stamped), and `None`
    /// returned: nothing is left to let go of.
    #[inline]
    pub(crate) fn take(&mut self) -> Option<(PinnedRegion, bool)> {
        let excl = std::mem::replace(&mut self.exclusive, false);
        *self.told.get_mut() = false;
        // Own bytes (if any) are kept allocated for the next small read.
        self.len = 0;
        self.begin = 0;
        self.ptr = NonNull::dangling();
        let pinned = self.pinned.take();
        self.fast = self.geometry;
        if pinned.is_some() && std::mem::replace(&mut self.slot, FREE) < FREE {
            if let Some(p) = pinned {
                p.get().cell().stamp();
            }
            if let Some(h) = &self.hazard {
                // Nothing of the region is read after this.
                h.clear();
            }
            return None;
        }
        pinned.map(|p| (p, excl))
    }

    /// Holds a region the caller has pinned (replacing none: `take` first).
    #[inline]
    pub(crate) fn set(&mut self, pinned: PinnedRegion) {
        debug_assert!(self.pinned.is_none());
        self.hold(pinned, COUNTED);
        self.fast = 0;
    }

    /// Holds `pinned`, by a count (`slot` is [`COUNTED`]) or by the hazard (its slot). Only
    /// what changes is stored: a switch waits for nothing, but each store takes a place in the
    /// processor's store buffer until the reads before it are done. The window is not
    /// exclusive here (`take` and `empty` clear it, and a claim comes after) and not `told`
    /// unless a loss was reported.
    #[inline(always)]
    fn hold(&mut self, pinned: PinnedRegion, slot: u32) {
        debug_assert!(!self.exclusive);
        let r = pinned.get();
        self.begin = r.begin;
        self.len = r.len() as u64;
        self.ptr = r.map.ptr();
        self.pinned = Some(pinned);
        self.slot = slot;
        if *self.told.get_mut() {
            *self.told.get_mut() = false;
        }
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
        fits(offset, len as u64, self.begin, self.len)
    }

    /// The `len` bytes (`len > 0`) at file offset `offset`, if the region holds them all: the
    /// hot path of reads in place, one bounds check.
    #[inline(always)]
    pub(crate) fn bytes_at(&self, offset: u64, len: usize) -> Option<&[u8]> {
        if !self.holds(offset, len) {
            return None;
        }
        let rel = offset.wrapping_sub(self.begin);
        // SAFETY: `rel < self.len` (checked above): the address lies inside the region's
        // mapping (or its bytes of a small read), one allocation. (An offset the compiler knows
        // to be in bounds, so that it knows the address is not null either.)
        let start = unsafe { self.ptr.add(rel as usize) };
        // SAFETY: `[rel, rel + len)` lies inside the region (checked above), which stays
        // mapped and free of `&mut` views while the borrow lasts (see `slice`).
        Some(unsafe { std::slice::from_raw_parts(start.as_ptr(), len) })
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
    use std::io::Write;
    use std::sync::atomic::AtomicUsize;

    /// A cursor's switch, without its window.
    fn pin_window(
        table: &WindowTable,
        offset: u64,
        need: u64,
        hz: &Hazard,
    ) -> Option<PinnedRegion> {
        let (k, s) = table.probe(offset, need)?;
        table.pin(k, s, offset, need, hz)
    }

    #[test]
    fn cells_pin_kill_and_revive() {
        let c = PinCell::dead();
        assert!(c.try_kill().is_none(), "dead");
        c.revive();
        assert_eq!(c.pins(), 1);
        assert!(c.try_kill().is_none(), "pinned");
        c.pin_live();
        c.unpin();
        c.unpin();
        let live = c.try_kill().expect("unpinned");
        assert!(c.try_kill().is_none(), "dead");
        c.undo_kill(live);
        assert_eq!(
            c.state.load(Ordering::Relaxed),
            live,
            "the same generation again"
        );
        assert!(c.try_kill().is_some());
        let before = c.state.load(Ordering::Relaxed);
        c.revive();
        assert_ne!(
            before >> 32,
            c.state.load(Ordering::Relaxed) >> 32,
            "next generation"
        );
    }

    /// A window of a table whose every page holds its generation's byte, mapped anew (and the
    /// old mapping unmapped) each time the manager's part retires it.
    /// A file of two granules of `byte` and a table of one window over it.
    fn file_and_table(byte: u8) -> (std::fs::File, Arc<WindowTable>) {
        let gran = crate::sys::allocation_granularity();
        let mut f = tempfile::tempfile().expect("a file");
        f.write_all(&vec![byte; 2 * gran]).expect("written");
        (f, WindowTable::new(2 * gran as u64, 2 * gran as u64))
    }

    fn window(file: &std::fs::File, table: &Arc<WindowTable>, id: u64) -> Arc<Region> {
        let len = table.window as usize;
        let map = Mapping::map(file, 0, len, crate::config::MapMode::ReadOnly, false, false)
            .expect("a mapping");
        Region::new(0, id, map, table, len as u64)
    }

    /// The protocol of the module docs, at full speed: readers pin the window through their
    /// hazards and read all of it while one thread retires, unmaps and remaps it as fast as it
    /// can. A reader that held a retired window would read an unmapped page (and crash) or find
    /// another region (or none) in the window's slot; neither happens, and both sides make progress.
    #[test]
    fn hazards_keep_windows_mapped_while_the_manager_retires_them() {
        let gran = crate::sys::allocation_granularity();
        let (f, table) = file_and_table(0x5a);
        let current = Mutex::new(Some(window(&f, &table, 0)));
        let stop = AtomicBool::new(false);
        let (reads, retires) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    let hz = table.register();
                    while !stop.load(Ordering::Relaxed) {
                        let Some(p) = pin_window(&table, gran as u64, 1, &hz) else {
                            continue;
                        };
                        let r = p.get();
                        // The cell may be dead for a moment (a kill being undone), but the
                        // region is not retired: it is still the slot's.
                        let in_slot = table.slots[0].region.load(Ordering::SeqCst);
                        assert!(std::ptr::eq(in_slot, r), "a retired window is held");
                        assert!(r.map.bytes().iter().all(|&b| b == 0x5a));
                        hz.clear();
                        reads.fetch_add(1, Ordering::Relaxed);
                        // Let the window go for a moment, as a cursor reading elsewhere does.
                        for _ in 0..2000 {
                            std::hint::spin_loop();
                        }
                    }
                    table.unregister(&hz);
                });
            }
            let t0 = std::time::Instant::now();
            for id in 1.. {
                if retires.load(Ordering::Relaxed) >= 2000 || t0.elapsed().as_secs() >= 5 {
                    break;
                }
                let mut cur = current.lock().unwrap();
                let r = cur.take().expect("a window");
                r.cell().unpin();
                if r.try_retire() {
                    retires.fetch_add(1, Ordering::Relaxed);
                    drop(r);
                    *cur = Some(window(&f, &table, id));
                } else {
                    r.cell().pin_live();
                    *cur = Some(r);
                }
            }
            stop.store(true, Ordering::Relaxed);
        });
        let (reads, retires) = (reads.into_inner(), retires.into_inner());
        assert!(reads > 0 && retires > 0, "reads {reads}, retires {retires}");
        if let Some(r) = current.into_inner().unwrap() {
            r.cell().unpin();
            assert!(r.try_retire());
        }
    }

    /// Kept windows under retirement at full speed: two readers switch between the two
    /// windows of a table through their windows' kept copies (and the table when one was
    /// taken back) while one thread retires, unmaps and remaps both as fast as it can. A
    /// reader that held a retired window would find another region (or none) in its slot,
    /// or read unmapped bytes; neither happens, and kept switches do happen.
    #[test]
    fn kept_windows_are_taken_back_before_the_manager_unmaps_them() {
        let gran = crate::sys::allocation_granularity() as u64;
        let window = 2 * gran;
        let mut f = tempfile::tempfile().expect("a file");
        f.write_all(&vec![0x3c; 2 * window as usize])
            .expect("written");
        let table = WindowTable::new(window, 2 * window);
        let map_at = |k: u64, id: u64| {
            let map = Mapping::map(
                &f,
                k * gran,
                window as usize,
                crate::config::MapMode::ReadOnly,
                false,
                false,
            )
            .expect("a mapping");
            let r = Region::new(k * gran, id, map, &table, 2 * window);
            r.cell().unpin();
            r
        };
        // Windows of slots 0 and 2 ([0, window) and [window, 2 * window)).
        let current = Mutex::new(vec![Some(map_at(0, 0)), Some(map_at(2, 1))]);
        let stop = AtomicBool::new(false);
        let (kept, retires) = (AtomicUsize::new(0), AtomicUsize::new(0));
        std::thread::scope(|s| {
            for t in 0..2u64 {
                let (table, stop, kept) = (&table, &stop, &kept);
                s.spawn(move || {
                    let mut w = Window::empty();
                    let mut x = t;
                    while !stop.load(Ordering::Relaxed) {
                        x = x.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
                        let offset = (x >> 33) % (2 * window - 8);
                        let was_kept = w.switch_kept(offset, 8);
                        if !was_kept {
                            let _ = w.take();
                            if !w.switch(table, offset, 8) {
                                continue;
                            }
                        }
                        kept.fetch_add(usize::from(was_kept), Ordering::Relaxed);
                        let r = w.region().expect("held");
                        let k = w.slot as usize;
                        let in_slot = table.slots[k].region.load(Ordering::SeqCst);
                        assert!(std::ptr::eq(in_slot, r), "a retired window is held");
                        assert!(
                            w.bytes_at(offset, 8)
                                .expect("covers")
                                .iter()
                                .all(|&b| b == 0x3c)
                        );
                    }
                    let _ = w.take();
                    if let Some(h) = w.take_hazard() {
                        table.unregister(&h);
                    }
                });
            }
            let t0 = std::time::Instant::now();
            for id in 2.. {
                if retires.load(Ordering::Relaxed) >= 4000 || t0.elapsed().as_secs() >= 5 {
                    break;
                }
                let mut cur = current.lock().unwrap();
                let i = (id % 2) as usize;
                let r = cur[i].take().expect("a window");
                if r.try_retire() {
                    retires.fetch_add(1, Ordering::Relaxed);
                    drop(r);
                    cur[i] = Some(map_at(2 * i as u64, id));
                } else {
                    cur[i] = Some(r);
                }
            }
            stop.store(true, Ordering::Relaxed);
        });
        let (kept, retires) = (kept.into_inner(), retires.into_inner());
        let keeps = crate::sys::keeps_windows();
        assert!(
            (kept > 0) == keeps && retires > 0,
            "kept switches {kept}, retires {retires}"
        );
        for r in current.into_inner().unwrap().into_iter().flatten() {
            assert!(r.try_retire(), "no cursor is left");
        }
    }

    #[test]
    fn a_kept_window_is_no_user_and_is_taken_back() {
        let (f, table) = file_and_table(1);
        let r = window(&f, &table, 0);
        r.cell().unpin();
        let mut w = Window::empty();
        assert!(w.switch(&table, 0, 1), "switched through the table");
        assert_eq!(r.users(), 1);
        let _ = w.take();
        assert_eq!(r.users(), 0, "kept, not used");
        if !crate::sys::keeps_windows() {
            // Nothing is kept where the process-wide barrier could not be set up.
            assert!(!w.switch_kept(5, 1));
            assert!(r.try_retire());
            if let Some(h) = w.take_hazard() {
                table.unregister(&h);
            }
            return;
        }
        assert!(w.switch_kept(5, 1), "switched to the kept window");
        assert_eq!(r.users(), 1);
        let _ = w.take();
        // Taken back without unmapping (a region past a smaller end that stays mapped): the
        // table serves it again, and keeps it again.
        r.take_back_kept();
        assert!(!w.switch_kept(5, 1), "no longer kept");
        assert!(w.switch(&table, 5, 1), "through the table");
        let _ = w.take();
        assert!(w.switch_kept(5, 1), "kept again");
        let _ = w.take();
        // Raising the gate takes kept windows back too.
        assert!(table.raise_gate());
        assert!(!w.switch_kept(5, 1), "taken back by the gate");
        table.lower_gate();
        assert!(w.switch(&table, 5, 1), "through the table");
        let _ = w.take();
        assert!(r.try_retire(), "taken back");
        assert!(!w.switch_kept(5, 1), "no longer kept");
        assert!(w.region().is_none());
        if let Some(h) = w.take_hazard() {
            table.unregister(&h);
        }
    }

    #[test]
    fn a_hazard_counts_as_a_user_and_keeps_its_window() {
        let (f, table) = file_and_table(1);
        let r = window(&f, &table, 0);
        r.cell().unpin();
        let hz = table.register();
        let p = pin_window(&table, 0, 1, &hz).expect("pinned");
        assert!(std::ptr::eq(p.get(), &*r));
        assert_eq!(r.users(), 1);
        assert!(!r.try_retire(), "held by the hazard");
        hz.clear();
        assert_eq!(r.users(), 0);
        // The gate sends cursors to the locked path.
        assert!(table.raise_gate());
        assert!(pin_window(&table, 0, 1, &hz).is_none());
        assert_eq!(hz.cur.load(Ordering::Relaxed), 0, "nothing left announced");
        table.lower_gate();
        assert!(r.try_retire());
        assert!(pin_window(&table, 0, 1, &hz).is_none(), "retired");
        table.unregister(&hz);
    }
}
