//! Turns the output of the benchmark suite (`cargo bench`, criterion's
//! `target/criterion/**/new/{benchmark,estimates}.json`) into the table of ratios and the
//! bar chart of BENCHMARKS.md.
//!
//! ```text
//! cargo run --release --example bench_report                 # prints the table
//! cargo run --release --example bench_report -- \
//!     --criterion target/criterion --svg benches/chart.svg --markdown BENCHMARKS.md
//! ```
//!
//! `--markdown FILE` replaces the lines between `<!-- bench-table:begin -->` and
//! `<!-- bench-table:end -->` of FILE with the table; `--svg FILE` writes the chart (the speed
//! of each variant relative to the scenario's raw baseline, on a log scale). Times are
//! criterion's median estimate of one iteration.

use std::collections::BTreeMap;
use std::error::Error;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde_json::Value;

/// One measured benchmark.
#[derive(Debug, Clone)]
struct Bench {
    group: String,
    /// `function_id` or `function_id/value` (the thread count of P6).
    name: String,
    /// Median time of one iteration, in nanoseconds.
    ns: f64,
    /// Bytes or elements per iteration.
    per_iter: f64,
    bytes: bool,
}

impl Bench {
    /// Speed relative to `other`: `other`'s time per item over this one's.
    fn speed_vs(&self, other: &Bench) -> f64 {
        (other.ns / other.per_iter) / (self.ns / self.per_iter)
    }

    /// "7.41 GB/s" or "31.2 ns" (per element).
    fn per_item(&self) -> String {
        if self.bytes {
            format!("{:.2} GB/s", self.per_iter / self.ns)
        } else {
            let ns = self.ns / self.per_iter;
            if ns >= 1000.0 {
                format!("{:.2} µs", ns / 1000.0)
            } else {
                format!("{ns:.1} ns")
            }
        }
    }
}

/// What the issues ask of a variant, as a ratio of speeds.
struct Goal {
    group: &'static str,
    name: &'static str,
    /// `raw`, `pread`, `std` (the scenario's second baseline) or `1thread` (P6's scaling).
    against: &'static str,
    at_least: f64,
    text: &'static str,
}

const GOALS: &[Goal] = &[
    Goal {
        group: "P1_scan",
        name: "smmap_static",
        against: "raw",
        at_least: 0.95,
        text: "≥ 0.95 raw",
    },
    Goal {
        group: "P1_scan",
        name: "smmap_sliding_4MiB",
        against: "raw",
        at_least: 0.95,
        text: "≥ 0.95 raw",
    },
    Goal {
        group: "P2_random",
        name: "smmap_static",
        against: "raw",
        at_least: 1.0 / 1.15,
        text: "time ≤ 1.15 raw",
    },
    Goal {
        group: "P2_random_1GiB",
        name: "smmap_sliding_64MiB",
        against: "raw",
        at_least: 1.0 / 1.3,
        text: "time ≤ 1.3 raw",
    },
    Goal {
        group: "P3_python_setup",
        name: "smmap_sliding_1MiB_16MiB",
        against: "pread",
        at_least: 0.5,
        text: "≥ 0.5 pread",
    },
    Goal {
        group: "P4_index_lookup",
        name: "smmap_static",
        against: "raw",
        at_least: 1.0 / 1.1,
        text: "time ≤ 1.10 raw",
    },
    Goal {
        group: "P4_index_lookup",
        name: "smmap_sliding_tenth",
        against: "raw",
        at_least: 1.0 / 3.0,
        text: "time ≤ 3 raw",
    },
    Goal {
        group: "P6_threads",
        name: "smmap_static/2",
        against: "1thread",
        at_least: 1.8,
        text: "≥ 1.8 × 1 thread",
    },
    Goal {
        group: "P6_threads",
        name: "smmap_sliding_64MiB/2",
        against: "1thread",
        at_least: 1.8,
        text: "≥ 1.8 × 1 thread",
    },
    Goal {
        group: "P7_lines",
        name: "smmap_buffer",
        against: "std",
        at_least: 1.3,
        text: "≥ 1.3 BufReader",
    },
];

