//! # ebm-data
//!
//! Data sources for joint energy-based models: the paper's 8-Gaussians toy data (generated),
//! with a common [`DataSource`] interface that the trainer consumes and label hiding for
//! partially labelled training.
#![warn(missing_docs)]

mod toy;

use ebm_core::{Result, YLayout};
use tch::{Device, Kind, Tensor};

pub use toy::EightGaussians;

/// One batch: `x` `[B, …]`, labels `y` `[B, D]` (valid one-hot labels everywhere; entries of
/// unobserved variables are placeholders), and `observed` `[B, V]` bool (`None`: all observed).
#[derive(Debug)]
pub struct Batch {
    /// Inputs `[B, …]`.
    pub x: Tensor,
    /// Labels `[B, D]`.
    pub y: Tensor,
    /// `[B, V]` bool: which label variables are observed; `None` = all.
    pub observed: Option<Tensor>,
}

/// A source of training batches and a test set.
pub trait DataSource {
    /// Layout of the labels.
    fn y_layout(&self) -> &YLayout;
    /// Shape of one `x` (without the batch dimension).
    fn x_shape(&self) -> Vec<i64>;
    /// The next training batch of `batch_size` examples on `device`.
    fn next_batch(&mut self, batch_size: i64, device: Device) -> Result<Batch>;
    /// Up to `max` held-out examples for evaluation, fully labelled.
    fn test_set(&mut self, max: i64, device: Device) -> Result<Batch>;
}

/// Observed-label mask `[n, v]` (bool) hiding a `fraction` of the `v` label variables of each
/// example at random while keeping at least one: each example hides `⌊fraction·v⌋` variables
/// plus one more with probability `frac(fraction·v)`, capped at `v − 1`, chosen uniformly.
/// The expected hidden fraction is exactly `fraction` whenever `fraction·v ≤ v − 1`.
pub fn hide_labels(n: i64, v: i64, fraction: f64, device: Device) -> Tensor {
    let target = fraction * v as f64;
    let base = target.floor() as i64;
    let extra = Tensor::rand([n], (Kind::Float, device))
        .lt(target - base as f64)
        .to_kind(Kind::Int64);
    let hidden = (extra + base).clamp_max(v - 1); // [n]
                                                  // rank of each variable in a random permutation per example
    let ranks = Tensor::rand([n, v], (Kind::Float, device))
        .argsort(1, false)
        .argsort(1, false);
    ranks.ge_tensor(&hidden.unsqueeze(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hide_labels_keeps_one_and_hits_the_fraction() {
        ebm_core::seed_everything(1);
        for (v, f) in [(3i64, 0.5f64), (2, 0.3), (3, 0.0), (1, 0.9)] {
            let m = hide_labels(20_000, v, f, Device::Cpu);
            let kept = m.sum_dim_intlist([1i64].as_slice(), false, Kind::Int64);
            assert!(bool::try_from(kept.ge(1).all()).unwrap());
            let hidden = 1.0 - f64::try_from(m.to_kind(Kind::Double).mean(Kind::Double)).unwrap();
            let expect = if v == 1 { 0.0 } else { f };
            assert!(
                (hidden - expect).abs() < 0.01,
                "v={v} f={f}: hidden {hidden}"
            );
        }
    }
}
