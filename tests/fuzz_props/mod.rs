//! Properties over arbitrary bytes, shared by the fuzz targets (`fuzz/`) and their short
//! proptest versions (`tests/fuzz_props.rs`): every call returns `Ok` or `Err`, never panics,
//! and every `Ok` is what a naive reference over `Vec<u8>` says.
//!
//! The includer declares `mod packdump` (the example's modules) at its crate root.
#![allow(dead_code)]

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use smmap::byteorder::{LittleEndian, U32};
use smmap::{
    Error, MapMode, MappedRecord, RecordTable, SlidingWindowMapBuffer, SlidingWindowMapManager,
    StaticWindowMapManager, WindowCursor,
};

/// A record with a magic number and a validation hook.
#[derive(MappedRecord, Clone, Copy, Debug)]
#[repr(C)]
#[mapped(validate = even_len)]
pub(crate) struct Tagged {
    #[mapped(magic = b"TG")]
    magic: [u8; 2],
    len: U32<LittleEndian>,
    body: [u8; 3],
}

fn even_len(t: &Tagged) -> Result<(), String> {
    if t.len().is_multiple_of(2) {
        Ok(())
    } else {
        Err(format!("odd length {}", t.len()))
    }
}

/// What the reference says of a `Tagged` at `bytes`.
fn tagged_ok(bytes: &[u8]) -> bool {
    bytes[..2] == *b"TG" && u32::from_le_bytes(bytes[2..6].try_into().unwrap()) % 2 == 0
}

/// Reads the input as a little program: a cursor over it.
struct Input<'a> {
    data: &'a [u8],
}

impl Input<'_> {
    fn byte(&mut self) -> u8 {
        match self.data.split_first() {
            Some((b, rest)) => {
                self.data = rest;
                *b
            }
            None => 0,
        }
    }

    fn u16(&mut self) -> u64 {
        u64::from(self.byte()) | u64::from(self.byte()) << 8
    }

    fn u32(&mut self) -> u64 {
        self.u16() | self.u16() << 16
    }

    fn take(&mut self, n: usize) -> &[u8] {
        let (a, b) = self.data.split_at(n.min(self.data.len()));
        self.data = b;
        a
    }

    fn is_empty(&self) -> bool {
        self.data.is_empty()
    }
}

/// An offset near the interesting places of a file of `len` bytes: anywhere, near its end,
/// near a window boundary, or far past it.
fn offset(inp: &mut Input<'_>, len: u64, window: u64) -> u64 {
    let x = inp.u32();
    match inp.byte() % 4 {
        0 => x % (len + 64),
        1 => len.saturating_sub(x % 64),
        2 => (x % (len / window.max(1) + 2))
            .wrapping_mul(window / 2)
            .wrapping_add((x >> 20) % 16)
            .wrapping_sub(8),
        _ => x << 20,
    }
}

fn manager_cursor(inp: &mut Input<'_>, path: &Path, mode: MapMode) -> (WindowCursor, u64) {
    let gran = smmap::allocation_granularity();
    let conf = inp.byte();
    if conf & 1 == 0 && mode != MapMode::CopyOnWrite {
        let window = gran << (conf >> 1 & 3);
        let man = SlidingWindowMapManager::builder()
            .window_size(window)
            .max_memory_size(1 + usize::from(conf >> 3 & 3) * window)
            .max_open_handles(1 + usize::from(conf >> 5))
            .mode(mode)
            .build()
            .unwrap();
        (man.make_cursor(path).unwrap(), man.window_size() as u64)
    } else {
        let man = StaticWindowMapManager::builder()
            .mode(mode)
            .build()
            .unwrap();
        (man.make_cursor(path).unwrap(), u64::MAX)
    }
}

fn bounds<T: std::fmt::Debug>(r: &smmap::Result<T>, what: &str) {
    assert!(
        matches!(
            r,
            Err(Error::OutOfBounds { .. }) | Err(Error::InvalidArgument(_))
        ),
        "{what}: {r:?}"
    );
}

