//! Memory-mapped access to many, possibly huge, files under a budget, with typed zero-copy
//! records.
//!
//! smmap maps only the parts of files that are used, tracks the mapped regions and who uses
//! them, and unmaps the least recently used ones when a budget of mapped bytes, mappings or open
//! descriptors is reached. It reads on-disk records declared as `#[repr(C)]` structs in place at
//! any offset, and offers a file-like buffer with `std::io` traits.
//!
//! # Managers
//!
//! A manager owns the registry of files (known by device and inode, so two paths to one file
//! share its regions), the mapped regions, the budgets and the [`Stats`]. There are two:
//!
//! - [`SlidingWindowMapManager`] maps windows of `window_size` bytes that start at multiples of
//!   `window_size / 2` (git's layout): every request of at most half a window lies in one
//!   window, and a longer one gets a region of its own. Defaults: 1 GiB windows and an 8 GiB
//!   budget on 64-bit (64 MiB and 1 GiB on 32-bit), as Python smmap; less where the address
//!   space is limited (`RLIMIT_AS`), and windows that do not fit the address space left are
//!   mapped smaller.
//! - [`StaticWindowMapManager`] maps each file whole.
//!
//! Budgets ([`ManagerBuilder::max_memory_size`], [`ManagerBuilder::max_open_handles`],
//! [`ManagerBuilder::max_open_files`]) are kept by unmapping the least recently used region no
//! cursor uses (true LRU over all files, O(1) per eviction) and closing the least recently used
//! idle descriptor. They are soft only when every region is in use: then the manager maps anyway
//! and counts it in [`Stats::over_budget_maps`]. When `open` or `mmap` fails for lack of
//! descriptors or memory, the manager releases every unused region and idle descriptor and
//! retries once.
//!
//! ```
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("data");
//! # std::fs::write(&path, vec![7u8; 100_000])?;
//! let man = smmap::SlidingWindowMapManager::builder()
//!     .window_size(1 << 20)
//!     .max_memory_size(64 << 20)
//!     .build()?;
//! let mut c = man.make_cursor(&path)?;
//! assert_eq!(c.use_region(99_990, 100)?.len(), 10); // exactly what the file has
//! drop(c);
//! assert_eq!(man.num_file_handles(), 1); // cached until a budget needs room
//! assert_eq!(man.collect(), 1);
//! # Ok(()) }
//! ```
//!
//! # Cursors
//!
//! A [`WindowCursor`] is a handle on one file and the region it currently uses. A request inside
//! that region is a bounds check and pointer arithmetic: no lock, no atomic, no allocation.
//! Moving to another window that is already mapped pins it with one atomic operation, without
//! the manager's lock, so that threads sharing a manager do not wait for each other; mapping a
//! new region, and every switch of a file while a writer is at work on it, take the lock briefly.
//!
//! # Records
//!
//! A [`MappedRecord`] has alignment 1, no padding and no invalid bit patterns, so a `&T` can be
//! handed out at any file offset. `#[derive(MappedRecord)]` checks this at compile time for a
//! `#[repr(C)]` struct of [`byteorder`] types, bytes, arrays and other records, and generates
//! getters that return native values:
//!
#![cfg_attr(feature = "derive", doc = "```")]
#![cfg_attr(not(feature = "derive"), doc = "```ignore")]
//! use smmap::MappedRecord;
//! use smmap::byteorder::{LittleEndian, U32, U64};
//!
//! #[derive(MappedRecord)]
//! #[repr(C)]
//! struct Entry {
//!     key: U64<LittleEndian>,
//!     len: U32<LittleEndian>,
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! # let dir = tempfile::tempdir()?;
//! # let path = dir.path().join("entries");
//! let mut bytes = Vec::new();
//! for k in 0u64..1000 {
//!     bytes.extend_from_slice(&k.to_le_bytes());
//!     bytes.extend_from_slice(&(k as u32 * 3).to_le_bytes());
//! }
//! std::fs::write(&path, &bytes)?;
//!
//! let man = smmap::SlidingWindowMapManager::builder().window_size(1).build()?; // tiny windows
//! let mut c = man.make_cursor(&path)?;
//! // Record 700 crosses a window boundary; a window that covers it is mapped.
//! let e = c.record::<Entry>(700 * Entry::SIZE as u64)?;
//! assert_eq!((e.key(), e.len()), (700, 2100));
//! assert!(c.record::<Entry>(1000 * Entry::SIZE as u64).is_err()); // past the end
//! # Ok(()) }
//! ```
//!
//! # Errors
//!
//! Every fallible operation returns [`Error`], whose message names what happened, the file and
//! the offset. Bad input (offsets past the end, records running past the end, a file that
//! shrank, a bad magic number, exhausted descriptors) is an `Err`, never a panic.
//!
//! # What a memory map cannot promise
//!
//! Like every reader of memory-mapped files, smmap assumes that mapped files are not truncated
//! or rewritten in place by other processes while they are mapped: an access to a page past the
//! new end of a file raises `SIGBUS`. smmap re-reads the size at every new mapping and reports a
//! file that shrank below a live region as [`Error::FileShrank`].
//!
//! # Platforms
//!
//! smmap runs on Linux (64- and 32-bit), macOS and Windows; CI runs the whole test suite as a
//! 32-bit Linux process and as a Windows process (under wine), and checks both macOS targets.
//! What differs:
//!
//! | | Unix | Windows |
//! |---|---|---|
//! | [`allocation_granularity`] | the page size (4 KiB; 16 KiB on Apple silicon) | 64 KiB: windows are multiples of 128 KiB |
//! | file identity | device and inode | volume serial number and file index |
//! | default [`max_open_files`](ManagerBuilder::max_open_files) | soft `RLIMIT_NOFILE` minus 25 | 8192 (the C runtime's ceiling) minus 25 |
//! | truncating a mapped file | allowed: later accesses to lost pages raise `SIGBUS` | refused (`ERROR_USER_MAPPED_FILE`) |
//! | deleting a mapped file | allowed: the mapping keeps the bytes | refused on NTFS without POSIX delete semantics |
//!
//! On Windows, [`WindowCursor::resize`] and [`SlidingWindowMapBuffer::resize`] therefore unmap
//! the manager's cached regions of the file before shrinking it, and return [`Error::Busy`]
//! while a cursor or guard pins one of its regions, or while another manager or process maps
//! it. Growing a mapped file is allowed everywhere.
//!
//! A guard against `SIGBUS` is a Unix matter only. Windows cannot lose a mapped page to a
//! truncation, since it refuses to truncate a mapped file; what remains is a read error of the
//! disk while a page is brought in, which Windows raises as the structured exception
//! `EXCEPTION_IN_PAGE_ERROR` (as Unix raises `SIGBUS` for it), not as a truncation smmap could
//! repair.
//!
//! On a 32-bit process the defaults (64 MiB windows, a 1 GiB budget) let files far larger than
//! the address space be read through a [`SlidingWindowMapManager`]; a
//! [`StaticWindowMapManager`] cannot map a file larger than the address space and returns an
//! error for it.
#![cfg_attr(docsrs, feature(doc_cfg))]

