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
use std::sync::Arc;

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
        smmap::Error::Io { source, .. } => match source.raw_os_error() {
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
        Ok(Cursor {
            st: Some(State::new(
                cur,
                path_or_fd.clone().unbind(),
                self.mgr.clone(),
                self.small.clone(),
                src,
                ident,
                self.window,
                half,
            )),
        })
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
#[pyclass(module = "smmap.mman", name = "WindowCursor", subclass)]
struct Cursor {
    st: Option<State>,
}

impl Cursor {
    fn state(&self) -> PyResult<&State> {
        self.st.as_ref().ok_or_else(unassociated)
    }
    fn state_mut(&mut self) -> PyResult<&mut State> {
        self.st.as_mut().ok_or_else(unassociated)
    }
    fn copy_state(&self, py: Python<'_>) -> Option<State> {
        self.st.as_ref().map(|s| s.copy(py))
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
            _ => Ok(Cursor { st: None }),
        }
    }

    /// Makes the cursor expose `[offset, offset + size)` (`size` 0: as much as the window
    /// allows) and returns the cursor; it is invalid afterwards if `offset` is at or past the
    /// end of the file. `flags` is accepted for compatibility and ignored.
    #[pyo3(signature = (offset = 0, size = 0, flags = 0))]
    fn use_region(
        mut slf: PyRefMut<'_, Self>,
        offset: i64,
        size: i64,
        flags: i64,
    ) -> PyResult<PyRefMut<'_, Self>> {
        let _ = flags;
        let offset = unsigned("offset", offset)?;
        let size = unsigned("size", size)?;
        let py = slf.py();
        slf.state_mut()?.use_region(py, offset, size, true)?;
        Ok(slf)
    }

    /// Releases the region (it stays mapped, cached); calling it again does nothing.
    fn unuse_region(&mut self) {
        if let Some(st) = self.st.as_mut() {
            st.unuse();
        }
    }

    /// A memoryview of exactly the cursor's bytes, without copying; it keeps its region mapped
    /// while it (or a slice of it) lives.
    fn buffer<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let st = self.state_mut()?;
        st.check_valid()?;
        let (ofs, size) = (st.ofs_begin(), st.size());
        st.view(py, ofs, size)
    }

    /// The whole current region, like the `mmap` object Python smmap returns: buffer protocol,
    /// `len()`, indexing and slicing (to `bytes`). Byte 0 is the region's first byte.
    fn map<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let st = self.state_mut()?;
        st.check_valid()?;
        st.map(py)
    }

    fn is_valid(&self) -> bool {
        self.st.as_ref().is_some_and(|s| s.is_valid())
    }

    fn is_associated(&self) -> bool {
        self.st.is_some()
    }

    fn ofs_begin(&self) -> PyResult<u64> {
        Ok(self.state()?.ofs_begin())
    }

    fn ofs_end(&self) -> PyResult<u64> {
        Ok(self.state()?.ofs_end())
    }

    fn size(&self) -> usize {
        self.st.as_ref().map_or(0, |s| s.size())
    }

    /// Whether `ofs` is among the bytes the cursor exposes.
    fn includes_ofs(&self, ofs: i64) -> bool {
        u64::try_from(ofs).is_ok_and(|o| self.st.as_ref().is_some_and(|s| s.includes_ofs(o)))
    }

    fn file_size(&self) -> PyResult<u64> {
        Ok(self.state()?.file_size())
    }

    fn path_or_fd(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        Ok(self.state()?.key.clone_ref(py))
    }

    fn path(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let key = self.state()?.key.bind(py);
        if key.is_instance_of::<PyInt>() {
            return Err(PyValueError::new_err(
                "Path queried although mapping was applied to a file descriptor",
            ));
        }
        Ok(key.clone().unbind())
    }

    fn fd(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let key = self.state()?.key.bind(py);
        if !key.is_instance_of::<PyInt>() {
            return Err(PyValueError::new_err(
                "File descriptor queried although mapping was generated from path",
            ));
        }
        Ok(key.clone().unbind())
    }

    /// The region the cursor uses (a `MapRegion`), or None.
    fn region(&mut self, py: Python<'_>) -> PyResult<Option<Py<MapRegion>>> {
        let Some(st) = self.st.as_mut() else {
            return Ok(None);
        };
        if !st.is_mapped() {
            return Ok(None);
        }
        if let Some(r) = &st.region {
            return Ok(Some(r.clone_ref(py)));
        }
        let Some((begin, size)) = st.ext else {
            return Ok(None);
        };
        let base =
            (st.cur.buffer().as_ptr() as usize).wrapping_sub((st.cur.ofs_begin() - begin) as usize);
        let mut probe = st.cur.clone();
        probe.unuse_region();
        let r = Py::new(
            py,
            MapRegion {
                begin,
                size,
                kind: Kind::Managed {
                    probe,
                    mgr: st.mgr.clone(),
                    base,
                    gone: false,
                },
            },
        )?;
        st.region = Some(r.clone_ref(py));
        Ok(Some(r))
    }

    /// Releases the region; the cursor stays associated. Safe to call repeatedly.
    fn _destroy(&mut self) {
        self.unuse_region();
    }

    /// Makes this cursor a copy of `rhs` (same file, same region).
    fn assign(&mut self, py: Python<'_>, rhs: &Bound<'_, Cursor>) {
        self._destroy();
        self.st = rhs.borrow().copy_state(py);
    }

    fn __copy__(&self, py: Python<'_>) -> Cursor {
        Cursor {
            st: self.copy_state(py),
        }
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(&mut self, _t: &Bound<'_, PyAny>, _v: &Bound<'_, PyAny>, _tb: &Bound<'_, PyAny>) {
        self._destroy();
    }

    fn __repr__(&self) -> String {
        match &self.st {
            None => "<WindowCursor (not associated)>".into(),
            Some(s) if s.is_valid() => format!(
                "<WindowCursor [{}, {}) of {} bytes>",
                s.ofs_begin(),
                s.ofs_end(),
                s.file_size()
            ),
            Some(s) => format!("<WindowCursor (invalid) of {} bytes>", s.file_size()),
        }
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
#[pyclass(module = "smmap.util", name = "MapRegion")]
struct MapRegion {
    begin: u64,
    size: u64,
    kind: Kind,
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
            kind: Kind::Standalone {
                holder: Some(cur),
                uc: 1,
            },
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
    fn client_count(&mut self, py: Python<'_>) -> i64 {
        let (begin, size) = (self.begin, self.size);
        match &mut self.kind {
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
    fn increment_client_count(&mut self, ofs: i64) -> PyResult<bool> {
        match &mut self.kind {
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
    fn release(&mut self) {
        if let Kind::Standalone { holder, .. } = &mut self.kind {
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
        match &self.kind {
            Kind::Standalone {
                holder: Some(c), ..
            } => view::pin(py, c, range),
            Kind::Standalone { holder: None, .. } => {
                Err(PyValueError::new_err("mmap closed or invalid"))
            }
            Kind::Managed { probe, .. } => view::pin(py, probe, range),
        }
    }

    fn __eq__(&self, other: &Bound<'_, PyAny>) -> bool {
        let Ok(o) = other.cast::<MapRegion>() else {
            return false;
        };
        let o = o.borrow();
        let id = |r: &MapRegion| match &r.kind {
            Kind::Managed { base, .. } => Some(*base),
            Kind::Standalone { .. } => None,
        };
        match (id(self), id(&o)) {
            (Some(a), Some(b)) => a == b && self.begin == o.begin && self.size == o.size,
            _ => std::ptr::eq(self, &*o),
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
#[pyclass(module = "smmap.buf", name = "SlidingWindowMapBuffer", subclass)]
struct Buffer {
    c: Option<Py<Cursor>>,
    size: Option<u64>,
}

impl Buffer {
    fn len(&self) -> PyResult<u64> {
        self.size.ok_or_else(|| {
            PyAttributeError::new_err("the buffer has no size yet: call begin_access() first")
        })
    }

    fn cursor_ref<'py>(&self, py: Python<'py>) -> PyResult<PyRefMut<'py, Cursor>> {
        match &self.c {
            Some(c) => Ok(c.bind(py).try_borrow_mut()?),
            None => Err(PyAttributeError::new_err(
                "the buffer has no cursor: call begin_access() with one",
            )),
        }
    }

    fn slice<'py>(&self, py: Python<'py>, i: i64, j: i64) -> PyResult<Bound<'py, PyAny>> {
        let mut c = self.cursor_ref(py)?;
        if !c.is_valid() {
            return Err(PyAssertionError::new_err(
                "the buffer's cursor holds no region",
            ));
        }
        let size = self.len()? as i64;
        let i = if i < 0 { i + size } else { i };
        let j = if j == MAXSIZE { size } else { j };
        let j = if j < 0 { j + size } else { j };
        if i < 0 {
            return Err(PyIndexError::new_err(format!(
                "slice start {i} before the start of the file"
            )));
        }
        let st = c.state_mut()?;
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
        let mut b = Buffer {
            c: None,
            size: None,
        };
        if let Some(c) = cursor
            && !b.begin_access(py, Some(c), offset, size, flags)?
        {
            return Err(PyValueError::new_err(
                "Failed to allocate the buffer - probably the given offset is out of bounds",
            ));
        }
        Ok(b)
    }

    /// Points the buffer at `[offset, offset + size)` of the cursor's file (`size` is cut to
    /// the file); returns True if the buffer can be used.
    #[pyo3(signature = (cursor = None, offset = 0, size = MAXSIZE, flags = 0))]
    fn begin_access(
        &mut self,
        py: Python<'_>,
        cursor: Option<Py<Cursor>>,
        offset: i64,
        size: i64,
        flags: i64,
    ) -> PyResult<bool> {
        let _ = flags;
        if let Some(c) = cursor {
            self.c = Some(c);
        }
        let Some(c) = &self.c else {
            return Ok(false);
        };
        let mut c = c.bind(py).try_borrow_mut()?;
        let Some(st) = c.st.as_mut() else {
            return Ok(false);
        };
        let offset = unsigned("offset", offset)?;
        let mut size = unsigned("size", size)?;
        st.use_region(py, offset, size, true)?;
        let res = st.is_valid();
        if res {
            let fs = st.file_size();
            if size > fs {
                size = fs - offset;
            }
            self.size = Some(size);
        }
        Ok(res)
    }

    /// Releases the cursor's region; the buffer's length becomes 0.
    fn end_access(&mut self, py: Python<'_>) -> PyResult<()> {
        self.size = Some(0);
        if self.c.is_some() {
            self.cursor_ref(py)?.unuse_region();
        }
        Ok(())
    }

    fn cursor(&self, py: Python<'_>) -> Option<Py<Cursor>> {
        self.c.as_ref().map(|c| c.clone_ref(py))
    }

    fn __len__(&self) -> PyResult<usize> {
        Ok(to_usize(self.len()?))
    }

    fn __getitem__<'py>(
        &self,
        py: Python<'py>,
        key: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Ok(s) = key.cast::<PySlice>() {
            // Python smmap: `buf[i.start or 0 : i.stop or len]`, the step ignored.
            let start: Option<i64> = s.getattr("start")?.extract()?;
            let stop: Option<i64> = s.getattr("stop")?.extract()?;
            let i = start.unwrap_or(0);
            let j = match stop {
                None | Some(0) => self.len()? as i64,
                Some(j) => j,
            };
            return self.slice(py, i, j);
        }
        let i: i64 = key.extract()?;
        let mut c = self.cursor_ref(py)?;
        if !c.is_valid() {
            return Err(PyAssertionError::new_err(
                "the buffer's cursor holds no region",
            ));
        }
        let i = if i < 0 { i + self.len()? as i64 } else { i };
        let Ok(i) = u64::try_from(i) else {
            return Err(PyIndexError::new_err("index before the start of the file"));
        };
        let st = c.state_mut()?;
        if !st.includes_ofs(i) {
            st.use_region(py, i, 1, true)?;
        }
        st.check_valid()?;
        let b = st.byte_at(py, i);
        Ok(b.into_pyobject(py)?.into_any())
    }

    fn __enter__(slf: PyRef<'_, Self>) -> PyRef<'_, Self> {
        slf
    }

    fn __exit__(
        &mut self,
        py: Python<'_>,
        _t: &Bound<'_, PyAny>,
        _v: &Bound<'_, PyAny>,
        _tb: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        self.end_access(py)
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // Python smmap's `__del__`: end_access().
        if let Some(c) = self.c.take() {
            Python::attach(|py| {
                if let Ok(mut c) = c.bind(py).try_borrow_mut() {
                    c.unuse_region();
                }
            });
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
