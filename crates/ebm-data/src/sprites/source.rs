//! The scenes split into train, validation, test and zero-shot, as a [`DataSource`].

use super::{Holdout, SpriteLabels, SpriteScenes, SpriteSplit, FACTOR_GROUPS, MASK_BITS};
use crate::dsprites::SIDE;
use crate::images::InMemory;
use crate::preprocess::Preprocess;
use crate::seeded::{seeded_permutation, SplitMix64};
use crate::{Batch, DataSource};
use ebm_core::{Error, Result, YLayout};
use tch::{Device, Kind, Tensor};

/// Options of [`StructuredSprites`].
#[derive(Clone, Debug, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct SpritesConfig {
    /// Which parts of the label are served as `y`.
    pub labels: SpriteLabels,
    /// Held-out factor combinations (the zero-shot split); default hearts upper-left.
    pub holdout: Vec<Holdout>,
    /// Test images (drawn from the combinations that are not held out).
    pub test_size: usize,
    /// Validation images, carved from the training data (for tuning).
    pub val_size: usize,
    /// Seed of the split.
    pub split_seed: u64,
    /// Fraction of training images whose mask is observed (the factors always are); the
    /// others' mask bits are unobserved labels (semi-supervised segmentation). 1 = all.
    pub mask_observed: f64,
    /// Seed of the choice of training images whose mask is observed.
    pub mask_seed: u64,
    /// With `mask_observed < 1`: the share of every training batch drawn from the images whose
    /// mask is observed, the rest from the others ([`InMemory::set_labelled_share`]; not the
    /// paper's weighting). `None` (the default): uniform batches, about `mask_observed` of
    /// each batch.
    #[serde(default)]
    pub labelled_share: Option<f64>,
}

impl Default for SpritesConfig {
    fn default() -> Self {
        Self {
            labels: SpriteLabels::All,
            holdout: vec![Holdout::DEFAULT],
            test_size: 2_500,
            val_size: 2_500,
            split_seed: 0,
            mask_observed: 1.0,
            mask_seed: 0,
            labelled_share: None,
        }
    }
}

/// Structured sprites as a [`DataSource`]: `x` float32 `[B, 1, 32, 32]` in logit space (the
/// dSprites preprocessing: dequantised `(x·7 + u)/8`, then [`crate::to_logit`]); `y` as
/// [`SpriteLabels`] says (default: four one-hot factor groups, then 256 mask bits).
/// `test_set` serves the test split; [`Self::validation_set`] and [`Self::zero_shot_set`] the
/// others.
#[derive(Debug)]
pub struct StructuredSprites {
    inner: InMemory,
    config: SpritesConfig,
    train: SpriteSplit,
    validation: SpriteSplit,
    test: SpriteSplit,
    zero_shot: SpriteSplit,
}

impl StructuredSprites {
    /// Renders every image and splits them as `config` says.
    pub fn generate(config: SpritesConfig) -> Result<Self> {
        Self::from_scenes(&SpriteScenes::generate(), config)
    }

