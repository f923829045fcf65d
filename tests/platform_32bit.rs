//! A 32-bit process and files larger than its address space: a sparse file of more than 4 GiB
//! scanned end to end through a sliding manager with its default settings, and records, tables,
//! buffer seeks and finds at offsets past 4 GiB. The static manager, which maps files whole,
//! cannot map such a file and says so.
#![cfg(target_pointer_width = "32")]

mod common;

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use smmap::byteorder::{BigEndian, LittleEndian, U32, U64};
use smmap::{MappedRecord, RecordTable, SlidingWindowMapBuffer, SlidingWindowMapManager};
use smmap::{StaticWindowMapManager, WindowCursor};

const GIB: u64 = 1 << 30;
/// Past 4 GiB by more than a default window, and not a multiple of anything.
const FILE_LEN: u64 = 4 * GIB + (100 << 20) + 12_345;

#[derive(MappedRecord, Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C)]
struct Entry {
    key: U64<LittleEndian>,
    len: U32<BigEndian>,
}

/// Random patches in an otherwise sparse (zero) file: `(offset, bytes)`, sorted.
struct Sparse {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    patches: Vec<(u64, Vec<u8>)>,
}

fn sparse_file() -> Sparse {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("huge");
    let f = File::create(&path).unwrap();
    f.set_len(FILE_LEN).unwrap();
    let mut patches = Vec::new();
    let places = [
        0,
        (64 << 20) - 7,           // across the first window boundary
        2 * GIB - 3,              // across 2 GiB (i32 overflow)
        4 * GIB - 100,            // across 4 GiB (u32 overflow)
        4 * GIB + (32 << 20) - 5, // across a half-window boundary past 4 GiB
        FILE_LEN - 4096,          // the end
    ];
    for (i, &at) in places.iter().enumerate() {
        let bytes = common::random_bytes(4096, 100 + i as u64);
        let mut f = OpenOptions::new().write(true).open(&path).unwrap();
        f.seek(SeekFrom::Start(at)).unwrap();
        f.write_all(&bytes).unwrap();
        patches.push((at, bytes));
    }
    Sparse {
        _dir: dir,
        path,
        patches,
    }
}

/// The naive reference: the file's bytes at `[ofs, ofs + len)` through `std::fs`.
fn read_at(path: &Path, ofs: u64, len: usize) -> Vec<u8> {
    let mut f = File::open(path).unwrap();
    f.seek(SeekFrom::Start(ofs)).unwrap();
    let mut v = vec![0u8; len];
    f.read_exact(&mut v).unwrap();
    v
}

/// Checks `got`, the bytes at `ofs`, against the patches (and zeros between them).
fn check_span(s: &Sparse, ofs: u64, got: &[u8]) {
    static ZEROS: [u8; 1 << 16] = [0; 1 << 16];
    let end = ofs + got.len() as u64;
    let mut at = ofs;
    let zeros_to = |to: u64, at: &mut u64| {
        while *at < to {
            let n = (to - *at).min(ZEROS.len() as u64) as usize;
            let i = (*at - ofs) as usize;
            assert!(got[i..i + n] == ZEROS[..n], "zeros expected at {}", *at);
            *at += n as u64;
        }
    };
    for (p, bytes) in &s.patches {
        let (pb, pe) = (*p, *p + bytes.len() as u64);
        if pe <= ofs || pb >= end {
            continue;
        }
        zeros_to(pb.max(ofs), &mut at);
        let (lo, hi) = (pb.max(ofs), pe.min(end));
        assert!(
            got[(lo - ofs) as usize..(hi - ofs) as usize]
                == bytes[(lo - pb) as usize..(hi - pb) as usize],
            "patch at {pb}"
        );
        at = hi;
    }
    zeros_to(end, &mut at);
}

#[test]
fn a_file_past_4_gib_scanned_end_to_end_with_default_settings() {
    let s = sparse_file();
    // The patches are what the file holds (the reference agrees with the model).
    for (p, bytes) in &s.patches {
        assert!(read_at(&s.path, *p, bytes.len()) == *bytes);
    }
    let man = SlidingWindowMapManager::new();
    assert_eq!(man.window_size(), 64 << 20);
    assert_eq!(man.max_mapped_memory_size(), 1 << 30);
    let mut c = man.make_cursor(&s.path).unwrap();
    assert_eq!(c.file_size(), FILE_LEN);
    let half = (man.window_size() / 2) as u64;
    let mut ofs = 0;
    while ofs < FILE_LEN {
        let got = c.use_region(ofs, half as usize).unwrap();
        assert_eq!(got.len() as u64, half.min(FILE_LEN - ofs));
        check_span(&s, ofs, got);
        assert!(man.mapped_memory_size() <= man.max_mapped_memory_size());
        ofs += got.len() as u64;
    }
    let st = man.stats();
    assert!(st.evictions > 0, "{st:?}");
    assert!(st.peak_mapped_bytes <= 1 << 30, "{st:?}");
    assert!(matches!(
        c.use_region(FILE_LEN, 1),
        Err(smmap::Error::OutOfBounds { .. })
    ));
}

