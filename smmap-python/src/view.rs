//! `MappedBytes`: read-only bytes of a mapped region, exported through the buffer protocol.
//!
//! An object of this type owns a clone of a cursor (which pins the cursor's region, so the
//! region stays mapped) and exposes a range of that cursor's bytes. `memoryview(obj)` and every
//! slice of that memoryview share the object (the buffer protocol's `view.obj`), so the region
//! stays mapped for as long as any of them lives: eviction never invalidates a live view.
//!
//! PyO3 offers `__getbuffer__` under the stable ABI only from Python 3.11, and this package is
//! one abi3 wheel for Python 3.8 and later, so the type is made here with `PyType_FromSpec` and
//! the `bf_getbuffer` slot, whose `Py_buffer` layout CPython has kept unchanged since 3.3 (it
//! joined the limited API in 3.11 as it was). Besides the buffer it acts like the `mmap` object
//! Python smmap's `map()` returns: `len()`, indexing (an `int`), slicing (`bytes`) and iteration.
//!
//! All the unsafe code of the package is in this module.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::mem::ManuallyDrop;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;
use std::sync::OnceLock;

use pyo3::exceptions::{PyBufferError, PyIndexError, PySystemError, PyTypeError};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PySlice, PySliceIndices};

/// `Py_buffer` as CPython defines it (unchanged since 3.3; in the limited API from 3.11).
#[repr(C)]
struct PyBuffer {
    buf: *mut c_void,
    obj: *mut ffi::PyObject,
    len: ffi::Py_ssize_t,
    itemsize: ffi::Py_ssize_t,
    readonly: c_int,
    ndim: c_int,
    format: *mut c_char,
    shape: *mut ffi::Py_ssize_t,
    strides: *mut ffi::Py_ssize_t,
    suboffsets: *mut ffi::Py_ssize_t,
    internal: *mut c_void,
}

const PYBUF_WRITABLE: c_int = 0x0001;
const PYBUF_FORMAT: c_int = 0x0004;
const PYBUF_ND: c_int = 0x0008;
const PYBUF_STRIDES: c_int = 0x0010 | PYBUF_ND;

/// The object layout: the header, then what keeps the bytes alive and where they are.
#[repr(C)]
struct RawMapped {
    ob_base: ffi::PyObject,
    payload: Payload,
}

struct Payload {
    /// The cursor whose region holds the bytes; never used mutably, dropped in `dealloc`.
    holder: ManuallyDrop<Box<smmap::WindowCursor>>,
    ptr: *const u8,
    len: ffi::Py_ssize_t,
}

/// The type object, made once by [`init`] (a pointer, stored as an address).
static TYPE: OnceLock<usize> = OnceLock::new();

/// Makes the type and returns it (to be added to the module).
pub(crate) fn init(py: Python<'_>) -> PyResult<Bound<'_, PyAny>> {
    if let Some(&tp) = TYPE.get() {
        // SAFETY: `tp` is the type object made below, which is never freed (the static keeps a
        // strong reference), so a new borrowed-to-owned reference to it is valid.
        return Ok(unsafe { Bound::from_borrowed_ptr(py, tp as *mut ffi::PyObject) });
    }
    let slots: &'static mut [ffi::PyType_Slot] = Box::leak(Box::new([
        ffi::PyType_Slot {
            slot: ffi::Py_tp_dealloc,
            pfunc: dealloc as *mut c_void,
        },
        ffi::PyType_Slot {
            slot: ffi::Py_tp_new,
            pfunc: no_new as *mut c_void,
        },
        ffi::PyType_Slot {
            slot: ffi::Py_tp_doc,
            pfunc: c"Read-only bytes of a mapped region of a file (buffer protocol, len, indexing, slicing to bytes); the region stays mapped while this object or a view of it lives.".as_ptr() as *mut c_void,
        },
        ffi::PyType_Slot {
            slot: ffi::Py_bf_getbuffer,
            pfunc: getbuffer as *mut c_void,
        },
        ffi::PyType_Slot {
            slot: ffi::Py_mp_length,
            pfunc: length as *mut c_void,
        },
        ffi::PyType_Slot {
            slot: ffi::Py_sq_length,
            pfunc: length as *mut c_void,
        },
        ffi::PyType_Slot {
            slot: ffi::Py_mp_subscript,
            pfunc: subscript as *mut c_void,
        },
        ffi::PyType_Slot {
            slot: ffi::Py_sq_item,
            pfunc: item as *mut c_void,
        },
        ffi::PyType_Slot {
            slot: 0,
            pfunc: ptr::null_mut(),
        },
    ]));
    let spec: &'static mut ffi::PyType_Spec = Box::leak(Box::new(ffi::PyType_Spec {
        name: c"smmap.mman.MappedBytes".as_ptr(),
        basicsize: std::mem::size_of::<RawMapped>() as c_int,
        itemsize: 0,
        flags: ffi::Py_TPFLAGS_DEFAULT as _,
        slots: slots.as_mut_ptr(),
    }));
    // SAFETY: `spec` and its slots are leaked, so they outlive the type as CPython requires of
    // specs before 3.12; every slot function has the signature its slot expects.
    let tp = unsafe { ffi::PyType_FromSpec(spec) };
    if tp.is_null() {
        return Err(PyErr::fetch(py));
    }
    // The first caller wins; a concurrent loser's type stays alive (leaked), which is harmless.
    let tp = *TYPE.get_or_init(|| tp as usize);
    // SAFETY: as at the top of this function.
    Ok(unsafe { Bound::from_borrowed_ptr(py, tp as *mut ffi::PyObject) })
}

