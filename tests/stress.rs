//! Many threads on one manager under tiny budgets, and what is left once everything is dropped.
//!
//! Each test runs in a child process of its own (`common::run_child`), so that the descriptors
//! and mappings it counts are its own.

mod common;

use std::io::Read;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::{random_file, rng};
use rand::RngExt;
use rand::rngs::StdRng;
use smmap::{Error, MapMode, SlidingWindowMapBuffer, SlidingWindowMapManager, WindowCursor};

/// Runs the calling test in a child process unless this is that child.
macro_rules! in_child_only {
    ($name:literal) => {
        if !common::in_child($name) {
            return common::run_child($name);
        }
    };
}

#[cfg(target_os = "linux")]
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").unwrap().count()
}

/// Descriptors open on files under `dir`, and lines of `/proc/self/maps` (mappings) of them.
#[cfg(target_os = "linux")]
fn held_under(dir: &std::path::Path) -> (usize, usize) {
    let dir = dir.to_str().unwrap();
    let fds = std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .flatten()
        .filter(|e| std::fs::read_link(e.path()).is_ok_and(|l| l.to_string_lossy().contains(dir)))
        .count();
    let maps = std::fs::read_to_string("/proc/self/maps")
        .unwrap()
        .lines()
        .filter(|l| l.contains(dir))
        .count();
    (fds, maps)
}

// ---- eight threads --------------------------------------------------------------------------

const THREADS: usize = 8;
const FILES: usize = 64;
/// Bytes of a file are owned by the threads in blocks of this many: block `b` is thread
/// `b % THREADS`'s, the only one that writes to it.
const BLOCK: usize = 512;

fn owner(ofs: usize) -> usize {
    (ofs / BLOCK) % THREADS
}

/// The 8-byte word thread `t` writes at word `word` in its write number `g`: a tag, `g`, and
/// the word's index, so that another thread can tell a word written by the owner from garbage.
fn word(t: usize, g: u32, word: usize) -> [u8; 8] {
    let v = (0xa0 | t as u64) | u64::from(g & 0xff_ffff) << 8 | (word as u64) << 32;
    v.to_le_bytes()
}

/// What every thread knows: the files, their first content, and how many writes each thread
/// has begun (a word of write `g` is never seen before `g` is published).
struct World {
    paths: Vec<PathBuf>,
    initial: Vec<Vec<u8>>,
    gens: [AtomicU32; THREADS],
    writes: bool,
}

/// What went how, over all threads.
#[derive(Default)]
struct Tally {
    reads: AtomicU64,
    bytes: AtomicU64,
    writes: AtomicU64,
    busy: AtomicU64,
    flushes: AtomicU64,
}

/// One thread's view: its cursors and the files as it knows them (exact for its own blocks).
struct Worker<'a> {
    me: usize,
    world: &'a World,
    man: &'a SlidingWindowMapManager,
    mine: Vec<Vec<u8>>,
    cursors: Vec<(WindowCursor, usize)>,
    r: StdRng,
    window: usize,
    written: u32,
}

