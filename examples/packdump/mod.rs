//! A git pack reader on smmap: pack indexes (`.idx` v1 and v2) and packs (`.pack` v2/v3)
//! declared as records and read through one shared `SlidingWindowMapManager`.
//!
//! - [`idx`]: the index layouts, the fanout table and lookups by id;
//! - [`pack`]: entry headers, inflating, delta chains and the cache of delta bases;
//! - [`delta`]: git's delta format;
//! - [`cli`]: the commands (`verify`, `lookup`, `cat`, `bench`), writing to any `io::Write`.

pub(crate) mod cli;
pub(crate) mod delta;
pub(crate) mod idx;
pub(crate) mod pack;

use std::fmt;
use std::path::{Path, PathBuf};

/// What can go wrong reading a pack: the mapping layer's errors, I/O, and corrupt data (with
/// the file and what is wrong, at which offset or object).
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// An error of smmap (its message names the file and the offset).
    #[error(transparent)]
    Map(#[from] smmap::Error),
    /// An I/O error outside the mapped files (standard input and output).
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// The data of `path` is not what the format says.
    #[error("{}: {msg}", path.display())]
    Corrupt {
        /// The file.
        path: PathBuf,
        /// What is wrong, and where.
        msg: String,
    },
    /// An error about one object of a pack.
    #[error("{}", object_message(id, *offset, source))]
    Object {
        /// The object.
        id: ObjectId,
        /// Its entry's offset in the pack.
        offset: u64,
        /// What is wrong with it.
        source: Box<Error>,
    },
    /// The command line is wrong.
    #[error("{0}")]
    Usage(String),
}

impl Error {
    pub(crate) fn corrupt(path: &Path, msg: impl Into<String>) -> Self {
        Error::Corrupt {
            path: path.to_path_buf(),
            msg: msg.into(),
        }
    }
}

fn object_message(id: &ObjectId, offset: u64, source: &Error) -> String {
    match source {
        Error::Corrupt { path, msg } => {
            format!("{}: object {id} at offset {offset}: {msg}", path.display())
        }
        e => format!("object {id} at offset {offset}: {e}"),
    }
}

pub(crate) type Result<T, E = Error> = std::result::Result<T, E>;

/// A SHA-1 object id, as stored in pack indexes and REF_DELTA entries.
#[derive(smmap::MappedRecord, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
#[repr(transparent)]
pub(crate) struct ObjectId(pub(crate) [u8; 20]);

impl ObjectId {
    /// Parses 40 hex digits (either case).
    pub(crate) fn from_hex(s: &[u8]) -> Option<Self> {
        if s.len() != 40 {
            return None;
        }
        let mut id = [0u8; 20];
        for (i, b) in id.iter_mut().enumerate() {
            let hi = (s[2 * i] as char).to_digit(16)?;
            let lo = (s[2 * i + 1] as char).to_digit(16)?;
            *b = (hi << 4 | lo) as u8;
        }
        Some(ObjectId(id))
    }

    /// The 40 lowercase hex digits.
    pub(crate) fn hex(&self) -> [u8; 40] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 40];
        for (i, b) in self.0.iter().enumerate() {
            out[2 * i] = DIGITS[usize::from(b >> 4)];
            out[2 * i + 1] = DIGITS[usize::from(b & 15)];
        }
        out
    }
}

impl fmt::Display for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let hex = self.hex();
        f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for ObjectId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}
