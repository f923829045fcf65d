//! Packs (`.pack`): the header, entry headers, inflating entries, resolving delta chains, and
//! a bounded cache of delta bases.
//!
//! Inflating is flate2's streaming `Decompress` on the zlib-rs backend: git writes plain zlib
//! streams, flate2 is the well-kept standard interface for them (it takes its input in pieces,
//! so a stream is fed window by window straight from the mapping, without copying, as git's
//! `use_pack` loop does), and zlib-rs is a memory-safe Rust zlib as fast as zlib-ng, with no
//! C toolchain needed.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use flate2::{Decompress, FlushDecompress, Status};
use smmap::{MappedRecord, SlidingWindowMapManager, WindowCursor};

use super::idx::{Be32, PackIndex};
use super::{Error, ObjectId, Result, delta};

/// The header of a pack: `PACK`, the version (2 or 3), the number of objects.
#[derive(MappedRecord, Clone, Copy)]
#[repr(C)]
#[mapped(validate = known_version)]
pub(crate) struct PackHeader {
    #[mapped(magic = b"PACK")]
    magic: [u8; 4],
    version: Be32,
    objects: Be32,
}

fn known_version(h: &PackHeader) -> Result<(), String> {
    match h.version() {
        2 | 3 => Ok(()),
        v => Err(format!("pack version {v} is not supported (only 2 and 3)")),
    }
}

/// The length of the pack's trailing checksum (SHA-1).
pub(crate) const HASH_LEN: u64 = 20;

/// An object's type.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    Commit,
    Tree,
    Blob,
    Tag,
}

impl Kind {
    /// git's name of the type.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Kind::Commit => "commit",
            Kind::Tree => "tree",
            Kind::Blob => "blob",
            Kind::Tag => "tag",
        }
    }
}

/// What an entry holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum EntryKind {
    /// A whole object.
    Base(Kind),
    /// A delta against the entry at this pack offset.
    OfsDelta(u64),
    /// A delta against the object with this id.
    RefDelta(ObjectId),
}

/// An entry's header: what it is, the inflated size of its data (for deltas: of the delta),
/// and where its zlib stream starts.
#[derive(Clone, Copy, Debug)]
pub(crate) struct EntryHeader {
    pub(crate) kind: EntryKind,
    pub(crate) size: u64,
    pub(crate) data_at: u64,
}

/// An object: its type and its content (shared with the cache).
#[derive(Clone, Debug)]
pub(crate) struct Object {
    pub(crate) kind: Kind,
    pub(crate) data: Rc<Vec<u8>>,
}

/// A least-recently-used cache of objects by pack offset, bounded in bytes (git's
/// `core.deltaBaseCacheLimit`, 96 MiB by default).
pub(crate) struct DeltaCache {
    map: lru::LruCache<u64, Object>,
    bytes: usize,
    limit: usize,
}

impl DeltaCache {
    /// A cache of at most `limit` bytes of object data.
    pub(crate) fn new(limit: usize) -> Self {
        DeltaCache {
            map: lru::LruCache::unbounded(),
            bytes: 0,
            limit,
        }
    }

    fn get(&mut self, ofs: u64) -> Option<Object> {
        self.map.get(&ofs).cloned()
    }

    fn put(&mut self, ofs: u64, obj: &Object) {
        let len = obj.data.len();
        if len > self.limit / 2 || self.map.contains(&ofs) {
            return;
        }
        self.bytes += len;
        self.map.put(ofs, obj.clone());
        while self.bytes > self.limit {
            match self.map.pop_lru() {
                Some((_, o)) => self.bytes -= o.data.len(),
                None => break,
            }
        }
    }

