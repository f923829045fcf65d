//! The public managers and their builder, on top of the shared core in `manager.rs`.

use std::fs::File;
use std::path::Path;
use std::sync::Arc;

use crate::config::{Config, Placement};
use crate::config::{MapMode, RegionView, Stats};
use crate::cursor::WindowCursor;
use crate::error::{Error, Result};
use crate::manager::Shared;
use crate::sys;
use crate::window;

// ---- public managers ----------------------------------------------------------------------

const DEFAULT_WINDOW: usize = if cfg!(target_pointer_width = "64") {
    1 << 30
} else {
    64 << 20
};
const DEFAULT_MAX_MEMORY: usize = if cfg!(target_pointer_width = "64") {
    8usize.wrapping_shl(30)
} else {
    1 << 30
};
/// Descriptors kept back from the process's limit for the rest of the program (git keeps 25).
const FD_RESERVE: u64 = 25;
/// Under a limit of the address space, the default window is at most this fraction of it
/// (rounded down to a power of two) ...
const AS_WINDOW_DIVISOR: u64 = 8;
/// ... and the default budget of mapped bytes at most this fraction: the rest is left to the
/// program (its heap, its threads' stacks, its libraries).
const AS_MEMORY_DIVISOR: u64 = 2;

/// The default window: 1 GiB on 64-bit, 64 MiB on 32-bit, and at most an eighth of the
/// address space where it is limited (`RLIMIT_AS`), rounded down to a power of two.
fn default_window() -> usize {
    match sys::address_space_limit() {
        Some(limit) => {
            let cap = (limit / AS_WINDOW_DIVISOR).max(1);
            let cap = 1u64 << cap.ilog2();
            DEFAULT_WINDOW.min(usize::try_from(cap).unwrap_or(usize::MAX))
        }
        None => DEFAULT_WINDOW,
    }
}

/// The default budget of mapped bytes: 8 GiB on 64-bit, 1 GiB on 32-bit, and at most half the
/// address space where it is limited (`RLIMIT_AS`).
fn default_max_memory() -> usize {
    match sys::address_space_limit() {
        Some(limit) => {
            let cap = usize::try_from(limit / AS_MEMORY_DIVISOR).unwrap_or(usize::MAX);
            DEFAULT_MAX_MEMORY.min(cap.max(1))
        }
        None => DEFAULT_MAX_MEMORY,
    }
}

fn default_max_files() -> usize {
    match sys::nofile_soft_limit() {
        Some(n) => n
            .saturating_sub(FD_RESERVE)
            .max(1)
            .try_into()
            .unwrap_or(usize::MAX),
        None => usize::MAX,
    }
}

/// Builds a [`SlidingWindowMapManager`] or a [`StaticWindowMapManager`].
///
/// Obtained from [`SlidingWindowMapManager::builder`] or [`StaticWindowMapManager::builder`].
#[derive(Debug, Clone)]
#[must_use]
pub struct ManagerBuilder<M> {
    window_size: Option<usize>,
    max_memory: Option<usize>,
    max_regions: Option<usize>,
    max_files: Option<usize>,
    mode: MapMode,
    sigbus_guard: bool,
    small_reads: Option<bool>,
    _kind: std::marker::PhantomData<fn() -> M>,
}

impl<M> ManagerBuilder<M> {
    fn new() -> Self {
        ManagerBuilder {
            window_size: None,
            max_memory: None,
            max_regions: None,
            max_files: None,
            mode: MapMode::ReadOnly,
            sigbus_guard: true,
            small_reads: None,
            _kind: std::marker::PhantomData,
        }
    }

    /// The budget of mapped bytes (default 8 GiB on 64-bit, 1 GiB on 32-bit, and at most half
    /// the process's address space where that is limited: the soft `RLIMIT_AS` on Unix, read
    /// when the manager is built). Least recently used unused regions are unmapped to stay
    /// within it; when every region is in use the manager maps anyway and counts it in
    /// [`Stats::over_budget_maps`].
    pub fn max_memory_size(mut self, bytes: usize) -> Self {
        self.max_memory = Some(bytes);
        self
    }

    /// The budget of live regions, i.e. mappings (default: unlimited). The process's own limit
    /// (`vm.max_map_count` on Linux, 65530 by default) applies regardless: when a mapping
    /// fails for it, the manager unmaps every unused region and tries again (see
    /// [`SlidingWindowMapManager`]). Mappings the manager caches up to that limit leave none
    /// to the rest of the program, so a budget below it is kinder where the program maps
    /// memory of its own.
    pub fn max_open_handles(mut self, regions: usize) -> Self {
        self.max_regions = Some(regions);
        self
    }

