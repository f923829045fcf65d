//! Unix: page size, descriptor limit and file identity through rustix and std, and the SIGBUS
//! guard (`sigbus.rs`).

use std::fs::File;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rustix::io::Errno;

use super::FileIdentity;
use crate::config::MapMode;

mod sigbus;
pub(super) use sigbus::Guarded;

pub(super) fn allocation_granularity() -> usize {
    rustix::param::page_size()
}

pub(super) fn file_identity(_: &File, meta: &std::fs::Metadata) -> io::Result<FileIdentity> {
    Ok((meta.dev(), meta.ino()))
}

pub(super) fn path_identity(_: &Path, meta: &std::fs::Metadata) -> io::Result<FileIdentity> {
    Ok((meta.dev(), meta.ino()))
}

pub(super) fn nofile_soft_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::Nofile).current
}

/// The soft `RLIMIT_AS` (bytes of address space), if the process has one.
pub(super) fn address_space_limit() -> Option<u64> {
    rustix::process::getrlimit(rustix::process::Resource::As).current
}

pub(super) fn is_resource_exhaustion(e: &io::Error) -> bool {
    [Errno::MFILE, Errno::NFILE, Errno::NOMEM]
        .iter()
        .any(|errno| e.raw_os_error() == Some(errno.raw_os_error()))
}

pub(super) fn access_fits(file: &File, mode: MapMode) -> io::Result<bool> {
    use rustix::fs::OFlags;
    let flags = rustix::fs::fcntl_getfl(file)?;
    Ok(match flags & OFlags::RWMODE {
        f if f == OFlags::RDWR => true,
        f if f == OFlags::RDONLY => mode != MapMode::ReadWrite,
        _ => false,
    })
}

/// Registers the process for `membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED)` (Linux 4.14 and
/// later); `false` where that is not available (other systems, seccomp filters, old kernels).
pub(super) fn register_process_barrier() -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::thread::{MembarrierCommand, membarrier, membarrier_query};
        membarrier_query().contains_command(MembarrierCommand::PrivateExpedited)
            && membarrier(MembarrierCommand::RegisterPrivateExpedited).is_ok()
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        false
    }
}

/// A full memory barrier on every running thread of the process (only called once
/// [`register_process_barrier`] succeeded).
pub(super) fn process_barrier() -> bool {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        use rustix::thread::{MembarrierCommand, membarrier};
        membarrier(MembarrierCommand::PrivateExpedited).is_ok()
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        false
    }
}

pub(super) const MAPPED_FILES_CAN_SHRINK: bool = true;

pub(super) fn is_mapped_file_error(_: &io::Error) -> bool {
    false
}