/// A scenario's baselines, by the start of its group name.
struct Baselines {
    group: &'static str,
    raw: &'static str,
    second: &'static str,
}

const BASELINES: &[Baselines] = &[
    Baselines {
        group: "P1_",
        raw: "raw_mmap",
        second: "pread_1MiB",
    },
    Baselines {
        group: "P2_",
        raw: "raw_mmap",
        second: "pread",
    },
    Baselines {
        group: "P3_",
        raw: "raw_one_window_cache",
        second: "pread",
    },
    Baselines {
        group: "P4_",
        raw: "raw_mmap",
        second: "pread",
    },
    Baselines {
        group: "P6_",
        raw: "raw_mmap",
        second: "pread",
    },
    Baselines {
        group: "P7_lines_fill_buf",
        raw: "raw_mmap",
        second: "bufreader_8KiB",
    },
    Baselines {
        group: "P7_lines_read_until",
        raw: "raw_mmap",
        second: "bufreader_8KiB",
    },
];

fn baselines(group: &str) -> Option<&'static Baselines> {
    BASELINES.iter().find(|b| group.starts_with(b.group))
}

/// The thread count of a P6 name (`smmap_static/2` → ("smmap_static", "2")).
fn split_param(name: &str) -> (&str, Option<&str>) {
    match name.rsplit_once('/') {
        Some((f, v)) => (f, Some(v)),
        None => (name, None),
    }
}

/// The benchmark of `group` that `name`'s ratio is taken against: the baseline `base` with
/// the same parameter (thread count) as `name`.
fn baseline_of<'a>(benches: &'a [Bench], name: &str, base: &str) -> Option<&'a Bench> {
    let want = match split_param(name).1 {
        Some(v) => format!("{base}/{v}"),
        None => base.to_string(),
    };
    benches.iter().find(|b| b.name == want)
}

/// Baselines first (raw, then pread and BufReader), then smmap's variants.
fn rank(name: &str) -> u8 {
    if name.starts_with("raw") {
        0
    } else if name.starts_with("pread") {
        1
    } else if name.starts_with("smmap") {
        3
    } else {
        2
    }
}

fn read_benches(root: &Path) -> Result<Vec<Bench>, Box<dyn Error>> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir)? {
            let p = entry?.path();
            if p.is_dir() {
                stack.push(p);
            } else if p.file_name().is_some_and(|n| n == "benchmark.json")
                && p.parent()
                    .and_then(Path::file_name)
                    .is_some_and(|n| n == "new")
            {
                let b = read_one(&p)?;
                // Only the suite's scenarios (P1_..., P7_...), not older results in the same
                // directory.
                if baselines(&b.group).is_some() {
                    out.push(b);
                }
            }
        }
    }
    out.sort_by(|a, b| (&a.group, rank(&a.name), &a.name).cmp(&(&b.group, rank(&b.name), &b.name)));
    Ok(out)
}

fn read_one(benchmark_json: &Path) -> Result<Bench, Box<dyn Error>> {
    let what = |m: &str| format!("{}: {m}", benchmark_json.display());
    let b: Value = serde_json::from_str(&std::fs::read_to_string(benchmark_json)?)?;
    let est_path = benchmark_json.with_file_name("estimates.json");
    let e: Value = serde_json::from_str(&std::fs::read_to_string(&est_path)?)?;
    let group = b["group_id"].as_str().ok_or_else(|| what("no group_id"))?;
    let function = b["function_id"].as_str().unwrap_or("");
    let name = match b["value_str"].as_str() {
        Some(v) if function.is_empty() => v.to_string(),
        Some(v) => format!("{function}/{v}"),
        None => function.to_string(),
    };
    let ns = e["median"]["point_estimate"]
        .as_f64()
        .ok_or_else(|| what("no median in estimates.json"))?;
    let t = &b["throughput"];
    let (per_iter, bytes) = if let Some(n) = t["Bytes"].as_f64() {
        (n, true)
    } else if let Some(n) = t["BytesDecimal"].as_f64() {
        (n, true)
    } else if let Some(n) = t["Elements"].as_f64() {
        (n, false)
    } else {
        (1.0, false)
    };
    Ok(Bench {
        group: group.to_string(),
        name,
        ns,
        per_iter,
        bytes,
    })
}

