//! The managers: the registry of files, the mapped regions, the budgets and the statistics.
//!
//! Both managers share one implementation ([`Shared`]) behind an `Arc`; they differ only in
//! where regions are placed. All bookkeeping happens under one mutex. A cursor takes it only
//! when it needs a region that is not mapped, or one that is not a standard window of its file,
//! or while a writer is at work on the file: a request inside a cursor's current region is
//! answered by the cursor alone, and a switch to another mapped window pins it without the lock
//! (the protocol is in `region.rs`).
//!
//! Bookkeeping invariants (under the lock, but for pin counts):
//! - every live region is in `State::regions` and in its file's `regions` index, and its
//!   registry entry holds the `Arc` that keeps it alive;
//! - a region's pin cell counts the cursors and guards that hold it; pins are taken and let go
//!   of with or without the lock, but a region is unmapped only after its cell was retired at 0
//!   under the lock, after which nothing can pin it;
//! - the LRU set (`State::lru`) holds every region that may be evicted (all but those with
//!   private changes), keyed by a stamp no later than its last use;
//! - while a file has a claim for writing (or a resize is at work), its writers gate is up and
//!   every pin of its regions goes through the lock;
//! - a file entry lives while it has users (cursors) or regions; its descriptor is open only
//!   while needed (and while it has writes no flush has synced), and is in the descriptor LRU set
//!   when it could be closed.

use std::collections::{BTreeMap, HashMap};
use std::fs::{File, OpenOptions};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::SystemTime;

use crate::claims;
use crate::config::{Config, Placement};
use crate::config::{MapMode, NEEDS_RESIZE, NEEDS_WRITE, RegionInfo, RegionView, Stats};
use crate::error::{Error, Location, Result};
use crate::ids::FileId;
use crate::ids::IdMap;
use crate::lru::Lru;
use crate::region::{self, PinnedRegion, Region, RegionId, WindowTable};
use crate::small;
use crate::sys::{self, Mapping};
use crate::window;

/// Whether a scan's next window is mapped with its pages (`MAP_POPULATE`): off, it measured
/// no faster (see `small.rs`, "Read-ahead for scans").
const READ_AHEAD: bool = false;
/// Older paths of a file kept to reopen it by (see `FileEntry::alt_paths`).
const MAX_ALT_PATHS: usize = 4;

struct RegionSlot {
    region: Arc<Region>,
    file: FileId,
    /// A cursor holds this region for writing: no other pin of overlapping bytes may exist.
    exclusive: bool,
    /// Ever held for writing.
    written: bool,
    /// Written through a private (copy-on-write) mapping: unmapping it would lose the changes,
    /// so it is kept out of the LRU set until its file has no users.
    private_dirty: bool,
    /// Its key in the LRU set (`None`: not a candidate for eviction).
    lru: Option<u64>,
}

impl RegionSlot {
    /// Its holders: cursors and guards (see `Region::users`).
    fn pins(&self) -> usize {
        self.region.users()
    }
}

