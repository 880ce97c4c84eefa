//! The experiments as library values (feature `cli`): for each, an implementation of
//! [`crate::cli::Experiment`] — data, energy, presets, judges, figures — its command-line
//! [`Args`] (the common flags of [`crate::cli::CommonArgs`] plus its own) and `run`, which
//! hands the experiment to the shared driver [`crate::cli::experiment::run`]. The examples of
//! the same names are `main`s over these; another program can call `run` with [`Args`] built
//! by `clap::Parser::parse_from`, and a new dataset is one more `Experiment`, written outside
//! the library (`examples/own_experiment.rs`).
//!
//! [`Args`]: toy::Args
pub mod demo;
pub mod dsprites;
pub mod mixing;
pub mod mnist;
pub mod sprites;
pub mod toy;
