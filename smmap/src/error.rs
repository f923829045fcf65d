//! The error type of every fallible operation.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

/// `std::result::Result` with [`Error`] as its error type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Where an error happened: a path, or the description of a file that was handed over as a
/// [`std::fs::File`] and has no known path.
#[derive(Clone, PartialEq, Eq)]
pub struct Location(pub(crate) Option<PathBuf>);

impl Location {
    /// The path of the file, when it is known.
    pub fn path(&self) -> Option<&Path> {
        self.0.as_deref()
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Some(p) => write!(f, "{}", p.display()),
            None => f.write_str("<file without path>"),
        }
    }
}

impl From<Option<&Path>> for Location {
    fn from(p: Option<&Path>) -> Self {
        Location(p.map(Path::to_path_buf))
    }
}

/// Everything that can go wrong in smmap.
///
/// Every variant that concerns a file names it (its path, or `<file without path>` for files
/// handed over as [`std::fs::File`]) and, where it applies, the offset. I/O errors keep their
/// source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation (`open`, `fstat`, `mmap`, `msync`, `ftruncate`, ...) failed.
    #[error("{op} failed for {path}{}: {source}", fmt_at(*.offset))]
    Io {
        /// What was attempted, e.g. `"mmap"`.
        op: &'static str,
        /// The file concerned.
        path: Location,
        /// The file offset concerned, if any.
        offset: Option<u64>,
        /// The operating system's error.
        #[source]
        source: io::Error,
    },
    /// A read or write started at or past the end of the file, or ran past it.
    #[error(
        "offset {offset} (+{len} bytes) is out of bounds of {path}, which is {file_size} bytes long"
    )]
    OutOfBounds {
        /// The file concerned.
        path: Location,
        /// The first byte asked for.
        offset: u64,
        /// How many bytes were asked for (0 when the request was open-ended).
        len: u64,
        /// The size of the file when the request was checked.
        file_size: u64,
    },
    /// The file became smaller than a region that is still mapped, or than the size this handle
    /// knew: its end may no longer be read.
    #[error("{path} shrank to {file_size} bytes while a mapping up to offset {mapped_end} is live")]
    FileShrank {
        /// The file concerned.
        path: Location,
        /// Its new size.
        file_size: u64,
        /// The end of the live mapping that now lies past the end of the file.
        mapped_end: u64,
    },
    /// Bytes of a mapped file were lost while mapped: another process truncated the file, or the
    /// system could not read its pages (an I/O error, a network file system gone). The SIGBUS
    /// guard replaced the lost pages with zeros; `[offset, offset + len)` are the bytes
    /// concerned: those a copying read just read, or, for an operation on the region, the
    /// region's bytes from the first lost page on. The region is not used again; the next
    /// request maps the file anew (and sees its new size).
    #[error(
        "{path} changed while mapped: bytes {offset}..{} could not be read (the file was \
         truncated by another process, or its pages are unreadable) and read as zeros",
        .offset.saturating_add(*.len)
    )]
    FileChanged {
        /// The file concerned.
        path: Location,
        /// The first byte concerned.
        offset: u64,
        /// How many bytes.
        len: u64,
    },
    /// A path now names a different file than the one the manager registered under it.
    #[error("{path} was replaced by another file while the manager held it")]
    FileReplaced {
        /// The file concerned.
        path: Location,
    },
    /// A record's magic number does not match.
    #[error(
        "bad magic number in {path} at offset {offset}: expected {expected:02x?}, found {found:02x?}"
    )]
    BadMagic {
        /// The file concerned.
        path: Location,
        /// The file offset of the magic field.
        offset: u64,
        /// The magic the format declares.
        expected: Vec<u8>,
        /// The bytes found in the file.
        found: Vec<u8>,
    },
    /// A record's validation hook rejected it.
    #[error("invalid {record} in {path} at offset {offset}: {message}")]
    InvalidRecord {
        /// The file concerned.
        path: Location,
        /// The file offset of the record.
        offset: u64,
        /// The record's type name.
        record: &'static str,
        /// What the validation hook said.
        message: String,
    },
    /// A write (or a resize) was attempted through a manager whose [`MapMode`](crate::MapMode)
    /// does not allow it: every write needs `ReadWrite` or `CopyOnWrite`, a resize `ReadWrite`.
    #[error("{op} at offset {offset} of {path} needs {needs}, but the manager maps files {mode}")]
    ReadOnly {
        /// The file concerned.
        path: Location,
        /// The offset of the write (for a resize, the new length).
        offset: u64,
        /// What was attempted: `"write"` or `"resize"`.
        op: &'static str,
        /// The modes that allow it.
        needs: &'static str,
        /// The manager's mode.
        mode: crate::config::MapMode,
    },
    /// The bytes are borrowed elsewhere in a way that conflicts with this request (a mutable view
    /// while other views of the same bytes are alive, or the reverse).
    #[error("bytes {offset}..{end} of {path} are in use by {by}")]
    Busy {
        /// The file concerned.
        path: Location,
        /// First byte of the request.
        offset: u64,
        /// End of the request.
        end: u64,
        /// Who holds the conflicting borrow.
        by: &'static str,
    },
    /// A configuration value is not usable.
    #[error("invalid configuration: {0}")]
    Config(String),
    /// An argument is not usable (e.g. a record table of zero-sized records).
    #[error("invalid argument: {0}")]
    InvalidArgument(String),
}

fn fmt_at(offset: Option<u64>) -> String {
    match offset {
        Some(o) => format!(" at offset {o}"),
        None => String::new(),
    }
}

impl Error {
    /// The path of the file concerned, if the error concerns a file whose path is known.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Error::Io { path, .. }
            | Error::OutOfBounds { path, .. }
            | Error::FileShrank { path, .. }
            | Error::FileChanged { path, .. }
            | Error::FileReplaced { path }
            | Error::BadMagic { path, .. }
            | Error::InvalidRecord { path, .. }
            | Error::ReadOnly { path, .. }
            | Error::Busy { path, .. } => path.path(),
            Error::Config(_) | Error::InvalidArgument(_) => None,
        }
    }

    /// The raw OS error code, for I/O errors that carry one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Io { source, .. } => source.raw_os_error(),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match &e {
            Error::Io { source, .. } => source.kind(),
            Error::OutOfBounds { .. } => io::ErrorKind::UnexpectedEof,
            Error::ReadOnly { .. } => io::ErrorKind::PermissionDenied,
            Error::Busy { .. } => io::ErrorKind::ResourceBusy,
            Error::Config(_) | Error::InvalidArgument(_) => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}
