//! Data for training and evaluation: a labelled [`Batch`] and the [`DataSource`] trait that
//! the trainer consumes (implemented by the `ebm-data` crate's datasets, or by your own).

use crate::{Result, YLayout};
use tch::{Device, Tensor};

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

impl Batch {
    /// A fully labelled batch sharing the storage of `x` and `y` (no copy).
    pub fn labelled(x: &Tensor, y: &Tensor) -> Self {
        Self {
            x: x.shallow_clone(),
            y: y.shallow_clone(),
            observed: None,
        }
    }

    /// A partially labelled batch sharing the storage of `x`, `y` and `observed` (no copy).
    pub fn partial(x: &Tensor, y: &Tensor, observed: Option<&Tensor>) -> Self {
        Self {
            observed: observed.map(Tensor::shallow_clone),
            ..Self::labelled(x, y)
        }
    }
}

/// A source of training batches and a test set.
///
/// A source should draw its randomness from torch's generator: the trainer seeds it from the
/// run's seed and the iteration before asking for each batch, so that a run resumed from a
/// checkpoint sees the batches the uninterrupted run would have seen.
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