    /// The bytes of object data held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

/// The default bound of the delta-base cache, as git's.
pub(crate) const DEFAULT_CACHE: usize = 96 << 20;

/// The largest output buffer reserved before inflating; larger objects grow as they inflate,
/// so a lying size field never causes a huge allocation.
const MAX_RESERVE: u64 = 64 << 20;

/// zlib cannot inflate one byte into more than 1032 bytes.
const MAX_ZLIB_RATIO: u64 = 1032;

/// A pack and its index, read through one manager.
pub(crate) struct Pack {
    idx: PackIndex,
    path: PathBuf,
    cursor: WindowCursor,
    size: u64,
    objects: u32,
    cache: DeltaCache,
    inflater: Decompress,
}

impl Pack {
    /// Opens the index at `idx_path` and the pack beside it (same name, `.pack`), checking the
    /// pack's header, that both count the same objects and that the index records the pack's
    /// checksum.
    pub(crate) fn open(man: &SlidingWindowMapManager, idx_path: &Path) -> Result<Self> {
        Self::with_cache(man, idx_path, DEFAULT_CACHE)
    }

    /// [`open`](Self::open), with a delta-base cache of `cache` bytes.
    pub(crate) fn with_cache(
        man: &SlidingWindowMapManager,
        idx_path: &Path,
        cache: usize,
    ) -> Result<Self> {
        if idx_path.extension().is_none_or(|e| e != "idx") {
            return Err(Error::Usage(format!(
                "{}: a pack index is named *.idx",
                idx_path.display()
            )));
        }
        let idx = PackIndex::open(man, idx_path)?;
        let path = idx_path.with_extension("pack");
        let mut cursor = man.make_cursor(&path)?;
        let size = cursor.file_size();
        if size < PackHeader::SIZE as u64 + HASH_LEN {
            return Err(Error::corrupt(
                &path,
                format!("truncated pack ({size} bytes)"),
            ));
        }
        let objects = cursor.record::<PackHeader>(0)?.objects();
        if u64::from(objects) != idx.len() {
            return Err(Error::corrupt(
                &path,
                format!(
                    "the pack holds {objects} objects, its index {} lists {}",
                    idx.path().display(),
                    idx.len()
                ),
            ));
        }
        let trailer = *cursor.record::<ObjectId>(size - HASH_LEN)?;
        if trailer != idx.pack_checksum() {
            return Err(Error::corrupt(
                &path,
                format!(
                    "the pack's checksum {trailer} differs from the one its index records ({})",
                    idx.pack_checksum()
                ),
            ));
        }
        Ok(Pack {
            idx,
            path,
            cursor,
            size,
            objects,
            cache: DeltaCache::new(cache),
            inflater: Decompress::new(true),
        })
    }

    /// The pack's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The pack's size in bytes.
    pub(crate) fn size(&self) -> u64 {
        self.size
    }

    /// Where the entries end (the trailing checksum starts).
    pub(crate) fn data_end(&self) -> u64 {
        self.size - HASH_LEN
    }

    /// The number of objects.
    pub(crate) fn len(&self) -> u32 {
        self.objects
    }

    /// The index.
    pub(crate) fn index(&mut self) -> &mut PackIndex {
        &mut self.idx
    }

    /// A cursor on the pack (for checksumming it).
    pub(crate) fn cursor(&mut self) -> &mut WindowCursor {
        &mut self.cursor
    }

    /// The delta-base cache.
    pub(crate) fn cache(&self) -> &DeltaCache {
        &self.cache
    }

    fn corrupt(&self, msg: String) -> Error {
        Error::corrupt(&self.path, msg)
    }

    /// The pack offset of object `id`, if the pack holds it.
    pub(crate) fn lookup(&mut self, id: &ObjectId) -> Result<Option<u64>> {
        self.idx.lookup(id)
    }

