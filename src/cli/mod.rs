//! The command-line driver of the experiments (feature `cli`, on by default): the common flags,
//! the run directory, progress reporting, the [`Experiment`] trait with its driver
//! ([`experiment::run`]) and PNG plots ([`plot`]). The layered crates (`ebm-core`, the samplers, `mwg`, `jem-train`, `ebm-data`)
//! never depend on clap, indicatif or image; only this facade does, and only with `cli`.

/// `eprintln!` in one write. The standard error stream is unbuffered and `eprintln!` writes a
/// formatted line piece by piece, so lines that several processes (the ranks of a
/// data-parallel run) print at once can interleave mid-line; a line written whole cannot
/// (pipes keep writes of up to 4 KiB whole).
#[macro_export]
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let line = format!("{}\n", format_args!($($arg)*));
        let _ = std::io::stderr().write_all(line.as_bytes());
    }};
}

mod args;
mod energy_arg;
pub mod experiment;
mod observer;
pub mod plot;
pub mod run;

pub use args::CommonArgs;
pub use energy_arg::EnergyArg;
pub use experiment::{Evaluation, Experiment, Splits};
pub use observer::RunObserver;

use anyhow::{Context, Result};

/// Seed of the permutation that picks `--validation` examples out of the training data (fixed:
/// the same examples for every run and seed).
pub const VALIDATION_SEED: u64 = 0x005E_ED0F_DA7A;
use std::fs;
use std::path::Path;

/// Writes `value` as pretty JSON to `path` atomically (temp file + rename).
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, serde_json::to_string_pretty(value)?)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}
