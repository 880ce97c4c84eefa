//! Sampling demo on a joint model whose answers are known exactly (a Gaussian class-conditional
//! model with two label groups): joint sampling, prediction both ways, and conditional
//! generation, each compared with the exact value.
//!
//! `cargo run --release --example demo -- [--device auto|cpu|cuda] [--chains N] [--sweeps N] [--seed N]`
//!
//! The demo is the library value `joint_ebm::experiments::demo` (its `Report` holds every
//! figure); this file parses the command line and prints the report.
use clap::Parser;
use joint_ebm::experiments::demo::{run, Args};

fn main() -> anyhow::Result<()> {
    println!("{}", run(&Args::parse())?);
    Ok(())
}
