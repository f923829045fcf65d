//! Small reads that skip the map when their window is cold.
//!
//! Under a memory budget smaller than the working set, every request that misses the cached
//! windows costs a new mapping (mmap, page fault, munmap: 10-25 µs here) where `pread` of a few
//! bytes costs under a microsecond. So, as 2Q and ARC admit a block on its second use, a small
//! request (at most [`Small::max`] bytes) whose window (the half-window that holds it) was not
//! requested recently is served by `pread` into a `bytes` object the cursor owns; a window
//! requested again while it is in the history (of about as many windows as the budget holds)
//! is mapped. Mapped requests enter the history too, so a window in use stays mapped.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::File;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// Which file (device, inode) and which half-window of it.
pub(crate) type WindowKey = (u64, u64, u64);

/// The small-read policy of one manager, shared by its cursors.
pub(crate) struct Small {
    /// Largest request served by `pread`.
    pub(crate) max: u64,
    ghost: Mutex<Ghost>,
    /// Descriptors for reading files known by path, by identity.
    fds: Mutex<HashMap<(u64, u64), Arc<File>>>,
    /// Requests served by `pread`, and their bytes.
    pub(crate) reads: AtomicU64,
    pub(crate) bytes: AtomicU64,
}

/// The history of recently requested windows (FIFO, bounded).
struct Ghost {
    set: HashSet<WindowKey>,
    order: VecDeque<WindowKey>,
    cap: usize,
}

/// Descriptors kept for small reads at most.
const MAX_FDS: usize = 64;

impl Small {
    /// The policy for a sliding manager of `window`-byte windows and a `budget` of mapped bytes.
    pub(crate) fn new(window: u64, budget: u64) -> Small {
        let cap = (budget / window.max(1)).clamp(8, 4096) as usize;
        Small {
            max: (16 * 1024).min(window / 8),
            ghost: Mutex::new(Ghost {
                set: HashSet::new(),
                order: VecDeque::new(),
                cap,
            }),
            fds: Mutex::new(HashMap::new()),
            reads: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
        }
    }

    /// Records a request of window `key`; returns whether it was requested recently (hot).
    pub(crate) fn touch(&self, key: WindowKey) -> bool {
        let mut g = self.ghost.lock().unwrap_or_else(PoisonError::into_inner);
        if g.set.contains(&key) {
            return true;
        }
        g.set.insert(key);
        g.order.push_back(key);
        while g.order.len() > g.cap {
            if let Some(old) = g.order.pop_front() {
                g.set.remove(&old);
            }
        }
        false
    }

    /// A descriptor for reading the file at `path` whose identity is `ident`, or None if the
    /// path cannot be opened or now names another file.
    pub(crate) fn fd_for(&self, path: &Path, ident: (u64, u64)) -> Option<Arc<File>> {
        if let Some(f) = self
            .fds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&ident)
        {
            return Some(f.clone());
        }
        let f = File::open(path).ok()?;
        if crate::identity(&f.metadata().ok()?) != ident {
            return None;
        }
        let f = Arc::new(f);
        let mut fds = self.fds.lock().unwrap_or_else(PoisonError::into_inner);
        if fds.len() >= MAX_FDS {
            fds.clear();
        }
        fds.insert(ident, f.clone());
        Some(f)
    }

    /// Closes the descriptors kept for reading.
    pub(crate) fn close_fds(&self) {
        self.fds
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    pub(crate) fn count(&self, n: usize) {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.bytes.fetch_add(n as u64, Ordering::Relaxed);
    }
}
