//! Coordination of write claims between the managers of one process.
//!
//! Two managers can map the same file; their mappings then share the same pages, so a mutable
//! view handed out by one would alias shared views handed out by the other. Each manager
//! records here which files (by device and inode) it knows, and every exclusive claim it grants.
//! A claim is granted only while no other manager knows the file, and a manager refuses to map
//! bytes of a file on which another manager holds a claim.
//!
//! The check on the mapping path costs one atomic load while no claim exists in the process.
//!
//! Only shared writable mappings (`MapMode::ReadWrite`) take claims here: pages written through
//! a private (copy-on-write) mapping are copies that no other mapping sees, so a copy-on-write
//! manager's writers exclude only that manager's own views of the bytes.
//!
//! A resize is coordinated the same way ([`begin_resize`]): it holds an exclusive claim while it
//! asks every other manager that knows the file to give up its cached regions past the new end
//! (or to refuse, while one of them is pinned), so that no other manager maps the file between
//! that check and the `ftruncate`.
//!
//! Lock order: a manager's lock may be held while this registry's lock is taken, never the
//! reverse; nothing here calls into a manager while holding the registry's lock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock, PoisonError, Weak};

use crate::error::{Location, Result};

/// What a resize asks of the other managers of the process that know the file: to give up
/// their cached regions from `from` on (the new end, or 0 where a mapped file cannot shrink at
/// all), or to refuse while one of them is in use.
pub(crate) trait Peer: Send + Sync {
    fn give_up_past(&self, ident: Ident, from: u64, new_len: u64, loc: &Location) -> Result<()>;
}

type Ident = (u64, u64);

#[derive(Default)]
struct FileClaims {
    /// Managers that know the file, with their number of entries for it.
    managers: HashMap<u64, usize>,
    /// Managers holding exclusive claims on the file, with their number of claims.
    exclusive: HashMap<u64, usize>,
}

/// Exclusive claims alive in the process.
static CLAIMS: AtomicUsize = AtomicUsize::new(0);
static NEXT_MANAGER: AtomicU64 = AtomicU64::new(1);

fn registry() -> MutexGuard<'static, HashMap<Ident, FileClaims>> {
    static REGISTRY: OnceLock<Mutex<HashMap<Ident, FileClaims>>> = OnceLock::new();
    // Nothing under this lock can panic halfway through an update.
    REGISTRY
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

fn managers() -> MutexGuard<'static, HashMap<u64, Weak<dyn Peer>>> {
    static MANAGERS: OnceLock<Mutex<HashMap<u64, Weak<dyn Peer>>>> = OnceLock::new();
    MANAGERS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
}

/// A new manager's id.
pub(crate) fn new_manager() -> u64 {
    NEXT_MANAGER.fetch_add(1, Ordering::Relaxed)
}

/// Makes manager `mgr` reachable by other managers' resizes.
pub(crate) fn add_manager(mgr: u64, shared: Weak<dyn Peer>) {
    managers().insert(mgr, shared);
}

/// Manager `mgr` is going away.
pub(crate) fn remove_manager(mgr: u64) {
    managers().remove(&mgr);
}

/// An exclusive claim held for the duration of a resize; released on drop.
pub(crate) struct ResizeClaim {
    ident: Ident,
    mgr: u64,
}

impl Drop for ResizeClaim {
    fn drop(&mut self) {
        release_claim(self.ident, self.mgr);
    }
}

/// Starts a resize of `ident` by manager `mgr`: takes an exclusive claim (so that no other
/// manager maps the file until the claim is dropped) and returns the other managers that know
/// the file. `None` if another manager holds an exclusive claim on it.
pub(crate) fn begin_resize(ident: Ident, mgr: u64) -> Option<(ResizeClaim, Vec<Arc<dyn Peer>>)> {
    let others: Vec<u64> = {
        let mut reg = registry();
        let f = reg.entry(ident).or_default();
        if f.exclusive.keys().any(|&m| m != mgr) {
            return None;
        }
        *f.exclusive.entry(mgr).or_insert(0) += 1;
        CLAIMS.fetch_add(1, Ordering::SeqCst);
        f.managers.keys().copied().filter(|&m| m != mgr).collect()
    };
    let claim = ResizeClaim { ident, mgr };
    let all = managers();
    let others = others
        .iter()
        .filter_map(|m| all.get(m).and_then(Weak::upgrade))
        .collect();
    Some((claim, others))
}

/// Manager `mgr` made an entry for the file `ident`.
pub(crate) fn register(ident: Ident, mgr: u64) {
    *registry()
        .entry(ident)
        .or_default()
        .managers
        .entry(mgr)
        .or_insert(0) += 1;
}

/// Manager `mgr` forgot an entry for the file `ident`.
pub(crate) fn unregister(ident: Ident, mgr: u64) {
    let mut reg = registry();
    if let Some(f) = reg.get_mut(&ident) {
        if let Some(n) = f.managers.get_mut(&mgr) {
            *n -= 1;
            if *n == 0 {
                f.managers.remove(&mgr);
            }
        }
        if f.managers.is_empty() && f.exclusive.is_empty() {
            reg.remove(&ident);
        }
    }
}

/// Grants manager `mgr` an exclusive claim on bytes of `ident` if no other manager knows the
/// file.
pub(crate) fn try_claim(ident: Ident, mgr: u64) -> bool {
    let mut reg = registry();
    let f = reg.entry(ident).or_default();
    if f.managers.keys().any(|&m| m != mgr) || f.exclusive.keys().any(|&m| m != mgr) {
        return false;
    }
    *f.exclusive.entry(mgr).or_insert(0) += 1;
    CLAIMS.fetch_add(1, Ordering::SeqCst);
    true
}

/// Releases one exclusive claim of manager `mgr` on `ident`.
pub(crate) fn release_claim(ident: Ident, mgr: u64) {
    let mut reg = registry();
    if let Some(f) = reg.get_mut(&ident) {
        if let Some(n) = f.exclusive.get_mut(&mgr) {
            *n -= 1;
            if *n == 0 {
                f.exclusive.remove(&mgr);
            }
            CLAIMS.fetch_sub(1, Ordering::SeqCst);
        }
        if f.managers.is_empty() && f.exclusive.is_empty() {
            reg.remove(&ident);
        }
    }
}

/// Whether a manager other than `mgr` holds an exclusive claim on `ident`.
#[inline]
pub(crate) fn claimed_elsewhere(ident: Ident, mgr: u64) -> bool {
    if CLAIMS.load(Ordering::SeqCst) == 0 {
        return false;
    }
    registry()
        .get(&ident)
        .is_some_and(|f| f.exclusive.keys().any(|&m| m != mgr))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_exclude_other_managers() {
        let (a, b) = (new_manager(), new_manager());
        let f = (u64::MAX, 7);
        register(f, a);
        assert!(try_claim(f, a));
        assert!(!claimed_elsewhere(f, a));
        assert!(claimed_elsewhere(f, b));
        register(f, b);
        assert!(!try_claim(f, b));
        release_claim(f, a);
        assert!(!claimed_elsewhere(f, b));
        assert!(!try_claim(f, a), "b knows the file now");
        unregister(f, b);
        assert!(try_claim(f, a));
        release_claim(f, a);
        unregister(f, a);
        assert!(registry().get(&f).is_none());
    }
}
