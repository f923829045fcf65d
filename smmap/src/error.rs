//! The error type of every fallible operation, and the details each kind of error carries.
//!
//! [`Error`] is one enum with a variant per kind of failure. Each variant holds its details in a
//! box ([`OutOfBounds`], [`Io`], ...), so that an `Error` is two words and a
//! `Result<&[u8]>` three: the error path costs an allocation, the success path carries no
//! weight. Match a kind with `Error::OutOfBounds { .. }` or bind its details with
//! `Error::OutOfBounds(e)`; the accessors [`Error::path`], [`Error::offset`] and
//! [`Error::file_size`] answer the common questions for every kind.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("f");
//! # std::fs::write(&path, [0u8; 100])?;
//! let mgr = smmap::SlidingWindowMapManager::new();
//! let mut c = mgr.make_cursor(&path)?;
//! match c.use_region(500, 10) {
//!     Err(smmap::Error::OutOfBounds(e)) => {
//!         assert_eq!((e.offset, e.file_size), (500, 100));
//!     }
//!     other => panic!("{other:?}"),
//! }
//! # Ok(())
//! # }
//! ```

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
/// source ([`std::error::Error::source`]).
///
/// Each variant boxes its details (see the [module docs](self)), which keeps `Error` at two
/// words (16 bytes on 64-bit targets) and `Result<&[u8]>` at three (24).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// An I/O operation (`open`, `fstat`, `mmap`, `msync`, `ftruncate`, ...) failed.
    #[error(transparent)]
    Io(Box<Io>),
    /// A read or write started at or past the end of the file, or ran past it.
    #[error(transparent)]
    OutOfBounds(Box<OutOfBounds>),
    /// The file became smaller than a region that is still mapped, or than the size this handle
    /// knew: its end may no longer be read.
    #[error(transparent)]
    FileShrank(Box<FileShrank>),
    /// Bytes of a mapped file were lost while mapped (see [`FileChanged`]).
    #[error(transparent)]
    FileChanged(Box<FileChanged>),
    /// A path now names a different file than the one the manager registered under it.
    #[error(transparent)]
    FileReplaced(Box<FileReplaced>),
    /// A record's magic number does not match.
    #[error(transparent)]
    BadMagic(Box<BadMagic>),
    /// A record's validation hook rejected it.
    #[error(transparent)]
    InvalidRecord(Box<InvalidRecord>),
    /// A write (or a resize) was attempted through a manager whose [`MapMode`](crate::MapMode)
    /// does not allow it: every write needs `ReadWrite` or `CopyOnWrite`, a resize `ReadWrite`.
    #[error(transparent)]
    ReadOnly(Box<ReadOnly>),
    /// The bytes are borrowed elsewhere in a way that conflicts with this request (a mutable view
    /// while other views of the same bytes are alive, or the reverse).
    #[error(transparent)]
    Busy(Box<Busy>),
    /// A configuration value is not usable.
    #[error("invalid configuration: {0}")]
    Config(Message),
    /// An argument is not usable (e.g. a record table of zero-sized records).
    #[error("invalid argument: {0}")]
    InvalidArgument(Message),
}

/// The details of [`Error::Io`].
#[derive(Debug, thiserror::Error)]
#[error("{op} failed for {path}{}: {source}", fmt_at(*.offset))]
#[non_exhaustive]
pub struct Io {
    /// What was attempted, e.g. `"mmap"`.
    pub op: &'static str,
    /// The file concerned.
    pub path: Location,
    /// The file offset concerned, if any.
    pub offset: Option<u64>,
    /// The operating system's error.
    #[source]
    pub source: io::Error,
}

/// The details of [`Error::OutOfBounds`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "offset {offset} (+{len} bytes) is out of bounds of {path}, which is {file_size} bytes long"
)]
#[non_exhaustive]
pub struct OutOfBounds {
    /// The file concerned.
    pub path: Location,
    /// The first byte asked for.
    pub offset: u64,
    /// How many bytes were asked for (0 when the request was open-ended).
    pub len: u64,
    /// The size of the file when the request was checked.
    pub file_size: u64,
}

/// The details of [`Error::FileShrank`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path} shrank to {file_size} bytes while a mapping up to offset {mapped_end} is live")]
#[non_exhaustive]
pub struct FileShrank {
    /// The file concerned.
    pub path: Location,
    /// Its new size.
    pub file_size: u64,
    /// The end of the live mapping that now lies past the end of the file.
    pub mapped_end: u64,
}

/// The details of [`Error::FileChanged`]: bytes of a mapped file were lost while mapped.
///
/// Another process truncated the file, or the system could not read its pages (an I/O error, a
/// network file system gone). The SIGBUS guard replaced the lost pages with zeros;
/// `[offset, offset + len)` are the bytes concerned: those a copying read just read, or, for an
/// operation on the region, the region's bytes from the first lost page on. The region is not
/// used again; the next request maps the file anew (and sees its new size).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "{path} changed while mapped: bytes {offset}..{} could not be read (the file was \
     truncated by another process, or its pages are unreadable) and read as zeros",
    .offset.saturating_add(*.len)
)]
#[non_exhaustive]
pub struct FileChanged {
    /// The file concerned.
    pub path: Location,
    /// The first byte concerned.
    pub offset: u64,
    /// How many bytes.
    pub len: u64,
}

