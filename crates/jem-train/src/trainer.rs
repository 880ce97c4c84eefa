//! Persistent contrastive divergence with the joint MWG sampler (paper §4, appendix B).

use crate::buffer::ReplayBuffer;
use crate::checkpoint;
use crate::conditional::conditional_pseudo_log_likelihood;
use crate::config::{GenerationStart, NegativeLabels, TrainConfig, YInitMode};
use crate::metrics::{accuracy_per_variable, mean_ece, EvalMetrics};
use crate::negative::expected_log_density;
use crate::optim::{ema_update, warmup_lr, Adam};
use ebm_core::{Error, JointEnergy, JointState, Result, XInit, YInit, YLayout};
use mwg::{
    predict_by_energy, predict_by_sampling, EnumerationConfig, JointSampler,
    SamplePredictionConfig, SweepDiagnostics,
};
use samplers_cont::Langevin;
use samplers_disc::Gwg;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;
use tch::nn::{self, VarStore};
use tch::{Device, Kind, Tensor};

/// A labelled batch for training or evaluation: `x` `[B, …]`, `y` `[B, D]` (valid labels; the
/// entries of unobserved variables are placeholders), `observed` `[B, V]` bool or `None`.
#[derive(Debug)]
pub struct LabelledBatch<'a> {
    /// Inputs.
    pub x: &'a Tensor,
    /// Labels.
    pub y: &'a Tensor,
    /// Observed-variable mask (`None` = fully labelled).
    pub observed: Option<&'a Tensor>,
}

/// What happened in one training iteration (host values, read once per iteration).
#[derive(Clone, Debug, Serialize)]
pub struct IterationReport {
    /// Iteration index (0-based).
    pub iteration: usize,
    /// Loss `−(mean f⁺ − mean f⁻) + c·(mean f⁺² + mean f⁻²) − α·mean Σ_v log p(y_v | y_¬v, x⁺)`.
    pub loss: f64,
    /// Mean `f(x⁺, y⁺)` of the data (higher = more probable).
    pub f_pos: f64,
    /// Mean `f(x⁻, y⁻)` of the negative samples.
    pub f_neg: f64,
    /// Mean conditional pseudo-log-likelihood `Σ_v log p(y_v | y_¬v, x⁺)` of the batch (only when
    /// `cond_weight > 0`; it is computed for the loss).
    pub cond_ll: Option<f64>,
    /// Learning rate used.
    pub lr: f64,
    /// Mean GWG acceptance rate over the iteration's sweeps.
    pub accept_y: f64,
    /// Wall-clock seconds since training (re)started; within [`Trainer::train`], excluding the
    /// time spent in evaluations and checkpoints (so it is the training time so far).
    pub seconds: f64,
}

/// Callbacks of a training run; libraries never print, examples render these.
pub trait Observer {
    /// After every iteration.
    fn on_iteration(&mut self, _report: &IterationReport) {}
    /// After every evaluation.
    fn on_evaluation(&mut self, _iteration: usize, _metrics: &EvalMetrics) {}
    /// After a checkpoint was written.
    fn on_checkpoint(&mut self, _path: &Path) {}
}

/// An observer that does nothing.
pub struct Silent;
impl Observer for Silent {}

/// Persistent state saved in `state.json` of a checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct RunState {
    iteration: usize,
    adam_steps: i64,
    config: TrainConfig,
    y_init: YInit,
}

/// Summary of a finished [`Trainer::train`] call.
#[derive(Clone, Debug, Serialize)]
pub struct TrainSummary {
    /// Iterations completed in total (including before a resume).
    pub iterations: usize,
    /// Seconds spent training in this call, excluding evaluations and checkpoints.
    pub train_seconds: f64,
    /// The last report.
    pub last: Option<IterationReport>,
}

/// A generation judge run at every evaluation (see [`Trainer::set_judge`]): named figures
/// computed from the trainer (typically by generating samples with [`Trainer::generate`] and
/// scoring them with an independent judge).
pub type Judge<M> = Box<dyn FnMut(&Trainer<M>) -> Result<BTreeMap<String, f64>>>;

