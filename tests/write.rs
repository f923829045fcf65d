//! Writes through cursors: ReadWrite, CopyOnWrite, aliasing refused, flush, resize, and a
//! process killed right after a flush or a `flush_range`.

mod common;

use common::{offset_in, random_bytes, random_file, rng};
use rand::RngExt;
use smmap::{Error, MapMode, SlidingWindowMapManager, StaticWindowMapManager};

fn rw(window: usize) -> SlidingWindowMapManager {
    SlidingWindowMapManager::builder()
        .window_size(window)
        .max_memory_size(4 * window)
        .mode(MapMode::ReadWrite)
        .build()
        .unwrap()
}

fn small_window() -> usize {
    2 * smmap::allocation_granularity()
}

#[test]
fn read_only_manager_refuses_writes() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f", 10_000, 70);
    let man = SlidingWindowMapManager::new();
    let mut c = man.make_cursor(&path).unwrap();
    let e = c.use_region_mut(5, 5).unwrap_err();
    assert!(matches!(&e, Error::ReadOnly(d) if d.offset == 5), "{e:?}");
    assert!(e.to_string().contains("read-only"), "{e}");
    assert!(c.record_mut::<[u8; 4]>(0).is_err());
    assert!(c.resize(5).is_err());
    man.flush().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data);
}

#[test]
fn random_writes_reach_the_file_after_flush() {
    let dir = tempfile::tempdir().unwrap();
    let w = small_window();
    let (path, mut model) = random_file(dir.path(), "f", 20 * w + 123, 71);
    let man = rw(w);
    let mut cursors: Vec<_> = (0..3).map(|_| man.make_cursor(&path).unwrap()).collect();
    let mut r = rng(71);
    for i in 0..3000 {
        let c = &mut cursors[i % 3];
        let o = offset_in(&mut r, model.len() as u64);
        let n = r.random_range(1..=w / 2);
        let patch = random_bytes(n, i as u64);
        match c.use_region_mut(o, n) {
            Ok(bytes) => {
                let len = bytes.len();
                assert_eq!(len, n.min(model.len() - o as usize));
                bytes.copy_from_slice(&patch[..len]);
                model[o as usize..o as usize + len].copy_from_slice(&patch[..len]);
            }
            // Another cursor holds overlapping bytes: refused, never aliased.
            Err(Error::Busy { .. }) => {}
            Err(e) => panic!("{e:?}"),
        }
        // Reads through the same cursor see the write.
        let o2 = offset_in(&mut r, model.len() as u64);
        if let Ok(got) = c.use_region(o2, 16) {
            let end = (o2 as usize + 16).min(model.len());
            assert_eq!(got, &model[o2 as usize..end]);
        }
    }
    assert!(
        man.stats().evictions > 0,
        "regions written and evicted: {:?}",
        man.stats()
    );
    man.flush().unwrap();
    drop(cursors);
    drop(man);
    assert_eq!(std::fs::read(&path).unwrap(), model);
}

#[test]
fn mutable_views_never_alias_other_views() {
    let dir = tempfile::tempdir().unwrap();
    let w = small_window();
    let (path, _) = random_file(dir.path(), "f", 8 * w, 72);
    let man = rw(w);
    let mut reader = man.make_cursor(&path).unwrap();
    let mut writer = man.make_cursor(&path).unwrap();
    // A reader in window [0, w): a writer in the same window, or in the overlapping window
    // [w/2, 3w/2), is refused.
    reader.use_region(10, 10).unwrap();
    assert!(matches!(
        writer.use_region_mut(20, 4),
        Err(Error::Busy { .. })
    ));
    assert!(matches!(
        writer.use_region_mut((w / 2 + 10) as u64, w / 2),
        Err(Error::Busy { .. })
    ));
    assert!(!writer.is_valid());
    // Far away: fine.
    writer.use_region_mut((5 * w) as u64, 8).unwrap().fill(0xAB);
    // While the writer holds its region, readers of overlapping bytes are refused, and a
    // clone of the writer gets no region.
    let mut r2 = man.make_cursor(&path).unwrap();
    assert!(matches!(
        r2.use_region((5 * w + 1) as u64, 4),
        Err(Error::Busy { .. })
    ));
    assert!(matches!(
        r2.use_region((5 * w - w / 2 + 1) as u64, 4),
        Err(Error::Busy { .. })
    ));
    let clone = writer.clone();
    assert!(!clone.is_valid());
    drop(clone);
    // The reader moves away: the writer may now take window 0.
    reader.unuse_region();
    writer
        .use_region_mut(20, 4)
        .unwrap()
        .copy_from_slice(b"abcd");
    // ... which released the writer's previous region.
    assert_eq!(r2.use_region((5 * w) as u64, 8).unwrap(), &[0xAB; 8]);
    drop(writer);
    assert_eq!(reader.use_region(20, 4).unwrap(), b"abcd");
}

