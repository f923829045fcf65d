//! The manager's ids (files and regions are numbered in order) and the maps keyed by them.

use std::collections::HashMap;

/// A file's id, unique within its manager.
pub(crate) type FileId = u64;

/// A hasher for the manager's ids: sequential integers, spread by a multiplication
/// (Fibonacci hashing); much cheaper than SipHash on the region-switch path.
#[derive(Default, Clone, Copy)]
pub(crate) struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }
    fn write_u64(&mut self, v: u64) {
        // One id: `v` spread; a pair: the second mixed into the first.
        self.0 = (self.0.rotate_left(29) ^ v).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    }
}

pub(crate) type IdMap<V> = HashMap<u64, V, std::hash::BuildHasherDefault<IdHasher>>;

/// A map keyed by pairs of ids, hashed as [`IdHasher`] hashes ids.
pub(crate) type PairMap<V> = HashMap<(u64, u64), V, std::hash::BuildHasherDefault<IdHasher>>;