/// Trains a joint EBM `f_θ(x, y)` (higher = more probable) by persistent contrastive
/// divergence (paper §4, appendix B; docs/REFERENCE-NOTES.md §4–5):
///
/// 1. positive phase: a data batch `(x⁺, y⁺)`; unobserved label variables are imputed by GWG
///    with the observed ones clamped (paper Eq. 8);
/// 2. negative phase: `B` chains drawn from the replay buffer (each re-initialised with
///    probability `reinit_prob`), `sweeps` MWG sweeps (GWG + Langevin) with the **live** model,
///    `x` and `y` written back; parameters are frozen while sampling, so no weight-gradient graph
///    is built;
/// 3. loss `−(mean f⁺ − mean f⁻) + c (mean f⁺² + mean f⁻²) − α mean Σ_v log p(y_v | y_¬v, x⁺)`
///    (`c = l2_energy`, `α = cond_weight`; the paper has `c = α = 0`), from **one** forward over
///    the `2B` rows `[x⁺; x⁻]`; Adam with linear warm-up;
/// 4. EMA of the parameters (`ema_decay`), used for evaluation and test-time sampling.
///
/// Every iteration re-seeds torch's generator from `(seed, iteration)`, so a run resumed from a
/// checkpoint reproduces the uninterrupted run on the CPU.
pub struct Trainer<M> {
    config: TrainConfig,
    device: Device,
    vs: VarStore,
    ema_vs: VarStore,
    model: M,
    ema_model: M,
    adam: Adam,
    buffer: ReplayBuffer,
    x_init: XInit,
    y_init: YInit,
    iteration: usize,
    layout: YLayout,
    /// Every label configuration `[C, D]` when `negative_labels` is `Expected`.
    all_y: Option<Tensor>,
    judge: Option<Judge<M>>,
}

/// Every label configuration, one-hot `[C, D]` float on `device`, when the configuration asks
/// for the Rao-Blackwellised negative phase.
fn enumerated_labels(
    config: &TrainConfig,
    layout: &YLayout,
    device: Device,
) -> Result<Option<Tensor>> {
    match config.negative_labels {
        NegativeLabels::Sampled => Ok(None),
        NegativeLabels::Expected => {
            let values = layout.enumerate_values(TrainConfig::MAX_ENUMERATED_CONFIGURATIONS)?;
            Ok(Some(layout.encode(&values.to_device(device), Kind::Float)?))
        }
    }
}