    /// Splits rendered scenes (see the module docs).
    pub fn from_scenes(scenes: &SpriteScenes, config: SpritesConfig) -> Result<Self> {
        if !(config.mask_observed > 0.0 && config.mask_observed <= 1.0) {
            return Err(Error::config(
                "mask_observed",
                config.mask_observed,
                "must be in (0, 1]",
            ));
        }
        if config.mask_observed < 1.0 && !config.labels.has_mask() {
            return Err(Error::config(
                "mask_observed",
                config.mask_observed,
                "the labels have no mask (labels = factors); use 1",
            ));
        }
        let (held, kept): (Vec<usize>, Vec<usize>) = (0..scenes.len()).partition(|&i| {
            config
                .holdout
                .iter()
                .any(|h| h.contains(&scenes.latents[i]))
        });
        let n = kept.len();
        if config.test_size == 0 || config.val_size == 0 || config.test_size + config.val_size >= n
        {
            return Err(Error::config(
                "test_size",
                config.test_size,
                format!(
                    "test_size and val_size ({}) must be ≥ 1 and leave training images ({n} are not held out)",
                    config.val_size
                ),
            ));
        }
        let perm = seeded_permutation(n, config.split_seed);
        let kept: Vec<usize> = perm.into_iter().map(|p| kept[p]).collect();
        let held: Vec<usize> = seeded_permutation(held.len(), config.split_seed ^ 0x5a5a)
            .into_iter()
            .map(|p| held[p])
            .collect();
        let (test_idx, rest) = kept.split_at(config.test_size);
        let (val_idx, train_idx) = rest.split_at(config.val_size);
        let side = SIDE as i64;
        let split = |idx: &[usize]| {
            let m = idx.len() as i64;
            let mut images = Vec::with_capacity(idx.len() * SIDE * SIDE);
            let mut masks = Vec::with_capacity(idx.len() * MASK_BITS);
            let mut factors = Vec::with_capacity(idx.len() * 4);
            for &i in idx {
                images.extend_from_slice(&scenes.images[i * SIDE * SIDE..(i + 1) * SIDE * SIDE]);
                masks.extend_from_slice(&scenes.masks[i * MASK_BITS..(i + 1) * MASK_BITS]);
                let l = scenes.latents[i];
                factors.extend([l[1], l[2], l[4] / 2, l[5] / 2]);
            }
            SpriteSplit {
                images: Tensor::from_slice(&images).view([m, 1, side, side]),
                factors: Tensor::from_slice(&factors).view([m, 4]),
                masks: Tensor::from_slice(&masks).view([m, MASK_BITS as i64]),
            }
        };
        let (train, validation, test, zero_shot) = (
            split(train_idx),
            split(val_idx),
            split(test_idx),
            split(&held),
        );
        let layout = config.labels.layout();
        let observed = (config.mask_observed < 1.0).then(|| {
            let mut rng = SplitMix64::new(config.mask_seed);
            let keep: Vec<bool> = (0..train.len())
                .map(|_| rng.next_f64() < config.mask_observed)
                .collect();
            let keep = Tensor::from_slice(&keep).view([-1, 1]);
            let factors = usize::from(config.labels.has_factors()) * FACTOR_GROUPS.len();
            let f = Tensor::ones(
                [train.len() as i64, factors as i64],
                (Kind::Bool, Device::Cpu),
            );
            let m = keep.expand([-1, MASK_BITS as i64], false);
            Tensor::cat(&[f, m], 1)
        });
        let mut inner = InMemory::with_observed(
            layout,
            train.image_split(config.labels),
            test.image_split(config.labels),
            Some(Preprocess::DSPRITES),
            observed,
        )?;
        inner.set_labelled_share(config.labelled_share)?;
        Ok(Self {
            inner,
            config,
            train,
            validation,
            test,
            zero_shot,
        })
    }

    /// The options the data was split with.
    pub fn config(&self) -> &SpritesConfig {
        &self.config
    }

    /// The training split.
    pub fn train(&self) -> &SpriteSplit {
        &self.train
    }

    /// The validation split (carved from the training data).
    pub fn validation(&self) -> &SpriteSplit {
        &self.validation
    }

    /// The test split.
    pub fn test(&self) -> &SpriteSplit {
        &self.test
    }

    /// The held-out combinations (never trained on).
    pub fn zero_shot(&self) -> &SpriteSplit {
        &self.zero_shot
    }

    /// The fixed observed-label mask of the training split, `[N, V]` bool (`None`: all
    /// observed).
    pub fn observed(&self) -> Option<&Tensor> {
        self.inner.observed()
    }

    /// The first `max` validation images as a batch (fresh dequantisation noise).
    pub fn validation_set(&self, max: i64, device: Device) -> Result<Batch> {
        self.inner.first_of(
            &self.validation.image_split(self.config.labels),
            max,
            device,
        )
    }

    /// The first `max` zero-shot images as a batch (fresh dequantisation noise).
    pub fn zero_shot_set(&self, max: i64, device: Device) -> Result<Batch> {
        if self.zero_shot.is_empty() {
            return Err(Error::config(
                "holdout",
                "none",
                "there is no held-out combination, so no zero-shot set",
            ));
        }
        self.inner
            .first_of(&self.zero_shot.image_split(self.config.labels), max, device)
    }
}

impl DataSource for StructuredSprites {
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