    /// The budget of open file descriptors (default: the soft `RLIMIT_NOFILE` minus 25). Least
    /// recently used idle descriptors are closed to stay within it; files handed over with
    /// `make_cursor_from_file` without a known path keep theirs.
    pub fn max_open_files(mut self, descriptors: usize) -> Self {
        self.max_files = Some(descriptors);
        self
    }

    /// How files are mapped (default [`MapMode::ReadOnly`]).
    pub fn mode(mut self, mode: MapMode) -> Self {
        self.mode = mode;
        self
    }

    /// Whether the SIGBUS guard protects this manager's mappings (default: on; Unix only, a
    /// no-op on Windows, where a mapped file cannot be truncated).
    ///
    /// With the guard, a file that another process truncates (or whose pages the system cannot
    /// read) under a mapping does not kill the process: the lost pages read as zeros and the
    /// next operation on the region returns [`Error::FileChanged`]. Without it, the access
    /// raises `SIGBUS`, which kills the process unless it has a handler of its own. The guard
    /// costs one load of a process-wide flag per read (a register and a predictable branch) and
    /// one table entry per mapping; see the crate documentation, "Files that change".
    pub fn sigbus_guard(mut self, on: bool) -> Self {
        self.sigbus_guard = on;
        self
    }

    fn config(&self, placement: Placement) -> Result<Config> {
        let gran = sys::allocation_granularity();
        let window_size = match placement {
            Placement::Static => 0,
            Placement::Sliding => {
                window::round_window_size(self.window_size.unwrap_or_else(default_window), gran)
            }
        };
        let max_regions = self.max_regions.unwrap_or(usize::MAX);
        let max_files = self.max_files.unwrap_or_else(default_max_files);
        if max_regions == 0 {
            return Err(Error::config("max_open_handles must be at least 1"));
        }
        if max_files == 0 {
            return Err(Error::config("max_open_files must be at least 1"));
        }
        Ok(Config {
            placement,
            window_size,
            max_memory: self.max_memory.unwrap_or_else(default_max_memory),
            max_regions,
            max_files,
            mode: self.mode,
            sigbus_guard: self.sigbus_guard,
            small_reads: self.small_reads,
        })
    }
}

impl ManagerBuilder<SlidingWindowMapManager> {
    /// The window size (default 1 GiB on 64-bit, 64 MiB on 32-bit), rounded up to a multiple of
    /// twice the allocation granularity. Windows start at multiples of half this size, so every
    /// request of at most `window_size / 2` bytes is served by one window; windows of at least
    /// 4 MiB scan within a few percent of a whole-file mapping.
    ///
    /// Where the process's address space is limited (the soft `RLIMIT_AS` on Unix, read when
    /// the manager is built), the default is at most an eighth of the limit, rounded down to a
    /// power of two: 128 MiB under a limit of 1 GiB. A window that does not fit the address
    /// space left, even after the manager unmapped every unused region, is mapped smaller
    /// (see [`SlidingWindowMapManager`]).
    pub fn window_size(mut self, bytes: usize) -> Self {
        self.window_size = Some(bytes);
        self
    }

    /// Whether small reads of cold windows are served by reading them instead of mapping
    /// (default `None`: when the budget of mapped bytes is smaller than the file).
    ///
    /// A small read is a read-only request of 1 to 64 KiB (at most half a window) whose window
    /// is neither mapped nor *hot*: requested at least four times recently (a ghost history of
    /// as many windows as the budget holds, as 2Q and ARC keep one; repeated requests of one
    /// window by one cursor count once). Instead of mapping the window (an `mmap`, page faults
    /// and later an `munmap`: about 16 µs), the cursor reads the request, rounded out to 64
    /// bytes (4 KiB blocks in a run of reads of one window), into a buffer of its own with one
    /// `pread` (about the cost of a `pread` of those bytes); requests inside those bytes are
    /// then served from them, through every read path, as from a region; the window is mapped
    /// once it turns hot. So random reads over a file larger than the budget run at about
    /// `pread`'s speed, and a binary search over an index keeps its hot top levels mapped and
    /// reads only the cold bottom. A scan (a request that continues where the cursor's window
    /// ends) maps; so do requests of size 0, writes, claims and guards
    /// ([`pin`](crate::WindowCursor::pin)). [`WindowCursor::region`](crate::WindowCursor::region)
    /// is `None` while a cursor holds such bytes; [`Stats::small_reads`] and
    /// [`Stats::small_read_bytes`] count them. The bytes are a copy: a change another process
    /// makes to the file shows at the cursor's next read outside them.
    ///
    /// `Some(true)` forces small reads on (whatever the budget), `Some(false)` off. They never
    /// apply to writable managers, whose cursors must see each other's writes at once.
    pub fn small_reads(mut self, on: Option<bool>) -> Self {
        self.small_reads = on;
        self
    }

