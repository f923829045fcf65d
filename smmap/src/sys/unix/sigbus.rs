//! The SIGBUS guard: a file truncated (or whose pages cannot be read) under one of smmap's
//! mappings costs an error, not the process.
//!
//! An access to a page of a file mapping that lies past the end of the file (another process
//! truncated it) or that the system cannot read (an I/O error, a network file system that went
//! away) raises `SIGBUS` in the thread that made it. The guard is a process-wide `SIGBUS`
//! handler, installed once when the first guarded mapping is made, chained to the handler that
//! was there before. When the faulting address lies in a mapping registered here, the handler
//! marks the mapping *poisoned*, maps private zero pages over it from the faulting page to its
//! end (`MAP_FIXED`), and returns: the access is retried and reads zeros. Every operation of
//! smmap that hands out or copies bytes of a mapping checks the mark (see `sys::poison_seen` and
//! [`Guarded::poisoned`]) and reports the loss as `Error::FileChanged`. A `SIGBUS` anywhere
//! else goes to the previous handler, or, when there was none, kills the process as it would
//! have without the guard.
//!
//! # The table and its protocol
//!
//! The handler may interrupt any code, the code that registers mappings included, so it takes
//! no lock and allocates nothing: it reads a fixed table of [`SLOTS`] slots, each `(start, len,
//! state)` in atomics, with `state = generation << 3 | WRITABLE | POISONED | LIVE`.
//!
//! - **Registering** a mapping (outside the handler, under [`FREE`]'s lock, which only
//!   registering and unregistering take) takes a free slot, stores the next generation without
//!   `LIVE`, then `start` and `len`, then the generation with `LIVE` (release). Unregistering
//!   (before the mapping is unmapped) stores the next generation without `LIVE` and frees the
//!   slot.
//! - **The handler** reads a slot as a sequence lock is read: the state (acquire), `start` and
//!   `len`, an acquire fence, and the state again. It uses the slot only if both states are
//!   equal apart from `POISONED` (which another handler may set meanwhile) and `LIVE`: then
//!   `start` and `len` belong to one registration, not to a slot being reused.
//! - **The mapping that faulted cannot go away meanwhile:** the faulting thread is reading it,
//!   so whoever owns it holds it mapped (smmap unmaps only regions no cursor pins), and its slot
//!   is unregistered only before it is unmapped. Live mappings do not overlap, so at most one
//!   live slot holds the address.
//! - **Order of the mark and the zero pages:** the handler sets `POISONED` in the slot and the
//!   process-wide flag of `sys::note_loss` before it maps the zero pages. A thread that reads the zero
//!   pages does so after they were mapped, and the check it makes after reading (a copying
//!   read) sees the mark.
//!
//! What the guard cannot do: a zero-copy view (`&[u8]`, `&T`, a guard) handed out before the
//! loss reads zeros where the lost bytes were, and only the next call through smmap reports
//! it. A mapping registered while the table is full (more than [`SLOTS`] live mappings in the
//! process) is not guarded.

use std::ffi::{c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering, fence};
use std::sync::{Mutex, Once, OnceLock};

/// Slots of the table: as many as Linux allows mappings by default (`vm.max_map_count`).
const SLOTS: usize = 1 << 16;

const LIVE: usize = 1;
const POISONED: usize = 2;
const WRITABLE: usize = 4;
const GEN: usize = 8;

struct Slot {
    start: AtomicUsize,
    len: AtomicUsize,
    state: AtomicUsize,
    /// The lowest address the handler replaced with zero pages (`usize::MAX`: none).
    lost_from: AtomicUsize,
}

#[allow(clippy::declare_interior_mutable_const)]
const EMPTY: Slot = Slot {
    start: AtomicUsize::new(0),
    len: AtomicUsize::new(0),
    state: AtomicUsize::new(0),
    lost_from: AtomicUsize::new(usize::MAX),
};

static TABLE: [Slot; SLOTS] = [EMPTY; SLOTS];
/// Slots ever used: the handler looks at `TABLE[..HIGH]`.
static HIGH: AtomicUsize = AtomicUsize::new(0);
/// Slots used before and free now.
static FREE: Mutex<Vec<u32>> = Mutex::new(Vec::new());
/// The page size, read before the handler is installed.
static PAGE: AtomicUsize = AtomicUsize::new(0);
/// The handler that was installed before the guard's.
static PREVIOUS: OnceLock<libc::sigaction> = OnceLock::new();
static INSTALL: Once = Once::new();
static INSTALLED: AtomicBool = AtomicBool::new(false);

