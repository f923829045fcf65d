//! What an associated `WindowCursor` holds: the crate's cursor, or bytes a small read owns.

use std::sync::Arc;

use pyo3::exceptions::PyAttributeError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PySlice};

use crate::small::Small;
use crate::{MapRegion, Mgr, Source, to_py, to_usize, view};

/// Bytes read by a small read: `data` holds `[base, base + data.len())`; the cursor exposes
/// `[ofs, ofs + size)` of them.
pub(crate) struct Owned {
    base: u64,
    data: Py<PyBytes>,
    len: usize,
    ofs: u64,
    size: usize,
}

/// What an associated cursor holds.
pub(crate) struct State {
    pub(crate) cur: smmap::WindowCursor,
    /// The path or descriptor the cursor was made from, as given.
    pub(crate) key: Py<PyAny>,
    pub(crate) mgr: Mgr,
    small: Option<Arc<Small>>,
    src: Source,
    ident: (u64, u64),
    /// Python smmap's window size (0: any size).
    window: u64,
    /// Half a window (0 for the static manager): requests longer than this may be served
    /// short from the current region, as Python smmap does; windows are keyed by it.
    half: u64,
    /// The current region's extent, while the cursor holds it.
    pub(crate) ext: Option<(u64, u64)>,
    /// The `MapRegion` object handed out for the current region.
    pub(crate) region: Option<Py<MapRegion>>,
    /// A view of the whole current region (keeps it mapped), sliced by `buffer()`.
    pinned: Option<(Py<PyAny>, Py<PyAny>, u64, u64)>,
    /// Bytes of the last request, when a small read served it.
    owned: Option<Owned>,
}