/// A goal's verdict for a benchmark, if a goal applies.
fn verdict(b: &Bench, group: &[Bench]) -> Option<String> {
    let goal = GOALS
        .iter()
        .find(|g| b.group.starts_with(g.group) && b.name == g.name)?;
    let base = baselines(&b.group)?;
    let ratio = match goal.against {
        "raw" => b.speed_vs(baseline_of(group, &b.name, base.raw)?),
        "pread" | "std" => b.speed_vs(baseline_of(group, &b.name, base.second)?),
        "1thread" => scaling(b, group)?,
        _ => return None,
    };
    let met = if ratio >= goal.at_least {
        "met"
    } else {
        "**missed**"
    };
    Some(format!("{}: {met}", goal.text))
}

/// For `name/2`: the throughput of 2 threads over the throughput of 1 thread.
fn scaling(b: &Bench, group: &[Bench]) -> Option<f64> {
    let (f, v) = split_param(&b.name);
    if v != Some("2") {
        return None;
    }
    let one = group.iter().find(|o| o.name == format!("{f}/1"))?;
    Some(b.speed_vs(one))
}

fn table(benches: &[Bench]) -> String {
    let mut groups: BTreeMap<&str, Vec<Bench>> = BTreeMap::new();
    for b in benches {
        groups.entry(&b.group).or_default().push(b.clone());
    }
    let mut s = String::new();
    s.push_str(
        "| scenario | variant | time per item | speed ÷ raw | speed ÷ pread (P7: ÷ BufReader) | \
         2 threads ÷ 1 | goal |\n|---|---|---:|---:|---:|---:|---|\n",
    );
    for (group, list) in &groups {
        let base = baselines(group);
        for b in list {
            let ratio = |id: Option<&str>| -> String {
                id.and_then(|id| baseline_of(list, &b.name, id))
                    .map(|o| format!("{:.3}", b.speed_vs(o)))
                    .unwrap_or_else(|| "".into())
            };
            let raw = ratio(base.map(|x| x.raw));
            let second = ratio(base.map(|x| x.second));
            let scale = scaling(b, list)
                .map(|r| format!("{r:.2}"))
                .unwrap_or_default();
            let goal = verdict(b, list).unwrap_or_default();
            let _ = writeln!(
                s,
                "| {group} | {} | {} | {raw} | {second} | {scale} | {goal} |",
                b.name,
                b.per_item()
            );
        }
    }
    s
}

