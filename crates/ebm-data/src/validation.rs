//! [`HoldOutValidation`]: the sources that can carve a validation split out of their training
//! data, so that settings are chosen without reading the test split.

use crate::{Batch, DSprites, InMemory, Mnist};
use ebm_core::{DataSource, Result};
use tch::Device;

/// A [`DataSource`] whose training data can give up a validation split.
///
/// Implemented by [`InMemory`] and the sources served by it with a fixed test split
/// ([`Mnist`], [`DSprites`]); the structured sprites draw their validation split at
/// construction instead.
pub trait HoldOutValidation: DataSource {
    /// Moves `n` training examples, chosen by a permutation fixed by `seed`, into a validation
    /// split (their observed-label rows go with them). An error when `n` leaves no training
    /// example or a split is already held out.
    fn hold_out_validation(&mut self, n: usize, seed: u64) -> Result<()>;

    /// The first `min(max, n)` held-out validation examples, fully labelled, with fresh
    /// dequantisation noise; an error when none are held out.
    fn validation_set(&self, max: i64, device: Device) -> Result<Batch>;
}

impl HoldOutValidation for InMemory {
    fn hold_out_validation(&mut self, n: usize, seed: u64) -> Result<()> {
        InMemory::hold_out_validation(self, n, seed)
    }

    fn validation_set(&self, max: i64, device: Device) -> Result<Batch> {
        InMemory::validation_set(self, max, device)
    }
}

impl HoldOutValidation for Mnist {
    fn hold_out_validation(&mut self, n: usize, seed: u64) -> Result<()> {
        self.inner.hold_out_validation(n, seed)
    }

    fn validation_set(&self, max: i64, device: Device) -> Result<Batch> {
        self.inner.validation_set(max, device)
    }
}

impl HoldOutValidation for DSprites {
    fn hold_out_validation(&mut self, n: usize, seed: u64) -> Result<()> {
        self.inner.hold_out_validation(n, seed)
    }

    fn validation_set(&self, max: i64, device: Device) -> Result<Batch> {
        self.inner.validation_set(max, device)
    }
}