/// A window another cursor only keeps (it switched to it and moved on) is no obstacle to a
/// claim for writing; while the claim lasts that cursor cannot reach the bytes through the
/// window it kept (it is refused, as any reader of claimed bytes is), and afterwards it reads
/// what was written.
#[test]
fn a_kept_window_neither_blocks_nor_bypasses_a_claim() {
    let dir = tempfile::tempdir().unwrap();
    let w = small_window();
    let (path, mut data) = random_file(dir.path(), "f", 8 * w, 74);
    let man = rw(w);
    let mut reader = man.make_cursor(&path).unwrap();
    // Two windows through the table (the first switches register and keep them), and back and
    // forth between them: the reader keeps both.
    let far = 3 * w as u64;
    for _ in 0..3 {
        assert_eq!(reader.use_region(10, 4).unwrap(), &data[10..14]);
        assert_eq!(
            reader.use_region(far, 4).unwrap(),
            &data[far as usize..far as usize + 4]
        );
    }
    let mut writer = man.make_cursor(&path).unwrap();
    let patch = random_bytes(4, 75);
    writer
        .use_region_mut(10, 4)
        .unwrap()
        .copy_from_slice(&patch);
    data[10..14].copy_from_slice(&patch);
    let e = reader.use_region(10, 4).unwrap_err();
    assert!(matches!(e, Error::Busy { .. }), "{e:?}");
    writer.unuse_region();
    assert_eq!(reader.use_region(10, 4).unwrap(), &data[10..14]);
    assert_eq!(
        reader.use_region(far, 4).unwrap(),
        &data[far as usize..far as usize + 4]
    );
    assert_eq!(reader.use_region(10, 4).unwrap(), &data[10..14]);
    man.flush().unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data);
}

#[test]
fn records_are_written_in_place() {
    use smmap::MappedRecord;
    use smmap::byteorder::{BigEndian, LittleEndian, U16, U32};

    #[derive(MappedRecord)]
    #[repr(C)]
    struct Rec {
        a: U32<BigEndian>,
        b: U16<LittleEndian>,
        c: u8,
    }

    let dir = tempfile::tempdir().unwrap();
    let w = small_window();
    let (path, mut model) = random_file(dir.path(), "f", 4 * w, 73);
    let man = rw(w);
    let mut c = man.make_cursor(&path).unwrap();
    // Straddling the boundary of the first window's half.
    let at = (w / 2 - 3) as u64;
    let rec = c.record_mut::<Rec>(at).unwrap();
    rec.set_a(0x0102_0304);
    rec.set_b(0x0506);
    rec.set_c(7);
    model[at as usize..at as usize + 7].copy_from_slice(&[1, 2, 3, 4, 6, 5, 7]);
    let past = (4 * w - 3) as u64;
    assert!(matches!(
        c.record_mut::<Rec>(past),
        Err(Error::OutOfBounds { .. })
    ));
    c.flush().unwrap();
    drop(c);
    assert_eq!(std::fs::read(&path).unwrap(), model);
}

