//! The subset split into train and test, as a [`DataSource`].

use super::{DSpritesSubset, DEFAULT_TEST_SIZE, POSITION_BINS, SIDE};
use crate::images::{ImageSplit, InMemory};
use crate::preprocess::Preprocess;
use crate::seeded::seeded_permutation;
use crate::{Batch, DataSource};
use ebm_core::{Error, Result, YLayout};
use std::path::Path;
use tch::{Device, Tensor};

/// Options of [`DSprites`].
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct DSpritesConfig {
    /// Number of test images (the paper: 2,500).
    pub test_size: usize,
    /// Seed of the split: the subset is permuted with [`seeded_permutation`]`(N, split_seed)`;
    /// the first `test_size` images are the test set (in that order), the rest train.
    pub split_seed: u64,
    /// Fraction of the two label variables hidden per training example (fixed per example,
    /// at least one kept; see [`crate::hide_labels`]).
    pub missing_fraction: f64,
    /// Seed of the fixed observed-label mask.
    pub mask_seed: u64,
}

impl Default for DSpritesConfig {
    fn default() -> Self {
        Self {
            test_size: DEFAULT_TEST_SIZE,
            split_seed: 0,
            missing_fraction: 0.0,
            mask_seed: 0,
        }
    }
}

/// The dSprites subset as a [`DataSource`]: `x` float32 `[B, 1, 32, 32]` in logit space
/// (dequantised `(x·7 + u)/8` with fresh noise per load, then [`crate::to_logit`]); `y` two
/// 16-way one-hot groups `[B, 32]` (x-position bin, y-position bin).
///
/// Training batches follow a fresh `randperm` (torch's generator) every epoch and the last
/// partial batch is dropped; `test_set(max)` returns the first `max` test examples.
#[derive(Debug)]
pub struct DSprites {
    pub(crate) inner: InMemory,
    test_indices: Vec<usize>,
}

impl DSprites {
    /// From the original `.npz` at `npz`, or generated when `npz` is `None`.
    pub fn new(npz: Option<&Path>, config: DSpritesConfig) -> Result<Self> {
        let subset = match npz {
            Some(p) => DSpritesSubset::from_npz(p)?,
            None => DSpritesSubset::generate(),
        };
        Self::from_subset(&subset, config)
    }

    /// The procedurally rendered subset (49,152 images: 46,652 train / 2,500 test by default).
    pub fn generate(config: DSpritesConfig) -> Result<Self> {
        Self::from_subset(&DSpritesSubset::generate(), config)
    }

    /// The subset selected from the original `.npz`.
    pub fn from_npz(path: &Path, config: DSpritesConfig) -> Result<Self> {
        Self::from_subset(&DSpritesSubset::from_npz(path)?, config)
    }

    /// Splits a subset: permutation [`seeded_permutation`]`(N, split_seed)`, the first
    /// `test_size` images test, the rest train (both in permuted order).
    pub fn from_subset(subset: &DSpritesSubset, config: DSpritesConfig) -> Result<Self> {
        let n = subset.len();
        if config.test_size == 0 || config.test_size >= n {
            return Err(Error::config(
                "test_size",
                config.test_size,
                format!("must be in 1..{n} (the subset has {n} images)"),
            ));
        }
        let perm = seeded_permutation(n, config.split_seed);
        let side = SIDE as i64;
        let images = Tensor::from_slice(&subset.images).view([n as i64, 1, side, side]);
        let bins: Vec<i64> = subset.position_bins().into_iter().flatten().collect();
        let labels = Tensor::from_slice(&bins).view([n as i64, 2]);
        let split = |idx: &[usize]| {
            let idx: Vec<i64> = idx.iter().map(|&i| i as i64).collect();
            let idx = Tensor::from_slice(&idx);
            ImageSplit {
                images: images.index_select(0, &idx),
                labels: labels.index_select(0, &idx),
                scale: 4.0,
            }
        };
        let (test_idx, train_idx) = perm.split_at(config.test_size);
        let inner = InMemory::new(
            YLayout::categorical(vec![POSITION_BINS, POSITION_BINS])?,
            split(train_idx),
            split(test_idx),
            Some(Preprocess::DSPRITES),
            config.missing_fraction,
            config.mask_seed,
        )?;
        Ok(Self {
            inner,
            test_indices: test_idx.to_vec(),
        })
    }

    /// The training split (images in quarters, `uint8` `[N, 1, 32, 32]`; labels `[N, 2]`).
    pub fn train(&self) -> &ImageSplit {
        &self.inner.train
    }

    /// The test split (images in quarters, `uint8` `[M, 1, 32, 32]`; labels `[M, 2]`).
    pub fn test(&self) -> &ImageSplit {
        &self.inner.test
    }

    /// Positions in the subset's order of the test images, in test-set order.
    pub fn test_indices(&self) -> &[usize] {
        &self.test_indices
    }

    /// The fixed observed-label mask of the training split, `[N, 2]` bool (`None`: all
    /// observed).
    pub fn observed(&self) -> Option<&Tensor> {
        self.inner.observed()
    }
}

impl DataSource for DSprites {
    fn y_layout(&self) -> &YLayout {
        &self.inner.layout
    }

    fn x_shape(&self) -> Vec<i64> {
        self.inner.x_shape()
    }

    fn next_batch(&mut self, batch_size: i64, device: Device) -> Result<Batch> {
        self.inner.next_batch(batch_size, device)
    }

    fn test_set(&mut self, max: i64, device: Device) -> Result<Batch> {
        self.inner.test_set(max, device)
    }
}
