//! `smmap._smmap`: the extension module behind the Python package `smmap`, which offers the API
//! of Python smmap 5.0 (`smmap.mman`, `smmap.buf`, `smmap.util`) on the smmap crate.
//!
//! The Python modules of the package (`python/smmap/*.py`) re-export these classes under the
//! module names Python smmap uses and add the pure-Python utilities (`MapWindow`,
//! `MapRegionList`, `align_to_mmap`, ...).
//!
//! Semantics follow Python smmap 5.0.3; where they differ, on purpose, the package's README
//! says how and why. The manager is shared across threads; the GIL is released around what
//! can block (opening and `stat`ing files, mapping, unmapping).

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, TryLockError};
use std::thread::ThreadId;

use pyo3::exceptions::{
    PyAssertionError, PyAttributeError, PyIndexError, PyOSError, PyTypeError, PyValueError,
};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyInt, PySlice, PyString};

mod small;
mod state;
mod view;

use small::Small;

const MIB: u64 = 1024 * 1024;
const IS_64_BIT: bool = cfg!(target_pointer_width = "64");
/// `sys.maxsize`.
const MAXSIZE: i64 = isize::MAX as i64;

/// Python smmap's exceptions for the crate's errors.
fn to_py(e: smmap::Error) -> PyErr {
    let msg = e.to_string();
    match &e {
        smmap::Error::Io(io) => match io.source.raw_os_error() {
            // OSError(errno, message) becomes FileNotFoundError, PermissionError, ...
            Some(errno) => PyOSError::new_err((errno, msg)),
            None => PyOSError::new_err(msg),
        },
        smmap::Error::OutOfBounds { .. }
        | smmap::Error::Config(_)
        | smmap::Error::InvalidArgument(_) => PyValueError::new_err(msg),
        smmap::Error::ReadOnly { .. } => PyTypeError::new_err(msg),
        _ => PyOSError::new_err(msg),
    }
}

fn unsigned(what: &str, v: i64) -> PyResult<u64> {
    u64::try_from(v).map_err(|_| PyValueError::new_err(format!("{what} must not be negative: {v}")))
}

fn to_usize(v: u64) -> usize {
    usize::try_from(v).unwrap_or(usize::MAX)
}

/// One of the crate's two managers.
#[derive(Clone)]
enum Mgr {
    Static(smmap::StaticWindowMapManager),
    Sliding(smmap::SlidingWindowMapManager),
}

macro_rules! on_mgr {
    ($m:expr, $x:ident => $e:expr) => {
        match $m {
            Mgr::Static($x) => $e,
            Mgr::Sliding($x) => $e,
        }
    };
}

impl Mgr {
    fn stats(&self) -> smmap::Stats {
        on_mgr!(self, m => m.stats())
    }
}

/// The identity of a file: device and inode.
#[cfg(unix)]
fn identity(meta: &std::fs::Metadata) -> (u64, u64) {
    use std::os::unix::fs::MetadataExt;
    (meta.dev(), meta.ino())
}

/// The identity of a file (unknown off Unix: small reads are then not used).
#[cfg(not(unix))]
fn identity(_meta: &std::fs::Metadata) -> (u64, u64) {
    (0, 0)
}

/// A path from `str`, `bytes` or `os.PathLike`.
fn to_path(obj: &Bound<'_, PyAny>) -> PyResult<PathBuf> {
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(PathBuf::from(s.to_cow()?.into_owned()));
    }
    let p = obj.py().import("os")?.call_method1("fspath", (obj,))?;
    #[cfg(unix)]
    if let Ok(b) = p.cast::<PyBytes>() {
        use std::os::unix::ffi::OsStrExt;
        return Ok(PathBuf::from(std::ffi::OsStr::from_bytes(b.as_bytes())));
    }
    p.extract()
}

/// Where a cursor's small reads read from.
enum Source {
    Path(PathBuf),
    File(Arc<std::fs::File>),
    None,
}