#[test]
fn the_static_manager_cannot_map_it_whole() {
    let s = sparse_file();
    let man = StaticWindowMapManager::new();
    let mut c = man.make_cursor(&s.path).unwrap();
    let e = c.use_region(0, 1).unwrap_err();
    assert!(e.to_string().contains("huge"), "{e}");
    assert!(!c.is_valid());
    assert_eq!(man.num_file_handles(), 0);
}

#[test]
fn records_tables_seeks_and_finds_past_4_gib() {
    let s = sparse_file();
    let man = SlidingWindowMapManager::new();
    let (p4, bytes4) = &s.patches[3]; // across 4 GiB
    let (p5, bytes5) = &s.patches[4]; // past 4 GiB, across a half-window boundary

    // Records.
    let mut c: WindowCursor = man.make_cursor(&s.path).unwrap();
    for (p, bytes) in [(p4, bytes4), (p5, bytes5)] {
        for k in [0u64, 1, 95, 99, 100, 101, 4000] {
            let at = p + k;
            let e = c.record::<Entry>(at).unwrap();
            let b = &bytes[k as usize..k as usize + 12];
            assert_eq!(e.key(), u64::from_le_bytes(b[..8].try_into().unwrap()));
            assert_eq!(e.len(), u32::from_be_bytes(b[8..12].try_into().unwrap()));
        }
    }
    let e = c.record::<Entry>(FILE_LEN - 11).unwrap_err();
    assert!(matches!(
&e, smmap::Error::OutOfBounds(d) if d.offset == FILE_LEN - 11));

    // A table whose base is past 4 GiB: get, iter and a search.
    let base = p5 + 3;
    let n = 300u64;
    let mut t = RecordTable::<Entry>::new(c.clone(), base, n).unwrap();
    let mut all = Vec::new();
    for i in 0..n {
        let e = *t.get(i).unwrap();
        let o = (base - p5 + i * 12) as usize;
        assert_eq!(
            e.key(),
            u64::from_le_bytes(bytes5[o..o + 8].try_into().unwrap())
        );
        all.push(e);
    }
    let iterated: Vec<Entry> = t.iter().map(Result::unwrap).collect();
    assert_eq!(iterated, all);
    assert!(matches!(
        t.get(n),
        Err(smmap::Error::OutOfBounds(d)) if d.offset == base + n * 12
    ));

    // A whole-file buffer: seeks, reads and finds past 4 GiB.
    let mut buf = SlidingWindowMapBuffer::new(man.make_cursor(&s.path).unwrap()).unwrap();
    assert_eq!(buf.len(), FILE_LEN);
    assert_eq!(buf.seek(SeekFrom::Start(p5 + 10)).unwrap(), p5 + 10);
    let mut got = [0u8; 100];
    buf.read_exact(&mut got).unwrap();
    assert!(got[..] == bytes5[10..110]);
    assert_eq!(buf.tell(), p5 + 110);
    assert_eq!(buf.seek(SeekFrom::End(-4096)).unwrap(), FILE_LEN - 4096);
    let needle = &bytes5[2000..2016];
    assert_eq!(buf.find(needle, 4 * GIB).unwrap(), Some(p5 + 2000));
    assert_eq!(buf.rfind(needle, 0).unwrap(), Some(p5 + 2000));
    let across = &bytes4[90..110]; // straddles 4 GiB
    assert_eq!(buf.find(across, 4 * GIB - 200).unwrap(), Some(p4 + 90));
    assert_eq!(buf.get(p4 + 100), Some(bytes4[100]));
    // A range buffer that starts past 4 GiB: relative offsets.
    let mut r =
        SlidingWindowMapBuffer::with_range(man.make_cursor(&s.path).unwrap(), *p5, 4096).unwrap();
    assert_eq!(r.find(needle, 0).unwrap(), Some(2000));
    assert!(&*r.slice(0..4096).unwrap() == &bytes5[..]);
    let tail = &s.patches[5].1;
    assert_eq!(
        buf.find(&tail[4000..4096], 4 * GIB).unwrap(),
        Some(FILE_LEN - 96)
    );
}