/// The details of [`Error::FileReplaced`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path} was replaced by another file while the manager held it")]
#[non_exhaustive]
pub struct FileReplaced {
    /// The file concerned.
    pub path: Location,
}

/// The details of [`Error::BadMagic`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "bad magic number in {path} at offset {offset}: expected {expected:02x?}, found {found:02x?}"
)]
#[non_exhaustive]
pub struct BadMagic {
    /// The file concerned.
    pub path: Location,
    /// The file offset of the magic field.
    pub offset: u64,
    /// The magic the format declares.
    pub expected: Vec<u8>,
    /// The bytes found in the file.
    pub found: Vec<u8>,
}

/// The details of [`Error::InvalidRecord`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid {record} in {path} at offset {offset}: {message}")]
#[non_exhaustive]
pub struct InvalidRecord {
    /// The file concerned.
    pub path: Location,
    /// The file offset of the record.
    pub offset: u64,
    /// The record's type name.
    pub record: &'static str,
    /// What the validation hook said.
    pub message: String,
}

/// The details of [`Error::ReadOnly`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{op} at offset {offset} of {path} needs {needs}, but the manager maps files {mode}")]
#[non_exhaustive]
pub struct ReadOnly {
    /// The file concerned.
    pub path: Location,
    /// The offset of the write (for a resize, the new length).
    pub offset: u64,
    /// What was attempted: `"write"` or `"resize"`.
    pub op: &'static str,
    /// The modes that allow it.
    pub needs: &'static str,
    /// The manager's mode.
    pub mode: crate::config::MapMode,
}

/// The details of [`Error::Busy`].
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bytes {offset}..{end} of {path} are in use by {by}")]
#[non_exhaustive]
pub struct Busy {
    /// The file concerned.
    pub path: Location,
    /// First byte of the request.
    pub offset: u64,
    /// End of the request.
    pub end: u64,
    /// Who holds the conflicting borrow.
    pub by: &'static str,
}

/// The text of [`Error::Config`] and [`Error::InvalidArgument`]: a string behind one pointer
/// (it keeps [`Error`] small). It dereferences to `str`.
#[derive(Clone, PartialEq, Eq)]
#[allow(
    clippy::box_collection,
    reason = "a thin pointer keeps Error at two words"
)]
pub struct Message(Box<String>);

impl Message {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::ops::Deref for Message {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Message {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Message {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<String> for Message {
    fn from(s: String) -> Self {
        #[allow(
            clippy::box_collection,
            reason = "a thin pointer keeps Error at two words"
        )]
        Message(Box::new(s))
    }
}

impl From<&str> for Message {
    fn from(s: &str) -> Self {
        Message::from(s.to_owned())
    }
}

macro_rules! boxed_from {
    ($($kind:ident),*) => {$(
        impl From<$kind> for Error {
            fn from(e: $kind) -> Error {
                Error::$kind(Box::new(e))
            }
        }
    )*};
}
boxed_from!(
    Io,
    OutOfBounds,
    FileShrank,
    FileChanged,
    FileReplaced,
    BadMagic,
    InvalidRecord,
    ReadOnly,
    Busy
);

fn fmt_at(offset: Option<u64>) -> String {
    match offset {
        Some(o) => format!(" at offset {o}"),
        None => String::new(),
    }
}

impl Error {
    /// An [`Error::Config`] saying `message`.
    pub(crate) fn config(message: impl Into<Message>) -> Error {
        Error::Config(message.into())
    }

    /// An [`Error::InvalidArgument`] saying `message`.
    pub(crate) fn invalid_argument(message: impl Into<Message>) -> Error {
        Error::InvalidArgument(message.into())
    }

    /// The path of the file concerned, if the error concerns a file whose path is known.
    pub fn path(&self) -> Option<&Path> {
        self.location().and_then(Location::path)
    }

    /// The file concerned, for every error that concerns a file (also one without a path).
    pub fn location(&self) -> Option<&Location> {
        match self {
            Error::Io(e) => Some(&e.path),
            Error::OutOfBounds(e) => Some(&e.path),
            Error::FileShrank(e) => Some(&e.path),
            Error::FileChanged(e) => Some(&e.path),
            Error::FileReplaced(e) => Some(&e.path),
            Error::BadMagic(e) => Some(&e.path),
            Error::InvalidRecord(e) => Some(&e.path),
            Error::ReadOnly(e) => Some(&e.path),
            Error::Busy(e) => Some(&e.path),
            Error::Config(_) | Error::InvalidArgument(_) => None,
        }
    }

