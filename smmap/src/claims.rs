//! Coordination of write claims between the managers of one process.
//!
//! Two managers can map the same file; their mappings then share the same pages, so a mutable
//! view handed out by one would alias shared views handed out by the other. Each manager
//! records here which files (by device and inode) it knows, and every exclusive claim it grants.
//! A claim is granted only while no other manager knows the file, and a manager refuses to map
//! bytes of a file on which another manager holds a claim.
//!
//! The check on the mapping path costs one atomic load while no claim exists in the process.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard, OnceLock, PoisonError};

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

/// A new manager's id.
pub(crate) fn new_manager() -> u64 {
    NEXT_MANAGER.fetch_add(1, Ordering::Relaxed)
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
