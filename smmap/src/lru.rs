//! Least-recently-used ordering: a set of keys ordered by the time they were last inserted.
//!
//! An intrusive doubly linked list over a slab: insertion (as the most recent), removal by
//! handle and finding the oldest are O(1) and allocate nothing once the slab has grown. The
//! manager keeps its unpinned regions and its idle descriptors in one each.

const NIL: u32 = u32::MAX;

#[derive(Debug, Clone, Copy)]
struct Node<K> {
    key: Option<K>,
    prev: u32,
    next: u32,
}

/// Keys from least to most recently inserted.
#[derive(Debug)]
pub(crate) struct Lru<K> {
    nodes: Vec<Node<K>>,
    free: Vec<u32>,
    head: u32,
    tail: u32,
    len: usize,
}

impl<K: Copy> Lru<K> {
    pub(crate) fn new() -> Self {
        Lru {
            nodes: Vec::new(),
            free: Vec::new(),
            head: NIL,
            tail: NIL,
            len: 0,
        }
    }

    /// Inserts `key` as the most recently used; returns a handle to remove it with.
    pub(crate) fn insert(&mut self, key: K) -> u64 {
        let node = Node {
            key: Some(key),
            prev: self.tail,
            next: NIL,
        };
        let at = match self.free.pop() {
            Some(i) => {
                self.nodes[i as usize] = node;
                i
            }
            None => {
                let i = u32::try_from(self.nodes.len()).expect("fewer than 2^32 live entries");
                self.nodes.push(node);
                i
            }
        };
        if self.tail == NIL {
            self.head = at;
        } else {
            self.nodes[self.tail as usize].next = at;
        }
        self.tail = at;
        self.len += 1;
        u64::from(at)
    }

    /// Whether the entry with this handle is the most recently used (re-inserting it would
    /// change nothing).
    pub(crate) fn is_newest(&self, handle: u64) -> bool {
        self.tail != NIL && u64::from(self.tail) == handle
    }

    /// Removes the entry with this handle.
    pub(crate) fn remove(&mut self, handle: u64) -> Option<K> {
        let at = u32::try_from(handle).ok()?;
        let node = *self.nodes.get(at as usize)?;
        let key = node.key?;
        if node.prev == NIL {
            self.head = node.next;
        } else {
            self.nodes[node.prev as usize].next = node.next;
        }
        if node.next == NIL {
            self.tail = node.prev;
        } else {
            self.nodes[node.next as usize].prev = node.prev;
        }
        self.nodes[at as usize].key = None;
        self.free.push(at);
        self.len -= 1;
        Some(key)
    }

    /// Removes and returns the least recently used key.
    #[cfg(test)]
    pub(crate) fn pop_oldest(&mut self) -> Option<K> {
        let (h, _) = self.oldest()?;
        self.remove(h)
    }

    /// The least recently used key and its handle, without removing it.
    pub(crate) fn oldest(&self) -> Option<(u64, K)> {
        (self.head != NIL).then(|| {
            let key = self.nodes[self.head as usize]
                .key
                .expect("linked nodes hold keys");
            (u64::from(self.head), key)
        })
    }

    /// The keys from least to most recently used, with their handles.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (u64, K)> + '_ {
        let mut at = self.head;
        std::iter::from_fn(move || {
            if at == NIL {
                return None;
            }
            let node = &self.nodes[at as usize];
            let item = (u64::from(at), node.key.expect("linked nodes hold keys"));
            at = node.next;
            Some(item)
        })
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.len
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
