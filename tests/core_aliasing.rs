//! A property test of the core's invariants over random sequences of operations on three
//! managers of one process (shared read-write sliding windows, read-only sliding windows under a
//! tiny budget, copy-on-write whole files), two files, renames and hard links:
//!
//! - never a granted `&mut` over bytes another live view holds (asked of the managers after
//!   every step): a region held for writing is pinned once, and no other pinned region of the
//!   same file overlaps it (in any manager, for a shared writable mapping; in its own manager
//!   for a private one);
//! - every byte a cursor reads equals what `std::fs::read` reads (but for private changes);
//! - the managers' mapped bytes and open descriptors are what `/proc/self/maps` and
//!   `/proc/self/fd` show for the test's files.

#![cfg(target_os = "linux")]

mod common;

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use proptest::prelude::*;
use smmap::__private::RegionView;
use smmap::{Error, MapMode, SlidingWindowMapManager, StaticWindowMapManager, WindowCursor};

const FILES: usize = 2;

#[derive(Debug, Clone)]
enum Op {
    /// A cursor of manager `m` on file `f`, by path or from an open `File` (read-only or
    /// read-write).
    Make {
        m: usize,
        f: usize,
        how: u8,
    },
    Read {
        c: usize,
        ofs: u64,
        len: usize,
    },
    Write {
        c: usize,
        ofs: u64,
        len: usize,
        byte: u8,
    },
    Unuse {
        c: usize,
    },
    Resize {
        c: usize,
        len: u64,
    },
    Rename {
        f: usize,
    },
    Link {
        f: usize,
    },
    Unlink {
        f: usize,
    },
    Collect {
        m: usize,
    },
    Flush {
        m: usize,
    },
    Drop {
        c: usize,
    },
}

fn op() -> impl Strategy<Value = Op> {
    let unit = smmap::allocation_granularity() as u64;
    let span = 6 * unit;
    prop_oneof![
        3 => (0..3usize, 0..FILES, 0..3u8).prop_map(|(m, f, how)| Op::Make { m, f, how }),
        6 => (0..8usize, 0..span, 1..(2 * unit as usize)).prop_map(|(c, ofs, len)| Op::Read { c, ofs, len }),
        4 => (0..8usize, 0..span, 1..64usize, any::<u8>())
            .prop_map(|(c, ofs, len, byte)| Op::Write { c, ofs, len, byte }),
        2 => (0..8usize).prop_map(|c| Op::Unuse { c }),
        1 => (0..8usize, 1..span).prop_map(|(c, len)| Op::Resize { c, len }),
        1 => (0..FILES).prop_map(|f| Op::Rename { f }),
        1 => (0..FILES).prop_map(|f| Op::Link { f }),
        1 => (0..FILES).prop_map(|f| Op::Unlink { f }),
        1 => (0..3usize).prop_map(|m| Op::Collect { m }),
        1 => (0..3usize).prop_map(|m| Op::Flush { m }),
        2 => (0..8usize).prop_map(|c| Op::Drop { c }),
    ]
}

/// The errors a step may meet: offsets past the (resized) end, conflicts with other views, and
/// files renamed or removed away from the path a cursor knows them by.
fn expected(e: &Error) -> bool {
    match e {
        Error::OutOfBounds { .. }
        | Error::Busy { .. }
        | Error::FileShrank { .. }
        | Error::FileReplaced { .. } => true,
        Error::Io(d) if d.op == "open" => e.raw_os_error() == Some(libc::ENOENT),
        _ => false,
    }
}

enum Man {
    Sliding(SlidingWindowMapManager),
    Static(StaticWindowMapManager),
}

impl Man {
    fn make(&self, p: &Path) -> smmap::Result<WindowCursor> {
        match self {
            Man::Sliding(m) => m.make_cursor(p),
            Man::Static(m) => m.make_cursor(p),
        }
    }
    fn make_from(&self, f: File) -> smmap::Result<WindowCursor> {
        match self {
            Man::Sliding(m) => m.make_cursor_from_file(f),
            Man::Static(m) => m.make_cursor_from_file(f),
        }
    }
    fn views(&self) -> Vec<RegionView> {
        match self {
            Man::Sliding(m) => m.__region_views(),
            Man::Static(m) => m.__region_views(),
        }
    }
    fn collect(&self) {
        match self {
            Man::Sliding(m) => m.collect(),
            Man::Static(m) => m.collect(),
        };
    }
    fn flush(&self) -> smmap::Result<()> {
        match self {
            Man::Sliding(m) => m.flush(),
            Man::Static(m) => m.flush(),
        }
    }
    fn stats(&self) -> smmap::Stats {
        match self {
            Man::Sliding(m) => m.stats(),
            Man::Static(m) => m.stats(),
        }
    }
    fn private(&self) -> bool {
        matches!(self, Man::Static(_))
    }
}