    /// Reads the header of the entry at `ofs`: type and size, then the OFS_DELTA distance or
    /// the REF_DELTA base id.
    pub(crate) fn entry_header(&mut self, ofs: u64) -> Result<EntryHeader> {
        let end = self.data_end();
        if ofs < PackHeader::SIZE as u64 || ofs >= end {
            return Err(self.corrupt(format!(
                "entry offset {ofs} lies outside the pack's entries ({}..{end})",
                PackHeader::SIZE
            )));
        }
        // 10 bytes of type and size, then at most 20 of base: one request, as git's rawsz slack.
        let want = (end - ofs).min(32) as usize;
        let mut bytes = [0u8; 32];
        bytes[..want].copy_from_slice(self.cursor.use_region(ofs, want)?);
        let b = &bytes[..want];
        let truncated = |what: &str| format!("entry at offset {ofs}: truncated {what}");
        let mut i = 0;
        let mut c = b[0];
        i += 1;
        let ty = (c >> 4) & 7;
        let mut size = u64::from(c & 0x0f);
        let mut shift = 4;
        while c & 0x80 != 0 {
            let Some(&n) = b.get(i) else {
                return Err(self.corrupt(truncated("size")));
            };
            c = n;
            i += 1;
            if shift > 60 {
                return Err(self.corrupt(format!(
                    "entry at offset {ofs}: size field longer than 64 bits"
                )));
            }
            size |= u64::from(c & 0x7f) << shift;
            shift += 7;
        }
        let kind = match ty {
            1 => EntryKind::Base(Kind::Commit),
            2 => EntryKind::Base(Kind::Tree),
            3 => EntryKind::Base(Kind::Blob),
            4 => EntryKind::Base(Kind::Tag),
            6 => {
                let Some(&first) = b.get(i) else {
                    return Err(self.corrupt(truncated("OFS_DELTA distance")));
                };
                i += 1;
                let mut c = first;
                let mut dist = u64::from(c & 0x7f);
                while c & 0x80 != 0 {
                    let Some(&n) = b.get(i) else {
                        return Err(self.corrupt(truncated("OFS_DELTA distance")));
                    };
                    c = n;
                    i += 1;
                    if dist >= 1 << 56 {
                        return Err(self.corrupt(format!(
                            "entry at offset {ofs}: OFS_DELTA distance overflows 64 bits"
                        )));
                    }
                    dist = ((dist + 1) << 7) | u64::from(c & 0x7f);
                }
                match ofs.checked_sub(dist) {
                    Some(base) if dist > 0 && base >= PackHeader::SIZE as u64 => {
                        EntryKind::OfsDelta(base)
                    }
                    _ => {
                        return Err(self.corrupt(format!(
                            "entry at offset {ofs}: OFS_DELTA distance {dist} points outside \
                             the pack's entries"
                        )));
                    }
                }
            }
            7 => {
                let Some(id) = b.get(i..i + 20) else {
                    return Err(self.corrupt(truncated("REF_DELTA base id")));
                };
                i += 20;
                EntryKind::RefDelta(ObjectId(id.try_into().expect("20 bytes")))
            }
            t => {
                return Err(self.corrupt(format!("entry at offset {ofs}: invalid object type {t}")));
            }
        };
        Ok(EntryHeader {
            kind,
            size,
            data_at: ofs + i as u64,
        })
    }

    /// Inflates the zlib stream at `h.data_at`, which must give exactly `h.size` bytes; returns
    /// them and the offset where the stream ends.
    pub(crate) fn inflate(&mut self, ofs: u64, h: &EntryHeader) -> Result<(Vec<u8>, u64)> {
        let end = self.data_end();
        let avail = end.saturating_sub(h.data_at);
        if h.size > avail.saturating_mul(MAX_ZLIB_RATIO).saturating_add(64) {
            return Err(self.corrupt(format!(
                "entry at offset {ofs}: size {} cannot come from the {avail} bytes left in the pack",
                h.size
            )));
        }
        // One byte more than the size, so that a stream longer than it shows.
        let want = h.size + 1;
        let mut out = Vec::with_capacity(want.min(MAX_RESERVE) as usize);
        self.inflater.reset(true);
        let mut pos = h.data_at;
        loop {
            if out.len() == out.capacity() {
                let more = (want - out.len() as u64).clamp(1, MAX_RESERVE) as usize;
                out.reserve(more);
            }
            let status = self.inflate_window(ofs, &mut pos, end, &mut out)?;
            if out.len() as u64 > h.size {
                return Err(self.corrupt(format!(
                    "entry at offset {ofs}: inflates to more than its size {}",
                    h.size
                )));
            }
            if status == Status::StreamEnd {
                break;
            }
        }
        if out.len() as u64 != h.size {
            return Err(self.corrupt(format!(
                "entry at offset {ofs}: inflates to {} bytes, its header says {}",
                out.len(),
                h.size
            )));
        }
        Ok((out, pos))
    }

