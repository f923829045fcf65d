//! Windows: allocation granularity, handle budget and file identity through the Win32 API.
//!
//! What Windows does differently from Unix, and where smmap meets it:
//! - mapping offsets are multiples of the allocation granularity (64 KiB), not of the page
//!   size, so sliding windows are multiples of 128 KiB;
//! - a file is known by the serial number of its volume and its file index
//!   (`GetFileInformationByHandle`), which needs an open handle;
//! - a file with mapped views can be neither truncated (`ERROR_USER_MAPPED_FILE`) nor deleted:
//!   the manager unmaps its cached regions of a file before shrinking it and reports
//!   `Error::Busy` while a cursor pins one;
//! - because no one can truncate a mapped file, an access to a mapped page never faults for a
//!   lost page the way `SIGBUS` reports it on Unix; a disk error while paging in is a structured
//!   exception (`EXCEPTION_IN_PAGE_ERROR`), not a signal.

use std::fs::{File, OpenOptions};
use std::io;
use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::io::AsRawHandle;
use std::path::Path;

use windows_sys::Win32::Foundation::{
    ERROR_COMMITMENT_LIMIT, ERROR_NO_SYSTEM_RESOURCES, ERROR_NOT_ENOUGH_MEMORY, ERROR_OUTOFMEMORY,
    ERROR_TOO_MANY_OPEN_FILES, ERROR_USER_MAPPED_FILE,
};
use windows_sys::Win32::Storage::FileSystem::{
    BY_HANDLE_FILE_INFORMATION, FILE_FLAG_BACKUP_SEMANTICS, FILE_READ_ATTRIBUTES,
    FILE_SHARE_DELETE, FILE_SHARE_READ, FILE_SHARE_WRITE, GetFileInformationByHandle,
};
use windows_sys::Win32::System::SystemInformation::{GetSystemInfo, SYSTEM_INFO};

use super::FileIdentity;
use crate::config::MapMode;

/// The handle budget's base when nothing else limits it: the most descriptors the C runtime
/// gives a process (`_setmaxstdio`). The kernel allows far more handles, but each one a manager
/// keeps open also keeps the file from being deleted or renamed by programs that do not share
/// deletion, so a budget of thousands, not millions, is the useful default.
const HANDLE_BUDGET: u64 = 8192;

pub(super) fn allocation_granularity() -> usize {
    let mut info = SYSTEM_INFO::default();
    // SAFETY: `info` is a valid, writable SYSTEM_INFO for GetSystemInfo to fill; the call has
    // no other precondition and cannot fail.
    unsafe { GetSystemInfo(&mut info) };
    match info.dwAllocationGranularity {
        0 => 1 << 16,
        g => g as usize,
    }
}

pub(super) fn file_identity(file: &File, _: &std::fs::Metadata) -> io::Result<FileIdentity> {
    handle_identity(file)
}

fn handle_identity(file: &File) -> io::Result<FileIdentity> {
    let mut info = BY_HANDLE_FILE_INFORMATION {
        dwFileAttributes: 0,
        ftCreationTime: Default::default(),
        ftLastAccessTime: Default::default(),
        ftLastWriteTime: Default::default(),
        dwVolumeSerialNumber: 0,
        nFileSizeHigh: 0,
        nFileSizeLow: 0,
        nNumberOfLinks: 0,
        nFileIndexHigh: 0,
        nFileIndexLow: 0,
    };
    // SAFETY: the handle belongs to `file`, which is open for the duration of the call, and
    // `info` is a valid, writable BY_HANDLE_FILE_INFORMATION.
    let ok = unsafe { GetFileInformationByHandle(file.as_raw_handle(), &mut info) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    let index = (u64::from(info.nFileIndexHigh) << 32) | u64::from(info.nFileIndexLow);
    Ok((u64::from(info.dwVolumeSerialNumber), index))
}

pub(super) fn path_identity(path: &Path, _: &std::fs::Metadata) -> io::Result<FileIdentity> {
    // A handle that can read attributes only: it conflicts with no other opener's share mode
    // and does not keep the file from being deleted. Backup semantics let it open
    // directories too, so that they are reported as not being regular files.
    let file = OpenOptions::new()
        .access_mode(FILE_READ_ATTRIBUTES)
        .share_mode(FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE)
        .custom_flags(FILE_FLAG_BACKUP_SEMANTICS)
        .open(path)?;
    handle_identity(&file)
}

pub(super) fn nofile_soft_limit() -> Option<u64> {
    Some(HANDLE_BUDGET)
}

pub(super) fn is_resource_exhaustion(e: &io::Error) -> bool {
    let exhausted = [
        ERROR_TOO_MANY_OPEN_FILES,
        ERROR_NOT_ENOUGH_MEMORY,
        ERROR_OUTOFMEMORY,
        ERROR_NO_SYSTEM_RESOURCES,
        ERROR_COMMITMENT_LIMIT,
    ];
    e.raw_os_error()
        .is_some_and(|code| exhausted.contains(&(code as u32)))
}

/// A handle's access rights are not cheaply known on Windows: a handle that does not allow
/// the manager's mode is taken, and its mappings fail with `ERROR_ACCESS_DENIED`, for the
/// cursors of that file.
pub(super) fn access_fits(_file: &File, _mode: MapMode) -> io::Result<bool> {
    Ok(true)
}

/// Windows has `FlushProcessWriteBuffers`; Wine up to 8.x has it as a stub that does
/// nothing, so under Wine (known by the `wine_get_version` export of its `ntdll.dll`) the
/// readers' side uses full fences instead.
pub(super) fn register_process_barrier() -> bool {
    use windows_sys::Win32::System::LibraryLoader::{GetModuleHandleA, GetProcAddress};
    // SAFETY: the name is a NUL-terminated ASCII string; `GetModuleHandleA` takes no
    // reference on the module (ntdll.dll stays loaded for the life of the process).
    let ntdll = unsafe { GetModuleHandleA(c"ntdll.dll".as_ptr().cast()) };
    // SAFETY: `ntdll` is a loaded module's handle and the name a NUL-terminated ASCII string;
    // the address returned is only compared with null, never called.
    let wine = !ntdll.is_null()
        && unsafe { GetProcAddress(ntdll, c"wine_get_version".as_ptr().cast()) }.is_some();
    !wine
}

/// A full memory barrier on every running thread of the process.
pub(super) fn process_barrier() -> bool {
    // SAFETY: `FlushProcessWriteBuffers` has no arguments and no preconditions.
    unsafe { windows_sys::Win32::System::Threading::FlushProcessWriteBuffers() };
    true
}

pub(super) const MAPPED_FILES_CAN_SHRINK: bool = false;

pub(super) fn is_mapped_file_error(e: &io::Error) -> bool {
    e.raw_os_error() == Some(ERROR_USER_MAPPED_FILE as i32)
}