/// Record reads at arbitrary offsets of arbitrary bytes, through both managers.
pub(crate) fn record_reads(data: &[u8]) {
    let mut inp = Input { data };
    let len = (inp.u16() as usize * 4).min(inp.data.len().saturating_sub(1));
    let bytes = inp.take(len).to_vec();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, &bytes).unwrap();
    let flen = bytes.len() as u64;
    let (mut c, window) = manager_cursor(&mut inp, &path, MapMode::ReadOnly);
    let mut ops = 0;
    while !inp.is_empty() && ops < 64 {
        ops += 1;
        let op = inp.byte() % 8;
        let at = offset(&mut inp, flen, window);
        let end = |n: u64| at.checked_add(n).filter(|&e| e <= flen);
        match op {
            0 => {
                let n = inp.u16() as usize % 5000;
                match c.use_region(at, n) {
                    Ok(b) => {
                        let want = if n == 0 {
                            b.len()
                        } else {
                            n.min((flen - at) as usize)
                        };
                        assert_eq!(b, &bytes[at as usize..at as usize + want], "use_region");
                        assert!(!b.is_empty());
                    }
                    Err(e) => assert!(at >= flen, "use_region {at}+{n}: {e}"),
                }
            }
            1 => {
                let r = c.record::<[u8; 7]>(at);
                match end(7) {
                    Some(e) => assert_eq!(&r.unwrap()[..], &bytes[at as usize..e as usize]),
                    None => bounds(&r, "record"),
                }
            }
            2 => {
                let r = c.record::<Tagged>(at).map(|t| t.len());
                match end(9) {
                    Some(e) if tagged_ok(&bytes[at as usize..e as usize]) => {
                        let l =
                            u32::from_le_bytes(bytes[at as usize + 2..][..4].try_into().unwrap());
                        assert_eq!(r.unwrap(), l);
                    }
                    Some(_) => assert!(
                        matches!(r, Err(Error::BadMagic { .. } | Error::InvalidRecord { .. })),
                        "{r:?}"
                    ),
                    None => bounds(&r, "tagged"),
                }
            }
            3 => {
                let n = usize::from(inp.byte());
                let r = c.records::<[u8; 3]>(at, n).map(|s| s.concat());
                match end(3 * n as u64) {
                    // No records are asked for: none are read, wherever.
                    _ if n == 0 => assert!(r.unwrap().is_empty()),
                    Some(e) => assert_eq!(r.unwrap(), &bytes[at as usize..e as usize]),
                    None => bounds(&r, "records"),
                }
            }
            4 | 5 => {
                // A table of 5-byte records from `at`, and reads of it.
                let n = inp.u16() % 2000;
                let cur = c.clone();
                match RecordTable::<[u8; 5]>::new(cur, at, n) {
                    Ok(mut t) => {
                        assert!(end(5 * n).is_some(), "table past the end");
                        for _ in 0..8 {
                            let i = inp.u16() % (n + 2);
                            let r = if op == 4 {
                                t.get(i).map(|x| x.to_vec())
                            } else {
                                t.chunk_at(i).map(|x| x.concat())
                            };
                            if i < n {
                                let s = (at + 5 * i) as usize;
                                let got = r.unwrap();
                                assert_eq!(&got[..], &bytes[s..s + got.len()], "table");
                                assert!(got.len() >= 5);
                            } else {
                                bounds(&r, "table");
                            }
                        }
                        let key = inp.take(5).to_vec();
                        let _ = t.binary_search_by(|r| r[..].cmp(&key[..]));
                    }
                    Err(e) => assert!(end(5 * n).is_none(), "table: {e}"),
                }
            }
            6 => {
                let n = u64::from(inp.byte());
                let mut it = c.clone().iter_records_n::<Tagged>(at, n);
                let mut pos = at;
                for r in it.by_ref() {
                    match r {
                        Ok(_) => assert!(tagged_ok(&bytes[pos as usize..pos as usize + 9])),
                        Err(Error::BadMagic { .. } | Error::InvalidRecord { .. }) => {}
                        Err(e) => {
                            assert!(pos.saturating_add(9) > flen, "{e}");
                            break;
                        }
                    }
                    pos += 9;
                }
            }
            _ => {
                let n = u64::from(inp.byte());
                let mut it = c.clone().iter_records_n::<[u8; 4]>(at, n);
                let mut pos = at;
                while let Some(chunk) = it.next_chunk() {
                    match chunk {
                        Ok(ch) => {
                            let got = ch.concat();
                            assert_eq!(&got[..], &bytes[pos as usize..pos as usize + got.len()]);
                            pos += got.len() as u64;
                        }
                        Err(e) => {
                            assert!(pos.saturating_add(4) > flen, "{e}");
                            break;
                        }
                    }
                }
                assert!(pos <= at.saturating_add(4 * n));
            }
        }
    }
}

