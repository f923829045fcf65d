//! The operating system: mappings, allocation granularity, file identity, descriptor limits.
//!
//! With the record casts in `record.rs`, this is where smmap's unsafe code lives. A
//! [`Mapping`] owns one mapping of a file range (memmap2 makes it: `mmap` on Unix,
//! `CreateFileMappingW` + `MapViewOfFile` on Windows); the manager guarantees that it outlives
//! every slice handed out of it and that mutable slices never alias (see `manager.rs`).
//!
//! What differs between platforms lives in `unix.rs` and `windows.rs`, behind the same
//! functions; the rest of the crate is platform-neutral.

use std::fs::File;
use std::io;
use std::path::Path;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering, compiler_fence, fence};

use memmap2::{MmapOptions, MmapRaw};

use crate::config::MapMode;

#[cfg(unix)]
mod unix;
#[cfg(unix)]
use unix as imp;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
use windows as imp;

#[cfg(not(any(unix, windows)))]
compile_error!("smmap supports Unix and Windows");

/// What identifies a file independently of the paths that lead to it: device and inode on
/// Unix, volume serial number and file index on Windows.
pub(crate) type FileIdentity = (u64, u64);

/// The allocation granularity: the unit in which mapping offsets must be aligned (the page
/// size on Unix, 64 KiB on Windows).
pub(crate) fn allocation_granularity() -> usize {
    static GRAN: OnceLock<usize> = OnceLock::new();
    *GRAN.get_or_init(imp::allocation_granularity)
}

/// The identity of an open file whose metadata the caller has read (on Unix the identity is in
/// it; Windows asks the handle).
pub(crate) fn file_identity(file: &File, meta: &std::fs::Metadata) -> io::Result<FileIdentity> {
    imp::file_identity(file, meta)
}

/// The identity of the file `path` leads to (symbolic links followed), whose metadata the
/// caller has read.
pub(crate) fn path_identity(path: &Path, meta: &std::fs::Metadata) -> io::Result<FileIdentity> {
    imp::path_identity(path, meta)
}

/// How many descriptors (Unix) or file handles (Windows) this process may have open, if it is
/// limited: the soft `RLIMIT_NOFILE` on Unix, the C runtime's ceiling on Windows.
pub(crate) fn nofile_soft_limit() -> Option<u64> {
    imp::nofile_soft_limit()
}

/// How many bytes of address space this process may use, if it is limited: the soft
/// `RLIMIT_AS` on Unix; never on Windows
/// (job objects limit committed memory, not address space).
pub(crate) fn address_space_limit() -> Option<u64> {
    #[cfg(unix)]
    return unix::address_space_limit();
    #[cfg(not(unix))]
    None
}

/// Whether an I/O error says the process or system ran out of descriptors or address space,
/// the errors after which releasing cached mappings and descriptors and retrying can help.
pub(crate) fn is_resource_exhaustion(e: &io::Error) -> bool {
    imp::is_resource_exhaustion(e)
}

/// Whether `file` was opened with the access that mappings in `mode` need: reading for every
/// mode, and writing too for [`MapMode::ReadWrite`] (shared writable mappings).
pub(crate) fn access_fits(file: &File, mode: MapMode) -> io::Result<bool> {
    imp::access_fits(file, mode)
}

/// Whether a file with mapped views can be truncated. Unix allows it (an access to a lost page
/// then raises `SIGBUS`); Windows refuses (`ERROR_USER_MAPPED_FILE`), so every view of the
/// file must be unmapped before it shrinks.
pub(crate) const MAPPED_FILES_CAN_SHRINK: bool = imp::MAPPED_FILES_CAN_SHRINK;

/// Whether an error of a truncation says that the file is still mapped (by another manager or
/// another process: the manager unmaps its own views first). Never on Unix.
pub(crate) fn is_mapped_file_error(e: &io::Error) -> bool {
    imp::is_mapped_file_error(e)
}

/// The birth time of a file, where the system reports one reliably (Linux's `statx`, the BSDs'
/// and macOS' `st_birthtime`): it tells a file from a later one that reuses its inode number.
/// Not used on Windows: an NTFS file index carries a sequence number that changes when its
/// record is reused, and the creation times reported for a path and for a handle may differ
/// (under wine they do).
pub(crate) fn birth_time(meta: &std::fs::Metadata) -> Option<std::time::SystemTime> {
    if cfg!(unix) {
        meta.created().ok()
    } else {
        None
    }
}

/// Why a read may have to leave the fastest paths, in one word that every read loads once:
/// [`LOSS`] once the SIGBUS guard poisoned a mapping of the process (never cleared), plus
/// [`PRESSURE`] times the number of managers near their budget (see `region.rs`, "Recency").
static DETOURS: AtomicU32 = AtomicU32::new(0);

