//! The commands of `packdump`, writing to any `io::Write` (standard output, or a buffer in
//! tests).

use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};
use rand::RngExt;
use sha1::{Digest, Sha1};
use smmap::{SlidingWindowMapManager, WindowCursor};

use super::pack::{DEFAULT_CACHE, EntryHeader, Kind, Pack, PackSet};
use super::{Error, ObjectId, Result};

/// The usage text.
pub(crate) const USAGE: &str = "\
usage: packdump [options] <command> ...

commands:
  verify <pack.idx>...           every object in pack order, as `git verify-pack -v`,
                                 checking CRCs, object ids and both checksums
  lookup <pack.idx> <id>...      offset, type and size of each object
  cat <pack.idx>...              ids on standard input, objects out as `git cat-file --batch`
  bench <pack.idx> <n>           n random lookups by id and n random object reads, per second

options:
  --window-size <bytes>          the manager's window size (default: smmap's)
  --memory-limit <bytes>         the manager's budget of mapped bytes (default: smmap's)
  --max-open-files <n>           the manager's budget of open descriptors (default: smmap's)
  --cache <bytes>                the delta-base cache of each pack (default: 96 MiB)
";

/// How a run is set up.
#[derive(Clone, Debug, Default)]
pub(crate) struct Options {
    pub(crate) window_size: Option<usize>,
    pub(crate) memory_limit: Option<usize>,
    pub(crate) max_open_files: Option<usize>,
    pub(crate) cache: Option<usize>,
    /// Show a progress bar on a terminal.
    pub(crate) progress: bool,
}

impl Options {
    /// The one manager every file of the run goes through.
    pub(crate) fn manager(&self) -> Result<SlidingWindowMapManager> {
        let mut b = SlidingWindowMapManager::builder();
        if let Some(w) = self.window_size {
            b = b.window_size(w);
        }
        if let Some(m) = self.memory_limit {
            b = b.max_memory_size(m);
        }
        if let Some(f) = self.max_open_files {
            b = b.max_open_files(f);
        }
        Ok(b.build()?)
    }

    fn cache(&self) -> usize {
        self.cache.unwrap_or(DEFAULT_CACHE)
    }

    fn progress(&self, len: u64, what: &'static str) -> ProgressBar {
        if !self.progress {
            return ProgressBar::hidden();
        }
        // Drawn on standard error, only when it is a terminal.
        let pb = ProgressBar::new(len);
        if let Ok(style) = ProgressStyle::with_template(
            "{msg} [{elapsed_precise}] {wide_bar} {pos}/{len} ({per_sec}, {eta})",
        ) {
            pb.set_style(style);
        }
        pb.set_message(what);
        pb
    }
}

/// Runs the command line `args` (without the program name).
pub(crate) fn run(args: &[String], input: &mut dyn BufRead, out: &mut dyn Write) -> Result<()> {
    let mut opts = Options {
        progress: true,
        ..Options::default()
    };
    let mut rest = args;
    while let Some((first, tail)) = rest.split_first() {
        let Some(name) = first.strip_prefix("--") else {
            break;
        };
        let Some((value, tail)) = tail.split_first() else {
            return Err(Error::Usage(format!("--{name} needs a value\n{USAGE}")));
        };
        let v = value
            .parse::<usize>()
            .map_err(|_| Error::Usage(format!("--{name}: not a number: {value}")))?;
        match name {
            "window-size" => opts.window_size = Some(v),
            "memory-limit" => opts.memory_limit = Some(v),
            "max-open-files" => opts.max_open_files = Some(v),
            "cache" => opts.cache = Some(v),
            _ => return Err(Error::Usage(format!("unknown option --{name}\n{USAGE}"))),
        }
        rest = tail;
    }
    let man = opts.manager()?;
    match rest {
        [cmd, paths @ ..] if cmd == "verify" && !paths.is_empty() => {
            for p in paths {
                verify(&man, &opts, Path::new(p), out)?;
            }
            Ok(())
        }
        [cmd, idx, ids @ ..] if cmd == "lookup" => lookup(&man, &opts, Path::new(idx), ids, out),
        [cmd, paths @ ..] if cmd == "cat" && !paths.is_empty() => {
            let paths: Vec<PathBuf> = paths.iter().map(PathBuf::from).collect();
            cat(&man, &opts, &paths, input, out)
        }
        [cmd, idx, n] if cmd == "bench" => {
            let n = n
                .parse()
                .map_err(|_| Error::Usage(format!("bench: not a number: {n}")))?;
            bench(&man, &opts, Path::new(idx), n, out)
        }
        _ => Err(Error::Usage(USAGE.to_owned())),
    }
}

/// Puts the object's id in front of an error about it.
fn about(id: ObjectId, ofs: u64) -> impl Fn(Error) -> Error {
    move |e| Error::Object {
        id,
        offset: ofs,
        source: Box::new(e),
    }
}

