//! [`InMemory`]: a fixed labelled dataset kept in memory as a [`DataSource`] — per-epoch
//! shuffling with torch's generator, optional per-batch preprocessing, and a fixed
//! observed-label mask. MNIST, dSprites and the structured sprites are served by it; your own
//! tensors (or a `.safetensors` / `.npz` file of them, [`InMemory::from_file`]) can be too.

use crate::labelled_share::{EpochOrder, LabelledShare};
use crate::preprocess::Preprocess;
use crate::seeded::SplitMix64;
use crate::{hide_labels_from_uniforms, Batch};
use ebm_core::{Error, Result, YLayout};
use tch::{Device, Kind, Tensor};

/// One split of a labelled dataset, kept raw on the CPU.
#[derive(Debug)]
pub struct ImageSplit {
    /// `[N, …]`: raw values; what a batch serves is `images / scale` as float32, then the
    /// source's [`Preprocess`] if it has one. For the image datasets: `uint8` `[N, 1, H, W]`,
    /// intensity in `[0, 1]` = value / [`Self::scale`].
    pub images: Tensor,
    /// `[N, V]` integers (`int64`, or `uint8` for large label vectors such as masks): the value
    /// of each label variable (class index per group, 0/1 per bit).
    pub labels: Tensor,
    /// Raw units per intensity 1.0: 255 for MNIST bytes, 4 for dSprites (the 2×2 average of a
    /// binary image is a multiple of ¼).
    pub scale: f64,
}

impl ImageSplit {
    /// Number of examples `N`.
    pub fn len(&self) -> usize {
        self.images.size().first().copied().unwrap_or(0) as usize
    }

    /// Whether the split has no examples.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Intensities in `[0, 1]` as float32 `[N, 1, H, W]` (no dequantisation noise).
    pub fn intensities(&self) -> Tensor {
        self.images.to_kind(Kind::Float) / self.scale
    }
}

/// A labelled dataset held in memory: a training and a test [`ImageSplit`] and the label
/// layout. Batches: `x` = `images / scale` as float32, then the [`Preprocess`] if any; `y`
/// one-hot `[B, D]` from the per-variable values `labels` `[N, V]`; `observed` from a fixed
/// mask drawn once ([`InMemory::with_missing_labels`]). Training batches follow a fresh
/// `randperm` order every epoch (torch's generator: a resumed run sees the same batches), the
/// last partial batch of an epoch dropped; or, with [`InMemory::set_labelled_share`], a fixed
/// share of every batch comes from the fully labelled examples.
#[derive(Debug)]
pub struct InMemory {
    pub(crate) layout: YLayout,
    pub(crate) train: ImageSplit,
    pub(crate) test: ImageSplit,
    pub(crate) preprocess: Option<Preprocess>,
    /// `[N_train, V]` bool, fixed at construction; `None` when nothing is hidden.
    pub(crate) observed: Option<Tensor>,
    /// The current epoch's order of the training examples, and the next position in it.
    pub(crate) order: EpochOrder,
    /// Training examples held out for choosing settings ([`InMemory::hold_out_validation`]).
    pub(crate) validation: Option<ImageSplit>,
    /// [`InMemory::set_labelled_share`]'s pools, built from `observed` (rebuilt whenever the
    /// training split changes).
    pub(crate) share_pools: Option<LabelledShare>,
}

impl InMemory {
    /// Checks `missing_fraction` and draws the fixed observed mask of the training split with
    /// `mask_seed` (the rule of [`crate::hide_labels`], uniforms from SplitMix64).
    pub(crate) fn new(
        layout: YLayout,
        train: ImageSplit,
        test: ImageSplit,
        preprocess: Option<Preprocess>,
        missing_fraction: f64,
        mask_seed: u64,
    ) -> Result<Self> {
        let v = layout.num_vars();
        if !(0.0..1.0).contains(&missing_fraction) {
            return Err(Error::config(
                "missing_fraction",
                missing_fraction,
                "must be in [0, 1)",
            ));
        }
        if missing_fraction > 0.0 && v < 2 {
            return Err(Error::config(
                "missing_fraction",
                missing_fraction,
                "this dataset has a single label variable and at least one label variable per example is always kept observed, so nothing could be hidden; use 0",
            ));
        }
        let observed = (missing_fraction > 0.0).then(|| {
            let n = train.len();
            let mut rng = SplitMix64::new(mask_seed);
            let extra: Vec<f64> = (0..n).map(|_| rng.next_f64()).collect();
            let order: Vec<f64> = (0..n * v).map(|_| rng.next_f64()).collect();
            hide_labels_from_uniforms(
                &Tensor::from_slice(&extra),
                &Tensor::from_slice(&order).view([n as i64, v as i64]),
                missing_fraction,
            )
        });
        Ok(Self {
            layout,
            train,
            test,
            preprocess,
            observed,
            order: EpochOrder::default(),
            validation: None,
            share_pools: None,
        })
    }

