//! # mwg
//!
//! The joint sampler of a joint energy-based model `p(x, y) ∝ exp(f(x, y))` (`f` higher = more
//! probable): block Metropolis-within-Gibbs ([`JointSampler`], paper Algorithm 1) with any
//! discrete kernel on `y` and any continuous kernel on `x`, clamping of any subset of `y`
//! variables and `x` elements, and prediction of labels from `x`:
//! * [`predict_by_energy`] — enumerate the free configurations, argmax `f` (exact posterior);
//! * [`predict_by_sampling`] — 10 chains × 200 discrete steps from `q₀(y)`, majority vote;
//! * [`generate`] — conditional generation and inpainting: chains with chosen label variables
//!   and elements of `x` held fixed ([`Clamps`]).
//!
//! ```no_run
//! use ebm_core::{JointState, YLayout, FnEnergy};
//! use mwg::JointSampler;
//! use samplers_cont::{Langevin, LangevinConfig};
//! use samplers_disc::{Gwg, GwgConfig};
//! # fn main() -> ebm_core::Result<()> {
//! let sampler = JointSampler::new(
//!     Gwg::new(GwgConfig::default())?,
//!     Langevin::new(LangevinConfig::from_paper(0.1, 0.5))?,
//! );
//! # Ok(()) }
//! ```
mod generate;
pub mod oracle;
mod predict;
mod sampler;

pub use generate::{clamped_state, generate, Clamps};
pub use predict::{
    accuracy, predict_by_energy, predict_by_sampling, EnergyPrediction, EnumerationConfig,
    Observed, SamplePrediction, SamplePredictionConfig,
};
pub use sampler::{run_discrete, DiagnosticsSummary, JointSampler, SweepDiagnostics, SweepInfo};
