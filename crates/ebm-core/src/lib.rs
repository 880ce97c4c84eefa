//! # ebm-core
//!
//! The foundation of the joint energy-based model libraries: a joint unnormalised
//! log-density `f(x, y)` over continuous `x` and discrete `y` with `p(x, y) ∝ exp(f(x, y))`
//! (**higher `f` = more probable**; the paper calls `f` the energy), the layout of `y`
//! (one-hot groups and bits), cached fused evaluations (`f`, `∂f/∂x`, `∂f/∂y` from one forward
//! and one backward pass), chain states with clamp masks, initial distributions, device
//! selection, seeding and the error type shared by every layer.
//!
//! Samplers live in `samplers-disc` (Gibbs-with-Gradients, exact Gibbs), `samplers-cont`
//! (Langevin, MALA) and `mwg` (the joint sampler and prediction).
#![warn(missing_docs)]

mod alloc;
mod collective;
mod data;
mod device;
pub mod diagnostics;
mod energy;
mod error;
pub mod eval;
mod init;
mod kernel;
mod layout;
mod state;

pub use alloc::keep_freed_memory;
pub use collective::{Collective, SingleProcess};
pub use data::{Batch, DataSource};
pub use device::{runtime_report, seed_everything, DeviceChoice, RuntimeReport, CUDA_UNAVAILABLE};
pub use energy::{FnEnergy, JointEnergy};
pub use error::{check_non_negative, check_positive, Error, Result};
pub use eval::Evaluation;
pub use init::{XInit, YInit};
pub use kernel::{ContinuousKernel, DiscreteKernel, StepInfo};
pub use layout::{ColumnMaps, YLayout};
pub use state::{JointState, Proposal};
pub use tch;