impl Worker<'_> {
    /// Checks `got`, read at `at` of file `f`: exactly the thread's own bytes; for the others',
    /// the first content or words their owner wrote.
    fn check(&self, f: usize, at: u64, got: &[u8]) {
        let at = at as usize;
        let model = &self.mine[f];
        let initial = &self.world.initial[f];
        assert!(at + got.len() <= model.len());
        if !self.world.writes {
            assert!(got == &initial[at..at + got.len()], "file {f} at {at}");
            return;
        }
        let mut i = 0;
        while i < got.len() {
            let o = at + i;
            let t = owner(o);
            if t == self.me {
                assert_eq!(got[i], model[o], "own byte {o} of file {f}");
                i += 1;
                continue;
            }
            let w = o / 8;
            let (ws, we) = (w * 8, w * 8 + 8);
            if ws >= at && we <= at + got.len() {
                // A whole word: the first content, or a word of a write its owner began.
                let bytes = &got[ws - at..we - at];
                if bytes != &initial[ws..we] {
                    let v = u64::from_le_bytes(bytes.try_into().unwrap());
                    let g = (v >> 8) as u32 & 0xff_ffff;
                    let begun = self.world.gens[t].load(Ordering::SeqCst);
                    assert!(
                        bytes == word(t, g, w) && g <= begun,
                        "word {w} of file {f} (thread {t}'s): {bytes:x?}"
                    );
                }
                i = we - at;
                continue;
            }
            // Part of a word: each byte is the first content's or fits the owner's words.
            let pos = o % 8;
            let fits = match pos {
                0 => got[i] == word(t, 0, w)[0],
                1..=3 => true,
                _ => got[i] == word(t, 0, w)[pos],
            };
            assert!(
                got[i] == initial[o] || fits,
                "byte {o} of file {f} (thread {t}'s): {:#x}",
                got[i]
            );
            i += 1;
        }
    }

    /// `Ok(true)` done, `Ok(false)` refused as busy (expected while others hold the bytes);
    /// any other error fails the test.
    fn outcome(&self, tally: &Tally, r: smmap::Result<()>) -> bool {
        match r {
            Ok(()) => true,
            Err(Error::Busy { .. }) => {
                tally.busy.fetch_add(1, Ordering::Relaxed);
                false
            }
            Err(e) => panic!("thread {}: {e}", self.me),
        }
    }

    fn pick(&mut self) -> Option<usize> {
        (!self.cursors.is_empty()).then(|| self.r.random_range(0..self.cursors.len()))
    }

    /// A random request inside file `f`: offset and length.
    fn request(&mut self, f: usize) -> (u64, usize) {
        let size = self.mine[f].len();
        let len = if self.r.random_range(0..8) == 0 {
            self.r.random_range(1..=2 * self.window)
        } else {
            self.r.random_range(1..=self.window / 2)
        };
        let o = self.r.random_range(0..size);
        (o as u64, len.min(size - o))
    }

    /// One of the thread's blocks in file `f`, and a word-aligned range in it.
    fn own_range(&mut self, f: usize) -> (usize, usize) {
        let blocks = self.mine[f].len() / BLOCK;
        let mine = (blocks - self.me).div_ceil(THREADS);
        let b = self.me + THREADS * self.r.random_range(0..mine);
        let from = self.r.random_range(0..BLOCK / 8) * 8;
        let to = self.r.random_range(from / 8 + 1..=BLOCK / 8) * 8;
        (b * BLOCK + from, b * BLOCK + to)
    }

    /// The words of write number `g` for `[from, to)`.
    fn words(&self, g: u32, from: usize, to: usize) -> Vec<u8> {
        (from / 8..to / 8)
            .flat_map(|w| word(self.me, g, w))
            .collect()
    }

    fn step(&mut self, tally: &Tally) {
        let op = self
            .r
            .random_range(0..if self.world.writes { 12 } else { 9 });
        match op {
            0 => {
                let f = self.r.random_range(0..FILES);
                let c = self.man.make_cursor(&self.world.paths[f]).unwrap();
                if self.cursors.len() >= 4 {
                    let i = self.r.random_range(0..self.cursors.len());
                    self.cursors.swap_remove(i);
                }
                self.cursors.push((c, f));
            }
            1 | 2 => {
                let Some(i) = self.pick() else { return };
                let f = self.cursors[i].1;
                let (o, n) = self.request(f);
                let got = match self.cursors[i].0.use_region(o, n) {
                    Ok(got) => got.to_vec(),
                    Err(e) => {
                        self.outcome(tally, Err(e));
                        return;
                    }
                };
                assert_eq!(got.len(), n);
                self.check(f, o, &got);
                tally.reads.fetch_add(1, Ordering::Relaxed);
                tally.bytes.fetch_add(n as u64, Ordering::Relaxed);
            }
            3 => {
                let Some(i) = self.pick() else { return };
                let f = self.cursors[i].1;
                let o = self.r.random_range(0..self.mine[f].len() - 16) as u64;
                let got = match self.cursors[i].0.record::<[u8; 16]>(o) {
                    Ok(rec) => *rec,
                    Err(e) => {
                        self.outcome(tally, Err(e));
                        return;
                    }
                };
                self.check(f, o, &got);
                tally.reads.fetch_add(1, Ordering::Relaxed);
            }
            4 => {
                // A buffer over a random range, read with `slice`, `get` and `Read`.
                let Some(i) = self.pick() else { return };
                let (c, f) = (self.cursors[i].0.clone(), self.cursors[i].1);
                let (o, n) = self.request(f);
                let mut buf = match SlidingWindowMapBuffer::with_range(c, o, n as u64) {
                    Ok(b) => b,
                    Err(e) => {
                        self.outcome(tally, Err(e));
                        return;
                    }
                };
                let k = self.r.random_range(0..n as u64);
                match buf.slice(k..n as u64) {
                    Ok(s) => {
                        let s = s.into_owned();
                        self.check(f, o + k, &s);
                    }
                    Err(e) => {
                        self.outcome(tally, Err(e));
                        return;
                    }
                }
                if let Ok(Some(b)) = buf.try_get(k) {
                    self.check(f, o + k, &[b]);
                }
                let mut all = Vec::new();
                match buf.read_to_end(&mut all) {
                    Ok(_) => {
                        assert_eq!(all.len(), n);
                        self.check(f, o, &all);
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::ResourceBusy => {
                        tally.busy.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(e) => panic!("thread {}: {e}", self.me),
                }
                tally.reads.fetch_add(1, Ordering::Relaxed);
            }
            5 => {
                let Some(i) = self.pick() else { return };
                if self.cursors.len() < 6 {
                    let (c, f) = (&self.cursors[i].0, self.cursors[i].1);
                    self.cursors.push((c.clone(), f));
                }
            }
            6 => {
                let Some(i) = self.pick() else { return };
                self.cursors.swap_remove(i);
            }
            7 => {
                let Some(i) = self.pick() else { return };
                self.cursors[i].0.unuse_region();
            }
            8 => {
                if self.r.random_range(0..4) == 0 {
                    self.man.collect();
                }
            }
            9 | 10 => {
                // A write to the thread's own bytes, through a cursor or a buffer.
                let Some(i) = self.pick() else { return };
                let f = self.cursors[i].1;
                let (from, to) = self.own_range(f);
                self.written += 1;
                let g = self.written;
                self.world.gens[self.me].store(g, Ordering::SeqCst);
                let bytes = self.words(g, from, to);
                let done = if op == 9 {
                    let c = &mut self.cursors[i].0;
                    let r = c
                        .use_region_mut(from as u64, to - from)
                        .map(|w| w.copy_from_slice(&bytes));
                    if self.r.random_range(0..2) == 0 {
                        c.unuse_region();
                    }
                    r
                } else {
                    let c = self.cursors[i].0.clone();
                    SlidingWindowMapBuffer::with_range(
                        c,
                        (from / BLOCK * BLOCK) as u64,
                        BLOCK as u64,
                    )
                    .and_then(|mut buf| buf.write_at((from % BLOCK) as u64, &bytes))
                };
                if self.outcome(tally, done) {
                    self.mine[f][from..to].copy_from_slice(&bytes);
                    tally.writes.fetch_add(1, Ordering::Relaxed);
                }
            }
            _ => {
                let r = if self.r.random_range(0..2) == 0 {
                    self.man.flush()
                } else {
                    let Some(i) = self.pick() else { return };
                    let f = self.cursors[i].1;
                    let (from, to) = self.own_range(f);
                    self.cursors[i]
                        .0
                        .flush_range(from as u64, (to - from) as u64)
                };
                r.unwrap();
                tally.flushes.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}

/// Reads the threads of [`run_threads`] do at least (writes: a tenth), however long that takes
/// (up to [`CAP`]): a slow machine (or Windows under wine) makes fewer operations per second,
/// and the checks after a run need a real amount of work to mean something.
const MIN_READS: u64 = 2000;

/// How long [`run_threads`] goes on past its time for its minimum of work; reaching it means
/// the threads starved (the checks after the run then fail).
const CAP: Duration = Duration::from_secs(120);

/// Eight threads run random operations on `man` for `time`, and on until they did at least
/// [`MIN_READS`] reads (and a tenth as many writes, if the world writes); returns each thread's
/// view of the files.
fn run_threads(
    man: &SlidingWindowMapManager,
    world: &World,
    time: Duration,
    seed: u64,
) -> (Vec<Vec<Vec<u8>>>, Tally) {
    let tally = Tally::default();
    let start = Instant::now();
    let (end, cap) = (start + time, start + time + CAP);
    let enough = |t: &Tally| {
        t.reads.load(Ordering::Relaxed) >= MIN_READS
            && (!world.writes || t.writes.load(Ordering::Relaxed) >= MIN_READS / 10)
    };
    let views = std::thread::scope(|s| {
        let handles: Vec<_> = (0..THREADS)
            .map(|me| {
                let tally = &tally;
                s.spawn(move || {
                    let mut w = Worker {
                        me,
                        world,
                        man,
                        mine: world.initial.clone(),
                        cursors: Vec::new(),
                        r: rng(seed * 100 + me as u64),
                        window: man.window_size(),
                        written: 0,
                    };
                    loop {
                        let now = Instant::now();
                        if now >= cap || (now >= end && enough(tally)) {
                            break;
                        }
                        for _ in 0..32 {
                            w.step(tally);
                        }
                    }
                    w.mine
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    (views, tally)
}

fn stress_manager(mode: MapMode) -> SlidingWindowMapManager {
    let w = 2 * smmap::allocation_granularity();
    SlidingWindowMapManager::builder()
        .mode(mode)
        .window_size(w)
        .max_open_handles(1)
        .max_memory_size(3 * w)
        .max_open_files(8)
        .build()
        .unwrap()
}

/// Eight threads, a random mix of cursors made, used, cloned, dropped and let go of, records,
/// buffers and collections over 64 files, under a budget of one region, three windows of
/// mapped bytes and eight descriptors: first on a read-only manager, then on a read-write one
/// with writes (each thread to its own blocks) and flushes. Every byte read is checked; busy
/// refusals are the only errors allowed. Afterwards nothing is left mapped or open, and the
/// files hold exactly what the threads wrote.
#[test]
fn eight_threads_mixed_operations_under_tiny_budgets() {
    in_child_only!("eight_threads_mixed_operations_under_tiny_budgets");
    let dir = tempfile::tempdir().unwrap();
    let mut r = rng(91);
    let (paths, initial): (Vec<_>, Vec<_>) = (0..FILES)
        .map(|i| {
            let blocks = r.random_range(THREADS..=8 * THREADS);
            random_file(
                dir.path(),
                &format!("f{i:02}"),
                blocks * BLOCK,
                9100 + i as u64,
            )
        })
        .unzip();
    #[cfg(target_os = "linux")]
    let before = open_fds();
    let mut world = World {
        paths,
        initial,
        gens: Default::default(),
        writes: false,
    };

    let man = stress_manager(MapMode::ReadOnly);
    let (_, tally) = run_threads(&man, &world, Duration::from_millis(2000), 92);
    assert!(tally.reads.load(Ordering::Relaxed) > 1000);
    assert_eq!(tally.busy.load(Ordering::Relaxed), 0, "nothing writes");
    let s = man.stats();
    assert!(s.evictions > 0 && s.descriptors_closed > 0, "{s:?}");
    man.collect();
    let s = man.stats();
    assert_eq!(
        (s.regions, s.mapped_bytes, s.open_descriptors),
        (0, 0, 0),
        "{s:?}"
    );
    println!(
        "read-only: {} reads, {} bytes; {s:?}",
        tally.reads.load(Ordering::Relaxed),
        tally.bytes.load(Ordering::Relaxed)
    );
    drop(man);

    world.writes = true;
    let man = stress_manager(MapMode::ReadWrite);
    let (views, tally) = run_threads(&man, &world, Duration::from_millis(3000), 93);
    let s = man.stats();
    println!(
        "read-write: {} reads, {} writes, {} busy, {} flushes; {s:?}",
        tally.reads.load(Ordering::Relaxed),
        tally.writes.load(Ordering::Relaxed),
        tally.busy.load(Ordering::Relaxed),
        tally.flushes.load(Ordering::Relaxed),
    );
    assert!(tally.reads.load(Ordering::Relaxed) > 1000);
    assert!(tally.writes.load(Ordering::Relaxed) > 100);
    man.flush().unwrap();
    man.collect();
    let s = man.stats();
    assert_eq!(
        (s.regions, s.mapped_bytes, s.open_descriptors),
        (0, 0, 0),
        "{s:?}"
    );
    assert_eq!(man.num_file_handles(), 0);
    assert_eq!(man.mapped_memory_size(), 0);
    for (f, path) in world.paths.iter().enumerate() {
        let want: Vec<u8> = (0..world.initial[f].len())
            .map(|o| views[owner(o)][f][o])
            .collect();
        assert!(std::fs::read(path).unwrap() == want, "file {f}");
    }
    drop(man);
    #[cfg(target_os = "linux")]
    {
        assert_eq!(open_fds(), before);
        assert_eq!(held_under(dir.path()), (0, 0));
    }
}

// ---- nothing left behind --------------------------------------------------------------------

/// A heavy workload through both managers (read-only, copy-on-write and read-write), cursors
/// by path and from open files, buffers (reads, searches, lines, writes, moves, resizes),
/// errors, and then everything dropped without a `collect`: no descriptor and no mapping of the
/// test's files is left, and the process has as many descriptors open as before.
#[cfg(target_os = "linux")]
#[test]
fn nothing_stays_open_or_mapped_once_everything_is_dropped() {
    use smmap::StaticWindowMapManager;
    use std::io::{BufRead, Seek, SeekFrom, Write};

    in_child_only!("nothing_stays_open_or_mapped_once_everything_is_dropped");
    let dir = tempfile::tempdir().unwrap();
    let g = smmap::allocation_granularity();
    let mut r = rng(95);
    let files: Vec<(PathBuf, Vec<u8>)> = (0..6)
        .map(|i| {
            let len = r.random_range(20_000..300_000);
            random_file(dir.path(), &format!("f{i}"), len, 9500 + i)
        })
        .collect();
    let (rw_path, mut rw_model) = random_file(dir.path(), "rw", 50_000, 9510);
    let fds_before = open_fds();
    assert_eq!(held_under(dir.path()), (0, 0));
    let mut peak = (0, 0);
    {
        let readers = [
            SlidingWindowMapManager::builder()
                .window_size(2 * g)
                .max_memory_size(6 * g)
                .max_open_files(3)
                .build()
                .unwrap(),
            SlidingWindowMapManager::new(),
        ];
        let whole = StaticWindowMapManager::builder()
            .max_memory_size(400_000)
            .build()
            .unwrap();
        let private = StaticWindowMapManager::builder()
            .mode(MapMode::CopyOnWrite)
            .build()
            .unwrap();
        let writer = SlidingWindowMapManager::builder()
            .mode(MapMode::ReadWrite)
            .window_size(4 * g)
            .build()
            .unwrap();
        let mut kept: Vec<WindowCursor> = Vec::new();
        let mut buffers: Vec<SlidingWindowMapBuffer> = Vec::new();
        for i in 0..12_000 {
            let (path, data) = &files[r.random_range(0..files.len())];
            let mut c = match r.random_range(0..5) {
                0 => whole.make_cursor(path).unwrap(),
                1 => readers[1]
                    .make_cursor_from_file(std::fs::File::open(path).unwrap())
                    .unwrap(),
                2 => private.make_cursor(path).unwrap(),
                n => readers[n % 2].make_cursor(path).unwrap(),
            };
            let o = r.random_range(0..data.len());
            let n = r.random_range(1..3 * g).min(data.len() - o);
            assert_eq!(c.use_region(o as u64, n).unwrap(), &data[o..o + n]);
            assert!(matches!(
                c.use_region(data.len() as u64, 1),
                Err(Error::OutOfBounds { .. })
            ));
            match i % 7 {
                0 => kept.push(c),
                1 => {
                    let mut buf = SlidingWindowMapBuffer::with_range(c, o as u64, 5000).unwrap();
                    let end = (o + 5000).min(data.len());
                    let mut all = Vec::new();
                    buf.read_to_end(&mut all).unwrap();
                    assert_eq!(all, &data[o..end]);
                    buf.seek(SeekFrom::Start(0)).unwrap();
                    let line = buf.read_until(b'\n', &mut Vec::new()).unwrap();
                    assert!(line > 0);
                    let needle = &data[end - 3..end];
                    let found = buf.find(needle, 0).unwrap().unwrap();
                    assert_eq!(&data[o + found as usize..o + found as usize + 3], needle);
                    buffers.push(buf);
                }
                2 => {
                    let rec = c.record_mut::<[u8; 4]>(0);
                    if let Ok(rec) = rec {
                        // Copy-on-write: private to this process.
                        *rec = [1, 2, 3, 4];
                        assert_eq!(c.use_region(0, 4).unwrap(), &[1, 2, 3, 4]);
                    }
                }
                _ => {}
            }
            if kept.len() > 20 {
                kept.swap_remove(r.random_range(0..kept.len()));
            }
            if buffers.len() > 8 {
                buffers.swap_remove(0);
            }
            if i % 97 == 0 {
                // Writes, moves, a resize there and back, and a flush, through a buffer.
                let mut buf =
                    SlidingWindowMapBuffer::new(writer.make_cursor(&rw_path).unwrap()).unwrap();
                let at = r.random_range(0..rw_model.len() - 100);
                let bytes = common::random_bytes(100, i);
                buf.seek(SeekFrom::Start(at as u64)).unwrap();
                buf.write_all(&bytes).unwrap();
                rw_model[at..at + 100].copy_from_slice(&bytes);
                let (dst, src) = (r.random_range(0..40_000), r.random_range(0..40_000));
                buf.move_within(dst, src, 5000).unwrap();
                rw_model.copy_within(src as usize..src as usize + 5000, dst as usize);
                buf.resize(60_000).unwrap();
                buf.resize(50_000).unwrap();
                buf.flush().unwrap();
                assert_eq!(&*buf.slice(0..50_000).unwrap(), &rw_model[..]);
                if r.random_range(0..2) == 0 {
                    buffers.push(buf);
                }
            }
            if i % 100 == 0 {
                let now = held_under(dir.path());
                peak = (peak.0.max(now.0), peak.1.max(now.1));
            }
        }
        writer.flush().unwrap();
        assert_eq!(std::fs::read(&rw_path).unwrap(), rw_model);
        // Everything goes here: cursors, buffers, managers, without a collect.
    }
    println!(
        "at most {} descriptors and {} mappings of the files",
        peak.0, peak.1
    );
    assert!(peak.0 > 0 && peak.1 > 0, "{peak:?}");
    assert_eq!(held_under(dir.path()), (0, 0));
    assert_eq!(open_fds(), fds_before);
}
