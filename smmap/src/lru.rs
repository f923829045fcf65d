//! Least-recently-used ordering: a set of keys ordered by the time they were last stamped.
//!
//! Each insertion takes a fresh, strictly increasing stamp; removal and popping the oldest are
//! O(log n). The manager keeps its unpinned regions and its idle descriptors in one each.

use std::collections::BTreeMap;

/// Keys ordered by the stamp they were inserted with.
#[derive(Debug)]
pub(crate) struct Lru<K> {
    by_stamp: BTreeMap<u64, K>,
    next: u64,
}

impl<K: Copy> Lru<K> {
    pub(crate) fn new() -> Self {
        Lru {
            by_stamp: BTreeMap::new(),
            next: 0,
        }
    }

    /// Inserts `key` as the most recently used; returns its stamp, needed to remove it.
    pub(crate) fn insert(&mut self, key: K) -> u64 {
        let stamp = self.next;
        self.next += 1;
        self.by_stamp.insert(stamp, key);
        stamp
    }

    /// Removes the entry with this stamp.
    pub(crate) fn remove(&mut self, stamp: u64) -> Option<K> {
        self.by_stamp.remove(&stamp)
    }

    /// Removes and returns the least recently used key.
    #[cfg(test)]
    pub(crate) fn pop_oldest(&mut self) -> Option<K> {
        self.by_stamp.pop_first().map(|(_, k)| k)
    }

    /// The least recently used key and its stamp, without removing it.
    pub(crate) fn oldest(&self) -> Option<(u64, K)> {
        self.by_stamp.first_key_value().map(|(s, k)| (*s, *k))
    }

    /// The keys from least to most recently used.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, K)> + '_ {
        self.by_stamp.iter().map(|(s, k)| (*s, *k))
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.by_stamp.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn pops_in_insertion_order_after_removals() {
        let mut l = Lru::new();
        let a = l.insert('a');
        let _b = l.insert('b');
        let _c = l.insert('c');
        assert_eq!(l.remove(a), Some('a'));
        let _a2 = l.insert('a');
        assert_eq!(l.pop_oldest(), Some('b'));
        assert_eq!(l.pop_oldest(), Some('c'));
        assert_eq!(l.pop_oldest(), Some('a'));
        assert_eq!(l.pop_oldest(), None);
    }

    proptest! {
        /// Against a naive model: a Vec in use order, the victim is its first element.
        #[test]
        fn victim_is_least_recently_used(ops in proptest::collection::vec((0u8..3, 0usize..16), 1..200)) {
            let mut l = Lru::new();
            let mut stamps: Vec<Option<u64>> = vec![None; 16];
            let mut model: Vec<usize> = Vec::new();
            for (op, k) in ops {
                match op {
                    0 => {
                        // use: (re)insert as most recent
                        if let Some(s) = stamps[k].take() { l.remove(s); }
                        model.retain(|&x| x != k);
                        stamps[k] = Some(l.insert(k));
                        model.push(k);
                    }
                    1 => {
                        if let Some(s) = stamps[k].take() { prop_assert_eq!(l.remove(s), Some(k)); }
                        model.retain(|&x| x != k);
                    }
                    _ => {
                        let got = l.pop_oldest();
                        let want = if model.is_empty() { None } else { Some(model.remove(0)) };
                        prop_assert_eq!(got, want);
                        if let Some(g) = got { stamps[g] = None; }
                    }
                }
                prop_assert_eq!(l.len(), model.len());
            }
        }
    }
}
