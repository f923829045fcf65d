//! The managers: the registry of files, the mapped regions, the budgets and the statistics.
//!
//! Both managers share one implementation ([`Shared`]) behind an `Arc`; they differ only in
//! where regions are placed. All bookkeeping happens under one mutex, which a cursor takes only
//! when it must switch regions: a request inside a cursor's current region is answered by the
//! cursor alone.
//!
//! Bookkeeping invariants (all under the lock):
//! - every live region is in `State::regions` and in its file's `regions` index;
//! - a region's `pins` counts the cursors and guards that hold it; a region with no pins is in
//!   the LRU set (`State::lru`) and is the only kind that may be unmapped;
//! - a region is unmapped exactly when its slot is removed, and nothing outside the manager then
//!   holds its `Arc` (the pins were the only other holders);
//! - a file entry lives while it has users (cursors) or regions; its descriptor is open only
//!   while needed, and is in the descriptor LRU set when it could be closed.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use crate::claims;
use crate::cursor::WindowCursor;
use crate::error::{Error, Location, Result};
use crate::lru::Lru;
use crate::sys::{self, Mapping};
use crate::window;

/// How regions are mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MapMode {
    /// Read-only shared mappings (`PROT_READ`, `MAP_SHARED`); every write is an error.
    #[default]
    ReadOnly,
    /// Writable shared mappings: writes reach the file (after [`flush`](SlidingWindowMapManager::flush)
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

/// A snapshot of a manager's counters, from [`stats`](SlidingWindowMapManager::stats).
///
/// Requests that a cursor answers from its current region are counted in `hits` when the
/// cursor next goes to the manager (when it switches regions or is dropped), so that the hot
/// path stays free of shared state.
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
}

/// A description of one region, from [`WindowCursor::region`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegionInfo {
    /// File offset of the region's first byte.
    pub ofs_begin: u64,
    /// Length of the region in bytes.
    pub size: usize,
    /// 1 for the manager plus 1 per cursor or guard using the region.
    pub client_count: usize,
}

pub(crate) type FileId = u64;
pub(crate) type RegionId = u64;

/// A hasher for the manager's ids: sequential integers, spread by a multiplication
/// (Fibonacci hashing); much cheaper than SipHash on the region-switch path.
#[derive(Default, Clone, Copy)]
struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v.wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

type IdMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<IdHasher>>;

/// One mapping of `[begin, begin + len)` of one file.
#[derive(Debug)]
pub(crate) struct Region {
    pub(crate) begin: u64,
    pub(crate) id: RegionId,
    pub(crate) map: Mapping,
}

impl Region {
    #[inline(always)]
    pub(crate) fn end(&self) -> u64 {
        self.begin + self.map.len() as u64
    }

    #[inline(always)]
    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Placement {
    Sliding,
    Static,
}

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) placement: Placement,
    pub(crate) window_size: usize,
    pub(crate) max_memory: usize,
    pub(crate) max_regions: usize,
    pub(crate) max_files: usize,
    pub(crate) mode: MapMode,
}

struct RegionSlot {
    region: Arc<Region>,
    file: FileId,
    pins: usize,
    /// A cursor holds this region for writing: no other pin of overlapping bytes may exist.
    exclusive: bool,
    /// Ever held for writing.
    written: bool,
    /// Written through a private (copy-on-write) mapping: unmapping it would lose the changes,
    /// so it is kept out of the LRU set until its file has no users.
    private_dirty: bool,
    lru: Option<u64>,
}

struct FileEntry {
    ident: (u64, u64),
    /// Regions of this file held exclusively by a writer.
    exclusive: usize,
    /// A written shared region was unmapped since the last flush: its pages are flushed
    /// through the descriptor.
    unflushed: bool,
    path: Option<Arc<Path>>,
    fd: Option<File>,
    fd_lru: Option<u64>,
    size: u64,
    users: usize,
    /// Live regions by `(begin, id)`, with their end.
    regions: BTreeMap<(u64, RegionId), u64>,
    /// Length of the longest region mapped for this file (bounds the lookup scan).
    max_len: u64,
}

impl FileEntry {
    fn location(&self) -> Location {
        Location(self.path.as_deref().map(Path::to_path_buf))
    }

    /// The live region with the highest start that covers `[offset, offset + len)`.
    fn find_covering(&self, offset: u64, len: u64) -> Option<RegionId> {
        self.regions
            .range(..=(offset, RegionId::MAX))
            .rev()
            .take_while(|((b, _), _)| b.saturating_add(self.max_len) > offset)
            .find(|((b, _), e)| window::covers(*b, **e - *b, offset, len))
            .map(|((_, id), _)| *id)
    }

