//! Runtime tests of `#[derive(MappedRecord)]`: getters, setters, offsets, sizes and `check()`,
//! compared against a manual decoding of random bytes at every offset.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use smmap::byteorder::{
    BE, BigEndian, ByteOrder, F32, F64, I16, I32, I64, I128, Isize, LE, LittleEndian, U16, U32,
    U64, U128, Usize,
};
use smmap::{MappedRecord, RecordCheckError};

/// The header of a git pack index, version 2.
#[derive(MappedRecord)]
#[repr(C)]
struct IdxHeader {
    #[mapped(magic = b"\xfftOc")]
    magic: [u8; 4],
    version: U32<BigEndian>,
}

#[derive(MappedRecord)]
#[repr(C)]
struct Small {
    a: U16<LE>,
    b: i8,
}

/// Every byte-order type in both orders, bytes, arrays and nested records.
#[derive(MappedRecord)]
#[repr(C)]
struct Mixed {
    u8_: u8,
    i8_: i8,
    u16_le: U16<LE>,
    u16_be: U16<BE>,
    u32_le: U32<LittleEndian>,
    u32_be: U32<BigEndian>,
    u64_le: U64<LE>,
    u64_be: U64<BE>,
    u128_le: U128<LE>,
    u128_be: U128<BE>,
    usize_le: Usize<LE>,
    usize_be: Usize<BE>,
    i16_le: I16<LE>,
    i16_be: I16<BE>,
    i32_le: I32<LE>,
    i32_be: I32<BE>,
    i64_le: I64<LE>,
    i64_be: I64<BE>,
    i128_le: I128<LE>,
    i128_be: I128<BE>,
    isize_le: Isize<LE>,
    isize_be: Isize<BE>,
    f32_le: F32<LE>,
    f32_be: F32<BE>,
    f64_le: F64<LE>,
    f64_be: F64<BE>,
    bytes: [u8; 3],
    words: [U16<BE>; 2],
    small: Small,
    smalls: [Small; 2],
    r#type: u8,
}

/// A tuple record: getters `get_0`, ..., setters `set_0`, ..., constants `OFFSET_0`, ....
#[derive(MappedRecord)]
#[repr(C)]
struct Pair(U16<LE>, u8, [u8; 3], Small);

#[derive(MappedRecord)]
#[repr(C, packed)]
struct Packed {
    tag: u8,
    len: U32<BE>,
}

#[derive(MappedRecord)]
#[repr(transparent)]
struct ObjectId([u8; 20]);

/// A record generic over its byte order.
#[derive(MappedRecord)]
#[repr(C)]
struct Entry<O: ByteOrder> {
    offset: U32<O>,
    kind: u8,
}

/// A record generic over a field type and an array length.
#[derive(MappedRecord)]
#[repr(C)]
struct Table<T, const N: usize> {
    count: u8,
    items: [T; N],
    last: T,
}

fn version_is_2(h: &Versioned) -> Result<(), String> {
    match h.version() {
        2 => Ok(()),
        v => Err(format!("unsupported version {v}")),
    }
}

#[derive(MappedRecord)]
#[repr(C)]
#[mapped(validate = version_is_2)]
struct Versioned {
    #[mapped(magic = b"PK")]
    magic: [u8; 2],
    version: U16<LE>,
}

/// Nested records with magics and hooks, to check offsets in errors.
#[derive(MappedRecord)]
#[repr(C)]
struct Outer {
    pad: [u8; 3],
    header: IdxHeader,
    more: [Versioned; 2],
}

fn random(len: usize, seed: u64) -> Vec<u8> {
    let mut bytes = vec![0; len];
    StdRng::seed_from_u64(seed).fill_bytes(&mut bytes);
    bytes
}

fn arr<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    b[at..at + N].try_into().unwrap()
}

/// Views every window of `SIZE` bytes of random data as a `T` and calls `f(record, bytes)`.
fn each_offset<T: MappedRecord>(seed: u64, mut f: impl FnMut(&T, &[u8])) {
    let data = random(3 * T::SIZE + 17, seed);
    for ofs in 0..=data.len() - T::SIZE {
        let bytes = &data[ofs..ofs + T::SIZE];
        let rec = T::ref_from_bytes(bytes).expect("a record at any offset");
        assert_eq!(rec.as_bytes(), bytes);
        f(rec, bytes);
    }
}