/// Feeds `[from, to)` of the cursor's file to `f`, a window at a time.
fn for_bytes(
    c: &mut WindowCursor,
    from: u64,
    to: u64,
    mut f: impl FnMut(&[u8]),
) -> smmap::Result<()> {
    let mut pos = from;
    while pos < to {
        let chunk = c.use_region(pos, 0)?;
        let chunk = &chunk[..chunk.len().min((to - pos) as usize)];
        f(chunk);
        pos += chunk.len() as u64;
    }
    Ok(())
}

/// The SHA-1 of `[0, len)` of the cursor's file.
fn sha1_of(c: &mut WindowCursor, len: u64) -> smmap::Result<ObjectId> {
    let mut h = Sha1::new();
    for_bytes(c, 0, len, |b| h.update(b))?;
    Ok(ObjectId(h.finalize().into()))
}

/// The id git gives an object: the SHA-1 of `<type> <size>\0<content>`.
pub(crate) fn object_id(kind: Kind, data: &[u8]) -> ObjectId {
    let mut h = Sha1::new();
    h.update(kind.name().as_bytes());
    h.update(format!(" {}\0", data.len()).as_bytes());
    h.update(data);
    ObjectId(h.finalize().into())
}

/// One object of the pack, in pack order.
#[derive(Clone, Copy)]
struct Entry {
    ofs: u64,
    id: ObjectId,
    crc: Option<u32>,
}

