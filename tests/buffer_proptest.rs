//! Property test: random sequences of file-like operations on a `SlidingWindowMapBuffer` behave
//! exactly as on `std::io::Cursor<Vec<u8>>` over the same bytes, with 8 KiB windows and a budget
//! small enough that windows are evicted during the sequence.

use std::io::{self, BufRead, Read, Seek, SeekFrom};

use proptest::prelude::*;
use rand::{Rng, SeedableRng, rngs::StdRng};
use smmap::{SlidingWindowMapBuffer, SlidingWindowMapManager, StaticWindowMapManager};

const FILE_LEN: usize = 100_000;

#[derive(Debug, Clone)]
enum Op {
    Read(usize),
    ReadExact(usize),
    Seek(SeekFrom),
    FillConsume(usize),
    ReadUntil(u8),
    ReadByte,
    ReadLine,
    Get(u64),
    Find(Vec<u8>, u64),
}

fn op() -> impl Strategy<Value = Op> {
    let len = FILE_LEN as i64;
    prop_oneof![
        3 => prop_oneof![0usize..64, 0usize..20_000].prop_map(Op::Read),
        1 => (0usize..10_000).prop_map(Op::ReadExact),
        2 => prop_oneof![
            (0u64..FILE_LEN as u64 + 100).prop_map(SeekFrom::Start),
            (-len - 100..100i64).prop_map(SeekFrom::End),
            (-20_000i64..20_000).prop_map(SeekFrom::Current),
        ]
        .prop_map(Op::Seek),
        3 => (0usize..20_000).prop_map(Op::FillConsume),
        2 => any::<u8>().prop_map(Op::ReadUntil),
        2 => Just(Op::ReadByte),
        1 => Just(Op::ReadLine),
        1 => (0u64..FILE_LEN as u64 + 10).prop_map(Op::Get),
        1 => (proptest::collection::vec(0u8..4, 0..4), 0u64..FILE_LEN as u64)
            .prop_map(|(n, s)| Op::Find(n, s)),
    ]
}

/// File content: mostly random, with runs of a 4-letter alphabet so that read_until and find
/// hit often.
fn content(seed: u64) -> Vec<u8> {
    let mut d = vec![0u8; FILE_LEN];
    StdRng::seed_from_u64(seed).fill_bytes(&mut d);
    for (i, b) in d.iter_mut().enumerate() {
        if (i / 3000) % 2 == 0 {
            *b %= 4;
        }
    }
    d
}

fn io_kind<T>(r: &io::Result<T>) -> Option<io::ErrorKind> {
    r.as_ref().err().map(io::Error::kind)
}