/// A mapping's registration with the guard; unregisters it when dropped (which the mapping's
/// owner does before unmapping it).
#[derive(Debug)]
pub(crate) struct Guarded {
    slot: u32,
}

impl Guarded {
    /// Registers `[start, start + len)`, installing the handler first if needed. `None` when the
    /// handler could not be installed or the table is full: the mapping is then not guarded.
    pub(crate) fn register(start: *const u8, len: usize, writable: bool) -> Option<Guarded> {
        if !install() || len == 0 {
            return None;
        }
        let mut free = FREE.lock().unwrap_or_else(|e| e.into_inner());
        let slot = match free.pop() {
            Some(i) => i as usize,
            None => {
                let i = HIGH.load(Ordering::Relaxed);
                if i == SLOTS {
                    return None;
                }
                i
            }
        };
        let s = &TABLE[slot];
        let next = (s.state.load(Ordering::Relaxed) & !(GEN - 1)) + GEN;
        s.state.store(next, Ordering::Relaxed);
        fence(Ordering::Release);
        s.start.store(start as usize, Ordering::Relaxed);
        s.len.store(len, Ordering::Relaxed);
        s.lost_from.store(usize::MAX, Ordering::Relaxed);
        let writable = if writable { WRITABLE } else { 0 };
        s.state.store(next | writable | LIVE, Ordering::Release);
        if slot == HIGH.load(Ordering::Relaxed) {
            // Published after the slot: the handler never reads a slot before its first use.
            HIGH.store(slot + 1, Ordering::Release);
        }
        Some(Guarded { slot: slot as u32 })
    }

    /// Whether the handler replaced pages of the mapping with zeros.
    #[inline]
    pub(crate) fn poisoned(&self) -> bool {
        TABLE[self.slot as usize].state.load(Ordering::Acquire) & POISONED != 0
    }

    /// The offset, from the mapping's start, of the first byte replaced with zeros.
    pub(crate) fn lost_from(&self) -> Option<usize> {
        let s = &TABLE[self.slot as usize];
        let from = s.lost_from.load(Ordering::Acquire);
        (from != usize::MAX).then(|| from - s.start.load(Ordering::Relaxed))
    }
}

impl Drop for Guarded {
    fn drop(&mut self) {
        let mut free = FREE.lock().unwrap_or_else(|e| e.into_inner());
        let s = &TABLE[self.slot as usize];
        let next = (s.state.load(Ordering::Relaxed) & !(GEN - 1)) + GEN;
        s.state.store(next, Ordering::Release);
        free.push(self.slot);
    }
}

/// Installs the handler once; whether it is installed.
fn install() -> bool {
    INSTALL.call_once(|| {
        PAGE.store(rustix::param::page_size(), Ordering::Relaxed);
        // SAFETY: an all-zero `sigaction` is a valid value of the plain C struct (no handler,
        // an empty mask, no flags); it is only written by `sigaction` below.
        let mut old: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: `sigaction` with a null new action only reads the current one into `old`.
        if unsafe { libc::sigaction(libc::SIGBUS, std::ptr::null(), &mut old) } != 0 {
            return;
        }
        if PREVIOUS.set(old).is_err() {
            return;
        }
        // SAFETY: as above, a valid starting value that is filled in below.
        let mut new: libc::sigaction = unsafe { std::mem::zeroed() };
        new.sa_sigaction = on_sigbus as *const () as libc::sighandler_t;
        new.sa_flags = libc::SA_SIGINFO | libc::SA_ONSTACK;
        // SAFETY: `sa_mask` is a valid signal set to initialize.
        unsafe { libc::sigemptyset(&mut new.sa_mask) };
        // SAFETY: installs a handler with the `SA_SIGINFO` signature; `on_sigbus` is
        // async-signal-safe (see the module docs) and lives as long as the program.
        if unsafe { libc::sigaction(libc::SIGBUS, &new, std::ptr::null_mut()) } == 0 {
            INSTALLED.store(true, Ordering::Release);
        }
    });
    INSTALLED.load(Ordering::Acquire)
}

/// The handler. Async-signal-safe: atomics, `mmap` and `sigaction` only.
extern "C" fn on_sigbus(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    let errno = errno::get();
    // SAFETY: the kernel passes a valid `siginfo_t` to an `SA_SIGINFO` handler.
    let addr = unsafe { fault_address(info) };
    let handled = claim(addr);
    errno::set(errno);
    if !handled {
        chain(sig, info, ctx);
    }
}