impl State {
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        cur: smmap::WindowCursor,
        key: Py<PyAny>,
        mgr: Mgr,
        small: Option<Arc<Small>>,
        src: Source,
        ident: (u64, u64),
        window: u64,
        half: u64,
    ) -> State {
        let small = if ident == (0, 0) || half == 0 {
            None
        } else {
            small
        };
        State {
            cur,
            key,
            mgr,
            small,
            src,
            ident,
            window,
            half,
            ext: None,
            region: None,
            pinned: None,
            owned: None,
        }
    }

    /// A copy: the same file and bytes (the same region, pinned once more).
    pub(crate) fn copy(&self, py: Python<'_>) -> State {
        State {
            cur: self.cur.clone(),
            key: self.key.clone_ref(py),
            mgr: self.mgr.clone(),
            small: self.small.clone(),
            src: match &self.src {
                Source::Path(p) => Source::Path(p.clone()),
                Source::File(f) => Source::File(f.clone()),
                Source::None => Source::None,
            },
            ident: self.ident,
            window: self.window,
            half: self.half,
            ext: self.ext,
            region: None,
            pinned: None,
            owned: self.owned.as_ref().map(|o| Owned {
                base: o.base,
                data: o.data.clone_ref(py),
                len: o.len,
                ofs: o.ofs,
                size: o.size,
            }),
        }
    }

    pub(crate) fn is_valid(&self) -> bool {
        self.owned.is_some() || self.cur.is_valid()
    }

    pub(crate) fn ofs_begin(&self) -> u64 {
        match &self.owned {
            Some(o) => o.ofs,
            None => self.cur.ofs_begin(),
        }
    }

    pub(crate) fn size(&self) -> usize {
        match &self.owned {
            Some(o) => o.size,
            None => self.cur.size(),
        }
    }

    pub(crate) fn ofs_end(&self) -> u64 {
        self.ofs_begin() + self.size() as u64
    }

    pub(crate) fn includes_ofs(&self, ofs: u64) -> bool {
        self.is_valid() && self.ofs_begin() <= ofs && ofs < self.ofs_end()
    }

    pub(crate) fn file_size(&self) -> u64 {
        self.cur.file_size()
    }

    /// Whether the bytes come from a mapped region (not from a small read).
    pub(crate) fn is_mapped(&self) -> bool {
        self.owned.is_none() && self.cur.is_valid()
    }

    /// The byte at file offset `ofs`, which the cursor exposes.
    pub(crate) fn byte_at(&self, py: Python<'_>, ofs: u64) -> u8 {
        let i = (ofs - self.ofs_begin()) as usize;
        match &self.owned {
            Some(o) => o.data.as_bytes(py)[(o.ofs - o.base) as usize + i],
            None => self.cur.buffer()[i],
        }
    }

    /// Python smmap's `use_region` (`python` true): afterwards the cursor is valid unless
    /// `offset` is at or past the end of the file. The size is cut to the window, and a request
    /// longer than half a window that starts in the current region is served from it up to its
    /// end, as Python smmap does, which saves a mapping of its own; small requests in cold
    /// windows are read instead of mapped (see `small`). With `python` false, the cursor
    /// exposes exactly `size` bytes (cut to the file), mapped, in a region of their own if need
    /// be.
    pub(crate) fn use_region(
        &mut self,
        py: Python<'_>,
        offset: u64,
        size: u64,
        python: bool,
    ) -> PyResult<()> {
        let fsize = self.cur.file_size();
        let mut want = if size == 0 { fsize } else { size };
        if python {
            want = want.min(if self.window > 0 { self.window } else { fsize });
            if let Some((b, l)) = self.ext
                && self.half > 0
                && want > self.half
                && offset >= b
                && offset - b < l
            {
                want = want.min(l - (offset - b));
            }
        }
        // Inside the bytes a small read owns.
        if let Some(o) = &mut self.owned
            && python
            && offset >= o.base
            && want <= o.len as u64
            && offset - o.base <= o.len as u64 - want
            && want > 0
        {
            o.ofs = offset;
            o.size = want as usize;
            return Ok(());
        }
        let known_hit = want > 0
            && matches!(self.ext, Some((b, l)) if offset >= b && offset - b < l && want <= l - (offset - b));
        let want_us = to_usize(want);
        if known_hit {
            self.owned = None;
            self.cur.use_region(offset, want_us).map_err(to_py)?;
            return Ok(());
        }
        self.owned = None;
        self.pinned = None;
        self.region = None;
        if python && offset < fsize && want > 0 && self.try_small_read(py, offset, want)? {
            return Ok(());
        }
        if let Some(s) = &self.small {
            s.touch((self.ident.0, self.ident.1, offset / self.half));
        }
        let cur = &mut self.cur;
        let res = py.detach(move || cur.use_region(offset, want_us).map(|_| ()));
        match res {
            Ok(()) => {
                self.ext = self.cur.region().map(|r| (r.ofs_begin, r.size as u64));
                Ok(())
            }
            Err(e) => {
                self.ext = None;
                match e {
                    smmap::Error::OutOfBounds { .. } => Ok(()),
                    e => Err(to_py(e)),
                }
            }
        }
    }

    /// Serves `[offset, offset + want)` by `pread` if the request is small and its window
    /// cold; returns whether it did.
    fn try_small_read(&mut self, py: Python<'_>, offset: u64, want: u64) -> PyResult<bool> {
        let Some(small) = &self.small else {
            return Ok(false);
        };
        if want > small.max || small.touch((self.ident.0, self.ident.1, offset / self.half)) {
            return Ok(false);
        }
        let file = match &self.src {
            Source::File(f) => f.clone(),
            Source::Path(p) => match small.fd_for(p, self.ident) {
                Some(f) => f,
                None => return Ok(false),
            },
            Source::None => return Ok(false),
        };
        let n = want.min(self.cur.file_size() - offset) as usize;
        let mut short = false;
        let data = PyBytes::new_with(py, n, |buf| {
            py.detach(|| {
                short = read_at(&file, buf, offset).is_err();
            });
            Ok(())
        })?;
        if short {
            // The file shrank, or cannot be read: map, which reports it.
            return Ok(false);
        }
        small.count(n);
        self.cur.unuse_region();
        self.ext = None;
        self.owned = Some(Owned {
            base: offset,
            data: data.unbind(),
            len: n,
            ofs: offset,
            size: n,
        });
        Ok(true)
    }

    pub(crate) fn unuse(&mut self) {
        self.cur.unuse_region();
        self.ext = None;
        self.region = None;
        self.pinned = None;
        self.owned = None;
    }

    pub(crate) fn check_valid(&self) -> PyResult<()> {
        if self.is_valid() {
            Ok(())
        } else {
            Err(PyAttributeError::new_err(
                "the cursor holds no region: call use_region() with an offset inside the file first",
            ))
        }
    }

    /// A memoryview of `[ofs, ofs + len)`, which the cursor exposes, without copying; it keeps
    /// the bytes alive (their region mapped) while it lives.
    pub(crate) fn view<'py>(
        &mut self,
        py: Python<'py>,
        ofs: u64,
        len: usize,
    ) -> PyResult<Bound<'py, PyAny>> {
        if let Some(o) = &self.owned {
            let a = (ofs - o.base) as isize;
            let mv = view::memoryview(o.data.bind(py).as_any())?;
            return mv.get_item(PySlice::new(py, a, a + len as isize, 1));
        }
        self.pin_region(py)?;
        match &self.pinned {
            Some((_, mv, b, l)) if ofs >= *b && ofs + len as u64 <= b + l => {
                let a = (ofs - b) as isize;
                mv.bind(py)
                    .get_item(PySlice::new(py, a, a + len as isize, 1))
            }
            _ => view::memoryview(&view::pin(py, &self.cur, Some((ofs, len)))?),
        }
    }

    /// The whole current region, as a `MappedBytes` object (or the bytes a small read owns).
    pub(crate) fn map<'py>(&mut self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if let Some(o) = &self.owned {
            return Ok(o.data.bind(py).clone().into_any());
        }
        self.pin_region(py)?;
        match &self.pinned {
            Some((obj, ..)) => Ok(obj.bind(py).clone()),
            None => view::pin(py, &self.cur, None),
        }
    }

    /// Makes `pinned` hold the current region, if its extent is known.
    fn pin_region(&mut self, py: Python<'_>) -> PyResult<()> {
        if self.pinned.is_some() {
            return Ok(());
        }
        if let Some((b, l)) = self.ext {
            let obj = view::pin(py, &self.cur, Some((b, to_usize(l))))?;
            let mv = view::memoryview(&obj)?;
            self.pinned = Some((obj.unbind(), mv.unbind(), b, l));
        }
        Ok(())
    }
}

/// Reads `buf.len()` bytes at `offset` (`pread`, retried until complete).
#[cfg(unix)]
fn read_at(file: &std::fs::File, buf: &mut [u8], offset: u64) -> std::io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.read_exact_at(buf, offset)
}

#[cfg(not(unix))]
fn read_at(_file: &std::fs::File, _buf: &mut [u8], _offset: u64) -> std::io::Result<()> {
    Err(std::io::ErrorKind::Unsupported.into())
}
