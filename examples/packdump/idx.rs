//! Pack indexes (`.idx`), versions 1 and 2, read in place.
//!
//! Version 2: a header (`\377tOc`, version 2), the fanout table, the sorted ids, one CRC32 per
//! object, one 32-bit offset per object (MSB set: an index into the 64-bit table), the 64-bit
//! offsets, then the pack's checksum and the index's own. Version 1: the fanout table, then
//! one (32-bit offset, id) entry per object, then the two checksums. All integers big-endian.

use std::path::{Path, PathBuf};

use smmap::byteorder::{BigEndian, U32, U64};
use smmap::{MappedRecord, RecordTable, SlidingWindowMapManager, WindowCursor};

use super::{Error, ObjectId, Result};

/// A big-endian `u32`, alignment 1.
pub(crate) type Be32 = U32<BigEndian>;
/// A big-endian `u64`, alignment 1 (the 64-bit table is only 4-byte aligned for odd counts).
pub(crate) type Be64 = U64<BigEndian>;

/// The magic of a version-2 index: an unreasonable `fanout[0]` for a version-1 one.
pub(crate) const IDX_V2_MAGIC: [u8; 4] = *b"\xfftOc";

/// The header of a version-2 index.
#[derive(MappedRecord, Clone, Copy)]
#[repr(C)]
#[mapped(validate = version_2)]
pub(crate) struct IdxV2Header {
    #[mapped(magic = b"\xfftOc")]
    magic: [u8; 4],
    version: Be32,
}

fn version_2(h: &IdxV2Header) -> Result<(), String> {
    match h.version() {
        2 => Ok(()),
        v => Err(format!(
            "pack index version {v} is not supported (only 1 and 2)"
        )),
    }
}

/// One entry of a version-1 index: the object's pack offset, then its id.
#[derive(MappedRecord, Clone, Copy)]
#[repr(C)]
pub(crate) struct IdxV1Entry {
    offset: Be32,
    id: ObjectId,
}

/// The end of every index: the checksum of the pack it describes, and its own.
#[derive(MappedRecord, Clone, Copy)]
#[repr(C)]
pub(crate) struct IdxTrailer {
    pack_checksum: ObjectId,
    idx_checksum: ObjectId,
}

/// Size of the fanout table: 256 big-endian counts.
const FANOUT_LEN: u64 = 256;
/// Where the fanout table starts in a version-2 index.
const V2_FANOUT_AT: u64 = IdxV2Header::SIZE as u64;

/// The tables of an index, by version.
// One per index: its size does not matter, a box would add an indirection to every lookup.
#[allow(clippy::large_enum_variant)]
enum Tables {
    V1 {
        entries: RecordTable<IdxV1Entry>,
    },
    V2 {
        ids: RecordTable<ObjectId>,
        /// A cursor for slices of the id table (the fanout ranges that lookups search).
        slices: WindowCursor,
        crcs: RecordTable<Be32>,
        offsets: RecordTable<Be32>,
        large: RecordTable<Be64>,
    },
}

/// The position of `id` in the sorted `ids`: a plain binary search whose branches the CPU
/// predicts, so that it fetches the next probe while the current one is still a cache miss
/// (in a large index every probe is one).
#[inline]
fn search(ids: &[ObjectId], id: &ObjectId) -> Option<usize> {
    let (mut lo, mut hi) = (0, ids.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        match ids[mid].0.cmp(&id.0) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(mid),
        }
    }
    None
}

/// An open pack index.
pub(crate) struct PackIndex {
    path: PathBuf,
    version: u32,
    /// `fanout[b]`: the number of objects whose id starts with a byte `<= b`.
    fanout: [u32; 256],
    tables: Tables,
    trailer: IdxTrailer,
    /// The index without its trailing checksum: what that checksum covers.
    cursor: WindowCursor,
}

impl PackIndex {
    /// Opens the index at `path` through `man`, checking its header, its fanout table (never
    /// decreasing) and that its size matches the number of objects.
    pub(crate) fn open(man: &SlidingWindowMapManager, path: &Path) -> Result<Self> {
        let bad = |msg: String| Error::corrupt(path, msg);
        let mut c = man.make_cursor(path)?;
        let size = c.file_size();
        if size < 4 {
            return Err(bad(format!("truncated pack index ({size} bytes)")));
        }
        let version = if c.use_region(0, 4)? == IDX_V2_MAGIC {
            c.record::<IdxV2Header>(0)?; // checks the version
            2
        } else {
            1
        };
        let fanout_at = if version == 2 { V2_FANOUT_AT } else { 0 };
        if size < fanout_at + 4 * FANOUT_LEN {
            return Err(bad(format!(
                "truncated pack index: {size} bytes cannot hold its fanout table"
            )));
        }
        let mut table = RecordTable::<Be32>::new(c.clone(), fanout_at, FANOUT_LEN)?;
        let mut fanout = [0u32; 256];
        for b in 0..256 {
            let f = table.get(b as u64)?.get();
            if b > 0 && f < fanout[b - 1] {
                return Err(bad(format!(
                    "fanout table decreases at entry {b} ({} then {f}, at offset {})",
                    fanout[b - 1],
                    fanout_at + 4 * b as u64
                )));
            }
            fanout[b] = f;
        }
        drop(table);
        let n = u64::from(fanout[255]);
        let trailer_len = IdxTrailer::SIZE as u64;
        let tables_at = fanout_at + 4 * FANOUT_LEN;
        let tables = if version == 2 {
            let ids_at = tables_at;
            let crcs_at = ids_at + n * ObjectId::SIZE as u64;
            let offsets_at = crcs_at + 4 * n;
            let large_at = offsets_at + 4 * n;
            let min = large_at + trailer_len;
            let max = min + 8 * n.saturating_sub(1);
            if size < min {
                return Err(bad(format!(
                    "truncated pack index: {n} objects need at least {min} bytes, the file has {size}"
                )));
            }
            if size > max || !(size - min).is_multiple_of(8) {
                return Err(bad(format!(
                    "pack index of {size} bytes does not fit {n} objects \
                     ({min} bytes and a multiple of 8 more, at most {max})"
                )));
            }
            Tables::V2 {
                ids: RecordTable::new(c.clone(), ids_at, n)?,
                slices: c.clone(),
                crcs: RecordTable::new(c.clone(), crcs_at, n)?,
                offsets: RecordTable::new(c.clone(), offsets_at, n)?,
                large: RecordTable::new(c.clone(), large_at, (size - min) / 8)?,
            }
        } else {
            let want = tables_at + n * IdxV1Entry::SIZE as u64 + trailer_len;
            if size != want {
                return Err(bad(format!(
                    "version 1 pack index of {size} bytes does not fit {n} objects ({want} bytes)"
                )));
            }
            Tables::V1 {
                entries: RecordTable::new(c.clone(), tables_at, n)?,
            }
        };
        let trailer = *c.record::<IdxTrailer>(size - trailer_len)?;
        Ok(PackIndex {
            path: path.to_path_buf(),
            version,
            fanout,
            tables,
            trailer,
            cursor: c,
        })
    }