    /// The live regions that overlap `[offset, end)`.
    fn overlapping(&self, offset: u64, end: u64) -> impl Iterator<Item = RegionId> + '_ {
        let from = offset.saturating_sub(self.max_len);
        self.regions
            .range((from, 0)..(end, 0))
            .filter(move |(_, e)| **e > offset)
            .map(|((_, id), _)| *id)
    }

    /// The end of the live region that ends last.
    fn mapped_end(&self) -> u64 {
        let mut best = 0;
        for ((b, _), e) in self.regions.iter().rev() {
            if b.saturating_add(self.max_len) <= best {
                break;
            }
            best = best.max(*e);
        }
        best
    }

    /// Whether one live region covers the whole file.
    fn mapped_whole(&self) -> bool {
        self.regions
            .range((0, 0)..(1, 0))
            .any(|(_, e)| *e >= self.size)
    }
}

struct State {
    /// This manager's id among the process's managers (see `claims.rs`).
    mgr: u64,
    next_id: u64,
    files: IdMap<FileEntry>,
    by_ident: HashMap<(u64, u64), FileId>,
    regions: IdMap<RegionSlot>,
    lru: Lru<RegionId>,
    fd_lru: Lru<FileId>,
    mapped: u64,
    open_fds: usize,
    stats: Stats,
}

/// What the manager hands a cursor for a request.
pub(crate) struct Obtained {
    pub(crate) region: Arc<Region>,
    pub(crate) file_size: u64,
}

/// The state shared by a manager and its clones and cursors.
pub(crate) struct Shared {
    pub(crate) cfg: Config,
    gran: u64,
    state: Mutex<State>,
}

impl std::fmt::Debug for Shared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manager")
            .field("config", &self.cfg)
            .field("stats", &self.stats())
            .finish()
    }
}

fn io_err(op: &'static str, path: Location, offset: Option<u64>, source: io::Error) -> Error {
    Error::Io {
        op,
        path,
        offset,
        source,
    }
}

impl Drop for Shared {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        for e in st.files.values() {
            claims::unregister(e.ident, st.mgr);
        }
    }
}