#[test]
fn copy_on_write_never_changes_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f", 100_000, 74);
    let (other, odata) = random_file(dir.path(), "other", 100_000, 75);
    // A budget smaller than the two files: the other file's mapping must evict, but the
    // private changes must survive while their file has users.
    let man = StaticWindowMapManager::builder()
        .max_memory_size(150_000)
        .mode(MapMode::CopyOnWrite)
        .build()
        .unwrap();
    let mut c = man.make_cursor(&path).unwrap();
    c.use_region_mut(1000, 5).unwrap().copy_from_slice(b"12345");
    c.unuse_region();
    for i in 0..20u64 {
        let mut o = man.make_cursor(&other).unwrap();
        assert_eq!(
            o.use_region(i * 10, 10).unwrap(),
            &odata[i as usize * 10..i as usize * 10 + 10]
        );
        drop(o);
        man.collect();
    }
    let mut c2 = man.make_cursor(&path).unwrap();
    assert_eq!(
        c2.use_region(1000, 5).unwrap(),
        b"12345",
        "private changes kept"
    );
    man.flush().unwrap();
    assert_eq!(
        std::fs::read(&path).unwrap(),
        data,
        "the file never changes"
    );
    // Once the file has no users, its private changes are gone.
    drop(c);
    drop(c2);
    let mut c3 = man.make_cursor(&path).unwrap();
    assert_eq!(c3.use_region(1000, 5).unwrap(), &data[1000..1005]);
    assert!(c3.resize(10).is_err(), "resizing needs ReadWrite");
}

#[test]
fn resize_grows_and_truncates() {
    let dir = tempfile::tempdir().unwrap();
    let w = small_window();
    let (path, data) = random_file(dir.path(), "f", 6 * w, 76);
    let man = rw(w);
    let mut c = man.make_cursor(&path).unwrap();
    let mut other = man.make_cursor(&path).unwrap();
    c.resize((10 * w) as u64).unwrap();
    assert_eq!(c.file_size(), (10 * w) as u64);
    assert_eq!(c.use_region((9 * w) as u64, 4).unwrap(), &[0, 0, 0, 0]);
    c.use_region_mut((9 * w) as u64, 4)
        .unwrap()
        .copy_from_slice(b"tail");
    // Another cursor holds bytes past the new end: refused.
    other.use_region((8 * w) as u64, 1).unwrap();
    assert!(matches!(c.resize((2 * w) as u64), Err(Error::Busy { .. })));
    other.unuse_region();
    // Cached regions past the new end are dropped; the rest reads as before.
    c.resize((2 * w + 5) as u64).unwrap();
    assert_eq!(c.use_region(0, 0).unwrap().len(), w);
    assert!(matches!(
        c.use_region((3 * w) as u64, 1),
        Err(Error::OutOfBounds { .. })
    ));
    assert_eq!(
        other.use_region(w as u64, w + 5).unwrap(),
        &data[w..2 * w + 5]
    );
    man.flush().unwrap();
    drop((c, other));
    assert_eq!(std::fs::read(&path).unwrap(), &data[..2 * w + 5]);
}

