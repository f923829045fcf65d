//! packdump: a git pack reader on smmap, checked against git itself.
//!
//! ```text
//! cargo run --release --example packdump -- verify .git/objects/pack/pack-<hash>.idx
//! cargo run --release --example packdump -- lookup <pack.idx> <id>...
//! git rev-list --objects --all | cut -c1-40 | cargo run --release --example packdump -- cat <pack.idx>
//! cargo run --release --example packdump -- bench <pack.idx> 1000000
//! ```
//!
//! `verify` prints what `git verify-pack -v` prints, byte for byte, and checks what it checks;
//! `cat` prints what `git cat-file --batch` prints. Every file of a run (indexes and packs)
//! is read through one `SlidingWindowMapManager`; the index layouts and the pack header are
//! records declared with `#[derive(MappedRecord)]`, the tables of the index are
//! `RecordTable`s. Run without arguments, it prints its usage.

// The module is shared with the tests and the benchmarks, which use parts this program does not.
#[allow(dead_code)]
#[path = "packdump/mod.rs"]
mod packdump;

use std::io::{BufWriter, Write};
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let stdin = std::io::stdin();
    let stdout = std::io::stdout();
    let mut out = BufWriter::with_capacity(1 << 16, stdout.lock());
    let res = packdump::cli::run(&args, &mut stdin.lock(), &mut out);
    let flushed = out.flush();
    match (res, flushed) {
        (Ok(()), Ok(())) => ExitCode::SUCCESS,
        (Err(packdump::Error::Usage(u)), _) => {
            eprintln!("{u}");
            ExitCode::from(2)
        }
        (Err(e), _) => {
            eprintln!("packdump: {e}");
            ExitCode::FAILURE
        }
        (Ok(()), Err(e)) => {
            eprintln!("packdump: writing the output: {e}");
            ExitCode::FAILURE
        }
    }
}