/// Opens what Python code names a file by: a descriptor (`int`, duplicated; the caller keeps
/// its own) or a path (`str`, `bytes`, `os.PathLike`). With `reader`, also what small reads
/// read from.
fn open_cursor(
    py: Python<'_>,
    mgr: &Mgr,
    path_or_fd: &Bound<'_, PyAny>,
    reader: bool,
) -> PyResult<(smmap::WindowCursor, Source, (u64, u64))> {
    if path_or_fd.is_instance_of::<PyInt>() {
        let fd: i32 = path_or_fd.extract()?;
        let file = view::dup_fd(fd).map_err(PyErr::from)?;
        let ident = identity(&file.metadata()?);
        let src = match reader.then(|| file.try_clone()) {
            Some(Ok(f)) => Source::File(Arc::new(f)),
            _ => Source::None,
        };
        let cur = py
            .detach(|| on_mgr!(mgr, m => m.make_cursor_from_file(file)))
            .map_err(to_py)?;
        Ok((cur, src, ident))
    } else {
        let path = to_path(path_or_fd)?;
        let cur = py
            .detach(|| on_mgr!(mgr, m => m.make_cursor(&path)))
            .map_err(to_py)?;
        let ident = std::fs::metadata(&path)
            .map(|m| identity(&m))
            .unwrap_or((0, 0));
        let src = if reader {
            Source::Path(path)
        } else {
            Source::None
        };
        Ok((cur, src, ident))
    }
}

/// `StaticWindowMapManager(window_size=0, max_memory_size=0, max_open_handles=sys.maxsize)`:
/// maps every file whole, one region per file.
///
/// `window_size` < 0 means 1 GiB (64 MiB on 32-bit), 0 any size; it bounds what one
/// `use_region` exposes. `max_memory_size` 0 means 8 GiB (1 GiB on 32-bit).
#[pyclass(module = "smmap.mman", name = "StaticWindowMapManager", subclass)]
struct StaticManager {
    mgr: Mgr,
    /// The small-read policy (sliding managers only, unless switched off).
    small: Option<Arc<Small>>,
    /// The window size as Python smmap reports it (after default handling).
    window: u64,
    max_memory: u64,
    max_handles: u64,
}

impl StaticManager {
    fn build(
        sliding: bool,
        window_size: i64,
        max_memory_size: i64,
        max_open_handles: i64,
        small_reads: Option<bool>,
    ) -> PyResult<Self> {
        let window = if window_size < 0 {
            if IS_64_BIT { 1024 * MIB } else { 64 * MIB }
        } else {
            window_size as u64
        };
        let max_memory = match max_memory_size {
            0 => {
                if IS_64_BIT {
                    8192 * MIB
                } else {
                    1024 * MIB
                }
            }
            m => unsigned("max_memory_size", m)?,
        };
        let max_handles = unsigned("max_open_handles", max_open_handles)?;
        // A sliding manager without a window size maps whole files: that is the static layout.
        let mgr = if sliding && window > 0 {
            Mgr::Sliding(
                smmap::SlidingWindowMapManager::builder()
                    .window_size(to_usize(window))
                    .max_memory_size(to_usize(max_memory))
                    .max_open_handles(to_usize(max_handles))
                    // The package's own small-read layer decides (`small.rs`); what it maps
                    // must be mapped.
                    .small_reads(Some(false))
                    .build()
                    .map_err(to_py)?,
            )
        } else {
            Mgr::Static(
                smmap::StaticWindowMapManager::builder()
                    .max_memory_size(to_usize(max_memory))
                    .max_open_handles(to_usize(max_handles))
                    .build()
                    .map_err(to_py)?,
            )
        };
        let small = match (&mgr, small_reads) {
            (Mgr::Sliding(_), None | Some(true)) => Some(Arc::new(Small::new(window, max_memory))),
            _ => None,
        };
        Ok(StaticManager {
            mgr,
            small,
            window,
            max_memory,
            max_handles,
        })
    }

    fn mapped(&self) -> usize {
        on_mgr!(&self.mgr, m => m.mapped_memory_size())
    }

    fn cursor_for(&self, py: Python<'_>, path_or_fd: &Bound<'_, PyAny>) -> PyResult<Cursor> {
        let (cur, src, ident) = open_cursor(py, &self.mgr, path_or_fd, self.small.is_some())?;
        let half = match self.mgr {
            Mgr::Sliding(_) => self.window / 2,
            Mgr::Static(_) => 0,
        };
        Ok(Cursor::associated(State::new(
            cur,
            path_or_fd.clone().unbind(),
            self.mgr.clone(),
            self.small.clone(),
            src,
            ident,
            self.window,
            half,
        )))
    }
}

#[pymethods]
impl StaticManager {
    #[new]
    #[pyo3(signature = (window_size = 0, max_memory_size = 0, max_open_handles = MAXSIZE))]
    fn new(window_size: i64, max_memory_size: i64, max_open_handles: i64) -> PyResult<Self> {
        Self::build(false, window_size, max_memory_size, max_open_handles, None)
    }

    /// A cursor on the file named by a path (`str`, `bytes`, `os.PathLike`) or an open
    /// descriptor (`int`; it is duplicated, so the caller may close its own at any time).
    /// Nothing is mapped yet.
    fn make_cursor(&self, py: Python<'_>, path_or_fd: &Bound<'_, PyAny>) -> PyResult<Cursor> {
        self.cursor_for(py, path_or_fd)
    }