    /// Inflates at most `n` bytes of the stream at `h.data_at` (for a delta's sizes).
    fn inflate_prefix(&mut self, ofs: u64, h: &EntryHeader, n: usize) -> Result<Vec<u8>> {
        let end = self.data_end();
        let mut out = Vec::with_capacity(n);
        self.inflater.reset(true);
        let mut pos = h.data_at;
        while out.len() < n && (out.len() as u64) < h.size {
            if self.inflate_window(ofs, &mut pos, end, &mut out)? == Status::StreamEnd {
                break;
            }
        }
        Ok(out)
    }

    /// Feeds the inflater the bytes of the current window from `pos` (up to `end`), appending
    /// to `out` within its capacity; advances `pos` past what it consumed. A stream that runs
    /// past `end`, is corrupt, or makes no progress is an error naming the entry at `ofs`.
    fn inflate_window(
        &mut self,
        ofs: u64,
        pos: &mut u64,
        end: u64,
        out: &mut Vec<u8>,
    ) -> Result<Status> {
        if *pos >= end {
            return Err(self.corrupt(format!(
                "entry at offset {ofs}: zlib stream runs past the end of the pack's entries"
            )));
        }
        let input = self.cursor.use_region(*pos, 0)?;
        let input = &input[..input.len().min((end - *pos) as usize)];
        let (in0, out0) = (self.inflater.total_in(), out.len());
        let status = self
            .inflater
            .decompress_vec(input, out, FlushDecompress::None)
            .map_err(|e| {
                Error::corrupt(
                    &self.path,
                    format!("entry at offset {ofs}: corrupt zlib stream: {e}"),
                )
            })?;
        *pos += self.inflater.total_in() - in0;
        if status != Status::StreamEnd && self.inflater.total_in() == in0 && out.len() == out0 {
            return Err(self.corrupt(format!(
                "entry at offset {ofs}: zlib stream makes no progress at offset {pos}"
            )));
        }
        Ok(status)
    }

    /// The pack offset of a delta's base.
    pub(crate) fn base_offset(&mut self, ofs: u64, kind: EntryKind) -> Result<Option<u64>> {
        match kind {
            EntryKind::Base(_) => Ok(None),
            EntryKind::OfsDelta(base) => Ok(Some(base)),
            EntryKind::RefDelta(id) => match self.idx.lookup(&id)? {
                Some(base) => Ok(Some(base)),
                None => Err(self.corrupt(format!(
                    "entry at offset {ofs}: REF_DELTA base {id} is not in the pack"
                ))),
            },
        }
    }

    /// The object whose entry is at `ofs`, its delta chain resolved (through the cache).
    pub(crate) fn object_at(&mut self, ofs: u64) -> Result<Object> {
        if let Some(o) = self.cache.get(ofs) {
            return Ok(o);
        }
        // Walk down to a whole object or a cached one, then apply the deltas back up.
        let mut chain: Vec<(u64, EntryHeader)> = Vec::new();
        let mut seen = HashSet::new();
        let mut cur = ofs;
        let mut obj = loop {
            let h = self.entry_header(cur)?;
            match self.base_offset(cur, h.kind)? {
                None => {
                    let EntryKind::Base(kind) = h.kind else {
                        unreachable!("only whole objects have no base")
                    };
                    let (data, _) = self.inflate(cur, &h)?;
                    let o = Object {
                        kind,
                        data: Rc::new(data),
                    };
                    if !chain.is_empty() {
                        self.cache.put(cur, &o);
                    }
                    break o;
                }
                Some(base) => {
                    chain.push((cur, h));
                    if !seen.insert(cur) || base == cur || seen.contains(&base) {
                        return Err(self.corrupt(format!(
                            "delta chain of the entry at offset {ofs} loops (at offset {base})"
                        )));
                    }
                    if let Some(o) = self.cache.get(base) {
                        break o;
                    }
                    cur = base;
                }
            }
        };
        while let Some((at, h)) = chain.pop() {
            let (d, _) = self.inflate(at, &h)?;
            obj = self.apply(at, &obj, &d)?;
            self.cache.put(at, &obj);
        }
        Ok(obj)
    }

