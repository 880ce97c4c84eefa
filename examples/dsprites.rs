//! The paper's dSprites experiment (§6.3, appendix B.3, Table 3): a joint EBM over 32 × 32
//! ellipse images and their binned (x, y) position (two 16-way labels), a CNN energy, trained
//! by PCD with a joint sampler. Default preset: the paper's objective on JEM's label readout
//! (`--energy logit`, not the paper's architecture), exact Gibbs on the labels + the paper's
//! Langevin, a learning rate decayed over the second half — see `jem_train::presets::dsprites`;
//! `--preset conditional` for the paper's CNN with an extra conditional term of weight 1 (the
//! previous default), `--preset paper-objective` for the paper's objective with the paper's
//! CNN and GWG.
//!
//! `cargo run --release --example dsprites -- [common flags] [--data-file dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz]`
//!
//! Data: generated procedurally (the paper's subset, 46,652 train / 2,500 test, fixed seed) or
//! the original npz via `--data-file`. Figures: `conditional_on_x.png` (rows: horizontal
//! position bins 0, 3, 6, 9, 12, 15; Figs. 3, 17–19), `conditional_on_y.png` (columns-by-rows
//! for the vertical bins; Figs. 20–22), `unconditional_samples.png` (Fig. 23); the test-time
//! chains that draw them start as `--gen-start` says (default preset: matching replay states).
//!
//! The experiment itself — data, energy, presets, judges, figures — is the library value
//! `joint_ebm::experiments::dsprites`; this file only parses the command line.
use clap::Parser;
use joint_ebm::experiments::dsprites::{run, Args};

fn main() -> anyhow::Result<()> {
    run(Args::parse())
}
