//! Evaluation of the EMA model (energy- and sample-based accuracy, ECE) and test-time joint
//! chains (conditional generation, inpainting).

use super::{iteration_seed, Trainer};
use crate::config::{GenerationStart, TrainConfig};
use crate::kernels::AnyDiscrete;
use crate::metrics::{accuracy_per_variable, mean_ece, EvalMetrics};
use ebm_core::{Error, JointEnergy, Result};
use mwg::{
    predict_by_energy, predict_by_sampling, Clamps, EnumerationConfig, SamplePredictionConfig,
};
use tch::{Kind, Tensor};

/// Replay states scored by [`GenerationStart::Posterior`] per call.
const POSTERIOR_POOL: i64 = 2_048;

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
        if n < 1 {
            return Err(Error::config("n", n, "must be ≥ 1"));
        }
        let layout = &self.layout;
        let clamps = Clamps {
            labels: fixed,
            x: x_fixed,
        };
        let targets = clamps.label_targets(layout, n, self.device)?;
        let (x0, y0) = match self.config.gen_start {
            GenerationStart::Noise => {
                let x0 = self.x_init.sample(n);
                let y0 = self.y_init.sample(layout, n, self.device, x0.kind())?;
                (x0, y0)
            }
            GenerationStart::Buffer => {
                let vals = layout.decode(&self.buffer.y); // [N, V]
                let mut ok = Tensor::ones([n, self.buffer.len()], (Kind::Bool, self.device));
                for (var, t) in &targets {
                    let m = vals
                        .select(1, *var as i64)
                        .unsqueeze(0)
                        .eq_tensor(&t.unsqueeze(1));
                    ok = ok.logical_and(&m);
                }
                let none = ok.any_dim(1, true).logical_not();
                let idx = ok
                    .logical_or(&none)
                    .to_kind(Kind::Float)
                    .multinomial(1, true)
                    .squeeze_dim(1);
                (
                    self.buffer.x.index_select(0, &idx),
                    self.buffer.y.index_select(0, &idx),
                )
            }
            GenerationStart::Posterior => {
                // Sampling–importance–resampling: a pool of replay states (≈ samples of the
                // model's p(x)), each chain picks one with probability ∝ p(clamped labels | x)
                // under the EMA model (exact, by enumeration): ≈ p(x | clamped labels).
                let pool_n = self.buffer.len().min(POSTERIOR_POOL);
                let pool = Tensor::randperm(self.buffer.len(), (Kind::Int64, self.device))
                    .narrow(0, 0, pool_n);
                let pool_x = self.buffer.x.index_select(0, &pool);
                let pool_y = self.buffer.y.index_select(0, &pool);
                let mut log_w = Tensor::zeros([n, pool_n], (Kind::Float, self.device));
                if !targets.is_empty() {
                    let pred = tch::no_grad(|| {
                        predict_by_energy(
                            &self.ema_model,
                            &pool_x,
                            None,
                            &EnumerationConfig::default(),
                        )
                    })?;
                    let marginals = pred.marginals(layout);
                    for (var, t) in &targets {
                        // [pool, K_v] → [n, pool]: p(v = t_i | x_j).
                        let p = marginals[*var].to_kind(Kind::Float).index_select(1, t).tr();
                        log_w += p.clamp_min(1e-30).log();
                    }
                }
                let idx = log_w
                    .softmax(1, Kind::Float)
                    .multinomial(1, true)
                    .squeeze_dim(1);
                (pool_x.index_select(0, &idx), pool_y.index_select(0, &idx))
            }
        };
        mwg::generate(
            &self.sampler()?,
            &self.ema_model,
            &x0,
            &y0,
            &clamps,
            self.config.gen_sweeps,
        )
    }
}