    /// Unmaps every region no cursor (or live view) uses; returns how many.
    fn collect(&self, py: Python<'_>) -> usize {
        if let Some(s) = &self.small {
            s.close_fds();
        }
        let mgr = &self.mgr;
        py.detach(|| on_mgr!(mgr, m => m.collect()))
    }

    /// Frees unused regions until `size` more bytes fit the memory budget (`size == 0`: all of
    /// them); returns how many were unmapped. Every unused region is unmapped once any must be.
    fn _collect_lru_region(&self, py: Python<'_>, size: i64) -> PyResult<usize> {
        let size = unsigned("size", size)?;
        if size == 0 || (self.mapped() as u64).saturating_add(size) > self.max_memory {
            Ok(self.collect(py))
        } else {
            Ok(0)
        }
    }

    /// Regions mapped now (each one handle).
    fn num_file_handles(&self) -> usize {
        on_mgr!(&self.mgr, m => m.num_file_handles())
    }

    /// Files with at least one mapped region.
    fn num_open_files(&self) -> usize {
        on_mgr!(&self.mgr, m => m.num_open_files())
    }

    fn window_size(&self) -> u64 {
        self.window
    }

    fn mapped_memory_size(&self) -> usize {
        self.mapped()
    }

    fn max_file_handles(&self) -> u64 {
        self.max_handles
    }

    fn max_mapped_memory_size(&self) -> u64 {
        self.max_memory
    }

    /// Python smmap closes the maps of files under `base_path` on Windows so that they can be
    /// deleted, and does nothing elsewhere (returns None). Here, on Windows, every unused
    /// region is unmapped and their number returned.
    fn force_map_handle_removal_win(
        &self,
        py: Python<'_>,
        base_path: &Bound<'_, PyAny>,
    ) -> Option<usize> {
        let _ = base_path;
        if cfg!(windows) {
            Some(self.collect(py))
        } else {
            None
        }
    }

    /// The manager's counters (hits, misses, maps, evictions, peaks, descriptors, ...).
    fn stats<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let s = self.mgr.stats();
        let d = PyDict::new(py);
        for (k, v) in [
            ("hits", s.hits),
            ("misses", s.misses),
            ("maps", s.maps),
            ("unmaps", s.unmaps),
            ("evictions", s.evictions),
            ("mapped_bytes", s.mapped_bytes),
            ("peak_mapped_bytes", s.peak_mapped_bytes),
            ("regions", s.regions),
            ("peak_regions", s.peak_regions),
            ("open_descriptors", s.open_descriptors),
            ("peak_open_descriptors", s.peak_open_descriptors),
            ("over_budget_maps", s.over_budget_maps),
            ("retries", s.retries),
        ] {
            d.set_item(k, v)?;
        }
        if let Some(sm) = &self.small {
            use std::sync::atomic::Ordering::Relaxed;
            d.set_item("small_reads", sm.reads.load(Relaxed))?;
            d.set_item("small_read_bytes", sm.bytes.load(Relaxed))?;
        }
        Ok(d)
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<String> {
        let me = slf.borrow();
        Ok(format!(
            "<{}(window_size={}, max_memory_size={}, max_open_handles={}): {} regions, {} bytes mapped>",
            slf.get_type().name()?,
            me.window,
            me.max_memory,
            me.max_handles,
            me.num_file_handles(),
            me.mapped()
        ))
    }
}

/// `SlidingWindowMapManager(window_size=-1, max_memory_size=0, max_open_handles=sys.maxsize)`:
/// maps windows of `window_size` bytes (1 GiB on 64-bit by default), at multiples of half a
/// window, unmapping the least recently used unused ones when a budget is reached.
#[pyclass(module = "smmap.mman", name = "SlidingWindowMapManager", extends = StaticManager, subclass)]
struct SlidingManager;

#[pymethods]
impl SlidingManager {
    #[new]
    #[pyo3(signature = (window_size = -1, max_memory_size = 0, max_open_handles = MAXSIZE, *, small_reads = None))]
    fn new(
        window_size: i64,
        max_memory_size: i64,
        max_open_handles: i64,
        small_reads: Option<bool>,
    ) -> PyResult<PyClassInitializer<Self>> {
        let base = StaticManager::build(
            true,
            window_size,
            max_memory_size,
            max_open_handles,
            small_reads,
        )?;
        Ok(PyClassInitializer::from(base).add_subclass(SlidingManager))
    }
}

use state::State;

