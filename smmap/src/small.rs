//! Small reads of cold windows: bytes a cursor reads itself instead of mapping a window.
//!
//! # Why
//!
//! Under a budget smaller than the working set, a request whose window is not mapped costs an
//! `mmap`, page faults and, when the budget evicts it, an `munmap`: about 16 µs for a window of
//! 1-4 MiB on a machine where a `pread` of 24 bytes costs 0.7 µs. A window that serves one or
//! two reads before it is evicted (random reads over a file several times larger than the
//! budget, the bottom levels of a binary search) is not worth that; one that serves many (the
//! top levels of a binary search, a scan) is. This is the admission question of block caches:
//! JGit's block cache fills heap blocks by reads, and 2Q, ARC and TinyLFU admit a block into
//! the cache only once its history shows it will be used again.
//!
//! # The decision
//!
//! Taken under the manager's lock, on the slow path only (a request no live region covers), by
//! [`Shared::obtain`](crate::manager::Shared::obtain):
//!
//! - It applies to read-only requests (`use_region`, `record`, `records`, tables, iterators,
//!   the buffer's reads) of 1 to [`MAX_SMALL`] bytes (and at most half a window) through a
//!   sliding manager with [`MapMode::ReadOnly`], when the budget of mapped bytes is smaller
//!   than the file (or when the builder's `small_reads(Some(true))` forces it). Requests of
//!   size 0 ("to the end of the window"), writes, claims and guards (`pin`) always map. A
//!   writable manager always maps: a copy would go stale under another cursor's writes, which
//!   a mapping shows at once.
//! - A request that continues where the cursor's current window ends (a scan) maps its window.
//!   After a small read, whose bytes are short, it must also start where the previous request
//!   ended: the probes of a binary search narrowing down land next to their last bytes too.
//! - Otherwise the window's entry in a *ghost history* decides: a bounded LRU set of recently
//!   requested, unmapped windows ([`History`]; as many entries as the budget holds windows, 8
//!   to 4,096), each with a count of its *uses*. A request of a window counts as a use unless
//!   the cursor's previous request was a small read of the same window (correlated references,
//!   as 2Q's A1in treats them: the probes of one binary search in one window count once, and
//!   one use in [`BURST_STEP`] of a longer run counts). A window is mapped at its
//!   [`USES_TO_MAP`]-th use while it stays in the history; until then the request is a small
//!   read. Under uniform random reads of `n` windows with a history of `h`, a window reaches
//!   its fourth use about once in `(n / h)^3` requests (once in 512 when the budget holds an
//!   eighth of the file), so such reads almost never map; a window used by every lookup
//!   is mapped after its fourth.
//! - A small read is served by the cursor, outside the lock: a `pread` (`read_at` on Unix,
//!   `seek_read` on Windows) into a buffer the cursor owns, of the request rounded out to
//!   64-byte lines, or, in a run of reads of one window, to 4 KiB blocks so that the
//!   neighbouring probes of a search hit them. The cursor's window then holds those bytes:
//!   the hot path, tables, iterators and the buffer read them as they read a region, and
//!   `region()` is `None`.
//!
//! # Admission
//!
//! A window that turns hot is mapped at once only if the budget has room for it. When mapping
//! it would evict, it must have been used more often than the region that would go (the least
//! recently used one nothing pins), as TinyLFU admits a block only if it is more frequent than
//! the victim: otherwise hot windows that the budget cannot hold all at once (the levels of a
//! binary search below the few the budget holds) would displace each other and the windows
//! above them, each map costing more than the reads it saves. A window's frequency is its
//! count of uses in the history; a mapped region's is the number of times cursors left it
//! while a manager was near its budget (counted in its pin cell with a plain load and store,
//! so approximate under races), starting from the count its window had when it was admitted.
//! Every [`AGE_EVERY`] small-read decisions per entry of the history, all counts are halved,
//! so that a change of working set is followed. A refused window stays in the history and is
//! served by small reads; `Stats::admissions_refused` counts the refusals.
//!
//! # Read-ahead for scans
//!
//! A request that continues where the cursor's window ends (a scan moving on to the next
//! window) can have its window mapped with `MAP_POPULATE` (the kernel maps every page in the
//! `mmap` call instead of a page fault per 64 KiB fault-around block). Measured on 4 MiB
//! windows it gained nothing in the suite's scans (P1: 0.83 of raw with it, 0.89 without, the
//! same as before within the run's noise) and slowed the quickstart's scan (6.0 against 8.7
//! GB/s), so it is off (`READ_AHEAD` in `manager.rs`); the scan's next window is mapped as
//! any other.
//!
//! # Limits
//!
//! - Mapped regions' uses are counted only while a manager is near its budget (counting
//!   costs a store in every switch of windows), so a region mapped before pressure began
//!   starts with few uses, and the first candidates may displace it.
//! - The counts are approximate under races between threads (see "Admission").
//! - A scan that starts with small reads is recognised once a request starts where the
//!   previous one ended, at the end of the bytes read: a scan with gaps between its requests
//!   is served by small reads until its windows turn hot.
//!
//! # What it costs
//!
//! A small read costs a `pread` (a system call and a copy of up to a few KiB) and the lock,
//! about the price of the `pread` alone; a mapped window's hit costs a few nanoseconds. The
//! history costs a hash lookup per slow-path request. The descriptor of a file served by small
//! reads stays open while the file has cursors (within the descriptor budget). The bytes of a
//! small read are a copy: a change another process makes to the file shows in a mapping at
//! once, and in a small read's bytes only at the cursor's next read outside them.