    /// Builds the manager.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if a budget is 0, or if [`MapMode::CopyOnWrite`] is asked for: private
    /// changes would be lost when a window is evicted, and hidden when an overlapping window
    /// of the same bytes is mapped. Use the [`StaticWindowMapManager`] for copy-on-write.
    pub fn build(self) -> Result<SlidingWindowMapManager> {
        if self.mode == MapMode::CopyOnWrite {
            return Err(Error::config(
                "MapMode::CopyOnWrite needs the StaticWindowMapManager: sliding windows would lose \
                 private changes on eviction and hide them behind overlapping windows",
            ));
        }
        let cfg = self.config(Placement::Sliding)?;
        Ok(SlidingWindowMapManager {
            shared: Shared::new(cfg),
        })
    }
}

impl ManagerBuilder<StaticWindowMapManager> {
    /// Builds the manager.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if a budget is 0.
    pub fn build(self) -> Result<StaticWindowMapManager> {
        let cfg = self.config(Placement::Static)?;
        Ok(StaticWindowMapManager {
            shared: Shared::new(cfg),
        })
    }
}

macro_rules! manager_methods {
    ($ty:ident) => {
        impl $ty {
            /// A builder to configure a manager.
            pub fn builder() -> ManagerBuilder<$ty> {
                ManagerBuilder::new()
            }

            /// A cursor on the file at `path`. Nothing is mapped and no descriptor is opened
            /// until the cursor is used.
            ///
            /// Files are known by identity (device and inode), so two paths to one file share
            /// its regions.
            ///
            /// # Errors
            ///
            /// [`Error::Io`] if the file cannot be `stat`ed or is not a regular file.
            pub fn make_cursor(&self, path: impl AsRef<Path>) -> Result<WindowCursor> {
                let reg = self.shared.register_path(path.as_ref())?;
                Ok(WindowCursor::new(self.shared.clone(), reg))
            }

            /// A cursor on an open file. The manager keeps the descriptor (it cannot reopen a
            /// file without a path) until no cursor or region of the file is left, unless the
            /// same file is also known by path.
            ///
            /// The descriptor must allow what the manager's mode needs: reading, and writing
            /// too for [`MapMode::ReadWrite`]. One that does not is not used: the file is
            /// reopened by the path the manager knows it by, and without one the call fails.
            ///
            /// # Errors
            ///
            /// [`Error::Io`] if the file cannot be `fstat`ed or is not a regular file, or if
            /// its access mode does not fit the manager's mode and the manager knows no path
            /// to reopen it by.
            pub fn make_cursor_from_file(&self, file: File) -> Result<WindowCursor> {
                let reg = self.shared.register_file(file)?;
                Ok(WindowCursor::new(self.shared.clone(), reg))
            }

            /// Unmaps every region no cursor uses and closes idle descriptors; returns the
            /// number of regions unmapped.
            pub fn collect(&self) -> usize {
                self.shared.collect()
            }

            /// The number of live regions (mappings), used or cached.
            pub fn num_file_handles(&self) -> usize {
                self.shared.num_regions()
            }

            /// The number of files with at least one live region.
            pub fn num_open_files(&self) -> usize {
                self.shared.num_open_files()
            }

            /// The number of bytes mapped.
            pub fn mapped_memory_size(&self) -> usize {
                self.shared.mapped_memory_size()
            }

            /// The window size (0 for the static manager, whose regions are whole files).
            pub fn window_size(&self) -> usize {
                self.shared.cfg.window_size
            }

            /// The budget of mapped bytes.
            pub fn max_mapped_memory_size(&self) -> usize {
                self.shared.cfg.max_memory
            }

            /// The budget of live regions.
            pub fn max_file_handles(&self) -> usize {
                self.shared.cfg.max_regions
            }

            /// The budget of open descriptors.
            pub fn max_open_files(&self) -> usize {
                self.shared.cfg.max_files
            }

            /// How files are mapped.
            pub fn mode(&self) -> MapMode {
                self.shared.cfg.mode
            }

            /// A snapshot of the counters.
            pub fn stats(&self) -> Stats {
                self.shared.stats()
            }

            /// The live regions, for tests of the aliasing invariant. Not public API.
            #[doc(hidden)]
            pub fn __region_views(&self) -> Vec<RegionView> {
                self.shared.region_views()
            }

            /// Writes every change made through this manager back to the files and waits for
            /// the writes (`msync(MS_SYNC)` of written regions, `fdatasync` for files whose
            /// written regions were unmapped since). Does nothing unless files are mapped with
            /// [`MapMode::ReadWrite`].
            ///
            /// Every byte written through the manager is covered, whatever became of its
            /// region: a file written through keeps its descriptor until a flush has synced it
            /// (even after it was evicted, forgotten, renamed or removed), so such descriptors
            /// count against [`max_open_files`](ManagerBuilder::max_open_files) until then (when
            /// the budget needs one back, it is synced and closed). The work is done outside
            /// the manager's lock: other cursors go on meanwhile.
            ///
            /// A cursor's or buffer's `flush_range` promises less: only the bytes of its range
            /// (see [`WindowCursor::flush_range`]).
            ///
            /// # Errors
            ///
            /// [`Error::Io`] if the system reports a failure to write.
            pub fn flush(&self) -> Result<()> {
                self.shared.flush(None, 0, u64::MAX)
            }
        }

        impl std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.debug_tuple(stringify!($ty)).field(&self.shared).finish()
            }
        }
    };
}