/// Sequences of buffer operations on a read-write manager against a `Vec<u8>` model.
pub(crate) fn buffer_ops(data: &[u8]) {
    let mut inp = Input { data };
    let len = (inp.u16() as usize * 2).min(inp.data.len());
    let mut model = inp.take(len).to_vec();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f");
    std::fs::write(&path, &model).unwrap();
    let (c, window) = manager_cursor(&mut inp, &path, MapMode::ReadWrite);
    let mut buf = match SlidingWindowMapBuffer::new(c) {
        Ok(b) => b,
        Err(e) => {
            assert!(model.is_empty(), "{e}");
            return;
        }
    };
    let mut pos = 0u64;
    let mut ops = 0;
    while !inp.is_empty() && ops < 64 {
        ops += 1;
        let mlen = model.len() as u64;
        assert_eq!(buf.len(), mlen);
        let op = inp.byte() % 10;
        let at = offset(&mut inp, mlen, window);
        match op {
            0 => {
                let mut out = vec![0; inp.u16() as usize % 9000];
                let n = buf.read(&mut out).unwrap();
                let want = out.len().min(mlen.saturating_sub(pos) as usize);
                assert_eq!(n, want, "read at {pos}");
                if n > 0 {
                    assert_eq!(out[..n], model[pos as usize..pos as usize + n]);
                    pos += n as u64;
                }
            }
            1 => {
                buf.seek(SeekFrom::Start(at)).unwrap();
                pos = at;
            }
            2 => {
                let r = buf.try_get(at).unwrap();
                // (No `as usize`: on 32-bit targets it would wrap offsets past 4 GiB.)
                let want = usize::try_from(at).ok().and_then(|i| model.get(i));
                assert_eq!(r, want.copied());
            }
            3 => {
                let n = inp.u16() % 9000;
                let r = buf.slice(at..at.saturating_add(n)).map(|c| c.to_vec());
                match at.checked_add(n).filter(|&e| e <= mlen) {
                    Some(e) => assert_eq!(r.unwrap(), &model[at as usize..e as usize]),
                    None => bounds(&r, "slice"),
                }
            }
            4 | 5 => {
                let k = usize::from(inp.byte() % 4);
                let needle = inp.take(k).to_vec();
                let naive = |from: u64, to: u64, rev: bool| -> Option<u64> {
                    let to = to.min(mlen);
                    if from > to {
                        return None;
                    }
                    let range = from as usize..=(to as usize).checked_sub(needle.len())?;
                    if range.is_empty() {
                        return None;
                    }
                    let hit = |i: &usize| model[*i..*i + needle.len()] == needle[..];
                    if rev {
                        range.rev().find(hit)
                    } else {
                        range.clone().find(hit)
                    }
                    .map(|i| i as u64)
                };
                if op == 4 {
                    let r = buf.find(&needle, at).unwrap();
                    assert_eq!(r, naive(at, mlen, false), "find {needle:?} from {at}");
                } else {
                    let to = at.saturating_add(inp.u16());
                    let r = buf.rfind_in(&needle, at..to).unwrap();
                    assert_eq!(r, naive(at, to, true), "rfind {needle:?} in {at}..{to}");
                }
            }
            6 => {
                let k = inp.u16() as usize % 600;
                let w = inp.take(k).to_vec();
                let r = buf.write_at(at, &w);
                match at.checked_add(w.len() as u64).filter(|&e| e <= mlen) {
                    Some(_) => {
                        r.unwrap();
                        model[at as usize..at as usize + w.len()].copy_from_slice(&w);
                    }
                    None => bounds(&r, "write_at"),
                }
            }
            7 => {
                let src = offset(&mut inp, mlen, window);
                let n = inp.u16() % 9000;
                let r = buf.move_within(at, src, n);
                let fits = |x: u64| x.checked_add(n).is_some_and(|e| e <= mlen);
                if fits(at) && fits(src) {
                    r.unwrap();
                    model.copy_within(src as usize..(src + n) as usize, at as usize);
                } else {
                    bounds(&r, "move_within");
                }
            }
            8 => {
                let new_len = inp.u16() * 3;
                buf.resize(new_len).unwrap();
                model.resize(new_len as usize, 0);
            }
            _ => buf.flush().unwrap(),
        }
    }
    buf.flush().unwrap();
    drop(buf);
    assert_eq!(
        std::fs::read(&path).unwrap(),
        model,
        "the file after the last flush"
    );
}

