//! Evaluation of the EMA model (energy- and sample-based accuracy, ECE) and test-time joint
//! chains (conditional generation, inpainting).

use super::{iteration_seed, Trainer};
use crate::config::{GenerationStart, TrainConfig};
use crate::kernels::AnyDiscrete;
use crate::metrics::{accuracy_per_variable, mean_ece, EvalMetrics};
use crate::model::{generate, Starts};
use ebm_core::{JointEnergy, Result};
use mwg::{predict_by_energy, predict_by_sampling, EnumerationConfig, SamplePredictionConfig};
use tch::Tensor;

impl<M: JointEnergy> Trainer<M> {
    /// Evaluates the EMA model on a labelled test set: energy-based accuracy and ECE (when the
    /// label space can be enumerated within `max_configurations`), sample-based accuracy
    /// (`eval_chains` chains × `eval_steps` steps of the `predict_y_sampler`, by default the
    /// `y_sampler`, from `q₀(y)`, majority vote).
    pub fn evaluate(
        &self,
        x: &Tensor,
        y: &Tensor,
        energy_based: bool,
        sample_based: bool,
    ) -> Result<EvalMetrics> {
        tch::manual_seed(iteration_seed(self.config.seed, self.iteration, 2));
        let x = x.to_device(self.device);
        let y = y.to_device(self.device);
        self.layout.validate("Trainer::evaluate", "y", &y)?;
        let truth = self.layout.decode(&y);
        let mut m = EvalMetrics {
            test_examples: x.size()[0],
            ..Default::default()
        };
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        if energy_based {
            let p = predict_by_energy(&self.ema_model, &x, None, &EnumerationConfig::default())?;
            let per = accuracy_per_variable(&p.values, &truth)?;
            m.energy_accuracy = Some(mean(&per));
            m.energy_accuracy_per_attribute = Some(per);
            m.ece = Some(mean_ece(
                &p.marginals(&self.layout),
                &truth,
                &self.layout,
                20,
            )?);
        }
        if sample_based {
            let cfg = SamplePredictionConfig {
                chains_per_input: self.config.eval_chains,
                steps: self.config.eval_steps,
                y_init: self.y_init.clone(),
            };
            let p = predict_by_sampling(
                &self.ema_model,
                &AnyDiscrete::from_config(&TrainConfig {
                    y_sampler: self
                        .config
                        .predict_y_sampler
                        .unwrap_or(self.config.y_sampler),
                    ..self.config.clone()
                })?,
                &x,
                None,
                &cfg,
            )?;
            let per = accuracy_per_variable(&p.values, &truth)?;
            m.sample_accuracy = Some(mean(&per));
            m.sample_accuracy_per_attribute = Some(per);
        }
        Ok(m)
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
        let (start, sweeps) = (self.config.gen_start, self.config.gen_sweeps);
        self.generate_from(n, fixed, x_fixed, start, sweeps)
    }

    /// As [`Self::generate`], with the start of the chains and the number of sweeps given
    /// instead of the configuration's `gen_start` and `gen_sweeps` (to judge generation from
    /// noise and from the buffer side by side).
    pub fn generate_from(
        &self,
        n: i64,
        fixed: &[(usize, &[i64])],
        x_fixed: Option<(&Tensor, &Tensor)>,
        start: GenerationStart,
        sweeps: usize,
    ) -> Result<(Tensor, Tensor)> {
        let starts = Starts {
            model: &self.ema_model,
            x_init: &self.x_init,
            y_init: &self.y_init,
            buffer: &self.buffer,
        };
        generate(&starts, &self.sampler()?, start, sweeps, n, fixed, x_fixed)
    }
}