/// Runs `ops` on the buffer and on `model`, a std cursor over the buffer's bytes.
fn check(buf: &mut SlidingWindowMapBuffer, model: &mut io::Cursor<Vec<u8>>, ops: &[Op]) {
    let d = model.get_ref().clone();
    assert_eq!(buf.len(), d.len() as u64);
    for op in ops {
        match op {
            Op::Read(n) => {
                let (mut a, mut b) = (vec![0u8; *n], vec![0u8; *n]);
                let ra = buf.read(&mut a).unwrap();
                let rb = model.read(&mut b).unwrap();
                assert_eq!(ra, rb, "{op:?}");
                assert_eq!(a[..ra], b[..rb]);
            }
            Op::ReadExact(n) => {
                let (mut a, mut b) = (vec![0u8; *n], vec![0u8; *n]);
                let ra = buf.read_exact(&mut a);
                let rb = model.read_exact(&mut b);
                assert_eq!(io_kind(&ra), io_kind(&rb), "{op:?}");
                if ra.is_ok() {
                    assert_eq!(a, b);
                } else {
                    // After a failed read_exact, both are at the end.
                    buf.seek(SeekFrom::End(0)).unwrap();
                    model.seek(SeekFrom::End(0)).unwrap();
                }
            }
            Op::Seek(from) => {
                let ra = buf.seek(*from);
                let rb = model.seek(*from);
                assert_eq!(io_kind(&ra), io_kind(&rb), "{op:?}");
                if let (Ok(a), Ok(b)) = (&ra, &rb) {
                    assert_eq!(a, b);
                }
            }
            Op::FillConsume(k) => {
                let a = buf.fill_buf().unwrap().to_vec();
                let b = model.fill_buf().unwrap().to_vec();
                // The buffer hands out a window, std the whole rest: one is a prefix of the other.
                assert!(!a.is_empty() || b.is_empty(), "{op:?}");
                assert_eq!(a[..], b[..a.len()]);
                let k = (*k).min(a.len());
                buf.consume(k);
                model.consume(k);
            }
            Op::ReadUntil(delim) => {
                let (mut a, mut b) = (Vec::new(), Vec::new());
                let ra = buf.read_until(*delim, &mut a).unwrap();
                let rb = model.read_until(*delim, &mut b).unwrap();
                assert_eq!((ra, &a), (rb, &b), "{op:?}");
            }
            Op::ReadByte => {
                let a = buf.read_byte().unwrap();
                let mut one = [0u8];
                let b = (model.read(&mut one).unwrap() == 1).then_some(one[0]);
                assert_eq!(a, b);
            }
            Op::ReadLine => {
                let (mut a, mut b) = (String::new(), String::new());
                let ra = buf.read_line(&mut a);
                let rb = model.read_line(&mut b);
                assert_eq!(io_kind(&ra), io_kind(&rb), "{op:?}");
                assert_eq!(ra.ok(), rb.ok());
                assert_eq!(a, b);
            }
            Op::Get(i) => {
                assert_eq!(buf.get(*i), d.get(*i as usize).copied(), "{op:?}");
            }
            Op::Find(needle, s) => {
                let want = if *s as usize > d.len() {
                    None
                } else if needle.is_empty() {
                    Some(*s)
                } else {
                    d[*s as usize..]
                        .windows(needle.len())
                        .position(|w| w == needle.as_slice())
                        .map(|i| s + i as u64)
                };
                assert_eq!(buf.find(needle, *s).unwrap(), want, "{op:?}");
            }
        }
        assert_eq!(buf.tell(), model.position(), "position after {op:?}");
    }
}

struct Fixture {
    _dir: tempfile::TempDir,
    path: std::path::PathBuf,
    data: Vec<u8>,
}

fn fixture() -> &'static Fixture {
    static F: std::sync::OnceLock<Fixture> = std::sync::OnceLock::new();
    F.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("buffer_proptest");
        let data = content(42);
        std::fs::write(&path, &data).unwrap();
        Fixture {
            _dir: dir,
            path,
            data,
        }
    })
}

fn tiny_manager() -> SlidingWindowMapManager {
    SlidingWindowMapManager::builder()
        .window_size(1)
        .max_memory_size(3 * 2 * smmap::allocation_granularity())
        .build()
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn whole_file_buffer_behaves_like_a_std_cursor(ops in proptest::collection::vec(op(), 1..60)) {
        let f = fixture();
        let man = tiny_manager();
        let mut buf = SlidingWindowMapBuffer::new(man.make_cursor(&f.path).unwrap()).unwrap();
        let mut model = io::Cursor::new(f.data.clone());
        check(&mut buf, &mut model, &ops);
        prop_assert!(man.mapped_memory_size() <= man.max_mapped_memory_size());
    }

    #[test]
    fn range_buffer_behaves_like_a_std_cursor(
        offset in 0u64..FILE_LEN as u64 + 1,
        len in prop_oneof![0u64..40_000, Just(u64::MAX)],
        use_static in proptest::bool::weighted(0.2),
        ops in proptest::collection::vec(op(), 1..60),
    ) {
        let f = fixture();
        let cursor = if use_static {
            StaticWindowMapManager::new().make_cursor(&f.path).unwrap()
        } else {
            tiny_manager().make_cursor(&f.path).unwrap()
        };
        let mut buf = SlidingWindowMapBuffer::with_range(cursor, offset, len).unwrap();
        let end = offset.saturating_add(len).min(FILE_LEN as u64);
        prop_assert_eq!(buf.len(), end - offset);
        let mut model = io::Cursor::new(f.data[offset as usize..end as usize].to_vec());
        check(&mut buf, &mut model, &ops);
    }
}