impl Shared {
    pub(crate) fn new(cfg: Config) -> Self {
        Shared {
            cfg,
            gran: sys::allocation_granularity() as u64,
            state: Mutex::new(State {
                mgr: claims::new_manager(),
                next_id: 1,
                files: IdMap::default(),
                by_ident: HashMap::new(),
                regions: IdMap::default(),
                lru: Lru::new(),
                fd_lru: Lru::new(),
                mapped: 0,
                open_fds: 0,
                stats: Stats::default(),
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent at every point where code under the lock could panic (no
        // user code runs under it), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ---- registration -------------------------------------------------------------------

    /// Registers a user of the file at `path`; returns its id, its path and its size.
    pub(crate) fn register_path(&self, path: &Path) -> Result<(FileId, Arc<Path>, u64)> {
        let abs: PathBuf = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let meta = std::fs::metadata(&abs)
            .map_err(|e| io_err("stat", Location(Some(abs.clone())), None, e))?;
        let ident = sys::path_identity(&abs);
        let (id, path, size) =
            self.register(&meta, ident, Location(Some(abs.clone())), Some(abs), None)?;
        Ok((id, path.expect("registered with a path"), size))
    }

    /// Registers a user of an open file; returns its id, its path if known, and its size.
    pub(crate) fn register_file(&self, file: File) -> Result<(FileId, Option<Arc<Path>>, u64)> {
        let meta = file
            .metadata()
            .map_err(|e| io_err("fstat", Location(None), None, e))?;
        let ident = sys::file_identity(&file);
        self.register(&meta, ident, Location(None), None, Some(file))
    }

    /// Registers a user of the file `meta` describes, known by `path` and/or open as `file`.
    ///
    /// A file already registered gains the path or the descriptor it lacked. A descriptor
    /// handed over is kept (it cannot be reopened without a path), so others make room for it.
    fn register(
        &self,
        meta: &std::fs::Metadata,
        ident: io::Result<sys::FileIdentity>,
        loc: Location,
        path: Option<PathBuf>,
        file: Option<File>,
    ) -> Result<(FileId, Option<Arc<Path>>, u64)> {
        if !meta.is_file() {
            let err = io::Error::new(io::ErrorKind::InvalidInput, "not a regular file");
            return Err(io_err("map", loc, None, err));
        }
        let ident = ident.map_err(|e| io_err("fstat", loc.clone(), None, e))?;
        let mut st = self.lock();
        // An entry that holds neither a descriptor nor a mapping does not keep its inode
        // alive: if its path no longer leads to this identity, the inode number was reused by
        // another file, which gets an entry of its own.
        if let Some(&old) = st.by_ident.get(&ident) {
            let e = &st.files[&old];
            let stale = e.fd.is_none()
                && e.regions.is_empty()
                && e.path.as_deref().is_some_and(|p| {
                    path.as_deref() != Some(p) && sys::path_identity(p).ok() != Some(ident)
                });
            if stale {
                st.by_ident.remove(&ident);
            }
        }
        let id = match st.by_ident.get(&ident) {
            Some(&id) => id,
            None => {
                let id = st.new_id();
                claims::register(ident, st.mgr);
                st.files.insert(
                    id,
                    FileEntry {
                        ident,
                        exclusive: 0,
                        unflushed: false,
                        path: None,
                        fd: None,
                        fd_lru: None,
                        size: meta.len(),
                        users: 0,
                        regions: BTreeMap::new(),
                        max_len: 0,
                    },
                );
                st.by_ident.insert(ident, id);
                id
            }
        };
        let handed_over = file.is_some();
        let e = st.files.get_mut(&id).expect("registered above");
        e.users += 1;
        e.size = meta.len();
        let adopt_path = e.path.is_none() && path.is_some();
        if adopt_path {
            e.path = path.map(|p| Arc::from(p.as_path()));
        }
        let adopt_fd = e.fd.is_none() && file.is_some();
        if adopt_fd {
            e.fd = file;
            st.opened_fd();
        }
        // A descriptor that can now be reopened by path may be closed when idle.
        let e = &st.files[&id];
        if e.fd.is_some() && e.path.is_some() && e.fd_lru.is_none() {
            let stamp = st.fd_lru.insert(id);
            st.files.get_mut(&id).expect("live entry").fd_lru = Some(stamp);
        }
        if handed_over {
            st.shed_descriptors(&self.cfg, id);
        }
        let e = &st.files[&id];
        Ok((id, e.path.clone(), e.size))
    }

    /// Adds a user to an already registered file (a cursor being cloned).
    pub(crate) fn add_user(&self, file: FileId) {
        let mut st = self.lock();
        st.files
            .get_mut(&file)
            .expect("a user keeps its entry alive")
            .users += 1;
    }

    /// Removes a user of a file, and unpins its region if it holds one.
    pub(crate) fn release_user(&self, file: FileId, pinned: Option<RegionId>, hits: u64) {
        let mut st = self.lock();
        st.stats.hits += hits;
        if let Some(r) = pinned {
            st.unpin(r);
        }
        let e = st
            .files
            .get_mut(&file)
            .expect("a user keeps its entry alive");
        e.users -= 1;
        st.maybe_drop_file(file);
    }

    // ---- regions ------------------------------------------------------------------------

    /// Pins a region already pinned by the caller once more (a cursor being cloned).
    pub(crate) fn pin_again(&self, region: RegionId) -> Result<()> {
        let mut st = self.lock();
        let slot = st
            .regions
            .get_mut(&region)
            .expect("a pinned region is live");
        if slot.exclusive {
            let file = slot.file;
            let (b, e) = (slot.region.begin, slot.region.end());
            return Err(Error::Busy {
                path: st.files[&file].location(),
                offset: b,
                end: e,
                by: "a cursor writing to them",
            });
        }
        slot.pins += 1;
        Ok(())
    }

    /// Drops one pin of a region; `hits` are the cursor's local hits to account.
    pub(crate) fn unpin(&self, region: RegionId, hits: u64) {
        let mut st = self.lock();
        st.stats.hits += hits;
        st.unpin(region);
    }

    /// Information about a region pinned by the caller.
    pub(crate) fn region_info(&self, region: RegionId) -> Option<RegionInfo> {
        let st = self.lock();
        st.regions.get(&region).map(|s| RegionInfo {
            ofs_begin: s.region.begin,
            size: s.region.len(),
            client_count: s.pins + 1,
        })
    }

    /// Finds or maps a region of `file` that covers `[offset, offset + min(size, end - offset))`
    /// (`size == 0`: at least one byte), pins it for the caller, and unpins `release` (the
    /// caller's previous region) in the same critical section. `hits` are the caller's local
    /// hits to account.
    pub(crate) fn obtain(
        &self,
        file: FileId,
        offset: u64,
        size: u64,
        release: Option<RegionId>,
        hits: u64,
    ) -> Result<Obtained> {
        let mut st = self.lock();
        st.stats.hits += hits;
        if let Some(r) = release {
            st.unpin(r);
        }
        let e = &st.files[&file];
        let known = e.size;
        if offset < known {
            let need = size.max(1).min(known - offset);
            if let Some(id) = e.find_covering(offset, need) {
                let r = &st.regions[&id].region;
                st.check_not_exclusive(file, r.begin, r.end())?;
                st.pin(id);
                st.stats.hits += 1;
                let region = st.regions[&id].region.clone();
                return Ok(Obtained {
                    region,
                    file_size: known,
                });
            }
        }
        self.map_new(&mut st, file, offset, size)
    }

    /// Maps a new region for the request, after re-reading the file's size.
    fn map_new(&self, st: &mut State, file: FileId, offset: u64, size: u64) -> Result<Obtained> {
        let cfg = &self.cfg;
        // The size is re-read at every new mapping.
        st.ensure_fd(cfg, file)?;
        let e = &st.files[&file];
        let meta =
            e.fd.as_ref()
                .expect("ensured")
                .metadata()
                .map_err(|err| io_err("fstat", e.location(), Some(offset), err))?;
        let mut file_size = meta.len();
        if let Err(err) = st.note_size(file, file_size) {
            st.close_fd_if_unneeded(file);
            return Err(err);
        }
        if cfg.mode == MapMode::CopyOnWrite {
            // Private changes fix the file's size as this process sees it: a new mapping of
            // bytes past them would hide them.
            let e = &st.files[&file];
            if let Some(frozen) = e
                .regions
                .keys()
                .filter(|(_, id)| st.regions[id].private_dirty)
                .map(|(_, id)| st.regions[id].region.end())
                .max()
            {
                file_size = file_size.min(frozen);
            }
        }
        let loc = st.files[&file].location();
        if offset >= file_size {
            st.close_fd_if_unneeded(file);
            return Err(Error::OutOfBounds {
                path: loc,
                offset,
                len: size,
                file_size,
            });
        }
        let need = size.max(1).min(file_size - offset);
        // The file may have grown: a live region may cover the request now.
        if let Some(id) = st.files[&file].find_covering(offset, need) {
            let r = &st.regions[&id].region;
            st.check_not_exclusive(file, r.begin, r.end())?;
            st.pin(id);
            st.stats.hits += 1;
            let region = st.regions[&id].region.clone();
            return Ok(Obtained { region, file_size });
        }
        let (begin, len) = match cfg.placement {
            Placement::Sliding => {
                window::sliding_region(offset, need, cfg.window_size as u64, file_size, self.gran)
            }
            Placement::Static => (0, file_size),
        };
        st.check_not_exclusive(file, begin, begin + len)?;
        let Ok(len_usize) = usize::try_from(len) else {
            return Err(io_err(
                "mmap",
                loc,
                Some(begin),
                io::Error::new(
                    io::ErrorKind::OutOfMemory,
                    format!("a region of {len} bytes does not fit the address space"),
                ),
            ));
        };
        st.make_room(cfg, len, file);
        let fd = st.files[&file].fd.as_ref().expect("ensured");
        let mapped = match Mapping::map(fd, begin, len_usize, cfg.mode) {
            Err(err) if sys::is_resource_exhaustion(&err) => {
                st.stats.retries += 1;
                st.release_all(file);
                let fd = st.files[&file].fd.as_ref().expect("kept");
                Mapping::map(fd, begin, len_usize, cfg.mode)
            }
            other => other,
        };
        let map = match mapped {
            Ok(m) => m,
            Err(err) => {
                st.close_fd_if_unneeded(file);
                return Err(io_err("mmap", loc, Some(begin), err));
            }
        };
        let id = st.new_id();
        let region = Arc::new(Region { begin, id, map });
        st.insert_region(file, region.clone());
        st.stats.misses += 1;
        // Git's trick: a file mapped whole needs no descriptor.
        if begin == 0 && len == file_size {
            st.close_fd_if_unneeded(file);
        }
        Ok(Obtained { region, file_size })
    }

    /// Re-reads the size of a file (through its descriptor, opening it if needed).
    pub(crate) fn refresh_size(&self, file: FileId) -> Result<u64> {
        let mut st = self.lock();
        st.ensure_fd(&self.cfg, file)?;
        let e = &st.files[&file];
        let meta =
            e.fd.as_ref()
                .expect("ensured")
                .metadata()
                .map_err(|err| io_err("fstat", e.location(), None, err))?;
        let noted = st.note_size(file, meta.len());
        st.close_fd_if_unneeded(file);
        noted?;
        Ok(meta.len())
    }

    // ---- writing ------------------------------------------------------------------------

    /// Makes the caller's pin of `region` exclusive, for writing: refused while anyone else
    /// pins this region or another region of the file that overlaps it.
    pub(crate) fn claim_exclusive(&self, file: FileId, region: RegionId) -> Result<()> {
        let mut st = self.lock();
        let slot = &st.regions[&region];
        if slot.exclusive {
            return Ok(());
        }
        let (begin, end) = (slot.region.begin, slot.region.end());
        let e = &st.files[&file];
        let others = slot.pins > 1
            || e.overlapping(begin, end)
                .any(|id| id != region && st.regions[&id].pins > 0);
        if others {
            return Err(Error::Busy {
                path: e.location(),
                offset: begin,
                end,
                by: "other cursors or guards reading them",
            });
        }
        let mode = self.cfg.mode;
        if mode == MapMode::ReadOnly {
            return Err(Error::ReadOnly {
                path: e.location(),
                offset: begin,
                op: "write",
                needs: NEEDS_WRITE,
                mode,
            });
        }
        // Another manager's mappings of this file would alias the mutable view.
        if !claims::try_claim(e.ident, st.mgr) {
            return Err(Error::Busy {
                path: e.location(),
                offset: begin,
                end,
                by: "another manager of this process that maps the same file",
            });
        }
        let slot = st.regions.get_mut(&region).expect("pinned");
        slot.exclusive = true;
        if mode == MapMode::ReadWrite {
            slot.written = true;
        } else {
            slot.private_dirty = true;
        }
        st.files.get_mut(&file).expect("live entry").exclusive += 1;
        Ok(())
    }

    /// Writes the changes made to `[offset, offset + len)` of `file` (every file if `None`)
    /// back to disk and waits for them: `msync(MS_SYNC)` of the live regions, and `fdatasync`
    /// for files whose written regions were unmapped since.
    pub(crate) fn flush(&self, file: Option<FileId>, offset: u64, len: u64) -> Result<()> {
        if self.cfg.mode != MapMode::ReadWrite {
            return Ok(());
        }
        let mut st = self.lock();
        let files: Vec<FileId> = match file {
            Some(f) => vec![f],
            None => st.files.keys().copied().collect(),
        };
        let end = offset.saturating_add(len);
        // Every file is flushed even if one fails; the first error is reported.
        let mut first_err = None;
        for f in files {
            if let Err(e) = st.flush_file(&self.cfg, f, offset, end) {
                first_err.get_or_insert(e);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Grows or truncates a file to `new_len` bytes.
    pub(crate) fn resize(&self, file: FileId, new_len: u64) -> Result<()> {
        let mut st = self.lock();
        let loc = st.files[&file].location();
        if self.cfg.mode != MapMode::ReadWrite {
            return Err(Error::ReadOnly {
                path: loc,
                offset: new_len,
                op: "resize",
                needs: NEEDS_RESIZE,
                mode: self.cfg.mode,
            });
        }
        // Live regions past the new end would raise SIGBUS when touched. Where a mapped file
        // cannot shrink at all (Windows), every region of the file is in the way.
        let e = &st.files[&file];
        let unmap_all = !sys::MAPPED_FILES_CAN_SHRINK && new_len < e.size;
        let from = if unmap_all { 0 } else { new_len };
        let pinned_past = e
            .overlapping(from, u64::MAX)
            .filter(|id| st.regions[id].pins > 0)
            .map(|id| st.regions[&id].region.end())
            .max();
        if let Some(end) = pinned_past {
            return Err(Error::Busy {
                path: loc,
                offset: from,
                end,
                by: if unmap_all {
                    "live regions of the file, which cannot shrink while mapped on this system"
                } else {
                    "live regions past the new end"
                },
            });
        }
        if unmap_all {
            let cached: Vec<RegionId> = e.overlapping(0, u64::MAX).collect();
            for id in cached {
                st.evict(id, Some(file), false);
            }
        }
        st.ensure_fd(&self.cfg, file)?;
        let e = &st.files[&file];
        e.fd.as_ref()
            .expect("ensured")
            .set_len(new_len)
            .map_err(|err| {
                if sys::is_mapped_file_error(&err) {
                    Error::Busy {
                        path: e.location(),
                        offset: 0,
                        end: e.size,
                        by: "mappings of the file by another manager or process",
                    }
                } else {
                    io_err("ftruncate", e.location(), Some(new_len), err)
                }
            })?;
        st.note_size(file, new_len)?;
        // A region that covered the whole file does not any more, and the reverse.
        st.close_fd_if_unneeded(file);
        Ok(())
    }

    // ---- queries ------------------------------------------------------------------------

    pub(crate) fn collect(&self) -> usize {
        let mut st = self.lock();
        let n = st.release_unpinned(None);
        st.close_idle_fds(None);
        n
    }

    pub(crate) fn num_regions(&self) -> usize {
        self.lock().regions.len()
    }

    pub(crate) fn num_open_files(&self) -> usize {
        self.lock()
            .files
            .values()
            .filter(|e| !e.regions.is_empty())
            .count()
    }

    pub(crate) fn mapped_memory_size(&self) -> usize {
        self.lock().mapped as usize
    }

    pub(crate) fn stats(&self) -> Stats {
        let st = self.lock();
        let mut s = st.stats;
        s.mapped_bytes = st.mapped;
        s.regions = st.regions.len() as u64;
        s.open_descriptors = st.open_fds as u64;
        s
    }
}

impl State {
    fn new_id(&mut self) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    fn opened_fd(&mut self) {
        self.open_fds += 1;
        self.stats.descriptors_opened += 1;
        self.stats.peak_open_descriptors =
            self.stats.peak_open_descriptors.max(self.open_fds as u64);
    }

    fn pin(&mut self, id: RegionId) {
        let slot = self.regions.get_mut(&id).expect("live region");
        slot.pins += 1;
        if let Some(stamp) = slot.lru.take() {
            self.lru.remove(stamp);
        }
    }

    fn unpin(&mut self, id: RegionId) {
        let slot = self.regions.get_mut(&id).expect("a pinned region is live");
        debug_assert!(slot.pins > 0);
        slot.pins -= 1;
        if slot.pins == 0 {
            let file = slot.file;
            if slot.exclusive {
                slot.exclusive = false;
                let e = self.files.get_mut(&file).expect("live entry");
                e.exclusive -= 1;
                claims::release_claim(e.ident, self.mgr);
            }
            let slot = self.regions.get_mut(&id).expect("live region");
            if !slot.private_dirty {
                slot.lru = Some(self.lru.insert(id));
            } else if self.files[&file].users == 0 {
                // The last holder of private changes of a file nobody uses any more.
                slot.private_dirty = false;
                self.evict(id, None, false);
            }
        }
    }

    /// Flushes the written regions of one file overlapping `[offset, end)`, and its pages
    /// written through regions unmapped since the last flush.
    fn flush_file(&mut self, cfg: &Config, f: FileId, offset: u64, end: u64) -> Result<()> {
        // An earlier file's reopening may have released this one.
        let Some(e) = self.files.get(&f) else {
            return Ok(());
        };
        for id in e.overlapping(offset, end) {
            let slot = &self.regions[&id];
            if !slot.written {
                continue;
            }
            let r = &slot.region;
            let from = offset.max(r.begin) - r.begin;
            let to = end.min(r.end()) - r.begin;
            r.map
                .flush_range(from as usize, (to - from) as usize)
                .map_err(|err| io_err("msync", e.location(), Some(r.begin + from), err))?;
        }
        if !e.unflushed {
            return Ok(());
        }
        // Reported once: a file that cannot be reopened (removed, renamed) cannot be synced
        // later either.
        self.files.get_mut(&f).expect("checked above").unflushed = false;
        let synced = self.ensure_fd(cfg, f).and_then(|()| {
            let e = &self.files[&f];
            let fd = e.fd.as_ref().expect("ensured");
            fd.sync_data()
                .map_err(|err| io_err("fdatasync", e.location(), None, err))
        });
        self.close_fd_if_unneeded(f);
        self.maybe_drop_file(f);
        synced
    }

    /// Refuses a request that overlaps a region held exclusively by a writer.
    fn check_not_exclusive(&self, file: FileId, offset: u64, end: u64) -> Result<()> {
        let e = &self.files[&file];
        if claims::claimed_elsewhere(e.ident, self.mgr) {
            return Err(Error::Busy {
                path: e.location(),
                offset,
                end,
                by: "another manager of this process writing to the same file",
            });
        }
        if e.exclusive == 0 {
            return Ok(());
        }
        if e.overlapping(offset, end)
            .any(|id| self.regions[&id].exclusive)
        {
            return Err(Error::Busy {
                path: e.location(),
                offset,
                end,
                by: "a cursor writing to them",
            });
        }
        Ok(())
    }

    /// Records a freshly read file size; unmaps cached regions past it, and reports an error if
    /// a pinned region lies past it.
    fn note_size(&mut self, file: FileId, size: u64) -> Result<()> {
        let e = self.files.get_mut(&file).expect("live entry");
        e.size = size;
        if e.mapped_end() <= size {
            return Ok(());
        }
        let past: Vec<RegionId> = e
            .regions
            .iter()
            .filter(|(_, end)| **end > size)
            .map(|((_, id), _)| *id)
            .collect();
        let mut pinned_end = 0;
        for id in past {
            if self.regions[&id].pins == 0 {
                self.evict(id, Some(file), false);
            } else {
                pinned_end = pinned_end.max(self.regions[&id].region.end());
            }
        }
        if pinned_end > size {
            return Err(Error::FileShrank {
                path: self.files[&file].location(),
                file_size: size,
                mapped_end: pinned_end,
            });
        }
        Ok(())
    }

    fn insert_region(&mut self, file: FileId, region: Arc<Region>) {
        let len = region.len() as u64;
        let e = self.files.get_mut(&file).expect("live entry");
        e.regions.insert((region.begin, region.id), region.end());
        e.max_len = e.max_len.max(len);
        self.regions.insert(
            region.id,
            RegionSlot {
                region,
                file,
                pins: 1,
                exclusive: false,
                written: false,
                private_dirty: false,
                lru: None,
            },
        );
        self.mapped += len;
        self.stats.maps += 1;
        self.stats.peak_mapped_bytes = self.stats.peak_mapped_bytes.max(self.mapped);
        self.stats.peak_regions = self.stats.peak_regions.max(self.regions.len() as u64);
    }

    /// Unmaps an unpinned region. `keep` is a file whose descriptor must stay open.
    fn evict(&mut self, id: RegionId, keep: Option<FileId>, budget: bool) {
        let slot = self.regions.remove(&id).expect("live region");
        debug_assert_eq!(slot.pins, 0);
        if let Some(stamp) = slot.lru {
            self.lru.remove(stamp);
        }
        let e = self.files.get_mut(&slot.file).expect("live entry");
        e.regions.remove(&(slot.region.begin, id));
        if slot.written {
            e.unflushed = true;
        }
        if e.regions.is_empty() {
            e.max_len = 0;
        }
        self.mapped -= slot.region.len() as u64;
        self.stats.unmaps += 1;
        if budget {
            self.stats.evictions += 1;
        }
        debug_assert_eq!(
            Arc::strong_count(&slot.region),
            1,
            "an unpinned region has no holder"
        );
        let file = slot.file;
        drop(slot);
        // The file being worked on keeps its descriptor and its entry; the caller tidies up.
        if keep != Some(file) {
            self.close_fd_if_unneeded(file);
            self.maybe_drop_file(file);
        }
    }

    /// Unmaps least recently used unpinned regions until a new region of `len` bytes fits the
    /// byte and region budgets; counts the mapping as over budget if it still does not.
    fn make_room(&mut self, cfg: &Config, len: u64, keep: FileId) {
        loop {
            let over_mem = self.mapped.saturating_add(len) > cfg.max_memory as u64;
            let over_regions = self.regions.len() >= cfg.max_regions;
            if !over_mem && !over_regions {
                return;
            }
            match self.lru.oldest() {
                Some((_, victim)) => self.evict(victim, Some(keep), true),
                None => {
                    self.stats.over_budget_maps += 1;
                    return;
                }
            }
        }
    }

    /// Unmaps every unpinned region; returns how many.
    fn release_unpinned(&mut self, keep: Option<FileId>) -> usize {
        let mut n = 0;
        while let Some((_, victim)) = self.lru.oldest() {
            self.evict(victim, keep, keep.is_some());
            n += 1;
        }
        n
    }

    /// Closes every descriptor that can be reopened, but `keep`'s.
    fn close_idle_fds(&mut self, keep: Option<FileId>) {
        let idle: Vec<FileId> = self
            .fd_lru
            .iter()
            .map(|(_, f)| f)
            .filter(|f| Some(*f) != keep)
            .collect();
        for f in idle {
            self.close_fd(f);
        }
    }

    /// After a failed `open`/`mmap`: releases every unpinned region and idle descriptor.
    fn release_all(&mut self, keep: FileId) {
        self.release_unpinned(Some(keep));
        self.close_idle_fds(Some(keep));
    }

    /// Closes a file's descriptor if it can be reopened.
    fn close_fd(&mut self, file: FileId) {
        let e = self.files.get_mut(&file).expect("live entry");
        if e.path.is_none() || e.fd.is_none() {
            return;
        }
        e.fd = None;
        if let Some(stamp) = e.fd_lru.take() {
            self.fd_lru.remove(stamp);
        }
        self.open_fds -= 1;
        self.stats.descriptors_closed += 1;
    }

    /// Closes a descriptor that no region needs: the file has no region, or one region covers
    /// it whole.
    fn close_fd_if_unneeded(&mut self, file: FileId) {
        let e = &self.files[&file];
        if e.regions.is_empty() || e.mapped_whole() {
            self.close_fd(file);
        }
    }

    /// Forgets a file that has neither users nor regions.
    fn maybe_drop_file(&mut self, file: FileId) {
        let e = &self.files[&file];
        if e.users == 0 {
            // Private changes live as long as the file has users; then they are dropped.
            let kept: Vec<RegionId> = e
                .regions
                .keys()
                .map(|(_, id)| *id)
                .filter(|id| self.regions[id].private_dirty && self.regions[id].pins == 0)
                .collect();
            for id in &kept {
                self.regions.get_mut(id).expect("live region").private_dirty = false;
            }
            for id in kept {
                if self.regions.contains_key(&id) {
                    self.evict(id, None, false);
                }
            }
        }
        let Some(e) = self.files.get(&file) else {
            return;
        };
        if e.users > 0 || !e.regions.is_empty() {
            return;
        }
        let e = self.files.remove(&file).expect("live entry");
        if self.by_ident.get(&e.ident) == Some(&file) {
            self.by_ident.remove(&e.ident);
        }
        claims::unregister(e.ident, self.mgr);
        if let Some(stamp) = e.fd_lru {
            self.fd_lru.remove(stamp);
        }
        if e.fd.is_some() {
            self.open_fds -= 1;
            self.stats.descriptors_closed += 1;
        }
    }

    /// Closes least recently used idle descriptors until the budget holds (or none is left).
    fn shed_descriptors(&mut self, cfg: &Config, keep: FileId) {
        while self.open_fds > cfg.max_files {
            let victim = self.fd_lru.iter().map(|(_, f)| f).find(|f| *f != keep);
            match victim {
                Some(f) => self.close_fd(f),
                None => {
                    self.stats.over_budget_descriptors += 1;
                    return;
                }
            }
        }
    }

    /// Makes sure a file has an open descriptor, opening it by path (within the descriptor
    /// budget, retrying once after releasing everything idle if the system has none left).
    fn ensure_fd(&mut self, cfg: &Config, file: FileId) -> Result<()> {
        let e = self.files.get_mut(&file).expect("live entry");
        if e.fd.is_some() {
            if let Some(stamp) = e.fd_lru.take() {
                self.fd_lru.remove(stamp);
                let stamp = self.fd_lru.insert(file);
                self.files.get_mut(&file).expect("live entry").fd_lru = Some(stamp);
            }
            return Ok(());
        }
        let path = e
            .path
            .clone()
            .expect("an entry without a path keeps its descriptor");
        let ident = e.ident;
        if self.open_fds >= cfg.max_files {
            // Room for one more.
            let want = cfg.max_files.saturating_sub(1);
            while self.open_fds > want {
                let Some((_, victim)) = self.fd_lru.oldest() else {
                    self.stats.over_budget_descriptors += 1;
                    break;
                };
                self.close_fd(victim);
            }
        }
        let mut opts = OpenOptions::new();
        opts.read(true).write(cfg.mode == MapMode::ReadWrite);
        let fd = match opts.open(&path) {
            Ok(fd) => fd,
            Err(err) if sys::is_resource_exhaustion(&err) => {
                self.stats.retries += 1;
                self.release_all(file);
                opts.open(&path)
                    .map_err(|err| io_err("open", Location(Some(path.to_path_buf())), None, err))?
            }
            Err(err) => {
                return Err(io_err(
                    "open",
                    Location(Some(path.to_path_buf())),
                    None,
                    err,
                ));
            }
        };
        let found = sys::file_identity(&fd)
            .map_err(|err| io_err("fstat", Location(Some(path.to_path_buf())), None, err))?;
        if found != ident {
            return Err(Error::FileReplaced {
                path: Location(Some(path.to_path_buf())),
            });
        }
        self.opened_fd();
        let stamp = self.fd_lru.insert(file);
        let e = self.files.get_mut(&file).expect("live entry");
        e.fd = Some(fd);
        e.fd_lru = Some(stamp);
        Ok(())
    }
}

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
            _kind: std::marker::PhantomData,
        }
    }

    /// The budget of mapped bytes (default 8 GiB on 64-bit, 1 GiB on 32-bit). Least recently
    /// used unused regions are unmapped to stay within it; when every region is in use the
    /// manager maps anyway and counts it in [`Stats::over_budget_maps`].
    pub fn max_memory_size(mut self, bytes: usize) -> Self {
        self.max_memory = Some(bytes);
        self
    }

    /// The budget of live regions, i.e. mappings (default: unlimited). The process's own limit
    /// (`vm.max_map_count` on Linux, 65530 by default) applies regardless.
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

    fn config(&self, placement: Placement) -> Result<Config> {
        let gran = sys::allocation_granularity();
        let window_size = match placement {
            Placement::Static => 0,
            Placement::Sliding => {
                window::round_window_size(self.window_size.unwrap_or(DEFAULT_WINDOW), gran)
            }
        };
        let max_regions = self.max_regions.unwrap_or(usize::MAX);
        let max_files = self.max_files.unwrap_or_else(default_max_files);
        if max_regions == 0 {
            return Err(Error::Config("max_open_handles must be at least 1".into()));
        }
        if max_files == 0 {
            return Err(Error::Config("max_open_files must be at least 1".into()));
        }
        Ok(Config {
            placement,
            window_size,
            max_memory: self.max_memory.unwrap_or(DEFAULT_MAX_MEMORY),
            max_regions,
            max_files,
            mode: self.mode,
        })
    }
}

impl ManagerBuilder<SlidingWindowMapManager> {
    /// The window size (default 1 GiB on 64-bit, 64 MiB on 32-bit), rounded up to a multiple of
    /// twice the allocation granularity. Windows start at multiples of half this size, so every
    /// request of at most `window_size / 2` bytes is served by one window; windows of at least
    /// 4 MiB scan within a few percent of a whole-file mapping.
    pub fn window_size(mut self, bytes: usize) -> Self {
        self.window_size = Some(bytes);
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
            return Err(Error::Config(
                "MapMode::CopyOnWrite needs the StaticWindowMapManager: sliding windows would lose \
                 private changes on eviction and hide them behind overlapping windows"
                    .into(),
            ));
        }
        let cfg = self.config(Placement::Sliding)?;
        Ok(SlidingWindowMapManager {
            shared: Arc::new(Shared::new(cfg)),
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
            shared: Arc::new(Shared::new(cfg)),
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
                let (file, path, size) = self.shared.register_path(path.as_ref())?;
                Ok(WindowCursor::new(
                    self.shared.clone(),
                    file,
                    Some(path),
                    size,
                ))
            }

            /// A cursor on an open file. The manager keeps the descriptor (it cannot reopen a
            /// file without a path) until no cursor or region of the file is left, unless the
            /// same file is also known by path.
            ///
            /// # Errors
            ///
            /// [`Error::Io`] if the file cannot be `fstat`ed or is not a regular file.
            pub fn make_cursor_from_file(&self, file: File) -> Result<WindowCursor> {
                let (id, path, size) = self.shared.register_file(file)?;
                Ok(WindowCursor::new(self.shared.clone(), id, path, size))
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

            /// Writes every change made through this manager back to the files and waits for
            /// the writes (`msync(MS_SYNC)` of written regions, `fdatasync` for files whose
            /// written regions were unmapped since). Does nothing unless files are mapped with
            /// [`MapMode::ReadWrite`].
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
#[derive(Clone)]
pub struct SlidingWindowMapManager {
    shared: Arc<Shared>,
}

/// A manager that maps every file whole, in one region, unmapped least recently used first when
/// a budget is reached.
///
/// Cheap to clone (clones share everything), `Send + Sync`.
#[derive(Clone)]
pub struct StaticWindowMapManager {
    shared: Arc<Shared>,
}

manager_methods!(SlidingWindowMapManager);
manager_methods!(StaticWindowMapManager);

impl SlidingWindowMapManager {
    /// A manager with the default window (1 GiB on 64-bit) and budgets.
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
