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

/// Smaller regions for the request `[offset, offset + len)` in a file of `file_size` bytes,
/// largest first, for when its region of `failed_len` bytes could not be mapped (the address
/// space had no room for it): half of it, a quarter, and so on, each placed at a multiple of
/// half its own length where that covers the request, down to the least region that covers
/// it (from `offset` rounded down to the granularity to the request's end rounded up to it).
///
/// `len` is at least 1 and already clamped to the end of the file, `offset < file_size`, and
/// `failed_len` is a multiple of `granularity` unless it ends at the end of the file.
pub(crate) fn smaller_regions(
    offset: u64,
    len: u64,
    failed_len: u64,
    file_size: u64,
    granularity: u64,
) -> impl Iterator<Item = (u64, u64)> {
    debug_assert!(offset < file_size);
    let end_needed = offset.saturating_add(len.max(1)).min(file_size);
    let least_begin = align_down(offset, granularity);
    let least_end = align_up(end_needed, granularity).min(file_size);
    let least = least_end - least_begin;
    let mut size = failed_len;
    let mut done = false;
    let mut prev = (u64::MAX, 0);
    std::iter::from_fn(move || {
        while !done {
            // Halves rounded up to an even number of granules, so that half of one is a valid
            // mapping offset.
            let half = align_up(size / 2, 2 * granularity);
            let next = if half > least && half < size {
                size = half;
                let mut begin = align_down(offset, size / 2);
                if begin.saturating_add(size) < end_needed {
                    begin = least_begin;
                }
                let end = begin.saturating_add(size).min(file_size);
                (begin, end - begin)
            } else {
                done = true;
                (least_begin, least)
            };
            if next != prev && next.1 < failed_len {
                prev = next;
                return Some(next);
            }
        }
        None
    })
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

    #[test]
    fn smaller_regions_halve_down_to_the_request() {
        const GIB: u64 = 1 << 30;
        const MIB: u64 = 1 << 20;
        let file = 4 * GIB;
        // A 1 GiB window at 0 for a 1-byte request at 5 MiB + 3.
        let got: Vec<_> = smaller_regions(5 * MIB + 3, 1, GIB, file, G).collect();
        assert_eq!(got[0], (0, GIB / 2));
        assert_eq!(got[1], (0, GIB / 4));
        assert_eq!(*got.last().unwrap(), (5 * MIB, G));
        assert_eq!(got.len(), 18);
        // Past the start, halves sit at multiples of their own half.
        let got: Vec<_> = smaller_regions(GIB + 300 * MIB, 10, GIB, file, G).collect();
        assert_eq!(got[0], (GIB + 256 * MIB, GIB / 2));
        assert_eq!(got[1], (GIB + 256 * MIB, GIB / 4));
        assert_eq!(got[2], (GIB + 256 * MIB, GIB / 8));
        assert_eq!(got[3], (GIB + 288 * MIB, GIB / 16));
        // A request as long as its region has nothing smaller.
        assert_eq!(smaller_regions(0, 2 * G, 2 * G, file, G).count(), 0);
        // Near the end of the file, regions clamped to the same range come once.
        let got: Vec<_> = smaller_regions(file - 10, 5, GIB, file, G).collect();
        let mut dedup = got.clone();
        dedup.dedup();
        assert_eq!(got, dedup);
        assert_eq!(*got.last().unwrap(), (file - G, G));
    }

    proptest! {
        #[test]
        fn smaller_regions_cover_the_request(
            units in 1u64..4096,
            file_size in 1u64..(1 << 40),
            offset_frac in 0.0f64..1.0,
            len in 1u64..(1 << 34),
        ) {
            let window = units * 2 * G;
            let offset = ((file_size as f64 * offset_frac) as u64).min(file_size - 1);
            let want = len.min(file_size - offset);
            let (_, failed) = sliding_region(offset, want, window, file_size, G);
            let mut last = failed;
            let mut n = 0;
            for (b, l) in smaller_regions(offset, want, failed, file_size, G) {
                prop_assert!(covers(b, l, offset, want), "{b} {l}");
                prop_assert_eq!(b % G, 0);
                prop_assert!(b + l <= file_size);
                prop_assert!(l < last, "shrinks: {} after {}", l, last);
                last = l;
                n += 1;
            }
            prop_assert!(n <= 64);
            let least = align_up(offset + want, G).min(file_size) - align_down(offset, G);
            prop_assert!(last == least || failed == least);
        }

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
