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
//! Moving to another window that is already mapped takes neither the manager's lock nor any
//! read-modify-write: the cursor announces the window in a word of its own (a hazard, which the
//! manager checks before it unmaps anything), so threads sharing a manager do not wait for each
//! other; mapping a new region, and every switch of a file while a writer is at work on it, take
//! the lock briefly. A cursor also keeps the windows it switched to (one per half-window, up to
//! 1024; not where the system has a process-wide memory barrier that the process could not set
//! up): switching back to one reads only the cursor's own memory. A kept window does not hold
//! its region against a budget: the manager takes kept windows back whenever it unmaps a
//! region, and a claim for writing takes back those of its file.
//!
//! Under a budget smaller than the file, a small read-only request (up to 64 KiB) whose window
//! is cold (not mapped, not requested recently) is served by one `pread` into a buffer the
//! cursor owns instead of mapping the window (an `mmap`, page faults and an `munmap`); the
//! window is mapped once it turns hot (and, when mapping it would evict, only if it was used
//! more often than the region that would go), and a scan maps every window it moves on to. The bytes
//! are the same through every read path;
//! [`WindowCursor::region`] is then `None`. See [`ManagerBuilder::small_reads`].
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
//! # Files that change
//!
//! A mapping shows the file as it is now, not as it was when it was mapped. What users must
//! know, and what smmap does about each case:
//!
//! - **A file another process truncates.** On Unix, an access to a mapped page past the new end
//!   raises `SIGBUS`, which kills a process that does not handle it. smmap's *SIGBUS guard* (on
//!   by default, [`ManagerBuilder::sigbus_guard`] turns it off) is a process-wide handler,
//!   installed when the first guarded region is mapped and chained to the handler that was
//!   there before. When the fault lies in one of smmap's regions, it maps zero pages over the
//!   region from the faulting page on and marks the region poisoned; the access then reads
//!   zeros. The next operation on that region through a cursor, record, table, iterator or
//!   buffer returns [`Error::FileChanged`] with the bytes concerned, lets go of the region, and
//!   the call after maps the file anew (and sees its new size: what is left reads right, the
//!   rest is [`Error::OutOfBounds`]). Copying reads (the buffer's `Read` and `BufRead`,
//!   `try_get`, `slice` when it copies, `find`/`rfind`, `copy_to`, iterators of `Copy`
//!   records) and record checks check the mark *after* they read, so the bytes they return were
//!   there; what they read from lost pages is reported, not handed out. A flush reports the
//!   writes that went to lost pages. Each cursor holding a poisoned region learns of the loss
//!   once. A `SIGBUS` anywhere else goes to the previous handler (Rust's stack-overflow
//!   handler included) or, without one, kills the process as before.
//! - **What the guard cannot catch.** A zero-copy view already handed out (`&[u8]`, `&T`,
//!   [`MappedRef`]) reads zeros where the lost bytes were, and only the next call through smmap
//!   reports the loss: check the result of that call before trusting what such a view read
//!   after the file may have changed. Bytes that were never touched raise nothing (a
//!   `copy_to` into a writer that does not read them, for instance). A handler the program
//!   installs for `SIGBUS` after smmap's replaces it unless it calls the previous one. The
//!   guard's table holds 65,536 regions; beyond, regions are mapped unguarded.
//! - **A file rewritten in place** (written through `write`, or by another process's
//!   mapping) changes under the mapping: later reads see the new bytes, and a record read
//!   while it is being rewritten may mix old and new bytes. smmap cannot detect it; formats
//!   that are rewritten in place need their own checksums or locks. Git's packs and indexes
//!   are never rewritten: new ones are written beside them and renamed into place.
//! - **Renaming or deleting a mapped file** (Unix) is harmless: the mappings and the open
//!   descriptor keep the bytes. A path that now leads to another file is
//!   [`Error::FileReplaced`]; a file whose paths are all gone is still read through its
//!   descriptor while it has one. On Windows both are refused while the file is mapped.
//! - **Network and FUSE file systems** may fail to bring a page in (the server went away, the
//!   daemon died): the system raises `SIGBUS` as for a truncation, and the guard turns it into
//!   [`Error::FileChanged`] the same way. Their sizes may also be stale: smmap re-reads the
//!   size at every new mapping ([`WindowCursor::refresh_file_size`] on demand), and reports a
//!   file that shrank below a live region as [`Error::FileShrank`].
//! - **Huge pages.** smmap maps files with the system's base pages; transparent huge pages of
//!   the page cache (file systems that support them for file mappings) are used by the kernel
//!   if it is so configured, and windows that are multiples of 2 MiB let it. Truncation loses
//!   whole huge pages, which the guard handles as any other pages.
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
//! | truncating a mapped file | allowed: the SIGBUS guard turns accesses to lost pages into [`Error::FileChanged`] | refused (`ERROR_USER_MAPPED_FILE`) |
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
pub mod error;
mod ids;
mod lru;
mod manager;
mod managers;
#[cfg(feature = "bytemuck")]
mod native;
mod record;
mod region;
mod small;
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