/// A `MappedBytes` object over `len` bytes at `ptr`, kept alive by `holder`.
///
/// # Safety
///
/// `[ptr, ptr + len)` must be readable and unchanging for as long as `holder` lives and is not
/// used mutably (bytes of the region `holder` pins).
unsafe fn new_mapped<'py>(
    py: Python<'py>,
    holder: Box<smmap::WindowCursor>,
    ptr: *const u8,
    len: usize,
) -> PyResult<Bound<'py, PyAny>> {
    let Some(&tp) = TYPE.get() else {
        return Err(PySystemError::new_err(
            "smmap: MappedBytes type not initialised",
        ));
    };
    let Ok(len) = ffi::Py_ssize_t::try_from(len) else {
        return Err(PyBufferError::new_err(
            "mapped range longer than a Py_ssize_t",
        ));
    };
    // SAFETY: `tp` is our heap type; `PyType_GenericAlloc` returns a zeroed object of
    // `basicsize` bytes with its header set, or NULL with an exception.
    let obj = unsafe { ffi::PyType_GenericAlloc(tp as *mut ffi::PyTypeObject, 0) };
    if obj.is_null() {
        return Err(PyErr::fetch(py));
    }
    let raw = obj.cast::<RawMapped>();
    // SAFETY: `obj` is a fresh allocation of `size_of::<RawMapped>()` bytes laid out as
    // `RawMapped`: its payload field is in bounds.
    let place = unsafe { ptr::addr_of_mut!((*raw).payload) };
    let payload = Payload {
        holder: ManuallyDrop::new(holder),
        ptr,
        len,
    };
    // SAFETY: `place` is valid for writes and aligned (part of an allocation made for this
    // layout); writing without dropping the zeroed previous contents is what initialises it.
    unsafe { place.write(payload) };
    // SAFETY: `obj` is a new (owned) reference to a fully initialised object.
    Ok(unsafe { Bound::from_owned_ptr(py, obj) })
}

/// Read-only bytes of `cur`'s file that keep their region mapped while they live: the
/// cursor's current bytes (`range` None), or `[offset, offset + len)` (the end cut to the file).
///
/// A clone of `cur` holds the region; it is never used mutably again, so the bytes it returned
/// stay valid, and it sits in a `Box`, so even bytes it might own itself never move.
///
/// # Errors
///
/// The errors of `use_region` for `range`.
pub(crate) fn pin<'py>(
    py: Python<'py>,
    cur: &smmap::WindowCursor,
    range: Option<(u64, usize)>,
) -> PyResult<Bound<'py, PyAny>> {
    let mut holder = Box::new(cur.clone());
    let (p, n) = match range {
        None if !holder.is_valid() => {
            // The clone could not share the region: copy the bytes.
            return Ok(PyBytes::new(py, cur.buffer()).into_any());
        }
        None => {
            let b = holder.buffer();
            (b.as_ptr(), b.len())
        }
        Some((offset, len)) => {
            let b = py
                .detach(|| {
                    holder
                        .use_region(offset, len)
                        .map(|b| (b.as_ptr() as usize, b.len()))
                })
                .map_err(crate::to_py)?;
            (b.0 as *const u8, b.1)
        }
    };
    // SAFETY: `[p, p + n)` are bytes `holder` returned (`buffer` or `use_region`); `holder` is
    // moved into the new object, never used mutably again and dropped with it, and a cursor's
    // bytes stay valid while it is not used mutably (a region it holds is pinned, never
    // unmapped). The `Box` keeps the cursor itself in place.
    unsafe { new_mapped(py, holder, p, n) }
}

