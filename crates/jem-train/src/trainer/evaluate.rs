//! Evaluation and test-time joint chains of the EMA model, through the trainer's
//! [`JointModel`](crate::JointModel) (seeded per iteration for reproducible figures).

use super::{iteration_seed, Trainer};
use crate::config::GenerationStart;
use crate::metrics::EvalMetrics;
use ebm_core::{JointEnergy, Result};
use tch::Tensor;

impl<M: JointEnergy> Trainer<M> {
    /// Evaluates the EMA model on a labelled test set ([`JointModel::evaluate`]: energy-based
    /// accuracy and ECE when the label space can be enumerated, sample-based accuracy with
    /// `eval_chains` × `eval_steps` of the `predict_y_sampler`), torch's generator seeded from
    /// the run's seed and iteration.
    ///
    /// [`JointModel::evaluate`]: crate::JointModel::evaluate
    pub fn evaluate(
        &self,
        x: &Tensor,
        y: &Tensor,
        energy_based: bool,
        sample_based: bool,
    ) -> Result<EvalMetrics> {
        tch::manual_seed(iteration_seed(self.ema.config.seed, self.ema.iteration, 2));
        self.ema.evaluate(x, y, energy_based, sample_based)
    }

    /// `n` joint samples of the EMA model after `gen_sweeps` MWG sweeps (the training kernels,
    /// `y_sampler` + `x_sampler`), started as `gen_start` says (noise: `p₀(x)`, `q₀(y)`; buffer: for each
    /// chain a random replay state whose labels already equal its clamped values, or any state
    /// when none does; posterior: a replay state drawn with probability ∝ `p(clamped labels | x)`
    /// from a random pool of 2 048, which needs an enumerable label space).
    ///
    /// * `fixed` — `(variable, values)` pairs: the variable is clamped in every chain, to
    ///   `values[0]` when one value is given or to `values[i]` in chain `i` when `n` are given
    ///   (conditional generation);
    /// * `x_fixed` — optionally `(values [n, …], mask [n, …] bool)`: elements of `x` clamped to
    ///   `values` where `mask` is true (inpainting).
    ///
    /// Returns `(x [n, …], label values [n, V] int64)`. Uses torch's generator. Bad variables,
    /// values or shapes are errors.
    pub fn generate(
        &self,
        n: i64,
        fixed: &[(usize, &[i64])],
        x_fixed: Option<(&Tensor, &Tensor)>,
    ) -> Result<(Tensor, Tensor)> {
        let (start, sweeps) = (self.ema.config.gen_start, self.ema.config.gen_sweeps);
        self.ema.generate(n, fixed, x_fixed, start, sweeps)
    }

    /// As [`Self::generate`], with the start of the chains and the number of sweeps given
    /// instead of the configuration's `gen_start` and `gen_sweeps` (to judge generation from
    /// noise and from the buffer side by side): [`JointModel::generate`] on the EMA model.
    ///
    /// [`JointModel::generate`]: crate::JointModel::generate
    pub fn generate_from(
        &self,
        n: i64,
        fixed: &[(usize, &[i64])],
        x_fixed: Option<(&Tensor, &Tensor)>,
        start: GenerationStart,
        sweeps: usize,
    ) -> Result<(Tensor, Tensor)> {
        self.ema.generate(n, fixed, x_fixed, start, sweeps)
    }
}