#[test]
fn sizes_are_sums_of_fields() {
    assert_eq!(IdxHeader::SIZE, 8);
    assert_eq!(Small::SIZE, 3);
    let word = size_of::<usize>();
    let mixed = 1 + 1 + 2 * (2 + 4 + 8 + 16 + word) * 2 + 2 * (4 + 8) + 3 + 4 + 3 + 6 + 1;
    assert_eq!(Mixed::SIZE, mixed);
    assert_eq!(Mixed::SIZE, size_of::<Mixed>());
    assert_eq!(Pair::SIZE, 2 + 1 + 3 + 3);
    assert_eq!(Packed::SIZE, 5);
    assert_eq!(ObjectId::SIZE, 20);
    assert_eq!(Entry::<BE>::SIZE, 5);
    assert_eq!(Table::<U16<LE>, 3>::SIZE, 1 + 6 + 2);
    assert_eq!(Table::<Small, 0>::SIZE, 1 + 3);
    assert_eq!(Outer::SIZE, 3 + 8 + 8);
}

#[test]
fn offsets_are_manual_offsets() {
    assert_eq!((IdxHeader::OFFSET_MAGIC, IdxHeader::OFFSET_VERSION), (0, 4));
    let word = size_of::<usize>();
    let mut ofs = 0;
    let mut next = |n: usize| {
        let o = ofs;
        ofs += n;
        o
    };
    assert_eq!(Mixed::OFFSET_U8_, next(1));
    assert_eq!(Mixed::OFFSET_I8_, next(1));
    assert_eq!(Mixed::OFFSET_U16_LE, next(2));
    assert_eq!(Mixed::OFFSET_U16_BE, next(2));
    assert_eq!(Mixed::OFFSET_U32_LE, next(4));
    assert_eq!(Mixed::OFFSET_U32_BE, next(4));
    assert_eq!(Mixed::OFFSET_U64_LE, next(8));
    assert_eq!(Mixed::OFFSET_U64_BE, next(8));
    assert_eq!(Mixed::OFFSET_U128_LE, next(16));
    assert_eq!(Mixed::OFFSET_U128_BE, next(16));
    assert_eq!(Mixed::OFFSET_USIZE_LE, next(word));
    assert_eq!(Mixed::OFFSET_USIZE_BE, next(word));
    assert_eq!(Mixed::OFFSET_I16_LE, next(2));
    assert_eq!(Mixed::OFFSET_I16_BE, next(2));
    assert_eq!(Mixed::OFFSET_I32_LE, next(4));
    assert_eq!(Mixed::OFFSET_I32_BE, next(4));
    assert_eq!(Mixed::OFFSET_I64_LE, next(8));
    assert_eq!(Mixed::OFFSET_I64_BE, next(8));
    assert_eq!(Mixed::OFFSET_I128_LE, next(16));
    assert_eq!(Mixed::OFFSET_I128_BE, next(16));
    assert_eq!(Mixed::OFFSET_ISIZE_LE, next(word));
    assert_eq!(Mixed::OFFSET_ISIZE_BE, next(word));
    assert_eq!(Mixed::OFFSET_F32_LE, next(4));
    assert_eq!(Mixed::OFFSET_F32_BE, next(4));
    assert_eq!(Mixed::OFFSET_F64_LE, next(8));
    assert_eq!(Mixed::OFFSET_F64_BE, next(8));
    assert_eq!(Mixed::OFFSET_BYTES, next(3));
    assert_eq!(Mixed::OFFSET_WORDS, next(4));
    assert_eq!(Mixed::OFFSET_SMALL, next(3));
    assert_eq!(Mixed::OFFSET_SMALLS, next(6));
    assert_eq!(Mixed::OFFSET_TYPE, next(1));
    assert_eq!(ofs, Mixed::SIZE);
    assert_eq!(
        (
            Pair::OFFSET_0,
            Pair::OFFSET_1,
            Pair::OFFSET_2,
            Pair::OFFSET_3
        ),
        (0, 2, 3, 6)
    );
    assert_eq!((Packed::OFFSET_TAG, Packed::OFFSET_LEN), (0, 1));
    assert_eq!(ObjectId::OFFSET_0, 0);
    assert_eq!(
        (Entry::<LE>::OFFSET_OFFSET, Entry::<LE>::OFFSET_KIND),
        (0, 4)
    );
    assert_eq!(Table::<U32<BE>, 2>::OFFSET_ITEMS, 1);
    assert_eq!(Table::<U32<BE>, 2>::OFFSET_LAST, 9);
    assert_eq!((Outer::OFFSET_HEADER, Outer::OFFSET_MORE), (3, 11));
}