/// A `File` for a duplicate of the open descriptor `fd` (the caller keeps `fd`).
///
/// # Errors
///
/// `EBADF` if `fd` is not open, and the other errors of `fcntl(F_DUPFD_CLOEXEC)`.
#[cfg(unix)]
pub(crate) fn dup_fd(fd: i32) -> std::io::Result<std::fs::File> {
    use std::os::fd::{FromRawFd, OwnedFd};
    // SAFETY: `fcntl(F_DUPFD_CLOEXEC)` only reads its integer arguments; an invalid `fd` is
    // reported as an error.
    let new = unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 0) };
    if new < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: `new` is a descriptor this process just opened and nothing else owns.
    Ok(std::fs::File::from(unsafe { OwnedFd::from_raw_fd(new) }))
}

/// Descriptors are not supported on this platform.
#[cfg(not(unix))]
pub(crate) fn dup_fd(fd: i32) -> std::io::Result<std::fs::File> {
    Err(std::io::Error::new(
        std::io::ErrorKind::Unsupported,
        format!("file descriptor {fd}: descriptors are supported on Unix only"),
    ))
}

/// `memoryview(obj)`.
pub(crate) fn memoryview<'py>(obj: &Bound<'py, PyAny>) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: `obj` is a live object.
    let mv = unsafe { ffi::PyMemoryView_FromObject(obj.as_ptr()) };
    // SAFETY: `PyMemoryView_FromObject` returns a new reference, or NULL with an exception set.
    unsafe { Bound::from_owned_ptr_or_err(obj.py(), mv) }
}

/// The bytes of a `MappedBytes` object.
///
/// # Safety
///
/// `obj` must be a live object of our type; the slice is valid while it lives.
unsafe fn bytes_of<'a>(obj: *mut ffi::PyObject) -> &'a [u8] {
    // SAFETY: `obj` is of our type (caller), so it is a `RawMapped` initialised by
    // `new_mapped`; its payload is only read.
    let payload = unsafe { &(*obj.cast::<RawMapped>()).payload };
    let (p, len) = (payload.ptr, payload.len as usize);
    if len == 0 {
        return &[];
    }
    // SAFETY: `new_mapped`'s contract: the range is readable and unchanging while the object
    // (which owns `holder`) lives.
    unsafe { std::slice::from_raw_parts(p, len) }
}

