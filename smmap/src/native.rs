//! Native-endian records: any `bytemuck::Pod` type, read in place at any offset.

use std::fmt;

use crate::record::MappedRecord;

/// A value of a [`bytemuck::Pod`] type stored in the byte order and layout of this machine,
/// readable in place at any file offset.
///
/// `Native<T>` has the size of `T` and alignment 1 (`#[repr(C, packed)]`), so it is a
/// [`MappedRecord`] whatever `T`'s alignment: `cursor.record::<Native<u32>>(3)` reads a `u32`
/// at offset 3. Reading it copies the value out ([`get`](Self::get)), since a `&T` could be
/// misaligned.
///
/// Use it for files written by the same program on the same kind of machine (caches,
/// scratch files, memory dumps): a file written on a little-endian machine reads differently
/// on a big-endian one. Files exchanged between machines declare their byte order with the
/// types of [`crate::byteorder`] instead.
///
/// Available with the `bytemuck` feature.
///
/// # Examples
///
/// ```
/// use smmap::Native;
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// # let dir = tempfile::tempdir()?;
/// # let path = dir.path().join("points");
/// let points: [[f32; 2]; 2] = [[1.0, 2.0], [3.0, 4.0]];
/// let mut bytes = vec![0xAA]; // one header byte: the points are misaligned
/// bytes.extend_from_slice(bytemuck::cast_slice(&points));
/// std::fs::write(&path, &bytes)?;
///
/// let man = smmap::SlidingWindowMapManager::new();
/// let mut c = man.make_cursor(&path)?;
/// assert_eq!(c.record::<Native<[f32; 2]>>(1 + 8)?.get(), points[1]);
/// let all = c.records::<Native<[f32; 2]>>(1, 2)?;
/// assert_eq!(all[0].get(), points[0]);
/// # Ok(()) }
/// ```
#[repr(C, packed)]
#[derive(Clone, Copy)]
pub struct Native<T: bytemuck::Pod>(T);

impl<T: bytemuck::Pod> Native<T> {
    /// Wraps a value.
    #[inline]
    pub const fn new(value: T) -> Self {
        Native(value)
    }

    /// The value (copied out: it may be misaligned in place).
    #[inline(always)]
    pub fn get(&self) -> T {
        self.0
    }

    /// Replaces the value (through a mutable record, this writes the mapped bytes).
    #[inline(always)]
    pub fn set(&mut self, value: T) {
        self.0 = value;
    }
}

impl<T: bytemuck::Pod> From<T> for Native<T> {
    fn from(value: T) -> Self {
        Native(value)
    }
}

impl<T: bytemuck::Pod + PartialEq> PartialEq for Native<T> {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl<T: bytemuck::Pod + Eq> Eq for Native<T> {}

impl<T: bytemuck::Pod + fmt::Debug> fmt::Debug for Native<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Native").field(&self.get()).finish()
    }
}

// SAFETY: `Native<T>` is `#[repr(C, packed)]` around one `T`: its size is `size_of::<T>()`
// and its alignment 1. `T: Pod` has no padding (so neither has `Native<T>`: packing adds
// none), accepts every bit pattern, and has no interior mutability (bytemuck's `Pod`
// contract forbids `UnsafeCell`, pointers and atomics).
unsafe impl<T: bytemuck::Pod> MappedRecord for Native<T> {
    const SIZE: usize = size_of::<T>();
    const CHECKS: bool = false;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_casts() {
        assert_eq!(align_of::<Native<u64>>(), 1);
        assert_eq!(size_of::<Native<[u32; 3]>>(), 12);
        assert_eq!(<Native<u64> as MappedRecord>::SIZE, 8);
        let bytes: Vec<u8> = (0u8..17).collect();
        for ofs in 0..=9 {
            let r = Native::<u64>::ref_from_bytes(&bytes[ofs..ofs + 8]).unwrap();
            let want = u64::from_ne_bytes(bytes[ofs..ofs + 8].try_into().unwrap());
            assert_eq!(r.get(), want);
        }
        let mut buf = [0u8; 9];
        Native::<u32>::mut_from_bytes(&mut buf[1..5])
            .unwrap()
            .set(0x0102_0304);
        assert_eq!(&buf[1..5], &0x0102_0304u32.to_ne_bytes());
        assert_eq!(format!("{:?}", Native::new(7u16)), "Native(7)");
    }
}
