//! Adam with a linear warm-up, and the exponential moving average of parameters.
//!
//! Written here rather than taken from `tch::nn::Optimizer` so that the optimiser state (first
//! and second moments, step count) can be checkpointed and resumed exactly.

mod adam;
mod ema;
mod schedule;

pub(crate) use adam::sorted_variables;
pub use adam::{Adam, AdamConfig};
pub use ema::ema_update;
pub use schedule::{lr_decays, scheduled_lr, warmup_lr};

#[cfg(test)]
mod tests;