#[test]
fn getters_decode_every_offset() {
    each_offset::<Mixed>(1, |r, b| {
        use Mixed as M;
        assert_eq!(r.u8_(), b[M::OFFSET_U8_]);
        assert_eq!(r.i8_(), b[M::OFFSET_I8_] as i8);
        assert_eq!(r.u16_le(), u16::from_le_bytes(arr(b, M::OFFSET_U16_LE)));
        assert_eq!(r.u16_be(), u16::from_be_bytes(arr(b, M::OFFSET_U16_BE)));
        assert_eq!(r.u32_le(), u32::from_le_bytes(arr(b, M::OFFSET_U32_LE)));
        assert_eq!(r.u32_be(), u32::from_be_bytes(arr(b, M::OFFSET_U32_BE)));
        assert_eq!(r.u64_le(), u64::from_le_bytes(arr(b, M::OFFSET_U64_LE)));
        assert_eq!(r.u64_be(), u64::from_be_bytes(arr(b, M::OFFSET_U64_BE)));
        assert_eq!(r.u128_le(), u128::from_le_bytes(arr(b, M::OFFSET_U128_LE)));
        assert_eq!(r.u128_be(), u128::from_be_bytes(arr(b, M::OFFSET_U128_BE)));
        assert_eq!(
            r.usize_le(),
            usize::from_le_bytes(arr(b, M::OFFSET_USIZE_LE))
        );
        assert_eq!(
            r.usize_be(),
            usize::from_be_bytes(arr(b, M::OFFSET_USIZE_BE))
        );
        assert_eq!(r.i16_le(), i16::from_le_bytes(arr(b, M::OFFSET_I16_LE)));
        assert_eq!(r.i16_be(), i16::from_be_bytes(arr(b, M::OFFSET_I16_BE)));
        assert_eq!(r.i32_le(), i32::from_le_bytes(arr(b, M::OFFSET_I32_LE)));
        assert_eq!(r.i32_be(), i32::from_be_bytes(arr(b, M::OFFSET_I32_BE)));
        assert_eq!(r.i64_le(), i64::from_le_bytes(arr(b, M::OFFSET_I64_LE)));
        assert_eq!(r.i64_be(), i64::from_be_bytes(arr(b, M::OFFSET_I64_BE)));
        assert_eq!(r.i128_le(), i128::from_le_bytes(arr(b, M::OFFSET_I128_LE)));
        assert_eq!(r.i128_be(), i128::from_be_bytes(arr(b, M::OFFSET_I128_BE)));
        assert_eq!(
            r.isize_le(),
            isize::from_le_bytes(arr(b, M::OFFSET_ISIZE_LE))
        );
        assert_eq!(
            r.isize_be(),
            isize::from_be_bytes(arr(b, M::OFFSET_ISIZE_BE))
        );
        let f32_le = f32::from_le_bytes(arr(b, M::OFFSET_F32_LE));
        assert_eq!(r.f32_le().to_bits(), f32_le.to_bits());
        let f32_be = f32::from_be_bytes(arr(b, M::OFFSET_F32_BE));
        assert_eq!(r.f32_be().to_bits(), f32_be.to_bits());
        let f64_le = f64::from_le_bytes(arr(b, M::OFFSET_F64_LE));
        assert_eq!(r.f64_le().to_bits(), f64_le.to_bits());
        let f64_be = f64::from_be_bytes(arr(b, M::OFFSET_F64_BE));
        assert_eq!(r.f64_be().to_bits(), f64_be.to_bits());
        assert_eq!(r.bytes(), &arr::<3>(b, M::OFFSET_BYTES));
        let w = M::OFFSET_WORDS;
        assert_eq!(r.words()[0].get(), u16::from_be_bytes(arr(b, w)));
        assert_eq!(r.words()[1].get(), u16::from_be_bytes(arr(b, w + 2)));
        let s = M::OFFSET_SMALL;
        assert_eq!(
            r.small().a(),
            u16::from_le_bytes(arr(b, s + Small::OFFSET_A))
        );
        assert_eq!(r.small().b(), b[s + Small::OFFSET_B] as i8);
        let s = M::OFFSET_SMALLS + Small::SIZE;
        assert_eq!(r.smalls()[1].a(), u16::from_le_bytes(arr(b, s)));
        assert_eq!(r.smalls()[1].b(), b[s + 2] as i8);
        assert_eq!(r.r#type(), b[M::OFFSET_TYPE]);
    });
    each_offset::<IdxHeader>(2, |r, b| {
        assert_eq!(r.magic(), &arr::<4>(b, 0));
        assert_eq!(r.version(), u32::from_be_bytes(arr(b, 4)));
    });
    each_offset::<Pair>(3, |r, b| {
        assert_eq!(r.get_0(), u16::from_le_bytes(arr(b, 0)));
        assert_eq!(r.get_1(), b[2]);
        assert_eq!(r.get_2(), &arr::<3>(b, 3));
        assert_eq!(r.get_3().a(), u16::from_le_bytes(arr(b, 6)));
        assert_eq!(r.get_3().b(), b[8] as i8);
    });
    each_offset::<Packed>(4, |r, b| {
        assert_eq!(r.tag(), b[0]);
        assert_eq!(r.len(), u32::from_be_bytes(arr(b, 1)));
    });
    each_offset::<ObjectId>(5, |r, b| assert_eq!(r.get_0(), &arr::<20>(b, 0)));
    each_offset::<Entry<LE>>(6, |r, b| {
        assert_eq!(r.offset(), u32::from_le_bytes(arr(b, 0)));
        assert_eq!(r.kind(), b[4]);
    });
    each_offset::<Entry<BE>>(7, |r, b| {
        assert_eq!(r.offset(), u32::from_be_bytes(arr(b, 0)))
    });
    each_offset::<Table<U32<BE>, 2>>(8, |r, b| {
        assert_eq!(r.count(), b[0]);
        assert_eq!(r.items()[1].get(), u32::from_be_bytes(arr(b, 5)));
        assert_eq!(r.last(), u32::from_be_bytes(arr(b, 9)));
    });
}

#[test]
fn slices_of_records() {
    let data = random(Small::SIZE * 5, 9);
    let smalls = Small::slice_from_bytes(&data).unwrap();
    assert_eq!(smalls.len(), 5);
    for (i, s) in smalls.iter().enumerate() {
        assert_eq!(s.a(), u16::from_le_bytes(arr(&data, i * 3)));
        assert_eq!(s.b(), data[i * 3 + 2] as i8);
    }
}

#[test]
fn setters_write_the_right_bytes() {
    let mut data = random(Mixed::SIZE, 10);
    let before = data.clone();
    let r = Mixed::mut_from_bytes(&mut data).unwrap();
    r.set_u32_be(0x0102_0304);
    r.set_i64_le(-2);
    r.set_f32_be(1.5);
    r.set_u8_(7);
    r.set_i8_(-1);
    r.set_bytes(*b"abc");
    r.set_small(Small {
        a: U16::new(0x0809),
        b: 7,
    });
    r.set_type(42);
    let mut expected = before;
    expected[Mixed::OFFSET_U32_BE..][..4].copy_from_slice(&0x0102_0304u32.to_be_bytes());
    expected[Mixed::OFFSET_I64_LE..][..8].copy_from_slice(&(-2i64).to_le_bytes());
    expected[Mixed::OFFSET_F32_BE..][..4].copy_from_slice(&1.5f32.to_be_bytes());
    expected[Mixed::OFFSET_U8_] = 7;
    expected[Mixed::OFFSET_I8_] = 0xff;
    expected[Mixed::OFFSET_BYTES..][..3].copy_from_slice(b"abc");
    expected[Mixed::OFFSET_SMALL..][..3].copy_from_slice(&[9, 8, 7]);
    expected[Mixed::OFFSET_TYPE] = 42;
    assert_eq!(data, expected);

    let mut data = random(Pair::SIZE, 11);
    let p = Pair::mut_from_bytes(&mut data).unwrap();
    p.set_0(0xbeef);
    p.set_1(3);
    assert_eq!(&data[..3], &[0xef, 0xbe, 3]);

    let mut data = random(Packed::SIZE, 12);
    Packed::mut_from_bytes(&mut data)
        .unwrap()
        .set_len(0xa0b0_c0d0);
    assert_eq!(&data[1..], &[0xa0, 0xb0, 0xc0, 0xd0]);

    let mut data = random(Entry::<LE>::SIZE, 13);
    Entry::<LE>::mut_from_bytes(&mut data)
        .unwrap()
        .set_offset(0x1122_3344);
    assert_eq!(&data[..4], &[0x44, 0x33, 0x22, 0x11]);
}

#[test]
fn check_reports_bad_magic() {
    let mut bytes = [0xff, b't', b'O', b'c', 0, 0, 0, 2];
    assert_eq!(IdxHeader::ref_from_bytes(&bytes).unwrap().check(), Ok(()));
    bytes[2] = b'o';
    let err = IdxHeader::ref_from_bytes(&bytes)
        .unwrap()
        .check()
        .unwrap_err();
    assert_eq!(
        err,
        RecordCheckError::BadMagic {
            field_offset: 0,
            expected: b"\xfftOc",
            found: vec![0xff, b't', b'o', b'c']
        }
    );
    assert!(err.to_string().contains("bad magic"), "{err}");
}

#[test]
fn check_runs_the_validate_hook() {
    let ok = [b'P', b'K', 2, 0];
    assert_eq!(Versioned::ref_from_bytes(&ok).unwrap().check(), Ok(()));
    let err = Versioned::ref_from_bytes(&[b'P', b'K', 3, 0])
        .unwrap()
        .check()
        .unwrap_err();
    assert_eq!(
        err,
        RecordCheckError::Invalid {
            field_offset: 0,
            message: "unsupported version 3".into()
        }
    );
    // The magic is checked before the hook.
    let err = Versioned::ref_from_bytes(&[b'P', b'k', 3, 0])
        .unwrap()
        .check()
        .unwrap_err();
    assert!(
        matches!(
            &err,
            RecordCheckError::BadMagic {
                field_offset: 0,
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn check_offsets_nested_records() {
    let good: Vec<u8> = [
        &[1, 2, 3][..],
        b"\xfftOc",
        &[0, 0, 0, 2],
        b"PK",
        &[2, 0],
        b"PK",
        &[2, 0],
    ]
    .concat();
    assert_eq!(Outer::ref_from_bytes(&good).unwrap().check(), Ok(()));

    let mut bad = good.clone();
    bad[3] = 0;
    let err = Outer::ref_from_bytes(&bad).unwrap().check().unwrap_err();
    assert_eq!(
        err,
        RecordCheckError::BadMagic {
            field_offset: 3,
            expected: b"\xfftOc",
            found: vec![0, b't', b'O', b'c']
        }
    );

    let mut bad = good.clone();
    bad[Outer::OFFSET_MORE + Versioned::SIZE + 1] = b'X';
    let err = Outer::ref_from_bytes(&bad).unwrap().check().unwrap_err();
    assert_eq!(
        err,
        RecordCheckError::BadMagic {
            field_offset: 15,
            expected: b"PK",
            found: b"PX".to_vec()
        }
    );

    let mut bad = good;
    bad[Outer::OFFSET_MORE + Versioned::SIZE + Versioned::OFFSET_VERSION] = 9;
    let err = Outer::ref_from_bytes(&bad).unwrap().check().unwrap_err();
    assert_eq!(
        err,
        RecordCheckError::Invalid {
            field_offset: 15,
            message: "unsupported version 9".into()
        }
    );
}