    /// The index's path.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The index's version (1 or 2).
    pub(crate) fn version(&self) -> u32 {
        self.version
    }

    /// The number of objects.
    pub(crate) fn len(&self) -> u64 {
        u64::from(self.fanout[255])
    }

    /// The checksum of the pack, as the index records it.
    pub(crate) fn pack_checksum(&self) -> ObjectId {
        self.trailer.pack_checksum
    }

    /// The index's own checksum (the SHA-1 of everything before it).
    pub(crate) fn idx_checksum(&self) -> ObjectId {
        self.trailer.idx_checksum
    }

    /// The fanout table.
    pub(crate) fn fanout(&self) -> &[u32; 256] {
        &self.fanout
    }

    /// A cursor on the index file (for checksumming it).
    pub(crate) fn cursor(&self) -> &WindowCursor {
        &self.cursor
    }

    /// The position of `id` in the index (its rank among the sorted ids), if present: the
    /// fanout table narrows the range, a binary search finds it.
    #[inline]
    pub(crate) fn find(&mut self, id: &ObjectId) -> Result<Option<u64>> {
        let b = usize::from(id.0[0]);
        let lo = if b == 0 { 0 } else { self.fanout[b - 1] };
        let range = u64::from(lo)..u64::from(self.fanout[b]);
        let found = match &mut self.tables {
            Tables::V2 { ids, slices, .. } => {
                if range.is_empty() {
                    return Ok(None);
                }
                // The ids of the range as one slice of records (checked over the range only;
                // a range that crosses a window gets a region that covers it), searched in
                // place.
                let len = (range.end - range.start) as usize;
                let at = ids.base() + range.start * ObjectId::SIZE as u64;
                match search(slices.records::<ObjectId>(at, len)?, id) {
                    Some(k) => Ok(range.start + k as u64),
                    None => Err(0),
                }
            }
            Tables::V1 { entries } => {
                entries.binary_search_range_by(range, |e| e.id.0.cmp(&id.0))?
            }
        };
        Ok(found.ok())
    }

    /// The pack offset of `id`, if present.
    #[inline]
    pub(crate) fn lookup(&mut self, id: &ObjectId) -> Result<Option<u64>> {
        match self.find(id)? {
            Some(i) => self.offset_at(i).map(Some),
            None => Ok(None),
        }
    }

    /// The id at position `i`.
    pub(crate) fn id_at(&mut self, i: u64) -> Result<ObjectId> {
        match &mut self.tables {
            Tables::V2 { ids, .. } => Ok(*ids.get(i)?),
            Tables::V1 { entries } => Ok(entries.get(i)?.id),
        }
    }

    /// The CRC32 of the entry of the object at position `i` (version 2 only).
    pub(crate) fn crc_at(&mut self, i: u64) -> Result<Option<u32>> {
        match &mut self.tables {
            Tables::V2 { crcs, .. } => Ok(Some(crcs.get(i)?.get())),
            Tables::V1 { .. } => Ok(None),
        }
    }

    /// The pack offset of the object at position `i`.
    #[inline]
    pub(crate) fn offset_at(&mut self, i: u64) -> Result<u64> {
        match &mut self.tables {
            Tables::V2 { offsets, large, .. } => {
                let ofs = offsets.get(i)?.get();
                if ofs & 0x8000_0000 == 0 {
                    return Ok(u64::from(ofs));
                }
                let k = u64::from(ofs & 0x7fff_ffff);
                if k >= large.len() {
                    return Err(Error::corrupt(
                        &self.path,
                        format!(
                            "object {i}: 64-bit offset #{k} is past the table of {} offsets",
                            large.len()
                        ),
                    ));
                }
                Ok(large.get(k)?.get())
            }
            Tables::V1 { entries } => Ok(u64::from(entries.get(i)?.offset())),
        }
    }
}