/// `verify <pack.idx>`: every object in pack order in the format of `git verify-pack -v`, then
/// its summary; checks the index (sorted ids, fanout, offsets), each entry's CRC32, each
/// object's id, the pack's and the index's checksums.
pub(crate) fn verify(
    man: &SlidingWindowMapManager,
    opts: &Options,
    idx_path: &Path,
    out: &mut dyn Write,
) -> Result<()> {
    let mut pack = Pack::with_cache(man, idx_path, opts.cache())?;
    let n = u64::from(pack.len());
    let data_end = pack.data_end();

    // The index: ids strictly increasing and agreeing with the fanout table.
    let idx = pack.index();
    let idx_file = idx.path().to_path_buf();
    let mut entries = Vec::with_capacity(n.min(1 << 24) as usize);
    let mut counts = [0u32; 256];
    for i in 0..n {
        let id = idx.id_at(i)?;
        if let Some(prev) = entries.last().map(|e: &Entry| e.id)
            && prev >= id
        {
            return Err(Error::corrupt(
                &idx_file,
                format!("ids are not sorted: {id} (object {i}) follows {prev}"),
            ));
        }
        counts[usize::from(id.0[0])] += 1;
        let ofs = idx.offset_at(i)?;
        let crc = idx.crc_at(i)?;
        entries.push(Entry { ofs, id, crc });
    }
    let mut total = 0u32;
    for (b, c) in counts.iter().enumerate() {
        total += c;
        if idx.fanout()[b] != total {
            return Err(Error::corrupt(
                &idx_file,
                format!(
                    "fanout[{b}] = {}, but {total} ids start with a byte <= {b}",
                    idx.fanout()[b]
                ),
            ));
        }
    }
    entries.sort_unstable_by_key(|e| e.ofs);
    for (k, e) in entries.iter().enumerate() {
        if e.ofs < 12 || e.ofs >= data_end {
            return Err(about(e.id, e.ofs)(Error::corrupt(
                &idx_file,
                format!(
                    "offset {} lies outside the pack's entries (12..{data_end})",
                    e.ofs
                ),
            )));
        }
        if k > 0 && entries[k - 1].ofs == e.ofs {
            return Err(Error::corrupt(
                &idx_file,
                format!(
                    "objects {} and {} have the same offset {}",
                    entries[k - 1].id,
                    e.id,
                    e.ofs
                ),
            ));
        }
    }

    // Both checksums, and the pack's as the index records it (checked by `open`).
    let want = pack.index().pack_checksum();
    let got = sha1_of(pack.cursor(), data_end)?;
    if got != want {
        return Err(Error::corrupt(
            pack.path(),
            format!("pack checksum mismatch: the content hashes to {got}, the trailer says {want}"),
        ));
    }
    let mut ic = pack.index().cursor().clone();
    let idx_len = ic.file_size() - 20;
    let got = sha1_of(&mut ic, idx_len)?;
    drop(ic);
    let want = pack.index().idx_checksum();
    if got != want {
        return Err(Error::corrupt(
            &idx_file,
            format!(
                "index checksum mismatch: the content hashes to {got}, the trailer says {want}"
            ),
        ));
    }

    // Entry headers, delta bases (as positions in pack order) and depths.
    let mut headers: Vec<EntryHeader> = Vec::with_capacity(entries.len());
    let mut bases: Vec<Option<usize>> = Vec::with_capacity(entries.len());
    let position = |ofs: u64| entries.binary_search_by_key(&ofs, |e| e.ofs).ok();
    for e in &entries {
        let h = pack.entry_header(e.ofs).map_err(about(e.id, e.ofs))?;
        let base = match pack
            .base_offset(e.ofs, h.kind)
            .map_err(about(e.id, e.ofs))?
        {
            None => None,
            Some(b) => match position(b) {
                Some(k) => Some(k),
                None => {
                    return Err(about(e.id, e.ofs)(Error::corrupt(
                        pack.path(),
                        format!("delta base at offset {b} is not an entry"),
                    )));
                }
            },
        };
        headers.push(h);
        bases.push(base);
    }
    let depths = depths(&bases).map_err(|k| {
        about(entries[k].id, entries[k].ofs)(Error::corrupt(
            pack.path(),
            "its delta chain loops".to_owned(),
        ))
    })?;

    let pb = opts.progress(n, "verify");
    let mut line = Vec::with_capacity(200);
    for (k, e) in entries.iter().enumerate() {
        let err = about(e.id, e.ofs);
        let h = headers[k];
        let next = entries.get(k + 1).map_or(data_end, |x| x.ofs);
        if let Some(want) = e.crc {
            let mut crc = crc32fast::Hasher::new();
            for_bytes(pack.cursor(), e.ofs, next, |b| crc.update(b)).map_err(|x| err(x.into()))?;
            let got = crc.finalize();
            if got != want {
                return Err(err(Error::corrupt(
                    pack.path(),
                    format!("CRC32 mismatch: the entry has {got:08x}, the index says {want:08x}"),
                )));
            }
        }
        let (data, end) = pack.inflate(e.ofs, &h).map_err(&err)?;
        if end != next {
            return Err(err(Error::corrupt(
                pack.path(),
                format!("its zlib stream ends at offset {end}, the next entry starts at {next}"),
            )));
        }
        let obj = pack.resolve(e.ofs, &h, data).map_err(&err)?;
        let got = object_id(obj.kind, &obj.data);
        if got != e.id {
            return Err(err(Error::corrupt(
                pack.path(),
                format!("SHA-1 mismatch: the content hashes to {got}"),
            )));
        }
        line.clear();
        line.extend_from_slice(&e.id.hex());
        write!(
            line,
            " {:<6} {} {} {}",
            obj.kind.name(),
            h.size,
            next - e.ofs,
            e.ofs
        )?;
        if let Some(b) = bases[k] {
            write!(line, " {} ", depths[k])?;
            line.extend_from_slice(&entries[b].id.hex());
        }
        line.push(b'\n');
        out.write_all(&line)?;
        if k % 256 == 255 {
            pb.inc(256);
        }
    }
    pb.finish_and_clear();

    let deltas = bases.iter().filter(|b| b.is_some()).count();
    let plural = |n: usize| if n == 1 { "object" } else { "objects" };
    let whole = entries.len() - deltas;
    if whole > 0 {
        writeln!(out, "non delta: {whole} {}", plural(whole))?;
    }
    let deepest = depths.iter().copied().max().unwrap_or(0) as usize;
    let mut histogram = vec![0usize; deepest + 1];
    for (k, b) in bases.iter().enumerate() {
        if b.is_some() {
            histogram[depths[k] as usize] += 1;
        }
    }
    for (d, &c) in histogram.iter().enumerate().skip(1) {
        if c > 0 {
            writeln!(out, "chain length = {d}: {c} {}", plural(c))?;
        }
    }
    writeln!(out, "{}: ok", idx_path.with_extension("pack").display())?;
    Ok(())
}

/// The delta depth of each entry (0 for whole objects), from each entry's base; `Err(k)` if
/// the chain of entry `k` loops.
fn depths(bases: &[Option<usize>]) -> std::result::Result<Vec<u32>, usize> {
    const UNKNOWN: u32 = u32::MAX;
    let mut depth = vec![UNKNOWN; bases.len()];
    let mut stack = Vec::new();
    for start in 0..bases.len() {
        let mut k = start;
        // Down to an entry whose depth is known (or a whole object).
        let mut d = loop {
            if depth[k] != UNKNOWN {
                break depth[k];
            }
            match bases[k] {
                None => {
                    depth[k] = 0;
                    break 0;
                }
                Some(b) => {
                    if stack.len() > bases.len() {
                        return Err(start);
                    }
                    stack.push(k);
                    k = b;
                }
            }
        };
        while let Some(k) = stack.pop() {
            d += 1;
            depth[k] = d;
        }
    }
    Ok(depth)
}