/// [`detours`]: bytes of some mapping were lost.
pub(crate) const LOSS: u32 = 1;
/// [`detours`]: one manager near its budget.
pub(crate) const PRESSURE: u32 = 2;

/// The reasons to leave the fastest paths (see [`DETOURS`]): 0 while there is none.
#[inline(always)]
pub(crate) fn detours() -> u32 {
    DETOURS.load(Ordering::Relaxed)
}

/// Records that the SIGBUS guard poisoned a mapping (async-signal-safe: one atomic `or`).
#[cfg(unix)]
pub(crate) fn note_loss() {
    DETOURS.fetch_or(LOSS, Ordering::Release);
}

/// Counts a manager that comes near its budget (`true`) or leaves it.
pub(crate) fn note_pressure(on: bool) {
    if on {
        DETOURS.fetch_add(PRESSURE, Ordering::Relaxed);
    } else {
        DETOURS.fetch_sub(PRESSURE, Ordering::Relaxed);
    }
}

/// Whether a mapping of the process was ever poisoned by the SIGBUS guard (always `false`
/// where there is none): the one load that the checks of every read path cost until then.
#[inline(always)]
pub(crate) fn poison_seen() -> bool {
    detours() & LOSS != 0
}

/// Whether [`heavy_barrier`] interrupts every thread of the process (Linux's `membarrier`,
/// Windows' `FlushProcessWriteBuffers`), so that [`light_barrier`] may be a compiler fence.
/// Set once, by [`init_barriers`], before any cursor exists; never unset.
static ASYMMETRIC: AtomicBool = AtomicBool::new(false);

/// Sets up the process-wide barrier of [`heavy_barrier`] where the system has one (Linux
/// registers the process for `MEMBARRIER_CMD_PRIVATE_EXPEDITED`). Called when a file's window
/// table is made, under the manager's lock, before any cursor of the file can use it.
pub(crate) fn init_barriers() {
    static INIT: OnceLock<()> = OnceLock::new();
    INIT.get_or_init(|| {
        if HAS_PROCESS_BARRIER && imp::register_process_barrier() {
            ASYMMETRIC.store(true, Ordering::SeqCst);
        }
    });
}

/// The reader's half of an asymmetric fence (see `region.rs`, "Pinning without the lock"):
/// orders the reader's store before its later loads against every [`heavy_barrier`]. Where
/// the system has a process-wide barrier, a compiler fence: the heavy side makes every thread
/// execute a full fence instead. Elsewhere a full fence.
#[inline(always)]
pub(crate) fn light_barrier() {
    if barrier_is_asymmetric() {
        compiler_fence(Ordering::SeqCst);
    } else {
        fence(Ordering::SeqCst);
    }
}

/// Whether [`light_barrier`] is only a compiler fence (set up by [`init_barriers`], which
/// every caller has run before: it never changes afterwards).
#[inline(always)]
pub(crate) fn barrier_is_asymmetric() -> bool {
    ASYMMETRIC.load(Ordering::Relaxed)
}

/// Whether the system has a process-wide barrier that [`init_barriers`] may set up (Linux,
/// Android, Windows). Where it has none (macOS, the BSDs), the barriers are symmetric: both
/// halves are full fences. Built with `--cfg smmap_symmetric_barriers`, as if it had none: the
/// tests then run the protocol of those systems here (CI does, on Linux).
const HAS_PROCESS_BARRIER: bool = cfg!(all(
    any(target_os = "linux", target_os = "android", windows),
    not(smmap_symmetric_barriers)
));

/// Whether cursors keep the windows they switch to (see `region.rs`, "Kept windows"): where
/// the process-wide barrier is set up, with a compiler fence in a switch to a kept window, and
/// on systems that have no such barrier at all, with a full fence ([`kept_barrier`]). A full
/// fence costs a kept switch little: measured on Linux with the barriers made symmetric, kept
/// switches with a full fence ran at 2.4x to 3.0x the raw map's time per random record, like
/// those with a compiler fence, and switches through the table at 6.5x to 8.3x. Not where the
/// system has the barrier but the process could not set it up (a seccomp filter, an old Linux,
/// wine): [`kept_barrier`] is decided when compiling, so that the switch tests nothing.
pub(crate) fn keeps_windows() -> bool {
    barrier_is_asymmetric() || !HAS_PROCESS_BARRIER
}

/// The light barrier of a switch to a kept window, which only happens where [`keeps_windows`]
/// (there, [`light_barrier`] without its test): a compiler fence where the system has a
/// process-wide barrier (then set up), a full fence where it has none.
#[inline(always)]
pub(crate) fn kept_barrier() {
    if HAS_PROCESS_BARRIER {
        compiler_fence(Ordering::SeqCst);
    } else {
        fence(Ordering::SeqCst);
    }
}