/// The faulting address of a `SIGBUS`.
///
/// # Safety
///
/// `info` points to the `siginfo_t` of a `SIGBUS`.
unsafe fn fault_address(info: *mut libc::siginfo_t) -> usize {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: `info` points to a valid `siginfo_t` (the caller's promise).
        let info = unsafe { &*info };
        // SAFETY: for SIGBUS the kernel fills in `si_addr`.
        unsafe { info.si_addr() as usize }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        // SAFETY: as above.
        unsafe { (*info).si_addr as usize }
    }
}

/// If `addr` lies in a registered mapping: marks it, maps zero pages over it from `addr`'s page
/// on, and returns `true`.
fn claim(addr: usize) -> bool {
    let high = HIGH.load(Ordering::Acquire);
    for s in &TABLE[..high] {
        let before = s.state.load(Ordering::Acquire);
        if before & LIVE == 0 {
            continue;
        }
        let start = s.start.load(Ordering::Relaxed);
        let len = s.len.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        let after = s.state.load(Ordering::Relaxed);
        if (before | POISONED) != (after | POISONED) || addr.wrapping_sub(start) >= len {
            continue;
        }
        s.state.fetch_or(POISONED, Ordering::Release);
        crate::sys::note_loss();
        let page = addr & !(PAGE.load(Ordering::Relaxed) - 1);
        s.lost_from.fetch_min(page, Ordering::AcqRel);
        let prot = if before & WRITABLE != 0 {
            libc::PROT_READ | libc::PROT_WRITE
        } else {
            libc::PROT_READ
        };
        // SAFETY: `[page, start + len)` lies inside a live mapping of this process that nothing
        // unmaps meanwhile (see the module docs); replacing its pages with private zero pages
        // keeps every address of it readable (and writable if it was), which is all its users
        // rely on. Nothing else is mapped there.
        let zeros = unsafe {
            libc::mmap(
                page as *mut c_void,
                start + len - page,
                prot,
                libc::MAP_PRIVATE | libc::MAP_ANON | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        return zeros != libc::MAP_FAILED;
    }
    false
}

/// Hands a `SIGBUS` that is not the guard's to the handler that was there before; without one,
/// restores the default action so that the faulting access, retried, kills the process.
fn chain(sig: c_int, info: *mut libc::siginfo_t, ctx: *mut c_void) {
    let prev = PREVIOUS.get();
    let action = prev.map_or(libc::SIG_DFL, |p| p.sa_sigaction);
    if action == libc::SIG_DFL || action == libc::SIG_IGN {
        // SAFETY: an all-zero `sigaction` is valid: the default action, no flags.
        let dfl: libc::sigaction = unsafe { std::mem::zeroed() };
        // SAFETY: restores the default action (`SIG_DFL` is 0); `sigaction` is
        // async-signal-safe.
        unsafe { libc::sigaction(sig, &dfl, std::ptr::null_mut()) };
        return;
    }
    let siginfo = prev.is_some_and(|p| p.sa_flags & libc::SA_SIGINFO != 0);
    if siginfo {
        // SAFETY: the previous handler was installed with `SA_SIGINFO`, so `action` is the
        // address of a function of this signature.
        let f: extern "C" fn(c_int, *mut libc::siginfo_t, *mut c_void) =
            unsafe { std::mem::transmute(action) };
        // It receives the arguments the kernel gave the guard.
        f(sig, info, ctx);
    } else {
        // SAFETY: without `SA_SIGINFO`, `action` is the address of a `void (*)(int)` handler.
        let f: extern "C" fn(c_int) = unsafe { std::mem::transmute(action) };
        f(sig);
    }
}

/// `errno`, saved and restored around the handler's system calls.
mod errno {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    fn location() -> *mut std::ffi::c_int {
        // SAFETY: returns the calling thread's `errno`; no preconditions.
        unsafe { libc::__errno_location() }
    }

    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    fn location() -> *mut std::ffi::c_int {
        // SAFETY: returns the calling thread's `errno`; no preconditions.
        unsafe { libc::__error() }
    }

    pub(super) fn get() -> std::ffi::c_int {
        // SAFETY: the thread's `errno` is always valid to read.
        unsafe { *location() }
    }

    pub(super) fn set(v: std::ffi::c_int) {
        // SAFETY: the thread's `errno` is always valid to write.
        unsafe { *location() = v }
    }
}
