//! The public configuration and reporting types: how files are mapped ([`MapMode`]), the
//! counters ([`Stats`]) and the description of a region ([`RegionInfo`]).

/// How regions are mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MapMode {
    /// Read-only shared mappings (`PROT_READ`, `MAP_SHARED`); every write is an error.
    #[default]
    ReadOnly,
    /// Writable shared mappings: writes reach the file (after [`flush`](crate::SlidingWindowMapManager::flush)
    /// they are on disk). Files are opened for reading and writing.
    ReadWrite,
    /// Writable private mappings: writes are visible to this process only and never reach the
    /// file.
    CopyOnWrite,
}

impl std::fmt::Display for MapMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            MapMode::ReadOnly => "read-only",
            MapMode::ReadWrite => "read-write",
            MapMode::CopyOnWrite => "copy-on-write",
        })
    }
}

/// What [`Error::ReadOnly`] says a write needs.
pub(crate) const NEEDS_WRITE: &str = "MapMode::ReadWrite or MapMode::CopyOnWrite";
/// What [`Error::ReadOnly`] says a resize needs.
pub(crate) const NEEDS_RESIZE: &str = "MapMode::ReadWrite";

/// A snapshot of a manager's counters, from [`stats`](crate::SlidingWindowMapManager::stats).
///
/// Requests that a cursor answers without the manager's lock (from its current region, or by
/// switching to another mapped window) are counted in `hits` when the cursor next takes the
/// lock (to map a region, or when it is dropped), so that no shared counter is written per
/// request: until then `hits` lags behind. Every other counter is exact.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Requests served by a region that was already mapped.
    pub hits: u64,
    /// Requests that needed a new mapping.
    pub misses: u64,
    /// Mappings made.
    pub maps: u64,
    /// Mappings removed, for any reason.
    pub unmaps: u64,
    /// Mappings removed to stay within a budget or after a failed `open`/`mmap`.
    pub evictions: u64,
    /// Bytes mapped now.
    pub mapped_bytes: u64,
    /// Most bytes mapped at once.
    pub peak_mapped_bytes: u64,
    /// Regions (mappings) alive now.
    pub regions: u64,
    /// Most regions alive at once.
    pub peak_regions: u64,
    /// Descriptors open now.
    pub open_descriptors: u64,
    /// Most descriptors open at once.
    pub peak_open_descriptors: u64,
    /// Descriptors opened.
    pub descriptors_opened: u64,
    /// Descriptors closed.
    pub descriptors_closed: u64,
    /// Mappings made although they exceeded the byte or region budget, because every region
    /// was in use.
    pub over_budget_maps: u64,
    /// Descriptors opened although they exceeded the descriptor budget, because none could be
    /// closed.
    pub over_budget_descriptors: u64,
    /// `open` or `mmap` calls that failed for lack of descriptors or memory and were retried
    /// after releasing every unused region and idle descriptor.
    pub retries: u64,
    /// Requests served by a small read: bytes read into a buffer of the cursor instead of
    /// mapping a cold window (see
    /// [`ManagerBuilder::small_reads`](crate::ManagerBuilder::small_reads)). Requests served
    /// from those bytes afterwards count as hits.
    pub small_reads: u64,
    /// Bytes read by small reads (each request rounded out to 64-byte lines or 4 KiB blocks).
    pub small_read_bytes: u64,
    /// Windows that turned hot but were not mapped, because mapping them would have evicted a
    /// region used more often (they are served by small reads meanwhile).
    pub admissions_refused: u64,
}

/// A description of one region, from [`WindowCursor::region`](crate::WindowCursor::region).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionInfo {
    /// File offset of the region's first byte.
    pub ofs_begin: u64,
    /// Length of the region in bytes.
    pub size: usize,
    /// 1 for the manager plus 1 per cursor or guard using the region. Exact for the cursors
    /// and guards of the calling thread; cursors of other threads that switch windows
    /// meanwhile may or may not be counted (a snapshot).
    pub client_count: usize,
}

/// One live region as the manager sees it, for tests of the aliasing invariant. Not public
/// API.
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionView {
    /// Device of the file.
    pub dev: u64,
    /// Inode of the file.
    pub ino: u64,
    /// File offset of the first byte.
    pub begin: u64,
    /// Length in bytes.
    pub len: usize,
    /// Address of the first byte.
    pub addr: usize,
    /// Cursors and guards holding it.
    pub pins: usize,
    /// Held for writing.
    pub exclusive: bool,
    /// A private (copy-on-write) mapping.
    pub private: bool,
}

/// How a manager places regions: windows of a fixed size, or one region per file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    Sliding,
    Static,
}

/// A manager's settings, as its builder made them.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) placement: Placement,
    pub(crate) window_size: usize,
    pub(crate) max_memory: usize,
    pub(crate) max_regions: usize,
    pub(crate) max_files: usize,
    pub(crate) mode: MapMode,
    /// Mappings are registered with the SIGBUS guard (Unix).
    pub(crate) sigbus_guard: bool,
    /// Small reads of cold windows (see `small.rs`): `None` decides by the budget.
    pub(crate) small_reads: Option<bool>,
}