struct World {
    dir: PathBuf,
    /// Every name of each file (the first one is used to read it).
    names: Vec<Vec<PathBuf>>,
    idents: Vec<(u64, u64)>,
    next_name: usize,
    mans: Vec<Man>,
    cursors: Vec<(usize, usize, WindowCursor)>,
    /// Files with private changes in the copy-on-write manager (its reads are not compared).
    private_written: Vec<bool>,
}

impl World {
    fn new(dir: &Path) -> World {
        let unit = smmap::allocation_granularity();
        let mut names = Vec::new();
        let mut idents = Vec::new();
        for f in 0..FILES {
            let (p, _) = common::random_file(dir, &format!("file{f}"), 5 * unit + 123, f as u64);
            let m = fs::metadata(&p).unwrap();
            idents.push((m.dev(), m.ino()));
            names.push(vec![p]);
        }
        let mans = vec![
            Man::Sliding(
                SlidingWindowMapManager::builder()
                    .window_size(2 * unit)
                    .max_memory_size(6 * unit)
                    .mode(MapMode::ReadWrite)
                    .build()
                    .unwrap(),
            ),
            Man::Sliding(
                SlidingWindowMapManager::builder()
                    .window_size(2 * unit)
                    .max_memory_size(unit)
                    .max_open_handles(2)
                    .max_open_files(1)
                    .build()
                    .unwrap(),
            ),
            Man::Static(
                StaticWindowMapManager::builder()
                    .mode(MapMode::CopyOnWrite)
                    .build()
                    .unwrap(),
            ),
        ];
        World {
            dir: dir.to_path_buf(),
            names,
            idents,
            next_name: 0,
            mans,
            cursors: Vec::new(),
            private_written: vec![false; FILES],
        }
    }

    fn cursor(&mut self, c: usize) -> Option<&mut (usize, usize, WindowCursor)> {
        if self.cursors.is_empty() {
            return None;
        }
        let n = self.cursors.len();
        self.cursors.get_mut(c % n)
    }

    fn apply(&mut self, op: &Op) {
        match *op {
            Op::Make { m, f, how } => {
                let p = self.names[f][0].clone();
                let made = match how {
                    0 => self.mans[m].make(&p),
                    1 => self.mans[m].make_from(File::open(&p).unwrap()),
                    _ => self.mans[m]
                        .make_from(OpenOptions::new().read(true).write(true).open(&p).unwrap()),
                };
                match made {
                    Ok(c) => self.cursors.push((m, f, c)),
                    // A read-only descriptor for the read-write manager of a file it does not
                    // know by path.
                    Err(e) => assert!(m == 0 && how == 1, "{e}"),
                }
            }
            Op::Read { c, ofs, len } => {
                let private_written = self.private_written.clone();
                let names = self.names.clone();
                let private = |m: usize| self.mans[m].private();
                let is_private: Vec<bool> = (0..3).map(private).collect();
                let Some((m, f, cur)) = self.cursor(c) else {
                    return;
                };
                let (m, f) = (*m, *f);
                match cur.use_region(ofs, len) {
                    Ok(bytes) => {
                        let bytes = bytes.to_vec();
                        if !(is_private[m] && private_written[f]) {
                            let disk = fs::read(&names[f][0]).unwrap();
                            let end = (ofs as usize + bytes.len()).min(disk.len());
                            assert_eq!(
                                &bytes[..end.saturating_sub(ofs as usize)],
                                &disk[(ofs as usize).min(end)..end],
                                "read of {len} at {ofs} of file {f} through manager {m}"
                            );
                        }
                    }
                    Err(e) => assert!(expected(&e), "{e}"),
                }
            }
            Op::Write { c, ofs, len, byte } => {
                let Some((m, f, cur)) = self.cursor(c) else {
                    return;
                };
                let (m, f) = (*m, *f);
                match cur.use_region_mut(ofs, len) {
                    Ok(bytes) => {
                        bytes.fill(byte);
                        if m == 2 {
                            self.private_written[f] = true;
                        }
                    }
                    Err(e) => assert!(expected(&e) || matches!(&e, Error::ReadOnly { .. }), "{e}"),
                }
            }
            Op::Unuse { c } => {
                if let Some((_, _, cur)) = self.cursor(c) {
                    cur.unuse_region();
                }
            }
            Op::Resize { c, len } => {
                let Some((_, _, cur)) = self.cursor(c) else {
                    return;
                };
                if let Err(e) = cur.resize(len) {
                    assert!(expected(&e) || matches!(&e, Error::ReadOnly { .. }), "{e}");
                }
            }
            Op::Rename { f } => {
                let to = self.fresh_name();
                fs::rename(&self.names[f][0], &to).unwrap();
                self.names[f][0] = to;
            }
            Op::Link { f } => {
                let to = self.fresh_name();
                fs::hard_link(&self.names[f][0], &to).unwrap();
                self.names[f].push(to);
            }
            Op::Unlink { f } => {
                if self.names[f].len() > 1 {
                    let p = self.names[f].remove(0);
                    fs::remove_file(p).unwrap();
                }
            }
            Op::Collect { m } => self.mans[m].collect(),
            Op::Flush { m } => self.mans[m].flush().unwrap(),
            Op::Drop { c } => {
                if !self.cursors.is_empty() {
                    let n = self.cursors.len();
                    self.cursors.remove(c % n);
                }
            }
        }
    }