/// The packdump example's index and pack parsers on arbitrary files: `Ok` or `Err`, never a
/// panic or a hang.
pub(crate) fn pack_parsers(data: &[u8]) {
    use crate::packdump::ObjectId;
    use crate::packdump::idx::PackIndex;
    use crate::packdump::pack::Pack;

    let mut inp = Input { data };
    let flags = inp.byte();
    let n = inp.u16() as usize;
    let mut idx = Vec::new();
    if flags & 1 != 0 {
        idx.extend_from_slice(b"\xfftOc\0\0\0\x02");
    }
    idx.extend_from_slice(inp.take(n * 4));
    let mut pack = Vec::new();
    if flags & 2 != 0 {
        pack.extend_from_slice(b"PACK\0\0\0\x02");
    }
    pack.extend_from_slice(inp.data);
    let dir = tempfile::tempdir().unwrap();
    let idx_path = dir.path().join("p.idx");
    std::fs::write(&idx_path, &idx).unwrap();
    std::fs::write(dir.path().join("p.pack"), &pack).unwrap();
    let man = SlidingWindowMapManager::builder()
        .window_size(1 << (flags >> 4 & 3))
        .max_memory_size(64 << 10)
        .build()
        .unwrap();
    if let Ok(mut ix) = PackIndex::open(&man, &idx_path) {
        let count = ix.len().min(64);
        for i in 0..count + 1 {
            let id = ix.id_at(i);
            let _ = ix.offset_at(i);
            let _ = ix.crc_at(i);
            if let Ok(id) = id {
                let _ = ix.lookup(&id);
            }
        }
        let _ = ix.lookup(&ObjectId([0xab; 20]));
    }
    if let Ok(mut p) = Pack::open(&man, &idx_path) {
        let count = u64::from(p.len()).min(16);
        for i in 0..count {
            if let Ok(ofs) = p.index().offset_at(i) {
                let _ = p.object_at(ofs);
            }
        }
        for ofs in [12, 13, p.data_end().saturating_sub(1)] {
            let _ = p.object_at(ofs);
        }
    }
}

/// Reads a `Read + Seek` to the end, for the buffer's `Read`.
pub(crate) fn read_all(r: &mut (impl Read + Seek)) -> Vec<u8> {
    let mut v = Vec::new();
    r.read_to_end(&mut v).unwrap();
    v
}