fn unassociated() -> PyErr {
    PyAttributeError::new_err(
        "the cursor is not associated with a file: make it with manager.make_cursor()",
    )
}

/// A handle on one file and the region of it it currently uses, made by `make_cursor`.
/// `WindowCursor(manager=None, regions=None)` is a cursor associated with no file.
///
/// A cursor may be used from several threads (gitdb shares one per pack file between them):
/// each thread that uses it gets its own position, starting from the position the cursor last
/// had in any thread, so that `c.use_region(o).buffer()` in one thread never returns bytes
/// another thread asked for.
#[pyclass(module = "smmap.mman", name = "WindowCursor", subclass, frozen)]
struct Cursor {
    inner: Mutex<Option<Threads>>,
}

/// The positions of one cursor, per thread that uses it, the most recently used first.
struct Threads {
    states: Vec<(ThreadId, State)>,
}

/// At most this many threads keep a position of their own in one cursor; the least recently
/// used beyond it is dropped (and lets go of its region).
const MAX_THREADS: usize = 16;

impl Threads {
    fn new(st: State) -> Threads {
        Threads {
            states: vec![(std::thread::current().id(), st)],
        }
    }

    /// The calling thread's position.
    fn get(&mut self, py: Python<'_>) -> &mut State {
        let me = std::thread::current().id();
        if self.states[0].0 != me {
            match self.states.iter().position(|(t, _)| *t == me) {
                Some(i) => {
                    let s = self.states.remove(i);
                    self.states.insert(0, s);
                }
                None => {
                    let s = self.states[0].1.copy(py);
                    self.states.insert(0, (me, s));
                    self.states.truncate(MAX_THREADS);
                }
            }
        }
        &mut self.states[0].1
    }
}

/// Locks `m` without holding the GIL while waiting (its holder may be waiting for the GIL).
fn lock<'a, T: Send>(py: Python<'_>, m: &'a Mutex<T>) -> MutexGuard<'a, T> {
    loop {
        match m.try_lock() {
            Ok(g) => return g,
            Err(TryLockError::Poisoned(e)) => return e.into_inner(),
            Err(TryLockError::WouldBlock) => py.detach(|| drop(m.lock())),
        }
    }
}

impl Cursor {
    fn associated(st: State) -> Cursor {
        Cursor {
            inner: Mutex::new(Some(Threads::new(st))),
        }
    }

    /// Runs `f` on the calling thread's position.
    fn with<R>(&self, py: Python<'_>, f: impl FnOnce(&mut State) -> PyResult<R>) -> PyResult<R> {
        let mut g = lock(py, &self.inner);
        match g.as_mut() {
            Some(t) => f(t.get(py)),
            None => Err(unassociated()),
        }
    }

    /// Like `with`, with a default for a cursor associated with no file.
    fn with_or<R>(&self, py: Python<'_>, default: R, f: impl FnOnce(&mut State) -> R) -> R {
        let mut g = lock(py, &self.inner);
        match g.as_mut() {
            Some(t) => f(t.get(py)),
            None => default,
        }
    }

    fn copy_state(&self, py: Python<'_>) -> Option<State> {
        let mut g = lock(py, &self.inner);
        g.as_mut().map(|t| t.get(py).copy(py))
    }
}

#[pymethods]
impl Cursor {
    #[new]
    #[pyo3(signature = (manager = None, regions = None))]
    fn new(
        py: Python<'_>,
        manager: Option<&Bound<'_, StaticManager>>,
        regions: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        match (manager, regions) {
            (Some(m), Some(r)) => {
                let key = r.call_method0("path_or_fd")?;
                m.borrow().cursor_for(py, &key)
            }
            _ => Ok(Cursor {
                inner: Mutex::new(None),
            }),
        }
    }

    /// Makes the cursor expose `[offset, offset + size)` (`size` 0: as much as the window
    /// allows) and returns the cursor; it is invalid afterwards if `offset` is at or past the
    /// end of the file. `flags` is accepted for compatibility and ignored.
    #[pyo3(signature = (offset = 0, size = 0, flags = 0))]
    fn use_region(slf: &Bound<'_, Self>, offset: i64, size: i64, flags: i64) -> PyResult<Py<Self>> {
        let _ = flags;
        let offset = unsigned("offset", offset)?;
        let size = unsigned("size", size)?;
        let py = slf.py();
        slf.get()
            .with(py, |st| st.use_region(py, offset, size, true))?;
        Ok(slf.clone().unbind())
    }

    /// Releases the region (it stays mapped, cached); calling it again does nothing.
    fn unuse_region(&self, py: Python<'_>) {
        self.with_or(py, (), |st| st.unuse());
    }