    /// The file offset the error concerns, where it has one: the first byte asked for
    /// ([`OutOfBounds`], [`Busy`], [`FileChanged`]), the record or field that failed its check
    /// ([`BadMagic`], [`InvalidRecord`]), the write or new length ([`ReadOnly`]), the offset of a
    /// failed I/O operation, or the end of the mapping a shrunk file cut ([`FileShrank`]).
    pub fn offset(&self) -> Option<u64> {
        match self {
            Error::Io(e) => e.offset,
            Error::OutOfBounds(e) => Some(e.offset),
            Error::FileShrank(e) => Some(e.mapped_end),
            Error::FileChanged(e) => Some(e.offset),
            Error::BadMagic(e) => Some(e.offset),
            Error::InvalidRecord(e) => Some(e.offset),
            Error::ReadOnly(e) => Some(e.offset),
            Error::Busy(e) => Some(e.offset),
            Error::FileReplaced(_) | Error::Config(_) | Error::InvalidArgument(_) => None,
        }
    }

    /// The size of the file as the request found it ([`OutOfBounds`], [`FileShrank`]).
    pub fn file_size(&self) -> Option<u64> {
        match self {
            Error::OutOfBounds(e) => Some(e.file_size),
            Error::FileShrank(e) => Some(e.file_size),
            _ => None,
        }
    }

    /// The raw OS error code, for I/O errors that carry one.
    pub fn raw_os_error(&self) -> Option<i32> {
        match self {
            Error::Io(e) => e.source.raw_os_error(),
            _ => None,
        }
    }
}

impl From<Error> for io::Error {
    fn from(e: Error) -> io::Error {
        let kind = match &e {
            Error::Io(e) => e.source.kind(),
            Error::OutOfBounds { .. } => io::ErrorKind::UnexpectedEof,
            Error::ReadOnly { .. } => io::ErrorKind::PermissionDenied,
            Error::Busy { .. } => io::ErrorKind::ResourceBusy,
            Error::Config(_) | Error::InvalidArgument(_) => io::ErrorKind::InvalidInput,
            _ => io::ErrorKind::InvalidData,
        };
        io::Error::new(kind, e)
    }
}

// The size the module docs promise: an error is two words, a borrowed slice's result three.
const _: () = assert!(std::mem::size_of::<Error>() <= 2 * std::mem::size_of::<usize>());
const _: () = assert!(std::mem::size_of::<Result<&[u8]>>() <= 3 * std::mem::size_of::<usize>());

#[cfg(test)]
mod tests {
    use super::*;
    use std::error::Error as _;

    fn at(p: &str) -> Location {
        Location(Some(PathBuf::from(p)))
    }

    #[test]
    fn boxed_details_keep_messages_sources_and_accessors() {
        let e = Error::from(Io {
            op: "mmap",
            path: at("/x/pack"),
            offset: Some(4096),
            source: io::Error::from_raw_os_error(12),
        });
        assert!(
            e.to_string()
                .starts_with("mmap failed for /x/pack at offset 4096: "),
            "{e}"
        );
        let src = e.source().expect("an I/O error keeps its source");
        assert_eq!(
            src.downcast_ref::<io::Error>().unwrap().raw_os_error(),
            e.raw_os_error()
        );
        assert_eq!(
            (e.path(), e.offset()),
            (Some(Path::new("/x/pack")), Some(4096))
        );
        assert_eq!(e.raw_os_error(), Some(12));

        let e = Error::from(OutOfBounds {
            path: Location(None),
            offset: 7,
            len: 3,
            file_size: 5,
        });
        assert_eq!(
            e.to_string(),
            "offset 7 (+3 bytes) is out of bounds of <file without path>, which is 5 bytes long"
        );
        assert!(e.source().is_none());
        assert_eq!(
            (e.path(), e.offset(), e.file_size()),
            (None, Some(7), Some(5))
        );
        assert!(e.location().is_some());
        assert_eq!(io::Error::from(e).kind(), io::ErrorKind::UnexpectedEof);

        let e = Error::from(FileShrank {
            path: at("f"),
            file_size: 10,
            mapped_end: 20,
        });
        assert_eq!((e.offset(), e.file_size()), (Some(20), Some(10)));
        let e = Error::from(FileReplaced { path: at("f") });
        assert_eq!((e.path(), e.offset()), (Some(Path::new("f")), None));

        let e = Error::invalid_argument(format!("range {}..{}", 3, 2));
        assert_eq!(e.to_string(), "invalid argument: range 3..2");
        match &e {
            Error::InvalidArgument(m) => {
                assert_eq!(m.as_str(), "range 3..2");
                assert!(m.starts_with("range"));
                assert_eq!(format!("{m:?}"), "\"range 3..2\"");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!((e.path(), e.location(), e.offset()), (None, None, None));
        assert_eq!(io::Error::from(e).kind(), io::ErrorKind::InvalidInput);
        let e = Error::config("window_size must be at least 1");
        assert!(matches!(&e, Error::Config(m) if m.as_ref() == "window_size must be at least 1"));
    }
}