/// A child process writes, flushes, says so, and is killed with SIGKILL: nothing is lost.
#[test]
fn sigkill_after_flush_loses_nothing() {
    const CHILD: &str = "SMMAP_SIGKILL_CHILD";
    if let Ok(path) = std::env::var(CHILD) {
        let man = rw(small_window());
        let mut c = man.make_cursor(&path).unwrap();
        let len = c.file_size();
        let mut r = rng(77);
        for i in 0..500u64 {
            let o = offset_in(&mut r, len - 8);
            c.use_region_mut(o, 8)
                .unwrap()
                .copy_from_slice(&i.to_le_bytes());
        }
        man.flush().unwrap();
        println!("\nSMMAP-FLUSHED");
        use std::io::Write;
        std::io::stdout().flush().unwrap();
        std::thread::sleep(std::time::Duration::from_secs(30));
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let w = small_window();
    let (path, mut model) = random_file(dir.path(), "f", 16 * w, 78);
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "sigkill_after_flush_loses_nothing",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(CHILD, &path)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    loop {
        line.clear();
        let n = std::io::BufRead::read_line(&mut out, &mut line).unwrap();
        assert!(n > 0, "the child ended before flushing");
        if line.contains("SMMAP-FLUSHED") {
            break;
        }
    }
    child.kill().unwrap(); // SIGKILL
    let status = child.wait().unwrap();
    assert!(!status.success());
    let mut r = rng(77);
    for i in 0..500u64 {
        let o = offset_in(&mut r, model.len() as u64 - 8) as usize;
        model[o..o + 8].copy_from_slice(&i.to_le_bytes());
    }
    assert_eq!(std::fs::read(&path).unwrap(), model);
}

/// A child process writes two ranges through a read-write manager, flushes one of them with
/// `flush_range`, says so, and kills itself with SIGKILL: the flushed range is in the file.
/// (The other one may be too, written back by the system or with the flushed pages: its bytes
/// are each the old or the new ones.)
#[cfg(unix)]
#[test]
fn flush_range_then_sigkill_keeps_the_range() {
    const CHILD: &str = "SMMAP_FLUSH_RANGE_CHILD";
    const NAME: &str = "flush_range_then_sigkill_keeps_the_range";
    let w = small_window();
    // The flushed range spans several windows; the other one lies apart from it.
    let ((a0, a1), (b0, b1)) = ((w / 2 + 3, 3 * w + 5), (12 * w + 1, 13 * w + 77));
    let new_a = random_bytes(a1 - a0, 79);
    let new_b = random_bytes(b1 - b0, 80);
    if let Ok(path) = std::env::var(CHILD) {
        let man = rw(w);
        let mut a = man.make_cursor(&path).unwrap();
        let mut b = man.make_cursor(&path).unwrap();
        // Through windows of `w` bytes: at most half a window per request.
        for (c, from, bytes) in [(&mut a, a0, &new_a), (&mut b, b0, &new_b)] {
            for (i, piece) in bytes.chunks(w / 2 - 100).enumerate() {
                let o = (from + i * (w / 2 - 100)) as u64;
                c.use_region_mut(o, piece.len())
                    .unwrap()
                    .copy_from_slice(piece);
            }
        }
        a.flush_range(a0 as u64, (a1 - a0) as u64).unwrap();
        use std::io::Write;
        println!("\nSMMAP-FLUSHED-RANGE");
        std::io::stdout().flush().unwrap();
        // SAFETY: `kill` with this process's id and a valid signal number has no memory
        // preconditions.
        unsafe { libc::kill(std::process::id() as libc::pid_t, libc::SIGKILL) };
        unreachable!("killed");
    }
    let dir = tempfile::tempdir().unwrap();
    let (path, old) = random_file(dir.path(), "f", 16 * w, 81);
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", NAME, "--nocapture", "--test-threads=1"])
        .env(CHILD, &path)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("SMMAP-FLUSHED-RANGE"),
        "the child did not flush:\n{text}"
    );
    use std::os::unix::process::ExitStatusExt;
    assert_eq!(out.status.signal(), Some(libc::SIGKILL), "{:?}", out.status);
    let now = std::fs::read(&path).unwrap();
    assert_eq!(now.len(), old.len());
    assert!(now[a0..a1] == new_a[..], "the flushed range is in the file");
    for (i, &byte) in now[b0..b1].iter().enumerate() {
        assert!(byte == old[b0 + i] || byte == new_b[i], "byte {}", b0 + i);
    }
    assert!(now[..a0] == old[..a0] && now[a1..b0] == old[a1..b0] && now[b1..] == old[b1..]);
}