mod buffer;
mod claims;
mod config;
mod cursor;
mod error;
mod lru;
mod manager;
mod managers;
#[cfg(feature = "bytemuck")]
mod native;
mod record;
mod region;
mod sys;
mod table;
mod window;

pub use buffer::SlidingWindowMapBuffer;
pub use config::{MapMode, RegionInfo, Stats};
pub use cursor::WindowCursor;
pub use error::{Error, Location, Result};
pub use managers::{ManagerBuilder, SlidingWindowMapManager, StaticWindowMapManager};
#[cfg(feature = "bytemuck")]
#[cfg_attr(docsrs, doc(cfg(feature = "bytemuck")))]
pub use native::Native;
pub use record::{MappedRecord, RecordCheckError};
pub use table::{MappedRef, RecordIter, RecordTable};

/// The allocation granularity of this system: mapping offsets are multiples of it, and window
/// sizes are rounded up to multiples of twice it.
pub fn allocation_granularity() -> usize {
    sys::allocation_granularity()
}

#[cfg(feature = "derive")]
pub use smmap_derive::MappedRecord;

/// zerocopy's byte-order types: integers and floats of a fixed byte order, alignment 1.
pub mod byteorder {
    pub use zerocopy::byteorder::{
        BE, BigEndian, ByteOrder, F32, F64, I16, I32, I64, I128, Isize, LE, LittleEndian,
        NativeEndian, NetworkEndian, U16, U32, U64, U128, Usize,
    };
}

#[doc(hidden)]
pub mod __private;

/// The README's examples, compiled and run as doctests.
#[cfg(all(doctest, feature = "derive"))]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