fn color(name: &str) -> &'static str {
    if name.starts_with("smmap") {
        "#2f6db5"
    } else if name.starts_with("raw") {
        "#8c8c8c"
    } else if name.starts_with("pread") {
        "#e08a1e"
    } else {
        "#3c9a4d"
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// Horizontal bars, one cluster per scenario: each variant's speed relative to the
/// scenario's raw baseline, on a log scale from 1/100 to 10,000.
fn svg(benches: &[Bench]) -> String {
    let mut groups: BTreeMap<&str, Vec<Bench>> = BTreeMap::new();
    for b in benches {
        groups.entry(&b.group).or_default().push(b.clone());
    }
    let (label_w, plot_w, bar_h, gap) = (230.0, 600.0, 16.0, 26.0);
    let (lo, hi) = (-2.0f64, 4.0f64); // log10 of the axis ends
    let x_of = |r: f64| label_w + (r.log10().clamp(lo, hi) - lo) / (hi - lo) * plot_w;
    let rows: usize = groups.values().map(Vec::len).sum();
    let height = 60.0 + rows as f64 * (bar_h + 4.0) + groups.len() as f64 * gap + 30.0;
    let width = label_w + plot_w + 90.0;
    let mut s = String::new();
    let _ = writeln!(
        s,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(
        s,
        r#"<rect width="100%" height="100%" fill="white"/><text x="10" y="20" font-size="14" font-weight="bold">Speed relative to the raw baseline of each scenario (log scale; raw = 1)</text>"#
    );
    let _ = writeln!(
        s,
        r##"<text x="10" y="38" fill="#555">blue: smmap, grey: raw memmap2, orange: pread, green: BufReader&lt;File&gt;</text>"##
    );
    let top = 50.0;
    let bottom = height - 30.0;
    for k in lo as i32..=hi as i32 {
        let r = 10f64.powi(k);
        let x = x_of(r);
        let stroke = if k == 0 { "#444" } else { "#ddd" };
        let _ = writeln!(
            s,
            r##"<line x1="{x:.1}" y1="{top}" x2="{x:.1}" y2="{bottom}" stroke="{stroke}"/><text x="{x:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
            bottom + 14.0,
            if k < 0 {
                format!("1/{}", 10f64.powi(-k))
            } else {
                format!("{r}")
            }
        );
    }
    let mut y = top + 6.0;
    for (group, list) in &groups {
        let base = baselines(group);
        let _ = writeln!(
            s,
            r#"<text x="10" y="{:.1}" font-weight="bold">{}</text>"#,
            y + 12.0,
            escape(group)
        );
        y += gap - 6.0;
        for b in list {
            let Some(raw) = base.and_then(|x| baseline_of(list, &b.name, x.raw)) else {
                continue;
            };
            let r = b.speed_vs(raw);
            let x0 = x_of(10f64.powf(lo));
            let x1 = x_of(r);
            let _ = writeln!(
                s,
                r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{}</text><rect x="{x0:.1}" y="{y:.1}" width="{:.1}" height="{bar_h}" fill="{}"/><text x="{:.1}" y="{:.1}">{r:.2}</text>"#,
                label_w - 6.0,
                y + 12.0,
                escape(&b.name),
                (x1 - x0).max(1.0),
                color(&b.name),
                x1 + 4.0,
                y + 12.0
            );
            y += bar_h + 4.0;
        }
        y += 6.0;
    }
    s.push_str("</svg>\n");
    s
}

fn replace_between(doc: &str, table: &str) -> Result<String, Box<dyn Error>> {
    const BEGIN: &str = "<!-- bench-table:begin -->";
    const END: &str = "<!-- bench-table:end -->";
    let b = doc
        .find(BEGIN)
        .ok_or("no <!-- bench-table:begin --> marker")?;
    let e = doc.find(END).ok_or("no <!-- bench-table:end --> marker")?;
    if e < b {
        return Err("the end marker comes before the begin marker".into());
    }
    Ok(format!("{}{BEGIN}\n{table}{}", &doc[..b], &doc[e..]))
}

fn main() -> Result<(), Box<dyn Error>> {
    let mut criterion = PathBuf::from("target/criterion");
    let (mut svg_out, mut md_out) = (None, None);
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        let mut value = || {
            args.next()
                .map(PathBuf::from)
                .ok_or_else(|| format!("{} needs a value", a.to_string_lossy()))
        };
        match a.to_str() {
            Some("--criterion") => criterion = value()?,
            Some("--svg") => svg_out = Some(value()?),
            Some("--markdown") => md_out = Some(value()?),
            _ => {
                return Err(format!(
                    "unknown argument {}; expected --criterion DIR, --svg FILE, --markdown FILE",
                    a.to_string_lossy()
                )
                .into());
            }
        }
    }
    let benches =
        read_benches(&criterion).map_err(|e| format!("reading {}: {e}", criterion.display()))?;
    if benches.is_empty() {
        return Err(format!("no benchmark results under {}", criterion.display()).into());
    }
    let t = table(&benches);
    print!("{t}");
    if let Some(p) = svg_out {
        std::fs::write(&p, svg(&benches))?;
        eprintln!("wrote {}", p.display());
    }
    if let Some(p) = md_out {
        let doc = std::fs::read_to_string(&p)?;
        std::fs::write(&p, replace_between(&doc, &t)?)?;
        eprintln!("updated {}", p.display());
    }
    Ok(())
}