/// `lookup <pack.idx> <id>...`: `<id> <offset> <type> <size>`, or `<id> missing`.
pub(crate) fn lookup(
    man: &SlidingWindowMapManager,
    opts: &Options,
    idx_path: &Path,
    ids: &[String],
    out: &mut dyn Write,
) -> Result<()> {
    let mut pack = Pack::with_cache(man, idx_path, opts.cache())?;
    for s in ids {
        let id = ObjectId::from_hex(s.as_bytes())
            .ok_or_else(|| Error::Usage(format!("not a 40-digit hex object id: {s}")))?;
        match pack.lookup(&id)? {
            Some(ofs) => {
                let (kind, size) = pack.info_at(ofs).map_err(about(id, ofs))?;
                writeln!(out, "{id} {ofs} {} {size}", kind.name())?;
            }
            None => writeln!(out, "{id} missing")?,
        }
    }
    Ok(())
}

/// `cat <pack.idx>...`: for each id read from `input`, what `git cat-file --batch` prints:
/// `<id> <type> <size>`, the content and a newline, or `<input> missing`.
pub(crate) fn cat(
    man: &SlidingWindowMapManager,
    opts: &Options,
    idx_paths: &[PathBuf],
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<()> {
    let mut packs = PackSet::open(man, idx_paths, opts.cache())?;
    let mut line = Vec::new();
    loop {
        line.clear();
        if input.read_until(b'\n', &mut line)? == 0 {
            return Ok(());
        }
        if line.last() == Some(&b'\n') {
            line.pop();
        }
        let found = match ObjectId::from_hex(&line) {
            Some(id) => packs.object(&id)?.map(|o| (id, o)),
            None => None,
        };
        match found {
            Some((id, o)) => {
                out.write_all(&id.hex())?;
                writeln!(out, " {} {}", o.kind.name(), o.data.len())?;
                out.write_all(&o.data)?;
                out.write_all(b"\n")?;
            }
            None => {
                out.write_all(&line)?;
                out.write_all(b" missing\n")?;
            }
        }
    }
}

/// `bench <pack.idx> <n>`: n random lookups by id, then n reads of random objects, each timed
/// and reported per second.
pub(crate) fn bench(
    man: &SlidingWindowMapManager,
    opts: &Options,
    idx_path: &Path,
    n: u64,
    out: &mut dyn Write,
) -> Result<()> {
    let mut pack = Pack::with_cache(man, idx_path, opts.cache())?;
    let count = u64::from(pack.len());
    if count == 0 {
        return Err(Error::Usage(format!(
            "{}: an empty pack has nothing to look up",
            idx_path.display()
        )));
    }
    let mut rng = rand::make_rng::<rand::rngs::StdRng>();
    let picks: Vec<u64> = (0..n).map(|_| rng.random_range(0..count)).collect();
    let mut ids = Vec::with_capacity(picks.len());
    for &i in &picks {
        ids.push(pack.index().id_at(i)?);
    }
    let pb = opts.progress(2 * n, "bench");
    const STEP: u64 = 4096;

    let t = Instant::now();
    let mut offsets = Vec::with_capacity(ids.len());
    for (k, id) in ids.iter().enumerate() {
        match pack.lookup(id)? {
            Some(ofs) => offsets.push(ofs),
            None => {
                return Err(Error::corrupt(
                    idx_path,
                    format!("{id} is listed but not found"),
                ));
            }
        }
        if k as u64 % STEP == STEP - 1 {
            pb.inc(STEP);
        }
    }
    let lookups = t.elapsed().as_secs_f64();

    let t = Instant::now();
    let mut bytes = 0u64;
    for (k, (&ofs, id)) in offsets.iter().zip(&ids).enumerate() {
        bytes += pack.object_at(ofs).map_err(about(*id, ofs))?.data.len() as u64;
        if k as u64 % STEP == STEP - 1 {
            pb.inc(STEP);
        }
    }
    let reads = t.elapsed().as_secs_f64();
    pb.finish_and_clear();

    let rate = |secs: f64| n as f64 / secs.max(1e-9);
    writeln!(
        out,
        "{}: {count} objects, {} bytes",
        pack.path().display(),
        pack.size()
    )?;
    writeln!(
        out,
        "lookups by id: {n} in {lookups:.3} s, {:.0} per second",
        rate(lookups)
    )?;
    writeln!(
        out,
        "object reads:  {n} in {reads:.3} s, {:.0} per second ({:.1} MB/s inflated)",
        rate(reads),
        bytes as f64 / reads.max(1e-9) / 1e6
    )?;
    let st = man.stats();
    writeln!(
        out,
        "manager: {} maps, {} evictions, {} bytes mapped now; cache {} bytes",
        st.maps,
        st.evictions,
        man.mapped_memory_size(),
        pack.cache().bytes()
    )?;
    Ok(())
}
