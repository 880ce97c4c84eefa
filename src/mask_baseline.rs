//! A discriminative reference for the structured-sprites masks: a per-pixel classifier of the
//! 16 × 16 mask from the image, trained with cross-entropy for a fixed wall-clock budget (the
//! joint model's own training time, for a like-for-like comparison). Not a joint model: it
//! predicts the mask and nothing else, and cannot generate.
//!
//! ```text
//! x [B, 1, 32, 32] in [0, 1]
//! Conv(1,32,3,1,1)-ReLU-Conv(32,32,3,1,1)-ReLU-Conv(32,32,2,2,0)-ReLU-Conv(32,1,1)  → [B, 256] logits
//! loss: mean binary cross-entropy over the 256 bits; Adam lr 1e-3, batch 64
//! prediction: bit = 1 iff logit > 0; scored by mask IoU (ebm_data::sprites::mask_iou)
//! ```
//!
//! With masks observed for only a fraction of the training images
//! (`SpritesConfig::mask_observed`) it trains on those images alone: the supervised baseline
//! of semi-supervised segmentation.

use ebm_core::{Error, Result};
use ebm_data::sprites::{mask_iou, SpriteSplit, StructuredSprites};
use std::time::Instant;
use tch::nn::{self, Module, OptimizerConfig};
use tch::{Device, Kind, Tensor};

/// What [`train_mask_baseline`] measured.
#[derive(Clone, Debug)]
pub struct MaskBaselineReport {
    /// Mean mask IoU on the whole test split.
    pub test_mask_iou: f64,
    /// Mean mask IoU on the whole validation split.
    pub val_mask_iou: f64,
    /// Optimiser steps taken within the budget.
    pub iterations: usize,
    /// Wall-clock seconds of training.
    pub train_seconds: f64,
    /// Training images with an observed mask (the ones trained on).
    pub train_images: i64,
}

fn net(p: &nn::Path) -> nn::Sequential {
    let c = |padding, stride| nn::ConvConfig {
        padding,
        stride,
        ..Default::default()
    };
    nn::seq()
        .add(nn::conv2d(p / "c1", 1, 32, 3, c(1, 1)))
        .add_fn(|t| t.relu())
        .add(nn::conv2d(p / "c2", 32, 32, 3, c(1, 1)))
        .add_fn(|t| t.relu())
        .add(nn::conv2d(p / "c3", 32, 32, 2, c(0, 2)))
        .add_fn(|t| t.relu())
        .add(nn::conv2d(p / "c4", 32, 1, 1, c(0, 1)))
        .add_fn(|t| t.flatten(1, -1))
}

/// Mean IoU of the thresholded predictions on a whole split, in batches of 500.
fn split_iou(model: &nn::Sequential, split: &SpriteSplit, device: Device) -> f64 {
    let n = split.len() as i64;
    if n == 0 {
        return f64::NAN;
    }
    let _guard = tch::no_grad_guard();
    let x = split.intensities();
    let mut total = 0.0;
    let mut start = 0;
    while start < n {
        let len = 500.min(n - start);
        let logits = model.forward(&x.narrow(0, start, len).to_device(device));
        let pred = logits.gt(0.0).to_device(Device::Cpu);
        let iou = mask_iou(&pred, &split.masks.narrow(0, start, len));
        total += iou.sum(Kind::Double).double_value(&[]);
        start += len;
    }
    total / n as f64
}

/// Trains the per-pixel classifier for `seconds` of wall-clock time on the training images
/// whose mask is observed, seeded by `seed`; scores it on the validation and test splits.
/// Errors when no training image has an observed mask or the data carry no masks.
pub fn train_mask_baseline(
    data: &StructuredSprites,
    seconds: f64,
    seed: u64,
    device: Device,
) -> Result<MaskBaselineReport> {
    let train = data.train();
    // Rows whose mask is observed: the first mask column of the observed-label mask.
    let rows = match data.observed() {
        Some(obs) if data.config().labels.has_mask() => {
            let first_bit = obs.size()[1] - 256;
            obs.select(1, first_bit).nonzero().view([-1])
        }
        _ => Tensor::arange(train.len() as i64, (Kind::Int64, Device::Cpu)),
    };
    let n = rows.size()[0];
    if n == 0 || train.masks.size()[1] != 256 {
        return Err(Error::config(
            "mask_observed",
            data.config().mask_observed,
            "the mask baseline needs training images with observed 256-bit masks",
        ));
    }
    let x_all = train.intensities().index_select(0, &rows);
    let m_all = train.masks.index_select(0, &rows).to_kind(Kind::Float);
    tch::manual_seed(seed as i64);
    let vs = nn::VarStore::new(device);
    let model = net(&vs.root());
    let mut opt = nn::Adam::default()
        .build(&vs, 1e-3)
        .map_err(|e| Error::config("optimiser", "adam", e.to_string()))?;
    let clock = Instant::now();
    let mut iterations = 0;
    while clock.elapsed().as_secs_f64() < seconds {
        let idx = Tensor::randint(n, [64], (Kind::Int64, Device::Cpu));
        let x = x_all.index_select(0, &idx).to_device(device);
        let m = m_all.index_select(0, &idx).to_device(device);
        let loss = model
            .forward(&x)
            .binary_cross_entropy_with_logits::<Tensor>(&m, None, None, tch::Reduction::Mean);
        opt.backward_step(&loss);
        iterations += 1;
    }
    let train_seconds = clock.elapsed().as_secs_f64();
    Ok(MaskBaselineReport {
        test_mask_iou: split_iou(&model, data.test(), device),
        val_mask_iou: split_iou(&model, data.validation(), device),
        iterations,
        train_seconds,
        train_images: n,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_data::sprites::{SpriteLabels, SpriteScenes, SpritesConfig};

    fn data(labels: SpriteLabels, mask_observed: f64) -> StructuredSprites {
        // One orientation of eight, scales ≥ 0.7: 9 216 images.
        let scenes = SpriteScenes::generate_where(|l| l[3] == 0 && l[1] >= 2);
        let config = SpritesConfig {
            labels,
            mask_observed,
            test_size: 300,
            val_size: 300,
            ..SpritesConfig::default()
        };
        StructuredSprites::from_scenes(&scenes, config).unwrap()
    }

    /// A few seconds of training beat any constant mask by far; only images with observed
    /// masks are trained on.
    #[test]
    fn learns_masks_from_the_observed_images_only() {
        tch::set_num_threads(1);
        let full = data(SpriteLabels::All, 1.0);
        let r = train_mask_baseline(&full, 4.0, 0, Device::Cpu).unwrap();
        assert!(r.iterations > 10 && r.train_seconds >= 4.0, "{r:?}");
        assert!(r.val_mask_iou > 0.6 && r.test_mask_iou > 0.6, "{r:?}");
        let tenth = data(SpriteLabels::All, 0.1);
        let r10 = train_mask_baseline(&tenth, 0.5, 0, Device::Cpu).unwrap();
        let share = r10.train_images as f64 / r.train_images as f64;
        assert!((share - 0.1).abs() < 0.02, "{share}");
    }
}