/// A manager of sliding windows: regions of `window_size` bytes at multiples of
/// `window_size / 2`, unmapped least recently used first when a budget is reached.
///
/// Cheap to clone (clones share everything), `Send + Sync`: one manager for a whole program,
/// shared across threads, is the intended use.
///
/// # When the system runs out
///
/// When the system refuses a descriptor or a mapping for lack of resources (`EMFILE`,
/// `ENFILE`, `ENOMEM`: the descriptor limit, the address-space limit `RLIMIT_AS`, the count of
/// mappings `vm.max_map_count`), the manager unmaps every region no cursor uses, closes every
/// idle descriptor and tries once more. If the address space still has no room for the region,
/// it maps a smaller one: half of it, a quarter, and so on, each at a multiple of half its own
/// length, down to the least region that covers the request (the request rounded out to the
/// allocation granularity). The bytes a cursor returns are the same; only the region
/// ([`WindowCursor::region`]) is shorter, and `use_region(offset, 0)` ("to the end of the
/// region") returns fewer bytes. What fails even so is returned as an [`Error::Io`]
/// (`op: "open"` or `"mmap"`); nothing aborts. The [`StaticWindowMapManager`] maps whole files only, and
/// returns that error for a file that does not fit.
#[derive(Clone)]
pub struct SlidingWindowMapManager {
    shared: Arc<Shared>,
}

/// A manager that maps every file whole, in one region, unmapped least recently used first when
/// a budget is reached.
///
/// A file that does not fit the address space left (even after every unused region was
/// unmapped and every idle descriptor closed) is an [`Error::Io`] with `op: "mmap"` (`ENOMEM`
/// on Unix): the regions of this manager are never smaller than their file.
///
/// Cheap to clone (clones share everything), `Send + Sync`.
#[derive(Clone)]
pub struct StaticWindowMapManager {
    shared: Arc<Shared>,
}

manager_methods!(SlidingWindowMapManager);
manager_methods!(StaticWindowMapManager);

impl SlidingWindowMapManager {
    /// A manager with the default window (1 GiB on 64-bit, less under a limit of the address
    /// space: see [`ManagerBuilder::window_size`]) and budgets.
    pub fn new() -> Self {
        Self::builder()
            .build()
            .expect("the default configuration is valid")
    }
}

impl Default for SlidingWindowMapManager {
    fn default() -> Self {
        Self::new()
    }
}

impl StaticWindowMapManager {
    /// A manager with the default budgets.
    pub fn new() -> Self {
        Self::builder()
            .build()
            .expect("the default configuration is valid")
    }
}

impl Default for StaticWindowMapManager {
    fn default() -> Self {
        Self::new()
    }
}