    /// A memoryview of exactly the cursor's bytes, without copying; it keeps its region mapped
    /// while it (or a slice of it) lives.
    fn buffer<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.with(py, |st| {
            st.check_valid()?;
            let (ofs, size) = (st.ofs_begin(), st.size());
            st.view(py, ofs, size)
        })
    }

    /// The whole current region, like the `mmap` object Python smmap returns: buffer protocol,
    /// `len()`, indexing and slicing (to `bytes`). Byte 0 is the region's first byte.
    fn map<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.with(py, |st| {
            st.check_valid()?;
            st.map(py)
        })
    }

    fn is_valid(&self, py: Python<'_>) -> bool {
        self.with_or(py, false, |s| s.is_valid())
    }

    fn is_associated(&self, py: Python<'_>) -> bool {
        lock(py, &self.inner).is_some()
    }

    fn ofs_begin(&self, py: Python<'_>) -> PyResult<u64> {
        self.with(py, |s| Ok(s.ofs_begin()))
    }

    fn ofs_end(&self, py: Python<'_>) -> PyResult<u64> {
        self.with(py, |s| Ok(s.ofs_end()))
    }

    fn size(&self, py: Python<'_>) -> usize {
        self.with_or(py, 0, |s| s.size())
    }

    /// Whether `ofs` is among the bytes the cursor exposes.
    fn includes_ofs(&self, py: Python<'_>, ofs: i64) -> bool {
        u64::try_from(ofs).is_ok_and(|o| self.with_or(py, false, |s| s.includes_ofs(o)))
    }

    fn file_size(&self, py: Python<'_>) -> PyResult<u64> {
        self.with(py, |s| Ok(s.file_size()))
    }

    fn path_or_fd(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.with(py, |s| Ok(s.key.clone_ref(py)))
    }

    fn path(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let key = self.path_or_fd(py)?;
        if key.bind(py).is_instance_of::<PyInt>() {
            return Err(PyValueError::new_err(
                "Path queried although mapping was applied to a file descriptor",
            ));
        }
        Ok(key)
    }

    fn fd(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let key = self.path_or_fd(py)?;
        if !key.bind(py).is_instance_of::<PyInt>() {
            return Err(PyValueError::new_err(
                "File descriptor queried although mapping was generated from path",
            ));
        }
        Ok(key)
    }

    /// The region the cursor uses (a `MapRegion`), or None.
    fn region(&self, py: Python<'_>) -> PyResult<Option<Py<MapRegion>>> {
        self.with_or(py, Ok(None), |st| {
            if !st.is_mapped() {
                return Ok(None);
            }
            if let Some(r) = &st.region {
                return Ok(Some(r.clone_ref(py)));
            }
            let Some((begin, size)) = st.ext else {
                return Ok(None);
            };
            let base = (st.cur.buffer().as_ptr() as usize)
                .wrapping_sub((st.cur.ofs_begin() - begin) as usize);
            let mut probe = st.cur.clone();
            probe.unuse_region();
            let r = Py::new(
                py,
                MapRegion {
                    begin,
                    size,
                    kind: Mutex::new(Kind::Managed {
                        probe,
                        mgr: st.mgr.clone(),
                        base,
                        gone: false,
                    }),
                },
            )?;
            st.region = Some(r.clone_ref(py));
            Ok(Some(r))
        })
    }

    /// Releases the region; the cursor stays associated. Safe to call repeatedly.
    fn _destroy(&self, py: Python<'_>) {
        self.unuse_region(py);
    }

    /// Makes this cursor a copy of `rhs` (same file, same region).
    fn assign(&self, py: Python<'_>, rhs: &Bound<'_, Cursor>) {
        let copy = rhs.get().copy_state(py);
        self._destroy(py);
        *lock(py, &self.inner) = copy.map(Threads::new);
    }

    fn __copy__(&self, py: Python<'_>) -> Cursor {
        Cursor {
            inner: Mutex::new(self.copy_state(py).map(Threads::new)),
        }
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _t: &Bound<'_, PyAny>,
        _v: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) {
        self._destroy(py);
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        self.with_or(py, "<WindowCursor (not associated)>".into(), |s| {
            if s.is_valid() {
                format!(
                    "<WindowCursor [{}, {}) of {} bytes>",
                    s.ofs_begin(),
                    s.ofs_end(),
                    s.file_size()
                )
            } else {
                format!("<WindowCursor (invalid) of {} bytes>", s.file_size())
            }
        })
    }
}