    fn fresh_name(&mut self) -> PathBuf {
        self.next_name += 1;
        self.dir.join(format!("name{}", self.next_name))
    }

    fn check(&self) {
        let views: Vec<(usize, RegionView)> = self
            .mans
            .iter()
            .enumerate()
            .flat_map(|(m, man)| man.views().into_iter().map(move |v| (m, v)))
            .collect();
        for (m, w) in views.iter().filter(|(_, v)| v.exclusive) {
            assert_eq!(w.pins, 1, "a region held for writing is held once: {w:?}");
            let (wb, we) = (w.begin, w.begin + w.len as u64);
            for (n, v) in &views {
                let same = v.addr == w.addr && n == m;
                let relevant = n == m || !w.private;
                if same || !relevant || v.pins == 0 || (v.dev, v.ino) != (w.dev, w.ino) {
                    continue;
                }
                let (vb, ve) = (v.begin, v.begin + v.len as u64);
                assert!(
                    ve <= wb || we <= vb,
                    "a &mut in manager {m} ({w:?}) over bytes a view in manager {n} holds ({v:?})"
                );
            }
        }
        // Mapped bytes (in pages, as the kernel counts them) and descriptors of our files.
        let page = 4096u64.max(smmap::allocation_granularity() as u64);
        let ours: u64 = views
            .iter()
            .map(|(_, v)| (v.len as u64).div_ceil(page) * page)
            .sum();
        let maps = fs::read_to_string("/proc/self/maps").unwrap();
        let dir = self.dir.to_str().unwrap();
        let mut mapped = 0;
        for line in maps.lines().filter(|l| l.contains(dir)) {
            let range = line.split_whitespace().next().unwrap();
            let (a, b) = range.split_once('-').unwrap();
            mapped += u64::from_str_radix(b, 16).unwrap() - u64::from_str_radix(a, 16).unwrap();
        }
        assert_eq!(
            mapped, ours,
            "mapped bytes of the managers against /proc/self/maps"
        );
        let mut fds = 0;
        for e in fs::read_dir("/proc/self/fd").unwrap().flatten() {
            if fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().contains(dir)) {
                fds += 1;
            }
        }
        let counted: u64 = self.mans.iter().map(|m| m.stats().open_descriptors).sum();
        assert_eq!(fds, counted, "open descriptors against /proc/self/fd");
        let _ = &self.idents;
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn no_mutable_view_aliases_another_view(ops in proptest::collection::vec(op(), 1..60)) {
        let dir = tempfile::tempdir().unwrap();
        let mut w = World::new(dir.path());
        let mut seen: HashMap<&'static str, usize> = HashMap::new();
        for op in &ops {
            w.apply(op);
            w.check();
            *seen.entry(match op { Op::Write { .. } => "write", _ => "other" }).or_default() += 1;
        }
        drop(w);
        let _ = seen;
    }
}