#[test]
fn managers_of_one_process_do_not_alias_each_other() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f", 50_000, 79);
    let rw1 = rw(small_window());
    let ro = SlidingWindowMapManager::new();
    // A read-only manager knows the file: the writer is refused.
    let mut r = ro.make_cursor(&path).unwrap();
    assert_eq!(r.use_region(0, 16).unwrap(), &data[..16]);
    let mut w = rw1.make_cursor(&path).unwrap();
    let e = w.use_region_mut(0, 16).unwrap_err();
    assert!(matches!(&e, Error::Busy { .. }), "{e:?}");
    assert!(e.to_string().contains("another manager"), "{e}");
    drop(r);
    ro.collect();
    // Once it forgot the file, the writer may write; then the other manager is refused.
    w.use_region_mut(0, 4).unwrap().copy_from_slice(b"mine");
    let mut r = ro.make_cursor(&path).unwrap();
    assert!(matches!(r.use_region(0, 16), Err(Error::Busy { .. })));
    let rw2 = rw(small_window());
    let mut w2 = rw2.make_cursor(&path).unwrap();
    assert!(matches!(
        w2.use_region_mut(30_000, 4),
        Err(Error::Busy { .. })
    ));
    // The claim ends when the writer moves on.
    w.unuse_region();
    assert_eq!(r.use_region(0, 4).unwrap(), b"mine");
}

#[test]
fn private_changes_end_with_their_last_holder() {
    let dir = tempfile::tempdir().unwrap();
    let (path, data) = random_file(dir.path(), "f", 10_000, 80);
    let man = StaticWindowMapManager::builder()
        .mode(MapMode::CopyOnWrite)
        .build()
        .unwrap();
    let mut c = man.make_cursor(&path).unwrap();
    c.use_region_mut(0, 1).unwrap()[0] = data[0] ^ 0xFF;
    c.unuse_region();
    let guard = c.pin::<u8>(0).unwrap();
    drop(c);
    assert_eq!(*guard, data[0] ^ 0xFF);
    drop(guard);
    assert_eq!(man.num_file_handles(), 0, "unmapped with its last holder");
    let mut c = man.make_cursor(&path).unwrap();
    assert_eq!(c.use_region(0, 1).unwrap()[0], data[0]);
}

#[test]
fn flush_syncs_files_renamed_or_removed_after_writing_and_the_others() {
    let dir = tempfile::tempdir().unwrap();
    let w = small_window();
    let (gone, _) = random_file(dir.path(), "gone", 6 * w, 81);
    let (kept, mut model) = random_file(dir.path(), "kept", 6 * w, 82);
    let (moved, mut moved_model) = random_file(dir.path(), "moved", 6 * w, 83);
    let man = SlidingWindowMapManager::builder()
        .window_size(w)
        .max_open_handles(1)
        .mode(MapMode::ReadWrite)
        .build()
        .unwrap();
    let mut c = man.make_cursor(&gone).unwrap();
    c.use_region_mut(0, 1).unwrap()[0] = 9;
    c.use_region((5 * w) as u64, 1).unwrap(); // the written window is evicted
    c.unuse_region(); // nothing maps the file (Windows cannot delete a mapped file)
    man.collect();
    assert_eq!(
        man.stats().open_descriptors,
        1,
        "a file with unflushed writes keeps its descriptor"
    );
    std::fs::remove_file(&gone).unwrap();
    let mut m = man.make_cursor(&moved).unwrap();
    m.use_region_mut(7, 2).unwrap().copy_from_slice(b"zz");
    moved_model[7..9].copy_from_slice(b"zz");
    drop(m);
    man.collect();
    let renamed = dir.path().join("moved-away");
    std::fs::rename(&moved, &renamed).unwrap();
    let mut k = man.make_cursor(&kept).unwrap();
    k.use_region_mut(10, 3).unwrap().copy_from_slice(b"abc");
    model[10..13].copy_from_slice(b"abc");
    man.flush().unwrap();
    drop((c, k));
    assert_eq!(std::fs::read(&kept).unwrap(), model);
    assert_eq!(std::fs::read(&renamed).unwrap(), moved_model);
    assert_eq!(man.collect(), 1);
    // `k` could have written after the flush (it still held its claim): its file stays open
    // for the next flush.
    assert_eq!(man.stats().open_descriptors, 1);
    man.flush().unwrap();
    assert_eq!(
        man.stats().open_descriptors,
        0,
        "synced descriptors are closed"
    );
}