use std::fs::File;
use std::io;
use std::sync::Arc;

use crate::config::MapMode;
use crate::config::{Config, Placement};
use crate::ids::{FileId, PairMap};
use crate::lru::Lru;

/// The largest request served by a small read.
pub(crate) const MAX_SMALL: u64 = 64 << 10;
/// The use of a window in its history at which it is mapped.
pub(crate) const USES_TO_MAP: u32 = 4;
/// In a run of small reads of one window by one cursor, one read in this many counts as a use.
pub(crate) const BURST_STEP: u32 = 8;
/// The counts of uses are halved after this many small-read decisions per entry of the
/// history (see "Admission").
pub(crate) const AGE_EVERY: u64 = 16;
/// How many of the least recently used regions admission looks through for the victim.
pub(crate) const VICTIMS_LOOKED_AT: usize = 8;
/// Alignment of a small read outside a run, and of a run's blocks.
const LINE: u64 = 64;
const BLOCK: u64 = 4 << 10;

/// What a cursor tells the manager about a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hint {
    /// The request must be mapped (a write, a claim, a guard, a fallback).
    Map,
    /// A read that may be served by a small read.
    Read {
        /// It continues where the cursor's current window ends.
        sequential: bool,
        /// The how-many-th consecutive small read of the same window by this cursor this is
        /// (0: the cursor's previous request was of another window).
        run: u32,
    },
}

/// The bytes a cursor is to read itself: `[begin, begin + len)` of the file, through `fd`.
pub(crate) struct ReadPlan {
    pub(crate) fd: Arc<File>,
    pub(crate) begin: u64,
    pub(crate) len: usize,
    /// The file size the decision was taken with.
    pub(crate) file_size: u64,
}

/// Whether small reads apply to a file of `file_size` bytes in this manager.
pub(crate) fn enabled(cfg: &Config, file_size: u64) -> bool {
    cfg.placement == Placement::Sliding
        && cfg.mode == MapMode::ReadOnly
        && cfg
            .small_reads
            .unwrap_or((cfg.max_memory as u64) < file_size)
}

/// The index of the standard window of a request that may be a small read (`offset <
/// file_size`), or `None` if it may not.
pub(crate) fn window_of(
    cfg: &Config,
    offset: u64,
    size: u64,
    file_size: u64,
    hint: Hint,
) -> Option<u64> {
    let Hint::Read { sequential, .. } = hint else {
        return None;
    };
    let half = cfg.window_size as u64 / 2;
    let small = size > 0 && size <= MAX_SMALL && size <= half;
    (!sequential && small && offset < file_size && cfg.placement == Placement::Sliding)
        .then(|| offset / half)
}

/// The bytes a small read of `[offset, offset + size)` reads: the request rounded out to
/// 64-byte lines, or to 4 KiB blocks in a run of reads of one window, within the file.
pub(crate) fn block(offset: u64, size: u64, file_size: u64, hint: Hint) -> (u64, usize) {
    let unit = match hint {
        Hint::Read { run, .. } if run > 0 => BLOCK,
        _ => LINE,
    };
    let end = offset.saturating_add(size).min(file_size);
    let begin = offset / unit * unit;
    let end = end.div_ceil(unit).saturating_mul(unit).min(file_size);
    // At most `MAX_SMALL` plus two units: fits in `usize`.
    (begin, (end - begin) as usize)
}

/// The number of entries of a manager's history: as many as its budget holds windows, 8 to
/// 4,096.
pub(crate) fn history_capacity(cfg: &Config) -> usize {
    let windows = (cfg.max_memory as u64)
        .checked_div(cfg.window_size as u64)
        .unwrap_or(0);
    windows.clamp(8, 4096) as usize
}

/// A window of a file: the file's id and the window's index.
type Key = (FileId, u64);

/// The ghost history: recently requested unmapped windows and their uses, least recently
/// requested first out.
#[derive(Debug)]
pub(crate) struct History {
    cap: usize,
    entries: PairMap<(u32, u64)>,
    order: Lru<Key>,
}

impl History {
    pub(crate) fn new(cap: usize) -> Self {
        History {
            cap: cap.max(1),
            entries: PairMap::default(),
            order: Lru::new(),
        }
    }

