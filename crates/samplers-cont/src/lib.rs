//! # samplers-cont
//!
//! Continuous Markov kernels for the `x` block of a joint energy-based model
//! `p(x, y) ∝ exp(f(x, y))` (`f` higher = more probable):
//! * [`Langevin`] — unadjusted Langevin exactly as the paper (Eq. 3); *not exact* (samples at
//!   temperature λ, plus discretisation bias);
//! * [`Mala`] — Metropolis-adjusted Langevin; *exact*.
//!
//! Both implement [`ContinuousKernel`]: `step(energy, state) -> (state, info)`, honour clamp
//! masks on `x` (inpainting) and cost one fused evaluation at the new point per step.
//!
//! [`ContinuousKernel`]: ebm_core::ContinuousKernel
mod langevin;
mod mala;

pub use ebm_core::{ContinuousKernel, StepInfo};
pub use langevin::{Langevin, LangevinConfig};
pub use mala::{Mala, MalaConfig};
