//! The experiments as library values (feature `cli`): for each, its command-line [`Args`]
//! (the common flags of [`crate::cli::CommonArgs`] plus its own) and `run`, which builds the
//! data, energy, judges and preset, trains through [`crate::cli::run`], and writes metrics and
//! figures. The examples of the same names are `main`s over these; another program can call
//! `run` with [`Args`] built by `clap::Parser::parse_from`.
//!
//! [`Args`]: toy::Args
pub mod demo;
pub mod dsprites;
pub mod mixing;
pub mod mnist;
pub mod sprites;
pub mod toy;
