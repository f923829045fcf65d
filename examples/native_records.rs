//! Native-endian records (feature `bytemuck`): a file of `#[repr(C)]` samples written straight
//! from memory with `bytemuck`, read back in place through a `RecordTable<Native<Sample>>`,
//! whatever the alignment of the samples in the file.
//!
//! ```text
//! cargo run --release --example native_records --features bytemuck
//! ```

use std::error::Error;

use bytemuck::{Pod, Zeroable};
use smmap::{Native, RecordTable, SlidingWindowMapManager};

/// One measurement, as this program keeps it in memory (8-byte aligned, 24 bytes, no padding).
#[derive(Clone, Copy, Debug, PartialEq, Pod, Zeroable)]
#[repr(C)]
struct Sample {
    time_ns: u64,
    value: f64,
    sensor: u32,
    flags: u32,
}

/// A header of 5 bytes puts every sample at an odd offset: `&Sample` could not point there,
/// `&Native<Sample>` can.
const HEADER: &[u8] = b"SMPL\x01";
const COUNT: usize = 1_000_000;

fn main() -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("samples.bin");
    let samples: Vec<Sample> = (0..COUNT as u64)
        .map(|i| Sample {
            time_ns: i * 1_000_000,
            value: (i as f64 * 0.001).sin(),
            sensor: (i % 7) as u32,
            flags: (i % 3 == 0) as u32,
        })
        .collect();
    let mut bytes = HEADER.to_vec();
    bytes.extend_from_slice(bytemuck::cast_slice(&samples));
    std::fs::write(&path, &bytes)?;

    let man = SlidingWindowMapManager::builder()
        .window_size(4 << 20)
        .max_memory_size(16 << 20)
        .build()?;
    let cursor = man.make_cursor(&path)?;
    let mut table = RecordTable::<Native<Sample>>::new(cursor, HEADER.len() as u64, COUNT as u64)?;

    // Random access: a sample is copied out of the map with `get`.
    let s = table.get(123_456)?.get();
    assert_eq!(s, samples[123_456]);

    // A scan: the mean value of sensor 3, against the same in memory.
    let (mut sum, mut n) = (0.0, 0u64);
    for rec in table.iter() {
        let s = rec?.get();
        if s.sensor == 3 {
            sum += s.value;
            n += 1;
        }
    }
    let want: Vec<f64> = samples
        .iter()
        .filter(|s| s.sensor == 3)
        .map(|s| s.value)
        .collect();
    assert_eq!(n as usize, want.len());
    let (mean, want_mean) = (sum / n as f64, want.iter().sum::<f64>() / want.len() as f64);
    assert_eq!(mean, want_mean);
    println!(
        "{COUNT} samples of {} bytes at offset {}: sensor 3 has {n}, mean {mean:.6}; {} windows mapped",
        size_of::<Sample>(),
        HEADER.len(),
        man.stats().maps
    );
    Ok(())
}