enum Kind {
    /// A region of a manager, seen from outside: `probe` is a cursor on its file that holds no
    /// region, used to ask the manager about it.
    Managed {
        probe: smmap::WindowCursor,
        mgr: Mgr,
        /// Address of the region's first byte (its identity among live mappings).
        base: usize,
        /// Known to be unmapped.
        gone: bool,
    },
    /// A region mapped on its own by `MapRegion(path_or_fd, ofs, size)`; `holder` holds it
    /// until the client count drops to 0.
    Standalone {
        holder: Option<smmap::WindowCursor>,
        uc: i64,
    },
}

/// A mapped region of a file: `MapRegion(path_or_fd, ofs, size, flags=0)` maps one on its own;
/// `WindowCursor.region()` returns those of a manager.
#[pyclass(module = "smmap.util", name = "MapRegion", frozen)]
struct MapRegion {
    begin: u64,
    size: u64,
    kind: Mutex<Kind>,
}

#[pymethods]
impl MapRegion {
    #[new]
    #[pyo3(signature = (path_or_fd, ofs, size, flags = 0))]
    fn new(
        py: Python<'_>,
        path_or_fd: &Bound<'_, PyAny>,
        ofs: i64,
        size: i64,
        flags: i64,
    ) -> PyResult<Self> {
        let _ = flags;
        let ofs = unsigned("ofs", ofs)?;
        let size = unsigned("size", size)?;
        let probe_mgr = Mgr::Static(smmap::StaticWindowMapManager::new());
        let fsize = open_cursor(py, &probe_mgr, path_or_fd, false)?
            .0
            .file_size();
        if ofs >= fsize {
            return Err(PyValueError::new_err(format!(
                "mmap offset {ofs} is greater than or equal to the file size {fsize}"
            )));
        }
        let len = size.min(fsize - ofs);
        // A window twice as long as the request holds it whole; very long requests map the
        // whole file instead.
        let mgr = match len.checked_mul(2).filter(|w| *w <= usize::MAX as u64 / 2) {
            Some(w) => Mgr::Sliding(
                smmap::SlidingWindowMapManager::builder()
                    .window_size(to_usize(w.max(1)))
                    .build()
                    .map_err(to_py)?,
            ),
            None => probe_mgr,
        };
        let mut cur = open_cursor(py, &mgr, path_or_fd, false)?.0;
        let n = py
            .detach(|| cur.use_region(ofs, to_usize(len)).map(|b| b.len()))
            .map_err(to_py)?;
        Ok(MapRegion {
            begin: ofs,
            size: n as u64,
            kind: Mutex::new(Kind::Standalone {
                holder: Some(cur),
                uc: 1,
            }),
        })
    }

    /// Absolute file offset of the region's first byte.
    #[getter]
    fn _b(&self) -> u64 {
        self.begin
    }

    fn ofs_begin(&self) -> u64 {
        self.begin
    }

    fn size(&self) -> u64 {
        self.size
    }

    fn ofs_end(&self) -> u64 {
        self.begin + self.size
    }

    fn includes_ofs(&self, ofs: i64) -> bool {
        u64::try_from(ofs).is_ok_and(|o| self.begin <= o && o < self.begin + self.size)
    }

    /// 1 for the manager plus 1 per cursor or live view using the region; 0 once it is
    /// unmapped.
    fn client_count(&self, py: Python<'_>) -> i64 {
        let (begin, size) = (self.begin, self.size);
        match &mut *lock(py, &self.kind) {
            Kind::Standalone { uc, .. } => *uc,
            Kind::Managed { gone: true, .. } => 0,
            Kind::Managed {
                probe,
                mgr,
                base,
                gone,
            } => {
                let maps = mgr.stats().maps;
                let hit = py.detach(|| probe.use_region(begin, 1).is_ok());
                let info = probe.region();
                let same_map = hit
                    && mgr.stats().maps == maps
                    && info.is_some_and(|i| i.ofs_begin == begin && i.size as u64 == size)
                    && probe.buffer().as_ptr() as usize == *base;
                let count = info.map_or(0, |i| i.client_count as i64 - 1);
                probe.unuse_region();
                if same_map {
                    count
                } else {
                    // The region was unmapped (asking mapped it again) or another region now
                    // serves its first byte.
                    *gone = mgr.stats().maps != maps;
                    if *gone { 0 } else { 1 }
                }
            }
        }
    }

    /// Python smmap's manual client counting; only regions made by `MapRegion(...)` count (a
    /// manager's regions are counted by the manager). Returns True when the region was
    /// released.
    #[pyo3(signature = (ofs = 1))]
    fn increment_client_count(&self, py: Python<'_>, ofs: i64) -> PyResult<bool> {
        match &mut *lock(py, &self.kind) {
            Kind::Standalone { holder, uc } => {
                *uc += ofs;
                if *uc < 0 {
                    return Err(PyAssertionError::new_err(format!(
                        "Increments must match decrements, usage counter negative: {uc}"
                    )));
                }
                if *uc == 0 {
                    *holder = None;
                    return Ok(true);
                }
                Ok(false)
            }
            Kind::Managed { .. } => Ok(false),
        }
    }