    /// Records a request of window `key` (not mapped) and says whether it is still cold (to be
    /// served by a small read) or hot (to be mapped).
    pub(crate) fn cold(&mut self, key: Key, hint: Hint) -> bool {
        let run = match hint {
            Hint::Read { run, .. } => run,
            Hint::Map => return false,
        };
        let counts = run == 0 || run.is_multiple_of(BURST_STEP);
        if let Some((uses, handle)) = self.entries.get_mut(&key) {
            if counts {
                *uses += 1;
                if !self.order.is_newest(*handle) {
                    self.order.remove(*handle);
                    *handle = self.order.insert(key);
                }
            }
            return *uses < USES_TO_MAP;
        }
        if self.entries.len() >= self.cap
            && let Some((h, old)) = self.order.oldest()
        {
            self.order.remove(h);
            self.entries.remove(&old);
        }
        let handle = self.order.insert(key);
        self.entries.insert(key, (1, handle));
        1 < USES_TO_MAP
    }

    /// How many windows it remembers at most.
    pub(crate) fn capacity(&self) -> usize {
        self.cap
    }

    /// The uses counted for window `key`, if it is remembered.
    pub(crate) fn uses(&self, key: Key) -> Option<u32> {
        self.entries.get(&key).map(|(uses, _)| *uses)
    }

    /// Halves every count of uses (the aging of admission, see the module docs).
    pub(crate) fn age(&mut self) {
        for (uses, _) in self.entries.values_mut() {
            *uses /= 2;
        }
    }

    /// Forgets the windows of a file (its entry is gone; its id is not reused, so this only
    /// frees room).
    pub(crate) fn forget_file(&mut self, file: FileId) {
        let gone: Vec<(Key, u64)> = self
            .entries
            .iter()
            .filter(|(k, _)| k.0 == file)
            .map(|(k, (_, h))| (*k, *h))
            .collect();
        for (k, h) in gone {
            self.order.remove(h);
            self.entries.remove(&k);
        }
    }
}

/// Reads `buf.len()` bytes of `file` from `offset`, or fewer at the end of the file; returns
/// how many were read.
pub(crate) fn read_at(file: &File, mut buf: &mut [u8], mut offset: u64) -> io::Result<usize> {
    let mut done = 0;
    while !buf.is_empty() {
        #[cfg(unix)]
        let n = std::os::unix::fs::FileExt::read_at(file, buf, offset);
        #[cfg(windows)]
        let n = std::os::windows::fs::FileExt::seek_read(file, buf, offset);
        match n {
            Ok(0) => break,
            Ok(n) => {
                done += n;
                offset += n as u64;
                buf = &mut buf[n..];
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    const READ: Hint = Hint::Read {
        sequential: false,
        run: 0,
    };

    #[test]
    fn a_window_turns_hot_at_its_fourth_use() {
        let mut h = History::new(4);
        for _ in 1..USES_TO_MAP {
            assert!(h.cold((1, 7), READ));
        }
        assert!(!h.cold((1, 7), READ));
        assert!(!h.cold((1, 7), READ), "stays hot while remembered");
    }

    #[test]
    fn runs_count_once_in_a_step() {
        let mut h = History::new(4);
        assert!(h.cold((1, 7), READ));
        for run in 1..BURST_STEP {
            assert!(h.cold(
                (1, 7),
                Hint::Read {
                    sequential: false,
                    run
                }
            ));
        }
        assert_eq!(h.entries[&(1, 7)].0, 1);
        h.cold(
            (1, 7),
            Hint::Read {
                sequential: false,
                run: BURST_STEP,
            },
        );
        assert_eq!(h.entries[&(1, 7)].0, 2);
    }

    #[test]
    fn the_least_recently_requested_window_is_forgotten() {
        let mut h = History::new(2);
        h.cold((1, 1), READ);
        h.cold((1, 2), READ);
        h.cold((1, 1), READ);
        h.cold((1, 3), READ); // forgets window 2
        assert!(h.entries.contains_key(&(1, 1)) && !h.entries.contains_key(&(1, 2)));
        assert_eq!(h.entries[&(1, 1)].0, 2);
        h.forget_file(1);
        assert!(h.entries.is_empty() && h.order.oldest().is_none());
    }

    #[test]
    fn blocks_round_out_and_stay_in_the_file() {
        assert_eq!(block(100, 24, 1 << 20, READ), (64, 64));
        assert_eq!(block(120, 24, 1 << 20, READ), (64, 128));
        assert_eq!(block(100, 40, 130, READ), (64, 66));
        let run = Hint::Read {
            sequential: false,
            run: 1,
        };
        assert_eq!(block(5000, 24, 1 << 20, run), (4096, 4096));
        assert_eq!(block(5000, 24, 6000, run), (4096, 1904));
    }
}