    /// Applies the delta `d` of the entry at `at` to `base`.
    pub(crate) fn apply(&self, at: u64, base: &Object, d: &[u8]) -> Result<Object> {
        let data = delta::apply(&base.data, d)
            .map_err(|e| self.corrupt(format!("delta at offset {at}: {e}")))?;
        Ok(Object {
            kind: base.kind,
            data: Rc::new(data),
        })
    }

    /// Resolves the entry at `ofs` whose header is `h` and whose data is `data` (already
    /// inflated): the object itself, or the delta applied to its base.
    pub(crate) fn resolve(&mut self, ofs: u64, h: &EntryHeader, data: Vec<u8>) -> Result<Object> {
        let obj = match (h.kind, self.base_offset(ofs, h.kind)?) {
            (EntryKind::Base(kind), _) => Object {
                kind,
                data: Rc::new(data),
            },
            (_, Some(base)) => {
                if base == ofs {
                    return Err(self.corrupt(format!(
                        "delta chain of the entry at offset {ofs} loops (at offset {base})"
                    )));
                }
                let b = self.object_at(base)?;
                self.apply(ofs, &b, &data)?
            }
            (_, None) => unreachable!("deltas have a base"),
        };
        self.cache.put(ofs, &obj);
        Ok(obj)
    }

    /// The type and size of the object at `ofs`, without inflating more than the first bytes
    /// of a delta (for its result size).
    pub(crate) fn info_at(&mut self, ofs: u64) -> Result<(Kind, u64)> {
        if let Some(o) = self.cache.get(ofs) {
            return Ok((o.kind, o.data.len() as u64));
        }
        let h = self.entry_header(ofs)?;
        let size = match h.kind {
            EntryKind::Base(_) => h.size,
            _ => {
                let prefix = self.inflate_prefix(ofs, &h, 20)?;
                delta::sizes(&prefix)
                    .map_err(|e| self.corrupt(format!("delta at offset {ofs}: {e}")))?
                    .1
            }
        };
        let mut seen = HashSet::new();
        let mut cur = (ofs, h.kind);
        loop {
            match self.base_offset(cur.0, cur.1)? {
                None => {
                    let EntryKind::Base(kind) = cur.1 else {
                        unreachable!("only whole objects have no base")
                    };
                    return Ok((kind, size));
                }
                Some(base) => {
                    if !seen.insert(cur.0) || seen.contains(&base) {
                        return Err(self.corrupt(format!(
                            "delta chain of the entry at offset {ofs} loops (at offset {base})"
                        )));
                    }
                    cur = (base, self.entry_header(base)?.kind);
                }
            }
        }
    }

    /// The object `id`, if the pack holds it.
    pub(crate) fn object(&mut self, id: &ObjectId) -> Result<Option<Object>> {
        match self.idx.lookup(id)? {
            Some(ofs) => self.object_at(ofs).map(Some).map_err(|e| Error::Object {
                id: *id,
                offset: ofs,
                source: Box::new(e),
            }),
            None => Ok(None),
        }
    }
}

/// Opens many packs through one manager and reads objects from whichever holds them.
pub(crate) struct PackSet {
    packs: Vec<Pack>,
}

impl PackSet {
    /// Opens every index of `paths` (and its pack) through `man`, each pack with a delta-base
    /// cache of `cache` bytes.
    pub(crate) fn open(
        man: &SlidingWindowMapManager,
        paths: &[PathBuf],
        cache: usize,
    ) -> Result<Self> {
        let packs = paths
            .iter()
            .map(|p| Pack::with_cache(man, p, cache))
            .collect::<Result<_>>()?;
        Ok(PackSet { packs })
    }

    /// The packs.
    pub(crate) fn packs(&mut self) -> &mut [Pack] {
        &mut self.packs
    }

    /// The object `id` from the first pack that holds it.
    pub(crate) fn object(&mut self, id: &ObjectId) -> Result<Option<Object>> {
        for p in &mut self.packs {
            if let Some(o) = p.object(id)? {
                return Ok(Some(o));
            }
        }
        Ok(None)
    }
}