    /// As [`Self::new`] with nothing hidden at random, but with a given fixed observed mask
    /// `[N_train, V]` (bool; `None`: all observed), checked against the split and layout.
    pub(crate) fn with_observed(
        layout: YLayout,
        train: ImageSplit,
        test: ImageSplit,
        preprocess: Option<Preprocess>,
        observed: Option<Tensor>,
    ) -> Result<Self> {
        if let Some(m) = &observed {
            let want = [train.len() as i64, layout.num_vars() as i64];
            if m.size() != want || m.kind() != Kind::Bool {
                return Err(Error::shape(
                    "InMemory::with_observed",
                    "observed",
                    format!("bool {want:?}"),
                    &m.size(),
                ));
            }
        }
        let mut b = Self::new(layout, train, test, preprocess, 0.0, 0)?;
        b.observed = observed;
        Ok(b)
    }

    pub(crate) fn x_shape(&self) -> Vec<i64> {
        self.train.images.size()[1..].to_vec()
    }

    pub(crate) fn observed(&self) -> Option<&Tensor> {
        self.observed.as_ref()
    }

    /// Draws `round(share · B)` rows of every training batch from the examples whose labels
    /// are all observed and the rest from the others (`None`: uniform batches, the default).
    /// Each pool is drawn in its own fresh `randperm` order per pass, and the batch's rows are
    /// shuffled. With a fraction `p` of the examples complete, a complete example then counts
    /// `share / p` times as often as under uniform batches and an incomplete one
    /// `(1 − share) / (1 − p)` times: a common practice in semi-supervised training, and **not**
    /// the paper's weighting (its Eq. 8 sums over all examples alike). An error when no label
    /// is hidden, `share` is not in `(0, 1]`, or a pool the share needs is empty.
    pub fn set_labelled_share(&mut self, share: Option<f64>) -> Result<()> {
        self.share_pools = None;
        let Some(s) = share else { return Ok(()) };
        let observed = self.observed.as_ref().ok_or_else(|| {
            Error::config(
                "labelled_share",
                s,
                "every training label is observed, so there is no labelled share to set",
            )
        })?;
        self.share_pools = Some(LabelledShare::new(observed, s)?);
        Ok(())
    }

    /// The share set by [`Self::set_labelled_share`].
    pub fn labelled_share(&self) -> Option<f64> {
        self.share_pools.as_ref().map(LabelledShare::share)
    }

    /// Preprocessed float32 images `[B, 1, H, W]` and one-hot labels `[B, D]` of `split`'s
    /// examples `idx` (int64 `[B]`, CPU), on `device`.
    fn gather(&self, split: &ImageSplit, idx: &Tensor, device: Device) -> Result<(Tensor, Tensor)> {
        let raw = split.images.index_select(0, idx).to_device(device);
        let scaled = raw.to_kind(Kind::Float) / split.scale;
        let x = match &self.preprocess {
            Some(p) => p.apply(&scaled),
            None => scaled,
        };
        let values = split
            .labels
            .index_select(0, idx)
            .to_device(device)
            .to_kind(Kind::Int64);
        let y = self.layout.encode(&values, Kind::Float)?;
        Ok((x, y))
    }

    /// Next training batch: a fresh `randperm` order at the start of every epoch, the last
    /// partial batch of an epoch dropped.
    pub(crate) fn next_batch(&mut self, batch_size: i64, device: Device) -> Result<Batch> {
        let n = self.train.len() as i64;
        if batch_size < 1 || batch_size > n {
            return Err(Error::config(
                "batch_size",
                batch_size,
                format!("must be in 1..={n} (the training set size)"),
            ));
        }
        let idx = match &mut self.share_pools {
            Some(pools) => pools.next(batch_size)?,
            None => self.order.next(n, batch_size),
        };
        let (x, y) = self.gather(&self.train, &idx, device)?;
        let observed = self
            .observed
            .as_ref()
            .map(|m| m.index_select(0, &idx).to_device(device));
        Ok(Batch { x, y, observed })
    }

    /// The first `min(max, N_test)` test examples with fresh dequantisation noise.
    pub(crate) fn test_set(&self, max: i64, device: Device) -> Result<Batch> {
        self.first_of(&self.test, max, device)
    }

    /// The first `min(max, N)` examples of `split` (laid out as this batcher's splits), fully
    /// labelled, with fresh dequantisation noise.
    pub(crate) fn first_of(&self, split: &ImageSplit, max: i64, device: Device) -> Result<Batch> {
        if max < 1 {
            return Err(Error::config("max", max, "must be at least 1"));
        }
        let n = max.min(split.len() as i64);
        let idx = Tensor::arange(n, (Kind::Int64, Device::Cpu));
        let (x, y) = self.gather(split, &idx, device)?;
        Ok(Batch {
            x,
            y,
            observed: None,
        })
    }
}
