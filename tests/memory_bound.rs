//! The logic of `examples/memory_bound.rs` on a smaller sparse file: the scan reads the bytes
//! a plain `std::fs::File` read gives, the peak of mapped bytes stays within the budget plus
//! one window, and the peak resident set size stays under the example's bound.

#![cfg(unix)]

#[path = "../examples/memory_bound.rs"]
#[allow(dead_code)]
mod memory_bound;

use memory_bound::{Config, check, create_sparse, reference_checksum, scan};

#[test]
fn sparse_file_scanned_within_budget_plus_one_window() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sparse.bin");
    let size = 96 << 20;
    let written = create_sparse(&path, size, 0x5eed).unwrap();
    assert_eq!(std::fs::metadata(&path).unwrap().len(), size);
    let reference = reference_checksum(&path).unwrap();
    assert_eq!(written, reference, "the checksum of the bytes written");
    assert_ne!(reference, 0);

    let window = 2 * smmap::allocation_granularity() as u64 * 128; // 1 MiB on 4 KiB pages
    let config = Config {
        window,
        budget: 8 * window,
    };
    let o = scan(&path, config).unwrap();
    assert_eq!(o.bytes, size);
    assert_eq!(o.checksum, reference);
    assert!(
        o.peak_mapped_bytes <= config.budget + config.window,
        "{o:?}"
    );
    assert!(o.peak_mapped_bytes >= config.window, "{o:?}");
    assert!(o.evictions > 0, "the file does not fit the budget: {o:?}");
    check(&o, config, reference).unwrap();

    // A wrong reference, a budget exceeded and a peak RSS over the bound are each reported.
    assert!(check(&o, config, reference ^ 1).is_err());
    let tight = Config {
        window,
        budget: o.peak_mapped_bytes.saturating_sub(window + 1),
    };
    assert!(check(&o, tight, reference).is_err());
    let mut fat = o;
    fat.peak_rss = Some(memory_bound::RSS_LIMIT);
    assert!(check(&fat, config, reference).is_err());
}
