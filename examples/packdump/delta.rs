//! git's delta format: the base's size and the result's size (little-endian groups of 7 bits,
//! MSB = more), then instructions: `1xxxxxxx` copies from the base (the low 4 bits say which
//! offset bytes follow, the next 3 which size bytes; size 0 means 0x10000), `0xxxxxxx` with
//! x > 0 inserts the next x bytes of the delta; `0x00` is reserved.

/// The largest result buffer reserved before any byte is produced; a larger result grows as
/// its instructions are applied, so a lying size field never causes a huge allocation.
const MAX_RESERVE: u64 = 64 << 20;

/// The largest result a delta may declare: a crafted delta of a few KiB against a base of
/// 64 KiB or more can otherwise ask for gigabytes (each one-byte copy instruction yields
/// 64 KiB). git does not delta-compress blobs larger than `core.bigFileThreshold` (512 MiB by
/// default), so a real pack stays below it.
pub(crate) const MAX_RESULT: u64 = 1 << 30;

/// Reads a size (7-bit little-endian groups) at `*pos`, advancing it.
pub(crate) fn read_size(data: &[u8], pos: &mut usize) -> Result<u64, String> {
    let mut size = 0u64;
    let mut shift = 0u32;
    loop {
        let Some(&c) = data.get(*pos) else {
            return Err("truncated size in the delta header".to_owned());
        };
        *pos += 1;
        if shift > 63 || (shift > 0 && u64::from(c & 0x7f) >> (64 - shift) != 0) {
            return Err("size in the delta header overflows 64 bits".to_owned());
        }
        size |= u64::from(c & 0x7f) << shift;
        shift += 7;
        if c & 0x80 == 0 {
            return Ok(size);
        }
    }
}

/// The base size and result size a delta declares.
pub(crate) fn sizes(delta: &[u8]) -> Result<(u64, u64), String> {
    let mut pos = 0;
    let base = read_size(delta, &mut pos)?;
    let result = read_size(delta, &mut pos)?;
    Ok((base, result))
}

/// Applies `delta` to `base`. Every instruction is checked against both buffers, and the
/// result against its declared size.
pub(crate) fn apply(base: &[u8], delta: &[u8]) -> Result<Vec<u8>, String> {
    let mut pos = 0;
    let base_size = read_size(delta, &mut pos)?;
    if base_size != base.len() as u64 {
        return Err(format!(
            "delta expects a base of {base_size} bytes, its base has {}",
            base.len()
        ));
    }
    let result_size = read_size(delta, &mut pos)?;
    // Each instruction byte yields at most max(base, 127) bytes: a larger size is a lie.
    let most = (delta.len() as u64).saturating_mul((base.len() as u64).max(0x7f));
    if result_size > most {
        return Err(format!(
            "delta declares a result of {result_size} bytes, its {} bytes can make at most {most}",
            delta.len()
        ));
    }
    if result_size > MAX_RESULT {
        return Err(format!(
            "delta declares a result of {result_size} bytes, more than the {MAX_RESULT} bytes \
             a delta may make here"
        ));
    }
    let mut out = Vec::with_capacity(result_size.min(MAX_RESERVE) as usize);
    while pos < delta.len() {
        let op = delta[pos];
        let at = pos;
        pos += 1;
        let src = if op & 0x80 != 0 {
            let mut field = |bits: u8, count: usize| -> Result<usize, String> {
                let mut v = 0usize;
                for i in 0..count {
                    if bits & (1 << i) != 0 {
                        let Some(&b) = delta.get(pos) else {
                            return Err(format!(
                                "copy instruction at delta byte {at} runs past the end of the delta"
                            ));
                        };
                        pos += 1;
                        v |= usize::from(b) << (8 * i);
                    }
                }
                Ok(v)
            };
            let offset = field(op & 0x0f, 4)?;
            let mut len = field((op >> 4) & 0x07, 3)?;
            if len == 0 {
                len = 0x10000;
            }
            let Some(src) = offset
                .checked_add(len)
                .and_then(|end| base.get(offset..end))
            else {
                return Err(format!(
                    "copy instruction at delta byte {at} ({len} bytes from {offset}) runs past \
                     the base of {} bytes",
                    base.len()
                ));
            };
            src
        } else if op != 0 {
            let len = usize::from(op);
            let Some(src) = delta.get(pos..pos + len) else {
                return Err(format!(
                    "insert instruction at delta byte {at} ({len} bytes) runs past the end of \
                     the delta of {} bytes",
                    delta.len()
                ));
            };
            pos += len;
            src
        } else {
            return Err(format!("reserved delta instruction 0 at delta byte {at}"));
        };
        if out.len() as u64 + src.len() as u64 > result_size {
            return Err(format!(
                "delta makes more than its declared {result_size} bytes (at delta byte {at})"
            ));
        }
        out.extend_from_slice(src);
    }
    if out.len() as u64 != result_size {
        return Err(format!(
            "delta makes {} bytes, it declares {result_size}",
            out.len()
        ));
    }
    Ok(out)
}