/// Runs `f` with the GIL token, turning a panic or error into a Python exception.
fn guard<R>(err: R, f: impl FnOnce(Python<'_>) -> PyResult<R>) -> R {
    // SAFETY: slot functions are called by the interpreter with the GIL held.
    let py = unsafe { Python::assume_attached() };
    match catch_unwind(AssertUnwindSafe(|| f(py))) {
        Ok(Ok(r)) => r,
        Ok(Err(e)) => {
            e.restore(py);
            err
        }
        Err(_) => {
            PySystemError::new_err("smmap: internal error (panic) in MappedBytes").restore(py);
            err
        }
    }
}

unsafe extern "C" fn no_new(
    _tp: *mut ffi::PyTypeObject,
    _args: *mut ffi::PyObject,
    _kw: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    guard(ptr::null_mut(), |_| {
        Err(PyTypeError::new_err(
            "MappedBytes objects are made by WindowCursor.map(), buffer() and MapRegion",
        ))
    })
}

unsafe extern "C" fn dealloc(obj: *mut ffi::PyObject) {
    // SAFETY: `obj` is one of our objects, initialised by `new_mapped`, being destroyed: no
    // one else uses it any more.
    let payload = unsafe { &mut (*obj.cast::<RawMapped>()).payload };
    // SAFETY: the holder is dropped exactly once, here (this unpins the region; exporting
    // views hold a reference to `obj`, so none is alive).
    unsafe { ManuallyDrop::drop(&mut payload.holder) };
    // SAFETY: `obj` is a live object; its type is our heap type.
    let tp = unsafe { ffi::Py_TYPE(obj) };
    // SAFETY: a heap type always has a `tp_free` slot (inherited from `object`).
    let free = unsafe { ffi::PyType_GetSlot(tp, ffi::Py_tp_free) };
    if !free.is_null() {
        // SAFETY: `tp_free` has the `freefunc` signature and frees what `tp_alloc` allocated.
        let free: ffi::freefunc = unsafe { std::mem::transmute(free) };
        // SAFETY: `obj` was allocated by `PyType_GenericAlloc` of this type.
        unsafe { free(obj.cast()) };
    }
    // SAFETY: instances of heap types own a reference to their type (since Python 3.8).
    unsafe { ffi::Py_DECREF(tp.cast()) };
}

unsafe extern "C" fn getbuffer(
    obj: *mut ffi::PyObject,
    view: *mut PyBuffer,
    flags: c_int,
) -> c_int {
    if view.is_null() {
        return guard(-1, |_| {
            Err(PyBufferError::new_err("getbuffer called without a view"))
        });
    }
    if flags & PYBUF_WRITABLE != 0 {
        return guard(-1, |_| {
            Err(PyBufferError::new_err(
                "smmap maps files read-only: the buffer is not writable",
            ))
        });
    }
    static FORMAT: &CStr = c"B";
    // SAFETY: `obj` is one of our objects (this slot is only called on them), initialised by
    // `new_mapped`; its payload is only read.
    let payload = unsafe { &(*obj.cast::<RawMapped>()).payload };
    // SAFETY: `obj` is live; the view takes a new reference to it (`view.obj`).
    unsafe { ffi::Py_INCREF(obj) };
    // `shape` and `strides` point into the view itself, as `PyBuffer_FillInfo` sets them.
    let len_at = view
        .wrapping_byte_add(std::mem::offset_of!(PyBuffer, len))
        .cast::<ffi::Py_ssize_t>();
    let itemsize_at = view
        .wrapping_byte_add(std::mem::offset_of!(PyBuffer, itemsize))
        .cast::<ffi::Py_ssize_t>();
    let filled = PyBuffer {
        buf: payload.ptr as *mut c_void,
        obj,
        len: payload.len,
        itemsize: 1,
        readonly: 1,
        ndim: 1,
        format: if flags & PYBUF_FORMAT != 0 {
            FORMAT.as_ptr() as *mut c_char
        } else {
            ptr::null_mut()
        },
        shape: if flags & PYBUF_ND != 0 {
            len_at
        } else {
            ptr::null_mut()
        },
        strides: if flags & PYBUF_STRIDES == PYBUF_STRIDES {
            itemsize_at
        } else {
            ptr::null_mut()
        },
        suboffsets: ptr::null_mut(),
        internal: ptr::null_mut(),
    };
    // SAFETY: `view` is a writable, aligned `Py_buffer` supplied by the caller (not NULL,
    // checked above). This fills it exactly as `PyBuffer_FillInfo(view, obj, ptr, len,
    // readonly=1, flags)` does.
    unsafe { view.write(filled) };
    0
}

unsafe extern "C" fn length(obj: *mut ffi::PyObject) -> ffi::Py_ssize_t {
    // SAFETY: `obj` is one of our objects (this slot is only called on them).
    unsafe { (*obj.cast::<RawMapped>()).payload.len }
}

unsafe extern "C" fn item(obj: *mut ffi::PyObject, i: ffi::Py_ssize_t) -> *mut ffi::PyObject {
    // SAFETY: `obj` is one of our objects, alive for this call.
    let bytes = unsafe { bytes_of(obj) };
    guard(ptr::null_mut(), |py| {
        let b = usize::try_from(i)
            .ok()
            .and_then(|i| bytes.get(i))
            .ok_or_else(|| PyIndexError::new_err("mmap index out of range"))?;
        Ok(b.into_pyobject(py)?.into_any().into_ptr())
    })
}

unsafe extern "C" fn subscript(
    obj: *mut ffi::PyObject,
    key: *mut ffi::PyObject,
) -> *mut ffi::PyObject {
    // SAFETY: `obj` is one of our objects, alive for this call.
    let bytes = unsafe { bytes_of(obj) };
    guard(ptr::null_mut(), |py| {
        // SAFETY: `key` is a live object borrowed for this call.
        let key = unsafe { Bound::from_borrowed_ptr(py, key) };
        Ok(index_or_slice(py, bytes, &key)?.into_ptr())
    })
}

/// `bytes[key]` with the semantics of `mmap`: an `int` for an index, `bytes` for a slice.
fn index_or_slice<'py>(
    py: Python<'py>,
    bytes: &[u8],
    key: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    if let Ok(s) = key.cast::<PySlice>() {
        let PySliceIndices {
            start, stop, step, ..
        } = s.indices(bytes.len() as isize)?;
        if step == 1 {
            let (a, b) = (start as usize, stop.max(start) as usize);
            return Ok(PyBytes::new(py, &bytes[a..b]).into_any());
        }
        let mut out = Vec::new();
        let mut i = start;
        while (step > 0 && i < stop) || (step < 0 && i > stop) {
            out.push(bytes[i as usize]);
            i += step;
        }
        return Ok(PyBytes::new(py, &out).into_any());
    }
    let i: isize = key.extract()?;
    let len = bytes.len() as isize;
    let j = if i < 0 { i + len } else { i };
    if j < 0 || j >= len {
        return Err(PyIndexError::new_err("mmap index out of range"));
    }
    Ok(bytes[j as usize].into_pyobject(py)?.into_any())
}