/// The writer's half of an asymmetric fence: a full fence here, and, where the system has one,
/// a full fence on every thread of the process that runs meanwhile. `false` if the process-wide
/// barrier failed (it cannot once registered; the caller then treats every reader as present).
pub(crate) fn heavy_barrier() -> bool {
    fence(Ordering::SeqCst);
    !barrier_is_asymmetric() || imp::process_barrier()
}

/// One memory mapping of `len` bytes of a file.
pub(crate) struct Mapping {
    /// Its registration with the SIGBUS guard (Unix), if guarded: declared first, so that it is
    /// dropped (unregistered) before `raw` unmaps.
    #[cfg(unix)]
    guard: Option<imp::Guarded>,
    raw: MmapRaw,
}

impl Mapping {
    /// Maps `len` bytes of `file` from `offset` (a multiple of the allocation granularity),
    /// registered with the SIGBUS guard when `guard` is set (Unix; see `unix/sigbus.rs`), with
    /// its pages mapped at once when `populate` is set (`MAP_POPULATE` on Linux: read-ahead
    /// for a scan, which then takes no page fault in the mapping; ignored elsewhere).
    pub(crate) fn map(
        file: &File,
        offset: u64,
        len: usize,
        mode: MapMode,
        guard: bool,
        populate: bool,
    ) -> io::Result<Self> {
        debug_assert!(len > 0);
        debug_assert_eq!(offset % allocation_granularity() as u64, 0);
        let mut opts = MmapOptions::new();
        opts.offset(offset).len(len);
        if populate {
            opts.populate();
        }
        let raw = match mode {
            MapMode::ReadOnly => opts.map_raw_read_only(file)?,
            MapMode::ReadWrite => opts.map_raw(file)?,
            // SAFETY: a private mapping: writes stay in this process. The file being changed by
            // others while mapped is the caveat every file mapping has, documented at the crate
            // level; the slices handed out of this mapping are bounded by its length.
            MapMode::CopyOnWrite => MmapRaw::from(unsafe { opts.map_copy(file)? }),
        };
        #[cfg(unix)]
        let guard = guard
            .then(|| imp::Guarded::register(raw.as_ptr(), raw.len(), mode != MapMode::ReadOnly))
            .flatten();
        #[cfg(not(unix))]
        let _ = guard;
        Ok(Mapping {
            #[cfg(unix)]
            guard,
            raw,
        })
    }

    /// Whether the SIGBUS guard replaced pages of the mapping with zeros (the file lost them:
    /// truncated by another process, or unreadable).
    #[inline]
    pub(crate) fn poisoned(&self) -> bool {
        #[cfg(unix)]
        {
            poison_seen() && self.guard.as_ref().is_some_and(imp::Guarded::poisoned)
        }
        #[cfg(not(unix))]
        {
            false
        }
    }

    /// Where the zero pages of a poisoned mapping begin, from its start.
    pub(crate) fn lost_from(&self) -> Option<usize> {
        #[cfg(unix)]
        {
            self.guard.as_ref().and_then(imp::Guarded::lost_from)
        }
        #[cfg(not(unix))]
        {
            None
        }
    }

    /// The mapped bytes.
    #[inline(always)]
    pub(crate) fn bytes(&self) -> &[u8] {
        // SAFETY: the mapping is `len()` bytes, readable, and lives as long as `self`. No
        // `&mut` to these bytes exists while this `&[u8]` does: mutable slices are handed out
        // only through `bytes_mut`, whose caller holds an exclusive claim on the bytes (the
        // manager refuses shared and exclusive claims that overlap).
        unsafe { std::slice::from_raw_parts(self.raw.as_ptr(), self.raw.len()) }
    }

    /// The address of the first mapped byte, for views that the mapping's owner bounds by
    /// `len()` and keeps exclusive when mutable (see `region::Window`).
    #[inline(always)]
    pub(crate) fn ptr(&self) -> std::ptr::NonNull<u8> {
        std::ptr::NonNull::new(self.raw.as_mut_ptr()).expect("a mapping is never at address 0")
    }

    /// Length of the mapping in bytes.
    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.raw.len()
    }

    /// Writes dirty pages of `[offset, offset + len)` (relative to the mapping) back to the file
    /// and waits for the write (`msync(MS_SYNC)`).
    pub(crate) fn flush_range(&self, offset: usize, len: usize) -> io::Result<()> {
        if len == 0 {
            return Ok(());
        }
        self.raw.flush_range(offset, len)
    }
}

impl std::fmt::Debug for Mapping {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mapping")
            .field("ptr", &self.raw.as_ptr())
            .field("len", &self.raw.len())
            .finish()
    }
}
