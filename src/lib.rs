//! # joint-ebm
//!
//! Joint energy-based models on mixed continuous and discrete data (Kelly & Grathwohl,
//! "No conditional models for me"). One network `f_θ(x, y)` — an unnormalised log-density,
//! `p(x, y) ∝ exp(f(x, y))`, **higher = more probable** — models continuous `x` together with
//! structured discrete labels `y`; a joint Metropolis-within-Gibbs sampler (Gibbs-with-Gradients
//! on `y`, Langevin or MALA on `x`) gives prediction, conditional generation and training.
//!
//! This facade re-exports the layers, each of which can also be used alone:
//! * [`ebm_core`]: the energy trait, label layout, fused evaluations, states, errors;
//! * [`disc`] (`samplers-disc`): Gibbs-with-Gradients and exact Gibbs;
//! * [`cont`] (`samplers-cont`): Langevin (as in the paper) and MALA (exact);
//! * [`mwg`]: the joint sampler, clamping, conditional generation and prediction;
//! * [`train`] (`jem-train`): persistent contrastive divergence, presets, checkpoints;
//! * [`data`] (`ebm-data`): the paper's datasets and the generation judges;
//! * [`tch`]: the tensor library, at the version the layers were built with;
//! * [`judges`]: the generation judges of the three experiments, ready to install on a
//!   trainer;
//! * [`structured`]: judges and metrics of the structured-sprites experiment (factors and
//!   masks as one label);
//! * [`mask_baseline`]: a discriminative per-pixel classifier of the sprites' masks, the
//!   reference the joint model's segmentation is compared with;
//! * `experiments` and `cli` (feature `cli`, on by default): the four experiments as library
//!   values — data, energy, presets, judges, figures — and the command-line driver that trains
//!   and evaluates them; each example is a short `main` over one of them.
#[cfg(feature = "cli")]
pub mod cli;
#[cfg(feature = "cli")]
pub mod experiments;
pub mod judges;
pub mod mask_baseline;
pub mod structured;

pub use ebm_core;
pub use ebm_data as data;
pub use ebm_dist as dist;
pub use jem_train as train;
pub use mwg;
pub use samplers_cont as cont;
pub use samplers_disc as disc;
pub use tch;

/// The README's code examples, compiled as doctests so that they cannot drift from the API.
#[doc = include_str!("../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