fn iteration_seed(seed: u64, iteration: usize, stream: u64) -> i64 {
    // SplitMix64 of (seed, iteration, stream): independent-looking seeds per iteration.
    let mut z = seed
        .wrapping_add((iteration as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
        .wrapping_add(stream.wrapping_mul(0xD1B5_4A32_D192_ED03));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((z ^ (z >> 31)) >> 1) as i64
}

/// The live model and its EMA twin, each on a `VarStore` of its own (tch's two-store pattern).
fn build_pair<M>(device: Device, build: &impl Fn(&nn::Path) -> M) -> (VarStore, M, VarStore, M) {
    let vs = VarStore::new(device);
    let model = build(&vs.root());
    let ema_vs = VarStore::new(device);
    let ema_model = build(&ema_vs.root());
    (vs, model, ema_vs, ema_model)
}

impl<M: JointEnergy> Trainer<M> {
    /// A new run: builds the live and EMA models with `build`, sets `p₀(x)` and `q₀(y)` from
    /// `first_batch` (one batch of training data, fully labelled entries used for `q₀`), and
    /// fills the buffer.
    pub fn new(
        config: TrainConfig,
        device: Device,
        build: impl Fn(&nn::Path) -> M,
        first_batch: &LabelledBatch,
    ) -> Result<Self> {
        config.validate()?;
        tch::manual_seed(iteration_seed(config.seed, usize::MAX, 1));
        let (vs, model, mut ema_vs, ema_model) = build_pair(device, &build);
        ema_vs.copy(&vs)?;
        ema_vs.freeze();
        let layout = model.y_layout().clone();
        let x_init = XInit::from_batch(&first_batch.x.to_device(device))?;
        let y_init = match config.y_init {
            YInitMode::Uniform => YInit::Uniform,
            YInitMode::Empirical => YInit::empirical(&layout, &first_batch.y.to_device(device))?,
        };
        let buffer = ReplayBuffer::new(config.buffer_size, &x_init, &y_init, &layout)?;
        let adam = Adam::new(&vs, config.adam.clone());
        let all_y = enumerated_labels(&config, &layout, device)?;
        Ok(Self {
            config,
            device,
            vs,
            ema_vs,
            model,
            ema_model,
            adam,
            buffer,
            x_init,
            y_init,
            iteration: 0,
            layout,
            all_y,
            judge: None,
        })
    }

    /// Resumes from a checkpoint folder (or a folder of checkpoints: the newest complete one).
    /// `overrides` may change the run length, evaluation/checkpoint cadence, learning rate or
    /// seed (e.g. to restart a diverged run with a new seed); architecture-defining fields must
    /// match the checkpoint.
    pub fn resume(
        dir: &Path,
        device: Device,
        build: impl Fn(&nn::Path) -> M,
        overrides: impl FnOnce(&mut TrainConfig),
    ) -> Result<Self> {
        let ckpt = checkpoint::resolve(dir)?;
        let state_path = ckpt.join("state.json");
        let text = std::fs::read_to_string(&state_path)
            .map_err(|e| Error::io(&state_path, "cannot read the run state", e))?;
        let state: RunState = serde_json::from_str(&text)
            .map_err(|e| Error::file(&state_path, format!("not a valid run state: {e}")))?;
        let mut config = state.config.clone();
        overrides(&mut config);
        config.validate()?;
        let (mut vs, model, mut ema_vs, ema_model) = build_pair(device, &build);
        let load = |vs: &mut VarStore, name: &str| -> Result<()> {
            let p = ckpt.join(name);
            vs.load(&p)
                .map_err(|e| Error::file(&p, format!("cannot load parameters: {e}")))
        };
        load(&mut vs, "model.safetensors")?;
        load(&mut ema_vs, "ema.safetensors")?;
        ema_vs.freeze();
        let read = |name: &str| -> Result<Vec<(String, Tensor)>> {
            let p = ckpt.join(name);
            Tensor::read_safetensors(&p).map_err(|e| Error::file(&p, format!("cannot read: {e}")))
        };
        let get = |ts: &[(String, Tensor)], key: &str, file: &str| -> Result<Tensor> {
            ts.iter()
                .find(|(n, _)| n == key)
                .map(|(_, t)| t.to_device(device))
                .ok_or_else(|| Error::file(ckpt.join(file), format!("missing tensor {key}")))
        };
        let mut adam = Adam::new(&vs, config.adam.clone());
        adam.load_state(&read("optimizer.safetensors")?, state.adam_steps)?;
        let buf = read("buffer.safetensors")?;
        let buffer = ReplayBuffer {
            x: get(&buf, "x", "buffer.safetensors")?,
            y: get(&buf, "y", "buffer.safetensors")?,
        };
        let init = read("init.safetensors")?;
        let x_init = XInit {
            low: get(&init, "low", "init.safetensors")?,
            high: get(&init, "high", "init.safetensors")?,
        };
        let layout = model.y_layout().clone();
        state.y_init.validate(&layout)?;
        if buffer.y.size().get(1).copied() != Some(layout.dim() as i64) {
            return Err(Error::file(
                ckpt.join("buffer.safetensors"),
                "label width does not match the model",
            ));
        }
        let all_y = enumerated_labels(&config, &layout, device)?;
        Ok(Self {
            config,
            device,
            vs,
            ema_vs,
            model,
            ema_model,
            adam,
            buffer,
            x_init,
            y_init: state.y_init,
            iteration: state.iteration,
            layout,
            all_y,
            judge: None,
        })
    }

    /// The configuration in force.
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }
    /// Iterations completed.
    pub fn iteration(&self) -> usize {
        self.iteration
    }
    /// The live model.
    pub fn model(&self) -> &M {
        &self.model
    }
    /// The EMA model (evaluation, test-time sampling).
    pub fn ema_model(&self) -> &M {
        &self.ema_model
    }
    /// The live parameters.
    pub fn var_store(&self) -> &VarStore {
        &self.vs
    }
    /// The EMA parameters.
    pub fn ema_var_store(&self) -> &VarStore {
        &self.ema_vs
    }
    /// The replay buffer.
    pub fn buffer(&self) -> &ReplayBuffer {
        &self.buffer
    }
    /// The initial label distribution.
    pub fn y_init(&self) -> &YInit {
        &self.y_init
    }
    /// The initial `x` distribution.
    pub fn x_init(&self) -> &XInit {
        &self.x_init
    }
    /// The training device.
    pub fn device(&self) -> Device {
        self.device
    }

    /// Installs a generation judge, run after every evaluation of [`Trainer::train`]; its
    /// figures are added to [`EvalMetrics::judges`]. Torch's generator is seeded from the run's
    /// seed and the iteration before each call, so judged figures are reproducible.
    pub fn set_judge(&mut self, judge: Judge<M>) {
        self.judge = Some(judge);
    }

    /// Runs the installed judge (if any) on the current model; empty without a judge.
    pub fn judge(&mut self) -> Result<BTreeMap<String, f64>> {
        let Some(mut judge) = self.judge.take() else {
            return Ok(BTreeMap::new());
        };
        tch::manual_seed(iteration_seed(self.config.seed, self.iteration, 4));
        let out = judge(self);
        self.judge = Some(judge);
        out
    }

    /// `n` joint samples of the EMA model after `gen_sweeps` MWG sweeps (GWG + Langevin, the
    /// training kernels), started as `gen_start` says (noise: `p₀(x)`, `q₀(y)`; buffer: for each
    /// chain a random replay state whose labels already equal its clamped values, or any state
    /// when none does).
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
        let mut targets = Vec::with_capacity(fixed.len());
        for &(var, values) in fixed {
            let bad = var >= layout.num_vars()
                || (values.len() != 1 && values.len() as i64 != n)
                || values
                    .iter()
                    .any(|&v| v < 0 || v as usize >= layout.cardinality(var));
            if bad {
                return Err(Error::config(
                    "fixed",
                    format!("variable {var} with {} values", values.len()),
                    format!(
                        "variable must be < {}, with 1 or n = {n} values each < its cardinality",
                        layout.num_vars()
                    ),
                ));
            }
            let t = Tensor::from_slice(values)
                .to_device(self.device)
                .expand([n], false);
            targets.push((var as i64, t));
        }
        let (mut x0, mut y0) = match self.config.gen_start {
            GenerationStart::Noise => {
                let x0 = self.x_init.sample(n);
                let y0 = self.y_init.sample(layout, n, self.device, x0.kind())?;
                (x0, y0)
            }
            GenerationStart::Buffer => {
                let vals = layout.decode(&self.buffer.y); // [N, V]
                let mut ok = Tensor::ones([n, self.buffer.len()], (Kind::Bool, self.device));
                for (var, t) in &targets {
                    let m = vals.select(1, *var).unsqueeze(0).eq_tensor(&t.unsqueeze(1));
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
        };
        if let Some((values, mask)) = x_fixed {
            if values.size() != x0.size() || mask.size() != x0.size() {
                return Err(Error::shape(
                    "Trainer::generate",
                    "x_fixed",
                    format!("{:?}", x0.size()),
                    &values.size(),
                ));
            }
            x0 = values
                .to_device(self.device)
                .to_kind(x0.kind())
                .where_self(&mask.to_device(self.device), &x0);
        }
        let mut var_mask = None;
        if !targets.is_empty() {
            let vals = layout.decode(&y0);
            for (var, t) in &targets {
                vals.select(1, *var).copy_(t);
            }
            y0 = layout.encode(&vals, x0.kind())?;
            let m: Vec<bool> = (0..layout.num_vars())
                .map(|v| fixed.iter().any(|&(f, _)| f == v))
                .collect();
            var_mask = Some(Tensor::from_slice(&m).to_device(self.device));
        }
        let mut state = JointState::new(&self.ema_model, &x0, &y0)?;
        if let Some(m) = &var_mask {
            state = state.with_fixed_y(m)?;
        }
        if let Some((_, mask)) = x_fixed {
            state = state.with_fixed_x(&mask.to_device(self.device))?;
        }
        let mut d = SweepDiagnostics::default();
        let state = self
            .sampler()?
            .run(&self.ema_model, state, self.config.gen_sweeps, &mut d)?;
        let (x, y) = state.into_xy();
        Ok((x, layout.decode(&y)))
    }

    fn sampler(&self) -> Result<JointSampler<Gwg, Langevin>> {
        Ok(JointSampler::new(
            Gwg::new(self.config.gwg.clone())?,
            Langevin::new(self.config.langevin.clone())?,
        ))
    }

    /// One training iteration on `batch`. Returns its report.
    pub fn step(&mut self, batch: &LabelledBatch, started: Instant) -> Result<IterationReport> {
        let it = self.iteration;
        tch::manual_seed(iteration_seed(self.config.seed, it, 0));
        let cfg = self.config.clone();
        let lr = warmup_lr(cfg.lr, cfg.warmup_iters, it);
        let x_pos = batch.x.to_device(self.device);
        let mut y_pos = batch.y.to_device(self.device);
        let observed = batch.observed.map(|o| o.to_device(self.device));

        self.vs.freeze();
        let sampled = (|| -> Result<(Tensor, Tensor, SweepDiagnostics)> {
            // Positive phase: impute unobserved labels with the observed ones clamped.
            if let Some(obs) = &observed {
                let cols = ebm_core::ColumnMaps::new(&self.layout, self.device, y_pos.kind());
                let free_cols = cols.expand_var_mask(&obs.logical_not());
                let noise =
                    self.y_init
                        .sample(&self.layout, y_pos.size()[0], self.device, y_pos.kind())?;
                let y0 = noise.where_self(&free_cols, &y_pos);
                let state = JointState::new_trusted(&self.model, &x_pos, &y0)?.with_fixed_y(obs)?;
                let gwg = Gwg::new(self.config.gwg.clone())?;
                y_pos = mwg::run_discrete(&gwg, &self.model, state, self.config.impute_steps)?
                    .into_xy()
                    .1;
            }
            // Negative phase.
            let draw = self.buffer.draw(
                cfg.batch_size,
                cfg.reinit_prob,
                &self.x_init,
                &self.y_init,
                &self.layout,
            )?;
            let state = JointState::new_trusted(&self.model, &draw.x, &draw.y)?;
            let mut diag = SweepDiagnostics::default();
            let state = self
                .sampler()?
                .run(&self.model, state, cfg.sweeps, &mut diag)?;
            self.buffer.write_back(&draw.index, state.x(), state.y());
            let (x, y) = state.into_xy();
            Ok((x, y, diag))
        })();
        self.vs.unfreeze();
        let (x_neg, y_neg, diag) = sampled?;

        // One forward for both phases (the energies treat rows independently), so the weights'
        // backward runs once over 2B rows instead of twice over B.
        let b = x_pos.size()[0];
        let x_all = Tensor::cat(&[&x_pos, &x_neg.to_kind(x_pos.kind())], 0);
        let y_all = Tensor::cat(&[&y_pos, &y_neg.to_kind(y_pos.kind())], 0);
        let h_all = self.model.features(&x_all);
        let h_all = h_all.as_ref().unwrap_or(&x_all);
        let f_all = self.model.log_density_from_features(h_all, &y_all);
        let f_pos = f_all.narrow(0, 0, b);
        let f_neg = f_all.narrow(0, b, f_all.size()[0] - b);
        let neg_term = match &self.all_y {
            None => f_neg.mean(Kind::Float),
            Some(all_y) => {
                let h_neg = h_all.narrow(0, b, f_all.size()[0] - b);
                expected_log_density(&self.model, &h_neg, &all_y.to_kind(y_pos.kind()))
                    .mean(Kind::Float)
            }
        };
        let mut loss = -(f_pos.mean(Kind::Float) - neg_term);
        if self.config.l2_energy > 0.0 {
            let l2 = (&f_pos * &f_pos).mean(Kind::Float) + (&f_neg * &f_neg).mean(Kind::Float);
            loss += l2 * self.config.l2_energy;
        }
        let cond_ll = if self.config.cond_weight > 0.0 {
            let h_pos = h_all.narrow(0, 0, b);
            let ll =
                conditional_pseudo_log_likelihood(&self.model, &h_pos, &y_pos, observed.as_ref())
                    .mean(Kind::Float);
            loss -= &ll * self.config.cond_weight;
            ll.detach()
        } else {
            Tensor::zeros([], (Kind::Float, self.device))
        };
        let values = Vec::<f64>::try_from(Tensor::stack(
            &[
                loss.detach().to_kind(Kind::Double),
                f_pos.detach().mean(Kind::Double),
                f_neg.detach().mean(Kind::Double),
                cond_ll.to_kind(Kind::Double),
            ],
            0,
        ))?;
        let (loss_v, f_pos_v, f_neg_v, cond_v) = (values[0], values[1], values[2], values[3]);
        for (what, v) in [
            ("loss", loss_v),
            ("mean f(x+, y+)", f_pos_v),
            ("mean f(x-, y-)", f_neg_v),
        ] {
            if !v.is_finite() {
                return Err(Error::Diverged {
                    iteration: it,
                    what: format!("{what} is not finite"),
                });
            }
        }
        let limit = self.config.max_abs_energy;
        for (what, v) in [("mean f(x+, y+)", f_pos_v), ("mean f(x-, y-)", f_neg_v)] {
            if limit > 0.0 && v.abs() > limit {
                return Err(Error::Diverged {
                    iteration: it,
                    what: format!("{what} = {v:.3e} is beyond ±max_abs_energy = {limit:.0e}"),
                });
            }
        }
        loss.backward();
        let clip = (self.config.clip_grad > 0.0).then_some(self.config.clip_grad);
        self.adam.step_clipped(lr, clip)?;
        ema_update(&self.ema_vs, &self.vs, self.config.ema_decay)?;
        self.iteration += 1;
        Ok(IterationReport {
            iteration: it,
            loss: loss_v,
            f_pos: f_pos_v,
            f_neg: f_neg_v,
            cond_ll: (self.config.cond_weight > 0.0).then_some(cond_v),
            lr,
            accept_y: diag.summary().accept_rate_y,
            seconds: started.elapsed().as_secs_f64(),
        })
    }

    /// Evaluates the EMA model on a labelled test set: energy-based accuracy and ECE (when the
    /// label space can be enumerated within `max_configurations`), sample-based accuracy
    /// (`eval_chains` chains × `eval_steps` GWG steps from `q₀(y)`, majority vote).
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
                &Gwg::new(self.config.gwg.clone())?,
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

    /// Writes a checkpoint into `dir` atomically (see [`checkpoint`]). Refuses (keeping the
    /// previous checkpoint) when a parameter is not finite.
    pub fn save_checkpoint(&self, dir: &Path) -> Result<PathBuf> {
        for (name, t) in self.vs.variables() {
            if !bool::try_from(t.isfinite().all())? {
                return Err(Error::Diverged {
                    iteration: self.iteration,
                    what: format!("parameter {name} is not finite"),
                });
            }
        }
        let state = RunState {
            iteration: self.iteration,
            adam_steps: self.adam.steps(),
            config: self.config.clone(),
            y_init: self.y_init.clone(),
        };
        checkpoint::write_atomically(dir, self.iteration, |tmp| {
            let file_err = |p: PathBuf, e: tch::TchError| Error::file(p, e.to_string());
            let p = tmp.join("model.safetensors");
            self.vs.save(&p).map_err(|e| file_err(p.clone(), e))?;
            let p = tmp.join("ema.safetensors");
            self.ema_vs.save(&p).map_err(|e| file_err(p.clone(), e))?;
            let p = tmp.join("optimizer.safetensors");
            Tensor::write_safetensors(&self.adam.state_tensors(), &p)
                .map_err(|e| file_err(p.clone(), e))?;
            let p = tmp.join("buffer.safetensors");
            Tensor::write_safetensors(&[("x", &self.buffer.x), ("y", &self.buffer.y)], &p)
                .map_err(|e| file_err(p.clone(), e))?;
            let p = tmp.join("init.safetensors");
            Tensor::write_safetensors(
                &[("low", &self.x_init.low), ("high", &self.x_init.high)],
                &p,
            )
            .map_err(|e| file_err(p.clone(), e))?;
            let p = tmp.join("state.json");
            let text =
                serde_json::to_string_pretty(&state).map_err(|e| Error::file(&p, e.to_string()))?;
            std::fs::write(&p, text).map_err(|e| Error::io(&p, "cannot write", e))
        })
    }

    /// Trains until `config.iterations`, drawing batches from `next_batch`, evaluating on
    /// `(test_x, test_y)` every `eval_every` iterations and at the end, and checkpointing into
    /// `checkpoint_dir` (if given) every `checkpoint_every` iterations and at the end.
    /// Returns the final metrics. On divergence, returns [`Error::Diverged`]; the last
    /// checkpoint written stays loadable.
    #[allow(clippy::too_many_arguments)]
    pub fn train(
        &mut self,
        mut next_batch: impl FnMut(usize) -> Result<(Tensor, Tensor, Option<Tensor>)>,
        test_x: &Tensor,
        test_y: &Tensor,
        energy_based: bool,
        sample_based: bool,
        checkpoint_dir: Option<&Path>,
        observer: &mut dyn Observer,
    ) -> Result<(EvalMetrics, TrainSummary)> {
        let n_test = test_x.size().first().copied().unwrap_or(0);
        let keep = match self.config.eval_examples {
            0 => n_test,
            k => k.min(n_test),
        };
        let (test_x, test_y) = (&test_x.narrow(0, 0, keep), &test_y.narrow(0, 0, keep));
        let started = Instant::now();
        let mut side_seconds = 0.0;
        let mut last = None;
        while self.iteration < self.config.iterations {
            tch::manual_seed(iteration_seed(self.config.seed, self.iteration, 3));
            let (x, y, observed) = next_batch(self.iteration)?;
            let mut report = self.step(
                &LabelledBatch {
                    x: &x,
                    y: &y,
                    observed: observed.as_ref(),
                },
                started,
            )?;
            report.seconds -= side_seconds;
            observer.on_iteration(&report);
            last = Some(report);
            let done = self.iteration;
            let finished = done == self.config.iterations;
            let side = Instant::now();
            if !finished && self.config.eval_every > 0 && done % self.config.eval_every == 0 {
                let mut m = self.evaluate(test_x, test_y, energy_based, sample_based)?;
                m.judges = self.judge()?;
                observer.on_evaluation(done, &m);
            }
            if let Some(dir) = checkpoint_dir {
                if !finished
                    && self.config.checkpoint_every > 0
                    && done % self.config.checkpoint_every == 0
                {
                    let p = self.save_checkpoint(dir)?;
                    observer.on_checkpoint(&p);
                }
            }
            side_seconds += side.elapsed().as_secs_f64();
        }
        let train_seconds = started.elapsed().as_secs_f64() - side_seconds;
        if let Some(dir) = checkpoint_dir {
            let p = self.save_checkpoint(dir)?;
            observer.on_checkpoint(&p);
        }
        let mut m = self.evaluate(test_x, test_y, energy_based, sample_based)?;
        m.judges = self.judge()?;
        observer.on_evaluation(self.iteration, &m);
        Ok((
            m,
            TrainSummary {
                iterations: self.iteration,
                train_seconds,
                last,
            },
        ))
    }
}
