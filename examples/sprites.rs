//! Structured sprites: one joint EBM over 32 × 32 sprites (square, ellipse, heart) and a
//! structured label — shape, scale, position bins **and the sprite's 16 × 16 mask as 256
//! bits** — which cannot be enumerated. Trained with the paper's estimator (sampled negatives)
//! and DMALA on the labels, Langevin on the images; prediction is sample-based and generation
//! starts from noise (the paper's protocol). See `jem_train::presets::sprites`.
//!
//! `cargo run --release --example sprites -- [common flags] [--labels all|factors|mask]
//! [--holdout heart:upper-left] [--mask-observed 0.1]`
//!
//! Metrics (`joint_ebm::structured`): during training on the validation split (`val_*`), at the
//! end on the test split and the held-out combinations (`zero_shot_*`). Figures (from noise):
//! `cond_shape.png` (rows: square, ellipse, heart), `cond_mask.png` (clamped mask | sample
//! pairs), `zero_shot.png` (factors of held-out images), `unconditional.png`.
//!
//! The experiment itself — data, energy, presets, judges, figures — is the library value
//! `joint_ebm::experiments::sprites`; this file only parses the command line.
use clap::Parser;
use joint_ebm::experiments::sprites::{run, Args};

fn main() -> anyhow::Result<()> {
    run(Args::parse())
}
