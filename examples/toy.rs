//! The paper's toy experiment (§6.1, appendix B.1, Table 1): a joint EBM over points on 8
//! Gaussians and three binary attributes, trained by PCD with the joint GWG + Langevin sampler.
//!
//! `cargo run --release --example toy -- [--preset default|paper] [--out-dir DIR] [--seed N]
//!  [--device auto|cpu|cuda] [--iterations N] [--resume DIR] [--missing-labels FRACTION]`
//!
//! Writes into `--out-dir`: `config.json`, `metrics.jsonl`, `metrics.json`, `checkpoints/`, and
//! the figures `conditional_samples.png` (rows: attributes, columns: values; Figs. 1, 4, 5),
//! `unconditional_samples.png` (Fig. 6), `densities.png` (class-conditional densities,
//! Figs. 7–10).
//!
//! The experiment itself — data, energy, presets, judges, figures — is the library value
//! `joint_ebm::experiments::toy`; this file only parses the command line.
use clap::Parser;
use joint_ebm::experiments::toy::{run, Args};

fn main() -> anyhow::Result<()> {
    run(Args::parse())
}
