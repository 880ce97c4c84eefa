//! Mixing per second of the discrete kernels — Gibbs-with-Gradients, DMALA and exact Gibbs —
//! on the same targets, measured the same way (Ising, Potts, a strongly coupled categorical
//! energy and a trained toy model's `p(y | x)`); writes `mixing.json` and `mixing.md`.
//!
//! `cargo run --release --example mixing -- [--out-dir docs/figures/mixing] [--seed N] [--quick]`
//!
//! The study is the library value `joint_ebm::experiments::mixing`; this file only parses the
//! command line.
use clap::Parser;
use joint_ebm::experiments::mixing::{run, Args};

fn main() -> anyhow::Result<()> {
    run(Args::parse())
}
