//! Window arithmetic: where a region is placed for a request. Pure functions.
//!
//! Sliding windows of `window` bytes start at multiples of `window / 2` (the git/libgit2
//! layout): a request `[offset, offset + len)` with `len <= window / 2` lies entirely inside the
//! window that starts at `offset` rounded down to a multiple of `window / 2`. A longer request
//! gets a region of its own, from `offset` rounded down to the allocation granularity to the end
//! of the request rounded up to it. Every region is clamped to the end of the file.

/// Rounds a requested window size up to a multiple of `2 * granularity` (at least one such unit),
/// so that half a window is a multiple of the granularity and window starts are valid mapping
/// offsets. Saturates at the largest such multiple.
pub(crate) fn round_window_size(requested: usize, granularity: usize) -> usize {
    let unit = granularity.saturating_mul(2).max(2);
    let requested = requested.max(1);
    match requested.checked_next_multiple_of(unit) {
        Some(v) => v,
        None => usize::MAX / unit * unit,
    }
}

/// Rounds `v` down to a multiple of `g`.
#[inline]
pub(crate) fn align_down(v: u64, g: u64) -> u64 {
    v - v % g
}

/// Rounds `v` up to a multiple of `g`, saturating.
#[inline]
pub(crate) fn align_up(v: u64, g: u64) -> u64 {
    v.checked_next_multiple_of(g).unwrap_or(u64::MAX / g * g)
}

/// The region `(begin, len)` that a sliding manager maps for the request
/// `[offset, offset + len)` in a file of `file_size` bytes.
///
/// `len` is the number of bytes that must be covered (at least 1, already clamped to the end of
/// the file by the caller). `offset < file_size` and `window` is a multiple of
/// `2 * granularity`.
pub(crate) fn sliding_region(
    offset: u64,
    len: u64,
    window: u64,
    file_size: u64,
    granularity: u64,
) -> (u64, u64) {
    debug_assert!(offset < file_size);
    let half = window / 2;
    let end_needed = offset.saturating_add(len.max(1)).min(file_size);
    if end_needed - offset <= half {
        let begin = align_down(offset, half);
        let end = begin.saturating_add(window).min(file_size);
        (begin, end - begin)
    } else {
        let begin = align_down(offset, granularity);
        let end = align_up(end_needed, granularity).min(file_size);
        (begin, end - begin)
    }
}

/// Whether `[begin, begin + size)` contains `[offset, offset + len)`.
#[inline]
pub(crate) fn covers(begin: u64, size: u64, offset: u64, len: u64) -> bool {
    offset >= begin && offset.saturating_add(len) <= begin + size
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const G: u64 = 4096;

    #[test]
    fn window_size_rounding() {
        assert_eq!(round_window_size(1, 4096), 8192);
        assert_eq!(round_window_size(8192, 4096), 8192);
        assert_eq!(round_window_size(8193, 4096), 16384);
        assert_eq!(round_window_size(80051, 4096), 81920);
        assert_eq!(round_window_size(0, 4096), 8192);
        assert_eq!(round_window_size(usize::MAX, 4096) % 8192, 0);
    }

    #[test]
    fn python_suite_placements() {
        // Python smmap's test_memman_operation: file 8005195, window 80051 (rounded to 81920).
        let w = round_window_size(80051, G as usize) as u64;
        assert_eq!(sliding_region(5000, 40025, w, 8_005_195, G), (0, 81920));
        let (b, l) = sliding_region(7_969_170, 40025, w, 8_005_195, G);
        assert!(b <= 7_969_170 && b + l == 8_005_195);
        assert_eq!(b % (w / 2), 0);
        // A request longer than half a window gets a region of its own that covers it.
        let (b, l) = sliding_region(5000, 60000, w, 8_005_195, G);
        assert_eq!((b, b + l), (4096, align_up(65000, G)));
    }

    #[test]
    fn region_never_passes_end() {
        assert_eq!(sliding_region(10, 1, 8192, 100, G), (0, 100));
        assert_eq!(sliding_region(99, 1000, 8192, 100, G), (0, 100));
    }

    proptest! {
        #[test]
        fn small_requests_fit_one_aligned_window(
            units in 1u64..64,
            file_size in 1u64..(1 << 40),
            offset_frac in 0.0f64..1.0,
            len in 1u64..(1 << 20),
        ) {
            let window = units * 2 * G;
            let offset = ((file_size as f64 * offset_frac) as u64).min(file_size - 1);
            let len = len.min(window / 2);
            let want = len.min(file_size - offset);
            let (b, l) = sliding_region(offset, len, window, file_size, G);
            prop_assert!(covers(b, l, offset, want));
            prop_assert_eq!(b % (window / 2), 0);
            prop_assert_eq!(b % G, 0);
            prop_assert!(l <= window);
            prop_assert!(b + l <= file_size);
        }

        #[test]
        fn large_requests_get_covering_region(
            units in 1u64..64,
            file_size in 1u64..(1 << 40),
            offset_frac in 0.0f64..1.0,
            len in 1u64..(1 << 34),
        ) {
            let window = units * 2 * G;
            let offset = ((file_size as f64 * offset_frac) as u64).min(file_size - 1);
            let want = len.min(file_size - offset);
            let (b, l) = sliding_region(offset, len, window, file_size, G);
            prop_assert!(covers(b, l, offset, want));
            prop_assert_eq!(b % G, 0);
            prop_assert!(b + l <= file_size);
            prop_assert!(l > 0);
        }
    }
}