    /// Unmaps a region made by `MapRegion(...)`; a manager's regions are released by the
    /// manager.
    fn release(&self, py: Python<'_>) {
        if let Kind::Standalone { holder, .. } = &mut *lock(py, &self.kind) {
            *holder = None;
        }
    }

    /// The region's bytes (see `WindowCursor.map()`).
    fn buffer<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.map(py)
    }

    /// The region's bytes, like an `mmap` object (buffer protocol, len, indexing, slicing).
    fn map<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let range = Some((self.begin, to_usize(self.size)));
        match &*lock(py, &self.kind) {
            Kind::Standalone {
                holder: Some(c), ..
            } => view::pin(py, c, range),
            Kind::Standalone { holder: None, .. } => {
                Err(PyValueError::new_err("mmap closed or invalid"))
            }
            Kind::Managed { probe, .. } => view::pin(py, probe, range),
        }
    }

    fn __eq__(&self, py: Python<'_>, other: &Bound<'_, PyAny>) -> bool {
        let Ok(o) = other.cast::<MapRegion>() else {
            return false;
        };
        let o = o.get();
        if std::ptr::eq(self, o) {
            return true;
        }
        let id = |r: &MapRegion| match &*lock(py, &r.kind) {
            Kind::Managed { base, .. } => Some(*base),
            Kind::Standalone { .. } => None,
        };
        match (id(self), id(o)) {
            (Some(a), Some(b)) => a == b && self.begin == o.begin && self.size == o.size,
            _ => false,
        }
    }

    fn __hash__(&self) -> u64 {
        self.begin ^ self.size.rotate_left(32)
    }

    fn __repr__(&self) -> String {
        format!("MapRegion<{}, {}>", self.begin, self.size)
    }
}

/// A byte-string-like view of a file through a cursor that moves as needed:
/// `SlidingWindowMapBuffer(cursor=None, offset=0, size=sys.maxsize, flags=0)`.
///
/// As in Python smmap 5.0, indices and slices are absolute file offsets (see the README).
#[pyclass(
    module = "smmap.buf",
    name = "SlidingWindowMapBuffer",
    subclass,
    frozen
)]
struct Buffer {
    inner: Mutex<BufInner>,
}

struct BufInner {
    c: Option<Py<Cursor>>,
    size: Option<u64>,
}

impl BufInner {
    fn len(&self) -> PyResult<u64> {
        self.size.ok_or_else(|| {
            PyAttributeError::new_err("the buffer has no size yet: call begin_access() first")
        })
    }

    fn cursor(&self) -> PyResult<&Cursor> {
        match &self.c {
            Some(c) => Ok(c.get()),
            None => Err(PyAttributeError::new_err(
                "the buffer has no cursor: call begin_access() with one",
            )),
        }
    }

    fn begin_access(
        &mut self,
        py: Python<'_>,
        cursor: Option<Py<Cursor>>,
        offset: i64,
        size: i64,
    ) -> PyResult<bool> {
        if let Some(c) = cursor {
            self.c = Some(c);
        }
        let Some(c) = &self.c else {
            return Ok(false);
        };
        let c = c.get();
        let offset = unsigned("offset", offset)?;
        let size = unsigned("size", size)?;
        let res = c.with_or(py, Ok::<_, PyErr>(None), |st| {
            st.use_region(py, offset, size, true)?;
            Ok(Some((st.is_valid(), st.file_size())))
        })?;
        match res {
            Some((true, fs)) => {
                self.size = Some(if size > fs { fs - offset } else { size });
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    fn slice<'py>(&self, py: Python<'py>, i: i64, j: i64) -> PyResult<Bound<'py, PyAny>> {
        let c = self.cursor()?;
        let size = self.len()? as i64;
        c.with(py, |st| {
            if !st.is_valid() {
                return Err(PyAssertionError::new_err(
                    "the buffer's cursor holds no region",
                ));
            }
            let i = if i < 0 { i + size } else { i };
            let j = if j == MAXSIZE { size } else { j };
            let j = if j < 0 { j + size } else { j };
            if i < 0 {
                return Err(PyIndexError::new_err(format!(
                    "slice start {i} before the start of the file"
                )));
            }
            let (i, j) = (i as u64, (j.max(i)) as u64);
            let (b, e) = (st.ofs_begin(), st.ofs_end());
            if b <= i && j < e {
                return st.view(py, i, to_usize(j - i));
            }
            if i == j {
                return view::memoryview(&PyBytes::new(py, b"").into_any());
            }
            st.use_region(py, i, j - i, false)?;
            if !st.is_valid() || (st.size() as u64) < j - i {
                return Err(PyAssertionError::new_err(format!(
                    "slice [{i}:{j}] runs past the end of the file ({} bytes)",
                    st.file_size()
                )));
            }
            st.view(py, i, to_usize(j - i))
        })
    }
}

#[pymethods]
impl Buffer {
    #[new]
    #[pyo3(signature = (cursor = None, offset = 0, size = MAXSIZE, flags = 0))]
    fn new(
        py: Python<'_>,
        cursor: Option<Py<Cursor>>,
        offset: i64,
        size: i64,
        flags: i64,
    ) -> PyResult<Self> {
        let _ = flags;
        let mut b = BufInner {
            c: None,
            size: None,
        };
        if let Some(c) = cursor
            && !b.begin_access(py, Some(c), offset, size)?
        {
            return Err(PyValueError::new_err(
                "Failed to allocate the buffer - probably the given offset is out of bounds",
            ));
        }
        Ok(Buffer {
            inner: Mutex::new(b),
        })
    }