struct FileEntry {
    ident: (u64, u64),
    /// The standard windows, for switches without the lock; shared with the file's cursors.
    table: Arc<WindowTable>,
    /// The file's birth time where the system reports one: it tells a file from a later one
    /// that reuses its inode number.
    born: Option<SystemTime>,
    /// Regions of this file held exclusively by a writer.
    exclusive: usize,
    /// A written shared region was unmapped since the last flush: its pages are flushed
    /// through the descriptor.
    unflushed: bool,
    /// Bytes written through a region that the SIGBUS guard poisoned and that was unmapped
    /// before a flush could report them (first byte, length): the next flush does.
    lost_writes: Option<(u64, u64)>,
    path: Option<Arc<Path>>,
    /// Other paths the file was known by, newest first (at most `MAX_ALT_PATHS`): tried in turn
    /// when `path` no longer leads to the file.
    alt_paths: Vec<Arc<Path>>,
    /// Shared with flushes in progress, which sync it outside the manager's lock.
    fd: Option<Arc<File>>,
    fd_lru: Option<u64>,
    size: u64,
    users: usize,
    /// Live regions by `(begin, id)`, with their end.
    regions: BTreeMap<(u64, RegionId), u64>,
    /// Length of the longest region mapped for this file (bounds the lookup scan).
    max_len: u64,
    /// Small reads were served from this file: its descriptor stays open (within the
    /// descriptor budget) while it has users, even without regions.
    reads: bool,
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

/// The descriptor of a file written through regions that are unmapped now, kept open until a
/// flush syncs it: closing it would leave nothing to `fdatasync` if the file were renamed or
/// removed meanwhile.
struct Unsynced {
    ident: (u64, u64),
    loc: Location,
    fd: Arc<File>,
}

struct State {
    /// This manager's id among the process's managers (see `claims.rs`).
    mgr: u64,
    mode: MapMode,
    /// Descriptors of files forgotten with unflushed writes (counted in `open_fds`).
    unsynced: Vec<Unsynced>,
    /// A failure to sync a descriptor closed for the budget, for the next flush to report.
    sync_error: Option<Error>,
    /// Flushes in progress: they hold references to regions outside the lock.
    flushing: usize,
    next_id: u64,
    files: IdMap<FileEntry>,
    by_ident: HashMap<(u64, u64), FileId>,
    regions: IdMap<RegionSlot>,
    /// Regions that may be evicted, by a key no later than their last use (see `region.rs`).
    lru: std::collections::BTreeSet<(u64, RegionId)>,
    fd_lru: Lru<FileId>,
    mapped: u64,
    open_fds: usize,
    stats: Stats,
    /// Recently requested cold windows, for the small-read decision (see `small.rs`).
    history: small::History,
    /// Near the budget: the next mapping may evict (see `region::note_pressure`).
    pressed: bool,
    /// Small-read decisions since the counts of uses were last halved.
    decisions: u64,
    /// The count of uses of the window just admitted, for its new region.
    admitted_uses: Option<u32>,
}

/// What the manager hands a new cursor.
pub(crate) struct Registered {
    pub(crate) file: FileId,
    pub(crate) path: Option<Arc<Path>>,
    pub(crate) size: u64,
    pub(crate) table: Arc<WindowTable>,
}

/// What the manager hands a cursor for a request.
pub(crate) struct Obtained {
    pub(crate) region: PinnedRegion,
    pub(crate) file_size: u64,
}

/// The manager's answer to a request: a region, or the bytes to read without one.
pub(crate) enum Answer {
    Mapped(Obtained),
    Read(small::ReadPlan),
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
    Error::from(crate::error::Io {
        op,
        path,
        offset,
        source,
    })
}

impl Drop for Shared {
    fn drop(&mut self) {
        let st = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        claims::remove_manager(st.mgr);
        region::note_pressure(&mut st.pressed, false);
        for e in st.files.values() {
            claims::unregister(e.ident, st.mgr);
        }
    }
}

impl Shared {
    /// A new manager's shared state, reachable by the other managers of the process (see
    /// `claims.rs`).
    pub(crate) fn new(cfg: Config) -> Arc<Self> {
        let mgr = claims::new_manager();
        let mode = cfg.mode;
        let cfg_copy = cfg.clone();
        let shared = Arc::new(Shared {
            cfg,
            gran: sys::allocation_granularity() as u64,
            state: Mutex::new(State {
                mgr,
                mode,
                unsynced: Vec::new(),
                sync_error: None,
                flushing: 0,
                next_id: 1,
                files: IdMap::default(),
                by_ident: HashMap::new(),
                regions: IdMap::default(),
                lru: std::collections::BTreeSet::new(),
                fd_lru: Lru::new(),
                mapped: 0,
                open_fds: 0,
                stats: Stats::default(),
                history: small::History::new(small::history_capacity(&cfg_copy)),
                pressed: false,
                decisions: 0,
                admitted_uses: None,
            }),
        });
        let weak: std::sync::Weak<Shared> = Arc::downgrade(&shared);
        let peer: std::sync::Weak<dyn claims::Peer> = weak;
        claims::add_manager(mgr, peer);
        shared
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is consistent at every point where code under the lock could panic (no
        // user code runs under it), so a poisoned lock is still usable.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    // ---- registration -------------------------------------------------------------------

    /// Registers a user of the file at `path`; returns its id, its path and its size.
    pub(crate) fn register_path(&self, path: &Path) -> Result<Registered> {
        let abs: PathBuf = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let meta = std::fs::metadata(&abs)
            .map_err(|e| io_err("stat", Location(Some(abs.clone())), None, e))?;
        let ident = sys::path_identity(&abs, &meta);
        self.register(&meta, ident, Location(Some(abs.clone())), Some(abs), None)
    }

    /// Registers a user of an open file; returns its id, its path if known, and its size.
    pub(crate) fn register_file(&self, file: File) -> Result<Registered> {
        let meta = file
            .metadata()
            .map_err(|e| io_err("fstat", Location(None), None, e))?;
        let ident = sys::file_identity(&file, &meta);
        self.register(&meta, ident, Location(None), None, Some(file))
    }

    /// Registers a user of the file `meta` describes, known by `path` and/or open as `file`.
    ///
    /// A file has one entry per manager while anything refers to it: a file already
    /// registered gains the path it is known by now (the path it was registered with may have
    /// been renamed away) and the descriptor it lacked. A descriptor handed over is kept (it
    /// cannot be reopened without a path), so others make room for it; one whose access mode
    /// does not fit the manager's mode is not used: the file is reopened by path, or, without a
    /// path, the call fails.
    fn register(
        &self,
        meta: &std::fs::Metadata,
        ident: io::Result<sys::FileIdentity>,
        loc: Location,
        path: Option<PathBuf>,
        file: Option<File>,
    ) -> Result<Registered> {
        if !meta.is_file() {
            let err = io::Error::new(io::ErrorKind::InvalidInput, "not a regular file");
            return Err(io_err("map", loc, None, err));
        }
        let ident = ident.map_err(|e| io_err("fstat", loc.clone(), None, e))?;
        let born = sys::birth_time(meta);
        let fits = file
            .as_ref()
            .map(|f| sys::access_fits(f, self.cfg.mode))
            .transpose()
            .map_err(|err| io_err("fcntl", loc.clone(), None, err))?;
        let mut st = self.lock();
        // An entry whose file was born at another time is of a file that is gone (it holds no
        // descriptor and no mapping, or the inode could not have been reused): the new file
        // gets an entry of its own, and the old entry's cursors find their file replaced.
        if let Some(&old) = st.by_ident.get(&ident) {
            let e = &st.files[&old];
            let reused = matches!((e.born, born), (Some(a), Some(b)) if a != b);
            if reused && e.fd.is_none() && e.regions.is_empty() {
                st.by_ident.remove(&ident);
            }
        }
        let known_path = st
            .by_ident
            .get(&ident)
            .is_some_and(|id| st.files[id].path.is_some());
        let file = match (file, fits) {
            (Some(_), Some(false)) if path.is_none() && !known_path => {
                return Err(io_err(
                    "map",
                    loc,
                    None,
                    io::Error::new(
                        io::ErrorKind::PermissionDenied,
                        format!(
                            "the file was not opened with the access a {} manager needs (read \
                             for every mode, and write for read-write)",
                            self.cfg.mode
                        ),
                    ),
                ));
            }
            // Reopened by path when needed.
            (Some(_), Some(false)) => None,
            (file, _) => file,
        };
        let id = match st.by_ident.get(&ident) {
            Some(&id) => id,
            None => {
                let id = st.new_id();
                claims::register(ident, st.mgr);
                st.files.insert(
                    id,
                    FileEntry {
                        ident,
                        table: WindowTable::new(self.cfg.window_size as u64, meta.len()),
                        born,
                        exclusive: 0,
                        unflushed: false,
                        lost_writes: None,
                        path: None,
                        alt_paths: Vec::new(),
                        fd: None,
                        fd_lru: None,
                        size: meta.len(),
                        users: 0,
                        regions: BTreeMap::new(),
                        max_len: 0,
                        reads: false,
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
        if e.born.is_none() {
            e.born = born;
        }
        // The path just stat'ed leads to the file now; the one it was known by may not.
        if let Some(p) = path {
            let p: Arc<Path> = Arc::from(p.as_path());
            if e.path.as_deref() != Some(&*p) {
                e.alt_paths.retain(|a| **a != *p);
                if let Some(old) = e.path.replace(p) {
                    e.alt_paths.insert(0, old);
                    e.alt_paths.truncate(MAX_ALT_PATHS);
                }
            }
        }
        let adopt_fd = e.fd.is_none() && file.is_some();
        if adopt_fd {
            e.fd = file.map(Arc::new);
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
        Ok(Registered {
            file: id,
            path: e.path.clone(),
            size: e.size,
            table: e.table.clone(),
        })
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
    pub(crate) fn pin_again(&self, region: RegionId) -> Result<Arc<Region>> {
        let mut st = self.lock();
        let slot = st
            .regions
            .get_mut(&region)
            .expect("a pinned region is live");
        if slot.exclusive {
            let file = slot.file;
            let (b, e) = (slot.region.begin, slot.region.end());
            return Err(Error::from(crate::error::Busy {
                path: st.files[&file].location(),
                offset: b,
                end: e,
                by: "a cursor writing to them",
            }));
        }
        slot.region.cell().pin_live();
        Ok(slot.region.clone())
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
            client_count: s.pins() + 1,
        })
    }

    /// Finds or maps a region of `file` that covers `[offset, offset + min(size, end - offset))`
    /// (`size == 0`: at least one byte), pins it for the caller, and unpins `release` (the
    /// caller's previous region) in the same critical section. `hits` are the caller's local
    /// hits to account.
    ///
    /// `hint` says whether the request may be a small read (see `small.rs`): then, if its
    /// window is cold, the answer is [`Answer::Read`], the bytes for the caller to read itself.
    pub(crate) fn obtain(
        &self,
        file: FileId,
        offset: u64,
        size: u64,
        release: Option<RegionId>,
        hits: u64,
        hint: small::Hint,
    ) -> Result<Answer> {
        let mut st = self.lock();
        st.stats.hits += hits;
        if let Some(r) = release {
            st.unpin(r);
        }
        let known = st.files[&file].size;
        if offset < known {
            let need = size.max(1).min(known - offset);
            if let Some(id) = st.find_intact(file, offset, need) {
                let r = &st.regions[&id].region;
                st.check_not_exclusive(file, r.begin, r.end())?;
                st.pin(id);
                st.stats.hits += 1;
                let region = PinnedRegion::from_pinned(&st.regions[&id].region);
                return Ok(Answer::Mapped(Obtained {
                    region,
                    file_size: known,
                }));
            }
            if let Some(plan) = self.plan_small_read(&mut st, file, offset, size, known, hint)? {
                return Ok(Answer::Read(plan));
            }
        }
        // Read-ahead (off, see `READ_AHEAD`): the window a scan moves on to, with its pages.
        let populate = READ_AHEAD
            && matches!(
                hint,
                small::Hint::Read {
                    sequential: true,
                    ..
                }
            );
        let mapped = self.map_new(&mut st, file, offset, size, populate);
        // The count of an admitted window is for the region just mapped for it, if any.
        st.admitted_uses = None;
        mapped.map(Answer::Mapped)
    }

    /// The small-read decision for a request no live region covers (see `small.rs`): `None`
    /// to map its window.
    fn plan_small_read(
        &self,
        st: &mut State,
        file: FileId,
        offset: u64,
        size: u64,
        known: u64,
        hint: small::Hint,
    ) -> Result<Option<small::ReadPlan>> {
        let cfg = &self.cfg;
        let Some(begin_k) = small::window_of(cfg, offset, size, known, hint) else {
            return Ok(None);
        };
        if !small::enabled(cfg, known) {
            return Ok(None);
        }
        st.age_if_due();
        let key = (file, begin_k);
        if !st.history.cold(key, hint) && st.admits(cfg, key) {
            return Ok(None);
        }
        let (begin, len) = small::block(offset, size, known, hint);
        let e = &st.files[&file];
        if claims::claimed_elsewhere(e.ident, st.mgr) {
            return Ok(None);
        }
        st.check_not_exclusive(file, begin, begin + len as u64)?;
        st.ensure_fd(cfg, file)?;
        let e = st.files.get_mut(&file).expect("live entry");
        e.reads = true;
        let fd = e.fd.clone().expect("ensured");
        st.stats.small_reads += 1;
        st.stats.small_read_bytes += len as u64;
        Ok(Some(small::ReadPlan {
            fd,
            begin,
            len,
            file_size: known,
        }))
    }

    /// Maps a new region for the request, after re-reading the file's size. Whatever fails, a
    /// descriptor opened for it does not outlive the failure unless a region needs it.
    fn map_new(
        &self,
        st: &mut State,
        file: FileId,
        offset: u64,
        size: u64,
        populate: bool,
    ) -> Result<Obtained> {
        let e = &st.files[&file];
        if claims::claimed_elsewhere(e.ident, st.mgr) {
            return Err(Error::from(crate::error::Busy {
                path: e.location(),
                offset,
                end: offset.saturating_add(size.max(1)),
                by: "another manager of this process writing to the same file",
            }));
        }
        let got = self.map_new_inner(st, file, offset, size, populate);
        if got.is_err() {
            st.close_fd_if_unneeded(file);
        }
        got
    }

    fn map_new_inner(
        &self,
        st: &mut State,
        file: FileId,
        offset: u64,
        size: u64,
        populate: bool,
    ) -> Result<Obtained> {
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
        st.note_size(file, file_size)?;
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
            return Err(Error::from(crate::error::OutOfBounds {
                path: loc,
                offset,
                len: size,
                file_size,
            }));
        }
        let need = size.max(1).min(file_size - offset);
        // The file may have grown: a live region may cover the request now.
        if let Some(id) = st.find_intact(file, offset, need) {
            let r = &st.regions[&id].region;
            st.check_not_exclusive(file, r.begin, r.end())?;
            st.pin(id);
            st.stats.hits += 1;
            let region = PinnedRegion::from_pinned(&st.regions[&id].region);
            return Ok(Obtained { region, file_size });
        }
        let (begin, len) = match cfg.placement {
            Placement::Sliding => {
                window::sliding_region(offset, need, cfg.window_size as u64, file_size, self.gran)
            }
            Placement::Static => (0, file_size),
        };
        st.check_not_exclusive(file, begin, begin + len)?;
        let (begin, map) =
            self.map_region(st, file, (begin, len), (offset, need), file_size, populate)?;
        let len = map.len() as u64;
        st.make_room(cfg, len, file);
        let id = st.new_id();
        let table = st.files[&file].table.clone();
        let region = Region::new(begin, id, map, &table, file_size);
        let pinned = PinnedRegion::from_pinned(&region);
        st.insert_region(file, region);
        st.stats.misses += 1;
        // Git's trick: a file mapped whole needs no descriptor.
        if begin == 0 && len == file_size {
            st.close_fd_if_unneeded(file);
        }
        Ok(Obtained {
            region: pinned,
            file_size,
        })
    }

    /// Maps `region` (`(begin, len)`) of `file` for the request `(offset, need)`; returns
    /// where the region mapped begins, and its mapping. Mapped first, room made after: a
    /// mapping that fails evicts nothing.
    ///
    /// For lack of descriptors or memory, every unused region and idle descriptor is released
    /// and the mapping tried again. If the address space still has no room for it, a sliding
    /// manager maps less: half the region, a quarter, and so on, down to the least region
    /// that covers the request (see `window::smaller_regions`). Such a region has no slot in
    /// the window table (it is found under the lock, like any region that is not a standard
    /// window), and one that would overlap bytes a writer holds is passed over.
    fn map_region(
        &self,
        st: &mut State,
        file: FileId,
        (begin, len): (u64, u64),
        (offset, need): (u64, u64),
        file_size: u64,
        populate: bool,
    ) -> Result<(u64, Mapping)> {
        let (mode, guard) = (self.cfg.mode, self.cfg.sigbus_guard);
        let map = |st: &State, begin: u64, len: u64| match usize::try_from(len) {
            Ok(len) => {
                let fd = st.files[&file].fd.as_ref().expect("ensured");
                Mapping::map(fd, begin, len, mode, guard, populate)
            }
            Err(_) => Err(io::Error::new(
                io::ErrorKind::OutOfMemory,
                format!("a region of {len} bytes does not fit the address space"),
            )),
        };
        let err = match map(st, begin, len) {
            Ok(m) => return Ok((begin, m)),
            Err(err) if sys::is_resource_exhaustion(&err) => {
                st.stats.retries += 1;
                st.release_all(file);
                match map(st, begin, len) {
                    Ok(m) => return Ok((begin, m)),
                    Err(err) => err,
                }
            }
            Err(err) => err,
        };
        let no_room = |e: &io::Error| {
            sys::is_resource_exhaustion(e) || e.kind() == io::ErrorKind::OutOfMemory
        };
        if no_room(&err) && self.cfg.placement == Placement::Sliding {
            for (b, l) in window::smaller_regions(offset, need, len, file_size, self.gran) {
                if st.check_not_exclusive(file, b, b + l).is_err() {
                    continue;
                }
                match map(st, b, l) {
                    Ok(m) => return Ok((b, m)),
                    Err(e) if no_room(&e) => {}
                    Err(e) => return Err(io_err("mmap", st.files[&file].location(), Some(b), e)),
                }
            }
        }
        Err(io_err("mmap", st.files[&file].location(), Some(begin), err))
    }

    /// Re-reads the size of a file (through its descriptor, opening it if needed).
    pub(crate) fn refresh_size(&self, file: FileId) -> Result<u64> {
        let mut st = self.lock();
        let size = st.ensure_fd(&self.cfg, file).and_then(|()| {
            let e = &st.files[&file];
            let meta =
                e.fd.as_ref()
                    .expect("ensured")
                    .metadata()
                    .map_err(|err| io_err("fstat", e.location(), None, err))?;
            st.note_size(file, meta.len())?;
            Ok(meta.len())
        });
        st.close_fd_if_unneeded(file);
        size
    }

    // ---- writing ------------------------------------------------------------------------

    /// Makes the caller's pin of `region` exclusive, for writing: refused while anyone else
    /// pins this region or another region of the file that overlaps it.
    ///
    /// Through a shared mapping ([`MapMode::ReadWrite`]) the claim is also refused while
    /// another manager of the process knows the file, and the file keeps its descriptor until
    /// a flush has synced what is written. Through a private mapping the other (cached)
    /// regions that overlap the claimed one are unmapped: they show the file's bytes, and the
    /// region with the private changes must be what serves them from now on.
    pub(crate) fn claim_exclusive(&self, file: FileId, region: RegionId) -> Result<()> {
        let mut st = self.lock();
        let slot = &st.regions[&region];
        if slot.exclusive {
            return Ok(());
        }
        let (begin, end) = (slot.region.begin, slot.region.end());
        let e = &st.files[&file];
        let mode = self.cfg.mode;
        if mode == MapMode::ReadOnly {
            return Err(Error::from(crate::error::ReadOnly {
                path: e.location(),
                offset: begin,
                op: "write",
                needs: NEEDS_WRITE,
                mode,
            }));
        }
        // Raised before looking: a cursor pinning bytes without the lock meanwhile either is
        // seen here or sees the gate (see `region.rs`).
        let settled = e.table.raise_gate();
        let others = !settled
            || slot.pins() > 1
            || e.overlapping(begin, end)
                .any(|id| id != region && st.regions[&id].pins() > 0);
        if others {
            e.table.lower_gate();
            return Err(Error::from(crate::error::Busy {
                path: e.location(),
                offset: begin,
                end,
                by: "other cursors or guards reading them",
            }));
        }
        let table = e.table.clone();
        let granted = match mode {
            MapMode::ReadOnly => unreachable!("refused above"),
            MapMode::ReadWrite => {
                // What is written must be synced by a later flush, through a descriptor.
                st.ensure_fd(&self.cfg, file).and_then(|()| {
                    let e = &st.files[&file];
                    // Another manager's mappings of this file would alias the mutable view.
                    if claims::try_claim(e.ident, st.mgr) {
                        Ok(())
                    } else {
                        Err(Error::from(crate::error::Busy {
                            path: e.location(),
                            offset: begin,
                            end,
                            by: "another manager of this process that maps the same file",
                        }))
                    }
                })
            }
            MapMode::CopyOnWrite => {
                let stale: Vec<RegionId> = e
                    .overlapping(begin, end)
                    .filter(|&id| id != region)
                    .collect();
                let mut all = true;
                for id in stale {
                    all &= st.evict(id, Some(file), false);
                }
                if all {
                    Ok(())
                } else {
                    Err(Error::from(crate::error::Busy {
                        path: st.files[&file].location(),
                        offset: begin,
                        end,
                        by: "other cursors or guards reading them",
                    }))
                }
            }
        };
        if let Err(e) = granted {
            table.lower_gate();
            return Err(e);
        }
        let slot = st.regions.get_mut(&region).expect("pinned");
        slot.exclusive = true;
        if mode == MapMode::ReadWrite {
            slot.written = true;
        } else {
            slot.private_dirty = true;
            // Private changes are never evicted while their file has users.
            if let Some(key) = slot.lru.take() {
                st.lru.remove(&(key, region));
            }
        }
        st.files.get_mut(&file).expect("live entry").exclusive += 1;
        Ok(())
    }

    /// Writes the changes made to `[offset, offset + len)` of `file` (every file if `None`)
    /// back to disk and waits for them: `msync(MS_SYNC)` of the written live regions, and
    /// `fdatasync` for files whose written regions were unmapped since the last flush
    /// (including files the manager has forgotten since).
    ///
    /// The work is collected under the lock and done outside it, so that a slow disk does not
    /// hold up other cursors; the regions and descriptors being synced are referenced by the
    /// flush meanwhile (an eviction during the flush unmaps its region when the flush is done).
    pub(crate) fn flush(&self, file: Option<FileId>, offset: u64, len: u64) -> Result<()> {
        if self.cfg.mode != MapMode::ReadWrite {
            return Ok(());
        }
        let end = offset.saturating_add(len);
        let mut regions: Vec<(Arc<Region>, Location, usize, usize)> = Vec::new();
        let mut fds: Vec<(Arc<File>, Location)> = Vec::new();
        let mut first_err;
        {
            let mut st = self.lock();
            first_err = st.sync_error.take();
            let files: Vec<FileId> = match file {
                Some(f) => vec![f],
                None => st.files.keys().copied().collect(),
            };
            let idents: Vec<(u64, u64)> = files.iter().map(|f| st.files[f].ident).collect();
            for f in files {
                let st = &mut *st;
                let e = &st.files[&f];
                let loc = e.location();
                for id in e.overlapping(offset, end).collect::<Vec<_>>() {
                    let slot = st.regions.get_mut(&id).expect("live region");
                    if !slot.written {
                        continue;
                    }
                    // Synced below; written again only under a new claim.
                    if !slot.exclusive && offset == 0 && end == u64::MAX {
                        slot.written = false;
                    }
                    let r = &slot.region;
                    let from = offset.max(r.begin) - r.begin;
                    let to = end.min(r.end()) - r.begin;
                    regions.push((r.clone(), loc.clone(), from as usize, (to - from) as usize));
                }
                if let Some((offset, len)) = st.files.get_mut(&f).and_then(|e| e.lost_writes.take())
                {
                    first_err.get_or_insert(Error::from(crate::error::FileChanged {
                        path: loc.clone(),
                        offset,
                        len,
                    }));
                }
                if st.files[&f].unflushed {
                    // A dirty file keeps its descriptor; should it have lost it, it is reopened.
                    match st.ensure_fd(&self.cfg, f) {
                        Ok(()) => {
                            let e = st.files.get_mut(&f).expect("live entry");
                            e.unflushed = false;
                            fds.push((e.fd.clone().expect("ensured"), loc.clone()));
                        }
                        Err(err) => {
                            first_err.get_or_insert(err);
                        }
                    }
                }
                // Clean again: its descriptor may be closed when idle.
                let clean = !st.is_dirty(f);
                let e = &st.files[&f];
                if clean && e.fd.is_some() && e.path.is_some() && e.fd_lru.is_none() {
                    let stamp = st.fd_lru.insert(f);
                    st.files.get_mut(&f).expect("live entry").fd_lru = Some(stamp);
                }
            }
            // Descriptors kept for this flush are closed when it is done (counted closed now).
            let synced: Vec<Unsynced> = st
                .unsynced
                .extract_if(.., |u| file.is_none() || idents.contains(&u.ident))
                .collect();
            st.open_fds -= synced.len();
            st.stats.descriptors_closed += synced.len() as u64;
            fds.extend(synced.into_iter().map(|u| (u.fd, u.loc)));
            st.flushing += 1;
        }
        for (r, loc, from, len) in &regions {
            if let Err(err) = r.map.flush_range(*from, *len) {
                first_err.get_or_insert(io_err(
                    "msync",
                    loc.clone(),
                    Some(r.begin + *from as u64),
                    err,
                ));
            }
            // Writes to pages the SIGBUS guard replaced never reach the file.
            if r.map.poisoned() {
                let lost = r.map.lost_from().unwrap_or(0).max(*from);
                first_err.get_or_insert(Error::from(crate::error::FileChanged {
                    path: loc.clone(),
                    offset: r.begin + lost as u64,
                    len: (r.len() - lost) as u64,
                }));
            }
        }
        for (fd, loc) in &fds {
            if let Err(err) = fd.sync_data() {
                first_err.get_or_insert(io_err("fdatasync", loc.clone(), None, err));
            }
        }
        {
            let mut st = self.lock();
            // The references go under the lock, so that an eviction meanwhile sees them.
            drop(regions);
            drop(fds);
            st.flushing -= 1;
            // Files synced above may now close their descriptors and be forgotten.
            let files: Vec<FileId> = match file {
                Some(f) if st.files.contains_key(&f) => vec![f],
                Some(_) => Vec::new(),
                None => st.files.keys().copied().collect(),
            };
            for f in files {
                st.close_fd_if_unneeded(f);
            }
        }
        first_err.map_or(Ok(()), Err)
    }

    /// Grows or truncates a file to `new_len` bytes.
    ///
    /// Coordinated with the other managers of the process: while the resize lasts it holds an
    /// exclusive claim on the file (they refuse to map it), it is refused while one of them
    /// pins bytes past the new end, and their cached regions past it are unmapped before the
    /// file is truncated.
    pub(crate) fn resize(&self, file: FileId, new_len: u64) -> Result<()> {
        let (ident, loc, mgr, old_size) = {
            let st = self.lock();
            let e = &st.files[&file];
            (e.ident, e.location(), st.mgr, e.size)
        };
        if self.cfg.mode != MapMode::ReadWrite {
            return Err(Error::from(crate::error::ReadOnly {
                path: loc,
                offset: new_len,
                op: "resize",
                needs: NEEDS_RESIZE,
                mode: self.cfg.mode,
            }));
        }
        let Some((_claim, others)) = claims::begin_resize(ident, mgr) else {
            return Err(Error::from(crate::error::Busy {
                path: loc,
                offset: new_len,
                end: u64::MAX,
                by: "another manager of this process writing to the same file",
            }));
        };
        // Where a mapped file cannot shrink at all (Windows), every region of the file is in the
        // way, not only those past the new end.
        let unmap_all = !sys::MAPPED_FILES_CAN_SHRINK && new_len < old_size;
        let from = if unmap_all { 0 } else { new_len };
        for other in &others {
            other.give_up_past(ident, from, new_len, &loc)?;
        }
        drop(others);
        let mut st = self.lock();
        // Live regions past the new end would raise SIGBUS when touched; so would private
        // changes, which cannot be moved. They are unmapped before the file is cut, with the
        // gate up so that no cursor pins one meanwhile.
        let table = st.files[&file].table.clone();
        // Unsettled hazards leave their regions pinned: `evict` refuses them.
        let _ = table.raise_gate();
        let cut = st.give_up_past_locked(
            file,
            from,
            &loc,
            if unmap_all {
                "live regions of the file, which cannot shrink while mapped on this system"
            } else {
                "cursors or guards using bytes past the new end"
            },
        );
        let done = cut
            .and_then(|()| st.ensure_fd(&self.cfg, file))
            .and_then(|()| {
                let e = &st.files[&file];
                e.fd.as_ref()
                    .expect("ensured")
                    .set_len(new_len)
                    .map_err(|err| {
                        if sys::is_mapped_file_error(&err) {
                            Error::from(crate::error::Busy {
                                path: e.location(),
                                offset: 0,
                                end: e.size,
                                by: "mappings of the file by another manager or process",
                            })
                        } else {
                            io_err("ftruncate", e.location(), Some(new_len), err)
                        }
                    })
            });
        if done.is_ok() {
            // The new length reaches the disk with the next flush.
            st.files.get_mut(&file).expect("live entry").unflushed = true;
        }
        let noted = done.and_then(|()| st.note_size(file, new_len));
        table.lower_gate();
        // A region that covered the whole file does not any more, and the reverse.
        st.close_fd_if_unneeded(file);
        noted
    }
}

impl claims::Peer for Shared {
    /// Another manager of the process is about to truncate the file `ident` to `new_len`
    /// bytes: unmaps this manager's cached regions past it, or refuses while one is pinned.
    fn give_up_past(
        &self,
        ident: (u64, u64),
        from: u64,
        new_len: u64,
        loc: &Location,
    ) -> Result<()> {
        let mut st = self.lock();
        let ids: Vec<FileId> = st
            .files
            .iter()
            .filter(|(_, e)| e.ident == ident)
            .map(|(id, _)| *id)
            .collect();
        for f in ids {
            let table = st.files[&f].table.clone();
            // Unsettled hazards leave their regions pinned: `evict` refuses them.
            let _ = table.raise_gate();
            let done = st.give_up_past_locked(
                f,
                from,
                loc,
                if from < new_len {
                    "another manager's cursors or guards (a mapped file cannot shrink on this system)"
                } else {
                    "another manager's cursors or guards using bytes past the new end"
                },
            );
            table.lower_gate();
            done?;
            let e = st.files.get_mut(&f).expect("live entry");
            e.size = e.size.min(new_len);
            st.close_fd_if_unneeded(f);
            st.maybe_drop_file(f);
        }
        Ok(())
    }
}

impl Shared {
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

    pub(crate) fn region_views(&self) -> Vec<RegionView> {
        let st = self.lock();
        let mut v: Vec<RegionView> = st
            .regions
            .values()
            .map(|s| {
                let e = &st.files[&s.file];
                RegionView {
                    dev: e.ident.0,
                    ino: e.ident.1,
                    begin: s.region.begin,
                    len: s.region.len(),
                    addr: s.region.map.bytes().as_ptr() as usize,
                    pins: s.pins(),
                    exclusive: s.exclusive,
                    private: self.cfg.mode == MapMode::CopyOnWrite,
                }
            })
            .collect();
        v.sort_by_key(|r| (r.dev, r.ino, r.begin, r.addr));
        v
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
        self.regions[&id].region.cell().pin_live();
    }

    fn unpin(&mut self, id: RegionId) {
        let slot = self.regions.get_mut(&id).expect("a pinned region is live");
        let file = slot.file;
        if slot.exclusive {
            slot.exclusive = false;
            let e = self.files.get_mut(&file).expect("live entry");
            e.exclusive -= 1;
            e.table.lower_gate();
            // Only shared mappings take process-wide claims (see `claims.rs`).
            if self.mode == MapMode::ReadWrite {
                claims::release_claim(e.ident, self.mgr);
            }
        }
        let slot = &self.regions[&id];
        slot.region.cell().unpin();
        if slot.private_dirty && slot.pins() == 0 && self.files[&file].users == 0 {
            // The last holder of private changes of a file nobody uses any more.
            self.regions
                .get_mut(&id)
                .expect("live region")
                .private_dirty = false;
            self.evict(id, None, false);
        }
    }

    /// Refuses a request that overlaps a region held exclusively by a writer.
    fn check_not_exclusive(&self, file: FileId, offset: u64, end: u64) -> Result<()> {
        let e = &self.files[&file];
        if claims::claimed_elsewhere(e.ident, self.mgr) {
            return Err(Error::from(crate::error::Busy {
                path: e.location(),
                offset,
                end,
                by: "another manager of this process writing to the same file",
            }));
        }
        if e.exclusive == 0 {
            return Ok(());
        }
        if e.overlapping(offset, end)
            .any(|id| self.regions[&id].exclusive)
        {
            return Err(Error::from(crate::error::Busy {
                path: e.location(),
                offset,
                end,
                by: "a cursor writing to them",
            }));
        }
        Ok(())
    }

    /// Unmaps the regions of `file` past `new_len`, or refuses (`Error::Busy`, naming `by`) if
    /// one of them is pinned or holds private changes. The caller has raised the file's gate.
    fn give_up_past_locked(
        &mut self,
        file: FileId,
        new_len: u64,
        loc: &Location,
        by: &'static str,
    ) -> Result<()> {
        let past: Vec<RegionId> = self.files[&file].overlapping(new_len, u64::MAX).collect();
        let busy = |st: &State, id: &RegionId| {
            let slot = &st.regions[id];
            slot.pins() > 0 || slot.private_dirty
        };
        if let Some(end) = past
            .iter()
            .filter(|id| busy(self, id))
            .map(|id| self.regions[id].region.end())
            .max()
        {
            return Err(Error::from(crate::error::Busy {
                path: loc.clone(),
                offset: new_len,
                end,
                by,
            }));
        }
        for id in past {
            if !self.evict(id, Some(file), false) {
                // Pinned by a cursor that has not yet seen the gate: it backs off, but not
                // before this check.
                return Err(Error::from(crate::error::Busy {
                    path: loc.clone(),
                    offset: new_len,
                    end: u64::MAX,
                    by,
                }));
            }
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
            // Private changes are kept as long as their file has users, like a pinned region.
            let slot = &self.regions[&id];
            let end = slot.region.end();
            // A region the SIGBUS guard poisoned is no obstacle: its holders are told of the
            // loss at their next call, and nothing else is served from it.
            let poisoned = slot.region.map.poisoned();
            if slot.private_dirty || !self.evict(id, Some(file), false) {
                // It stays mapped: the cursors that keep it switch to it through the table
                // from now on, which checks the request against the size (see `region.rs`,
                // "Kept windows").
                self.regions[&id].region.take_back_kept();
                if !poisoned {
                    pinned_end = pinned_end.max(end);
                }
            }
        }
        if pinned_end > size {
            return Err(Error::from(crate::error::FileShrank {
                path: self.files[&file].location(),
                file_size: size,
                mapped_end: pinned_end,
            }));
        }
        Ok(())
    }

    /// The live region of `file` that covers `[offset, offset + need)`, as `find_covering`,
    /// but never one that the SIGBUS guard poisoned: those are unmapped when nothing pins them,
    /// and passed over (a new region is mapped beside them) while something does.
    fn find_intact(&mut self, file: FileId, offset: u64, need: u64) -> Option<RegionId> {
        loop {
            let id = self.files[&file].find_covering(offset, need)?;
            if !self.regions[&id].region.map.poisoned() {
                return Some(id);
            }
            if !self.evict(id, Some(file), false) {
                return None;
            }
        }
    }

    fn insert_region(&mut self, file: FileId, region: Arc<Region>) {
        let len = region.len() as u64;
        // An admitted window starts with the uses its history counted, so that the next
        // candidate has to beat them.
        if let Some(uses) = self.admitted_uses.take() {
            region.cell().set_uses(Some(uses));
        }
        let key = region.cell().last_use();
        self.lru.insert((key, region.id));
        let e = self.files.get_mut(&file).expect("live entry");
        e.regions.insert((region.begin, region.id), region.end());
        e.max_len = e.max_len.max(len);
        self.regions.insert(
            region.id,
            RegionSlot {
                region,
                file,
                exclusive: false,
                written: false,
                private_dirty: false,
                lru: Some(key),
            },
        );
        self.mapped += len;
        self.stats.maps += 1;
        self.stats.peak_mapped_bytes = self.stats.peak_mapped_bytes.max(self.mapped);
        self.stats.peak_regions = self.stats.peak_regions.max(self.regions.len() as u64);
    }

    /// Unmaps a region if nothing pins it (see `region.rs`: once retired, nothing can pin it
    /// again); returns whether it did. `keep` is a file whose descriptor must stay open.
    fn evict(&mut self, id: RegionId, keep: Option<FileId>, budget: bool) -> bool {
        if !self.regions[&id].region.try_retire() {
            return false;
        }
        let slot = self.regions.remove(&id).expect("live region");
        if let Some(key) = slot.lru {
            self.lru.remove(&(key, id));
        }
        let e = self.files.get_mut(&slot.file).expect("live entry");
        e.regions.remove(&(slot.region.begin, id));
        if slot.written {
            e.unflushed = true;
            if slot.region.map.poisoned() {
                let r = &slot.region;
                let from = r.map.lost_from().unwrap_or(0) as u64;
                e.lost_writes
                    .get_or_insert((r.begin + from, r.len() as u64 - from));
            }
        }
        if e.regions.is_empty() {
            e.max_len = 0;
        }
        self.mapped -= slot.region.len() as u64;
        self.stats.unmaps += 1;
        if budget {
            self.stats.evictions += 1;
        }
        // Cursors and guards only reach a region they pin; a flush in progress may still hold
        // a reference (then the mapping goes when the flush lets go of it).
        debug_assert!(
            Arc::strong_count(&slot.region) == 1 || self.flushing > 0,
            "a retired region has no other holder"
        );
        let file = slot.file;
        drop(slot);
        // The file being worked on keeps its descriptor and its entry; the caller tidies up.
        if keep != Some(file) {
            self.close_fd_if_unneeded(file);
            self.maybe_drop_file(file);
        }
        true
    }

    /// Gives a region in the LRU set a new key.
    fn rekey(&mut self, id: RegionId, key: u64) {
        let slot = self.regions.get_mut(&id).expect("live region");
        if let Some(old) = slot.lru.replace(key) {
            self.lru.remove(&(old, id));
        }
        self.lru.insert((key, id));
    }

    /// The least recently used region that nothing pins, unmapped (see `region.rs` for why the
    /// lazily re-keyed set yields it); `false` if there is none.
    fn evict_lru(&mut self, keep: Option<FileId>, budget: bool) -> bool {
        // Every region is looked at at most twice: once to re-key it, once more to evict it.
        for _ in 0..self.lru.len() * 2 + 1 {
            let Some(&(key, id)) = self.lru.first() else {
                return false;
            };
            let slot = &self.regions[&id];
            let last = slot.region.cell().last_use();
            if slot.pins() > 0 {
                self.rekey(id, region::now());
            } else if last > key {
                self.rekey(id, last);
            } else if self.evict(id, keep, budget) {
                return true;
            } else {
                self.rekey(id, region::now());
            }
        }
        false
    }

    /// Whether window `key`, hot by its history, is to be mapped (see `small.rs`,
    /// "Admission"): when mapping it needs no eviction, or when it was used more often than the
    /// region the eviction would unmap.
    fn admits(&mut self, cfg: &Config, key: (FileId, u64)) -> bool {
        let window = cfg.window_size as u64;
        let full = self.mapped.saturating_add(window) > cfg.max_memory as u64
            || self.regions.len() >= cfg.max_regions;
        if !full {
            return true;
        }
        let victim = self
            .lru
            .iter()
            .take(small::VICTIMS_LOOKED_AT)
            .map(|(_, id)| &self.regions[id])
            .find(|slot| slot.pins() == 0 && !slot.private_dirty);
        let Some(victim) = victim else {
            return true;
        };
        let uses = self.history.uses(key).unwrap_or(0);
        let admit = uses > victim.region.cell().uses();
        if admit {
            self.admitted_uses = Some(uses);
        } else {
            self.stats.admissions_refused += 1;
        }
        admit
    }

    /// Counts a small-read decision, and halves every count of uses (the history's and the
    /// mapped regions') once `small::AGE_EVERY` decisions per entry of the history were taken.
    fn age_if_due(&mut self) {
        self.decisions += 1;
        if self.decisions >= small::AGE_EVERY * self.history.capacity() as u64 {
            self.decisions = 0;
            self.history.age();
            for slot in self.regions.values() {
                slot.region.cell().set_uses(None);
            }
        }
    }

    /// Unmaps least recently used unpinned regions until a new region of `len` bytes fits the
    /// byte and region budgets; counts the mapping as over budget if it still does not.
    fn make_room(&mut self, cfg: &Config, len: u64, keep: FileId) {
        // Near the budget once this mapping and one more window would not fit: from then on
        // the recency of every switch is stamped exactly.
        let near = self
            .mapped
            .saturating_add(len)
            .saturating_add(cfg.window_size as u64)
            > cfg.max_memory as u64
            || self.regions.len() + 2 > cfg.max_regions;
        region::note_pressure(&mut self.pressed, near);
        loop {
            let over_mem = self.mapped.saturating_add(len) > cfg.max_memory as u64;
            let over_regions = self.regions.len() >= cfg.max_regions;
            if !over_mem && !over_regions {
                return;
            }
            if !self.evict_lru(Some(keep), true) {
                self.stats.over_budget_maps += 1;
                return;
            }
        }
    }

    /// Unmaps every unpinned region; returns how many.
    fn release_unpinned(&mut self, keep: Option<FileId>) -> usize {
        let ids: Vec<RegionId> = self.lru.iter().map(|&(_, id)| id).collect();
        ids.into_iter()
            .filter(|&id| self.regions.contains_key(&id) && self.evict(id, keep, keep.is_some()))
            .count()
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
        while self.sync_oldest_unsynced() {}
    }

    /// Closes a file's descriptor if it can be reopened and holds no unflushed writes. A
    /// descriptor that cannot be closed leaves the descriptor LRU set (a flush puts it back).
    fn close_fd(&mut self, file: FileId) {
        let dirty = self.is_dirty(file);
        let e = self.files.get_mut(&file).expect("live entry");
        if e.fd.is_none() {
            return;
        }
        if e.path.is_none() || dirty {
            if let Some(stamp) = e.fd_lru.take() {
                self.fd_lru.remove(stamp);
            }
            return;
        }
        e.fd = None;
        if let Some(stamp) = e.fd_lru.take() {
            self.fd_lru.remove(stamp);
        }
        self.open_fds -= 1;
        self.stats.descriptors_closed += 1;
    }

    /// Whether a file holds writes that no flush has synced yet: a live region written
    /// through, or one unmapped since. Such a file keeps its descriptor.
    fn is_dirty(&self, file: FileId) -> bool {
        let e = &self.files[&file];
        e.unflushed || e.regions.keys().any(|(_, id)| self.regions[id].written)
    }

    /// Syncs and closes the oldest descriptor kept only for a flush, when the descriptor
    /// budget or the system needs it back; a failure is reported by the next flush.
    fn sync_oldest_unsynced(&mut self) -> bool {
        if self.unsynced.is_empty() {
            return false;
        }
        let u = self.unsynced.remove(0);
        if let Err(err) = u.fd.sync_data() {
            self.sync_error
                .get_or_insert(io_err("fdatasync", u.loc, None, err));
        }
        self.open_fds -= 1;
        self.stats.descriptors_closed += 1;
        true
    }

    /// Closes a descriptor that no region needs: the file has no region, or one region covers
    /// it whole.
    fn close_fd_if_unneeded(&mut self, file: FileId) {
        let e = &self.files[&file];
        if (e.regions.is_empty() && !(e.reads && e.users > 0)) || e.mapped_whole() {
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
                .filter(|id| self.regions[id].private_dirty && self.regions[id].pins() == 0)
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
        if e.reads {
            self.history.forget_file(file);
        }
        if self.by_ident.get(&e.ident) == Some(&file) {
            self.by_ident.remove(&e.ident);
        }
        claims::unregister(e.ident, self.mgr);
        if let Some(stamp) = e.fd_lru {
            self.fd_lru.remove(stamp);
        }
        if let Some(fd) = e.fd {
            if e.unflushed {
                // Writes through regions unmapped since the last flush: the next flush syncs
                // them through this descriptor.
                let loc = Location(e.path.as_deref().map(Path::to_path_buf));
                self.unsynced.push(Unsynced {
                    ident: e.ident,
                    loc,
                    fd,
                });
            } else {
                self.open_fds -= 1;
                self.stats.descriptors_closed += 1;
            }
        }
    }

    /// Closes least recently used idle descriptors until the budget holds (or none is left).
    fn shed_descriptors(&mut self, cfg: &Config, keep: FileId) {
        while self.open_fds > cfg.max_files {
            let victim = self.fd_lru.iter().map(|(_, f)| f).find(|f| *f != keep);
            match victim {
                Some(f) => self.close_fd(f),
                None if self.sync_oldest_unsynced() => {}
                None => {
                    self.stats.over_budget_descriptors += 1;
                    return;
                }
            }
        }
    }

    /// Makes sure a file has an open descriptor, opening it by path (within the descriptor
    /// budget, retrying once after releasing everything idle if the system has none left).
    ///
    /// The paths the file was known by are tried newest first; the first that leads to the
    /// file (same device, inode and birth time) becomes its path.
    fn ensure_fd(&mut self, cfg: &Config, file: FileId) -> Result<()> {
        let e = self.files.get_mut(&file).expect("live entry");
        if e.fd.is_some() {
            if let Some(stamp) = e.fd_lru
                && !self.fd_lru.is_newest(stamp)
            {
                e.fd_lru = None;
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
        let candidates: Vec<Arc<Path>> = std::iter::once(path)
            .chain(e.alt_paths.iter().cloned())
            .collect();
        let (ident, born) = (e.ident, e.born);
        if self.open_fds >= cfg.max_files {
            // Room for one more.
            let want = cfg.max_files.saturating_sub(1);
            while self.open_fds > want {
                if let Some((_, victim)) = self.fd_lru.oldest() {
                    self.close_fd(victim);
                } else if !self.sync_oldest_unsynced() {
                    self.stats.over_budget_descriptors += 1;
                    break;
                }
            }
        }
        let mut opts = OpenOptions::new();
        opts.read(true).write(cfg.mode == MapMode::ReadWrite);
        let mut first_err = None;
        for (i, path) in candidates.iter().enumerate() {
            let loc = || Location(Some(path.to_path_buf()));
            let fd = match opts.open(path) {
                Ok(fd) => fd,
                Err(err) if sys::is_resource_exhaustion(&err) => {
                    self.stats.retries += 1;
                    self.release_all(file);
                    match opts.open(path) {
                        Ok(fd) => fd,
                        Err(err) => return Err(io_err("open", loc(), None, err)),
                    }
                }
                Err(err) => {
                    first_err.get_or_insert_with(|| io_err("open", loc(), None, err));
                    continue;
                }
            };
            let meta = fd
                .metadata()
                .map_err(|err| io_err("fstat", loc(), None, err))?;
            let same_birth = match (born, sys::birth_time(&meta)) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            };
            let found =
                sys::file_identity(&fd, &meta).map_err(|err| io_err("fstat", loc(), None, err))?;
            if found != ident || !same_birth {
                first_err.get_or_insert(Error::from(crate::error::FileReplaced { path: loc() }));
                continue;
            }
            self.opened_fd();
            let stamp = self.fd_lru.insert(file);
            let e = self.files.get_mut(&file).expect("live entry");
            e.fd = Some(Arc::new(fd));
            e.fd_lru = Some(stamp);
            if i > 0 {
                let found = e.alt_paths.remove(i - 1);
                let old = e.path.replace(found).expect("checked above");
                e.alt_paths.insert(0, old);
            }
            return Ok(());
        }
        Err(first_err.expect("at least one path was tried"))
    }
}
