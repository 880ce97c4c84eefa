//! The choices of a run named by lowercase words: initial labels, negative-phase labels,
//! starts of test-time chains.

use ebm_core::{Error, Result};
use serde::{Deserialize, Serialize};

/// How the initial label distribution `q₀(y)` is chosen (paper appendix B, "Sampling noise").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum YInitMode {
    /// Per-variable frequencies in one batch of training labels (toy data, MNIST).
    Empirical,
    /// Uniform over configurations (dSprites).
    Uniform,
    /// Not the paper's: the categorical groups as [`YInitMode::Empirical`], every bit at 0
    /// (for a mask: an empty one). Per-bit frequencies start the chains at speckle that no
    /// image matches; an empty mask is a state the data has a neighbour of.
    #[serde(rename = "empty_bits")]
    EmptyBits,
}

/// How the negative phase of the gradient treats the labels of the negative samples.
///
/// Both estimate the same gradient of the joint log-likelihood,
/// `∇θ log p(x⁺, y⁺) = ∇θ f(x⁺, y⁺) − E_{p(x, y)} ∇θ f(x, y)`; they differ in variance only.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NegativeLabels {
    /// `∇θ f(x⁻, y⁻)` at the chain's sampled labels (the paper).
    #[default]
    Sampled,
    /// Rao-Blackwellised: `E_{p(y | x⁻)} ∇θ f(x⁻, y)`, computed exactly by enumerating every
    /// label configuration on the cached features of `x⁻` (`B · C` head rows per iteration for
    /// `C` configurations; refused above [`TrainConfig::MAX_ENUMERATED_CONFIGURATIONS`]). Same
    /// objective and expectation as `Sampled` when the chain's `y⁻` follows `p(y | x⁻)`, with
    /// the label noise of the negative phase integrated out. Not in the paper (a variance
    /// reduction, not a change of objective).
    ///
    /// [`TrainConfig::MAX_ENUMERATED_CONFIGURATIONS`]: super::TrainConfig::MAX_ENUMERATED_CONFIGURATIONS
    Expected,
}

/// How test-time chains (figures, generation judges) start.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum GenerationStart {
    /// From noise: `x ~ p₀(x)`, free labels from `q₀(y)` (the paper's text).
    #[default]
    Noise,
    /// From replay-buffer states whose labels already equal the clamped values, where the
    /// buffer has any (else a random state with the labels set) — the authors' code
    /// (`--plot_cond_continue_buffer`). The buffer holds the training chains' joint samples
    /// of the model.
    Buffer,
    /// Sampling–importance–resampling from the replay buffer: each chain starts from a replay
    /// state drawn with probability ∝ `p(clamped labels | x)` under the EMA model (computed
    /// exactly by enumerating the labels; marginal over the free label variables), from a
    /// random pool of 2 048 states. The buffer's `x` approximate the model's `p(x)`, so the
    /// starts approximate `p(x | clamped labels)` — whatever labels the training chains carried.
    /// Not in the paper; needs an enumerable label space.
    Posterior,
}

macro_rules! from_lowercase_names {
    ($ty:ty, $what:literal, $($name:literal => $v:expr),+) => {
        impl std::str::FromStr for $ty {
            type Err = Error;
            fn from_str(s: &str) -> Result<Self> {
                match s {
                    $($name => Ok($v),)+
                    _ => Err(Error::config(
                        $what,
                        s,
                        concat!("expected one of:", $(" `", $name, "`"),+),
                    )),
                }
            }
        }
    };
}
from_lowercase_names!(YInitMode, "y_init", "empirical" => YInitMode::Empirical, "uniform" => YInitMode::Uniform, "empty_bits" => YInitMode::EmptyBits);
from_lowercase_names!(NegativeLabels, "negative_labels", "sampled" => NegativeLabels::Sampled, "expected" => NegativeLabels::Expected);
from_lowercase_names!(GenerationStart, "gen_start", "noise" => GenerationStart::Noise, "buffer" => GenerationStart::Buffer, "posterior" => GenerationStart::Posterior);