    /// Points the buffer at `[offset, offset + size)` of the cursor's file (`size` is cut to
    /// the file); returns True if the buffer can be used.
    #[pyo3(signature = (cursor = None, offset = 0, size = MAXSIZE, flags = 0))]
    fn begin_access(
        &self,
        py: Python<'_>,
        cursor: Option<Py<Cursor>>,
        offset: i64,
        size: i64,
        flags: i64,
    ) -> PyResult<bool> {
        let _ = flags;
        lock(py, &self.inner).begin_access(py, cursor, offset, size)
    }

    /// Releases the cursor's region; the buffer's length becomes 0.
    fn end_access(&self, py: Python<'_>) {
        let mut g = lock(py, &self.inner);
        g.size = Some(0);
        if let Ok(c) = g.cursor() {
            c.unuse_region(py);
        }
    }

    fn cursor(&self, py: Python<'_>) -> Option<Py<Cursor>> {
        lock(py, &self.inner).c.as_ref().map(|c| c.clone_ref(py))
    }

    fn __len__(&self, py: Python<'_>) -> PyResult<usize> {
        Ok(to_usize(lock(py, &self.inner).len()?))
    }

    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let g = lock(py, &self.inner);
        if let Ok(s) = key.cast::<PySlice>() {
            // Python smmap: `buf[i.start or 0 : i.stop or len]`, the step ignored.
            let start: Option<i64> = s.getattr("start")?.extract()?;
            let stop: Option<i64> = s.getattr("stop")?.extract()?;
            let i = start.unwrap_or(0);
            let j = match stop {
                None | Some(0) => g.len()? as i64,
                Some(j) => j,
            };
            return g.slice(py, i, j);
        }
        let i: i64 = key.extract()?;
        let c = g.cursor()?;
        let size = g.size;
        let b = c.with(py, |st| {
            if !st.is_valid() {
                return Err(PyAssertionError::new_err(
                    "the buffer's cursor holds no region",
                ));
            }
            let i = if i < 0 {
                i + size.ok_or_else(|| PyAttributeError::new_err("the buffer has no size"))? as i64
            } else {
                i
            };
            let Ok(i) = u64::try_from(i) else {
                return Err(PyIndexError::new_err("index before the start of the file"));
            };
            if !st.includes_ofs(i) {
                st.use_region(py, i, 1, true)?;
            }
            st.check_valid()?;
            Ok(st.byte_at(py, i))
        })?;
        Ok(b.into_pyobject(py)?.into_any())
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &self,
        py: Python<'_>,
        _t: &Bound<'_, PyAny>,
        _v: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) {
        self.end_access(py);
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // Python smmap's `__del__`: end_access().
        let inner = self.inner.get_mut().unwrap_or_else(PoisonError::into_inner);
        if let Some(c) = inner.c.take() {
            Python::attach(|py| c.bind(py).get().unuse_region(py));
        }
    }
}

/// The extension module.
#[pymodule]
fn _smmap(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<StaticManager>()?;
    m.add_class::<SlidingManager>()?;
    m.add_class::<Cursor>()?;
    m.add_class::<MapRegion>()?;
    m.add_class::<Buffer>()?;
    m.add("MappedBytes", view::init(m.py())?)?;
    m.add("ALLOCATIONGRANULARITY", smmap::allocation_granularity())?;
    Ok(())
}
