//! # samplers-disc
//!
//! Discrete Markov kernels for the `y` block of a joint energy-based model
//! `p(x, y) ∝ exp(f(x, y))` (`f` higher = more probable), usable on their own for any discrete
//! EBM over one-hot groups and bits (an Ising or Potts model is a [`JointEnergy`] whose `x` is
//! ignored):
//! * [`Gwg`] — Gibbs-with-Gradients (exact MH kernel, one head evaluation per step);
//! * [`Dmala`] — discrete Langevin: every variable resampled at once from the same gradient,
//!   with a Metropolis–Hastings correction (exact; `adjusted: false` gives DULA, not exact);
//! * [`ExactGibbs`] — random-scan Gibbs by enumeration of one variable (reference kernel).
//!
//! All implement [`DiscreteKernel`]: `step(energy, state) -> (state, info)`.
//!
//! [`JointEnergy`]: ebm_core::JointEnergy
//! [`DiscreteKernel`]: ebm_core::DiscreteKernel
mod dmala;
mod gibbs;
mod gwg;

#[doc(hidden)]
pub use dmala::DmalaProposal;
pub use dmala::{Dmala, DmalaConfig};
pub use ebm_core::{DiscreteKernel, StepInfo};
pub use gibbs::ExactGibbs;
#[doc(hidden)]
pub use gwg::CellProposal;
pub use gwg::{Gwg, GwgConfig};
