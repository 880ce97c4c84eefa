//! A trained joint model without its trainer: load a run folder or checkpoint and predict,
//! score and generate with the EMA parameters.

use crate::buffer::ReplayBuffer;
use crate::checkpoint;
use crate::config::{GenerationStart, TrainConfig};
use crate::kernels::{AnyContinuous, AnyDiscrete};
use crate::metrics::{accuracy_per_variable, mean_ece, EvalMetrics};
use crate::overrides::Overrides;
use crate::trainer::{load_params, read_chains, read_state};
use ebm_core::{Error, JointEnergy, Result, XInit, YInit, YLayout};
use mwg::{
    predict_by_energy, predict_by_sampling, Clamps, EnergyPrediction, EnumerationConfig,
    JointSampler, SamplePrediction, SamplePredictionConfig,
};
use std::path::{Path, PathBuf};
use tch::nn::{self, VarStore};
use tch::{Device, Kind, Tensor};

/// Replay states scored by [`GenerationStart::Posterior`] per call.
const POSTERIOR_POOL: i64 = 2_048;

/// A trained joint model `f(x, y)` (higher = more probable): the EMA parameters of a
/// checkpoint, its label layout, the start distributions `p₀(x)` and `q₀(y)`, the run's
/// sampler settings, and its replay buffer (for buffer-started generation).
///
/// Loaded with [`JointModel::load`] from what a [`Trainer`](crate::Trainer) wrote; the
/// network is rebuilt by the same `build` function the run used (for the presets:
/// `presets::<experiment>::energy` or the energy its run's `config.json` names).
///
/// A [`Trainer`](crate::Trainer) owns one as its EMA model: its evaluation, generation and
/// judges go through it, and [`Trainer::joint_model`](crate::Trainer::joint_model) lends it.
pub struct JointModel<M: JointEnergy> {
    /// The EMA parameters (frozen); `energy` holds references into it.
    pub(crate) vs: VarStore,
    pub(crate) energy: M,
    /// The run's configuration; for a trainer's model, the one in force (the trainer keeps no
    /// other copy).
    pub(crate) config: TrainConfig,
    pub(crate) x_init: XInit,
    pub(crate) y_init: YInit,
    pub(crate) buffer: ReplayBuffer,
    /// Iterations of training behind these parameters.
    pub(crate) iteration: usize,
    /// The checkpoint it was loaded from (`None` for a trainer's live EMA model).
    pub(crate) checkpoint: Option<PathBuf>,
}

impl JointModel<Box<dyn JointEnergy>> {
    /// Loads a model whose run recorded its built-in network
    /// ([`Trainer::set_architecture`](crate::Trainer::set_architecture); the examples do):
    /// no builder needed. `dir` as for [`JointModel::load`]. A run of a network of your own
    /// is an error saying to use [`JointModel::load`] with its builder.
    pub fn load_saved(dir: &Path, device: Device) -> Result<Self> {
        let ckpt = checkpoint::resolve(dir)?;
        let arch = read_state(&ckpt)?.architecture.ok_or_else(|| {
            Error::file(
                ckpt.join("state.json"),
                "no built-in architecture recorded (a network of your own: load it with \
                 JointModel::load and its builder)",
            )
        })?;
        // Build once to surface a constructor error; the builder below cannot fail then.
        arch.build(&VarStore::new(Device::Cpu).root())?;
        Self::load(&ckpt, device, |p| {
            arch.build(p)
                .expect("the same architecture built above without error")
        })
    }
}

impl<M: JointEnergy> JointModel<M> {
    /// Loads the EMA model of the checkpoint `dir` names: a checkpoint folder, a folder of
    /// checkpoints (the one `LATEST` names, else the newest complete one) or a run folder
    /// holding `checkpoints/`. `build` must make the network the run trained: a parameter
    /// missing from the file or of another shape is an error naming the file.
    pub fn load(dir: &Path, device: Device, build: impl Fn(&nn::Path) -> M) -> Result<Self> {
        let ckpt = checkpoint::resolve(dir)?;
        let state = read_state(&ckpt)?;
        let mut vs = VarStore::new(device);
        let energy = build(&vs.root());
        load_params(&mut vs, &ckpt, "ema.safetensors")?;
        vs.freeze();
        let (x_init, buffer) = read_chains(&ckpt, device, energy.y_layout(), &state.y_init)?;
        Ok(Self {
            vs,
            energy,
            config: state.config,
            x_init,
            y_init: state.y_init,
            buffer,
            iteration: state.iteration,
            checkpoint: Some(ckpt),
        })
    }

    /// The network with the EMA parameters (frozen).
    pub fn energy(&self) -> &M {
        &self.energy
    }

    /// The label layout.
    pub fn layout(&self) -> &YLayout {
        self.energy.y_layout()
    }

    /// The run's configuration (sampler settings, test-time sweeps and start).
    pub fn config(&self) -> &TrainConfig {
        &self.config
    }

    /// Changes some settings of the model, to sample it differently: the kernels
    /// (`y_sampler`, `x_sampler`, `predict_y_sampler`, and `langevin.*`, `dmala.*`, … through
    /// [`Overrides::set`]), the test-time sweeps and start (`gen_sweeps`, `gen_start`), the
    /// evaluation's chains — any [`Overrides`] field, applied as on a resumed run. The network,
    /// its parameters and the replay buffer are untouched; fields that only act in training
    /// (the learning rate, the objective) are recorded and have no effect here. A setting that
    /// cannot change between runs of one model, or an invalid result, is an error and leaves
    /// the model as it was.
    pub fn apply_overrides(&mut self, overrides: &Overrides) -> Result<()> {
        let mut config = self.config.clone();
        overrides.apply(&mut config)?;
        config.validate()?;
        // The kernels check their own settings when built.
        AnyDiscrete::from_config(&config)?;
        AnyContinuous::from_config(&config)?;
        if let Some(y_sampler) = config.predict_y_sampler {
            AnyDiscrete::from_config(&TrainConfig {
                y_sampler,
                ..config.clone()
            })?;
        }
        self.config = config;
        Ok(())
    }

    /// The training iteration the checkpoint was taken at.
    pub fn iteration(&self) -> usize {
        self.iteration
    }

    /// The checkpoint folder it was loaded from; `None` for a trainer's EMA model.
    pub fn checkpoint(&self) -> Option<&Path> {
        self.checkpoint.as_deref()
    }

    /// The EMA parameters.
    pub fn var_store(&self) -> &VarStore {
        &self.vs
    }

    /// The replay buffer (the run's persistent chains; buffer-started generation draws here).
    pub fn buffer(&self) -> &ReplayBuffer {
        &self.buffer
    }

    /// The start distribution of `x` chains, `p₀(x)`.
    pub fn x_init(&self) -> &XInit {
        &self.x_init
    }

    /// The start distribution of label chains, `q₀(y)`.
    pub fn y_init(&self) -> &YInit {
        &self.y_init
    }

    /// The device the parameters are on.
    pub fn device(&self) -> Device {
        self.buffer.x.device()
    }

    /// `f(x, y)` `[B]` for `x` `[B, …]` and valid one-hot labels `y` `[B, D]` (checked on
    /// the host), without gradients; a non-finite value is an error naming the first such
    /// row.
    pub fn log_density(&self, x: &Tensor, y: &Tensor) -> Result<Tensor> {
        const OP: &str = "JointModel::log_density";
        let device = self.device();
        let (x, y) = (x.to_device(device), y.to_device(device));
        self.layout().validate(OP, "y", &y)?;
        if x.size().first() != y.size().first() {
            return Err(Error::shape(OP, "x", "[B, …] with B rows of y", &x.size()));
        }
        let f = tch::no_grad(|| self.energy.log_density(&x, &y.to_kind(x.kind())));
        if f.size() != [y.size()[0]] {
            return Err(Error::shape(OP, "f(x, y)", "[B]", &f.size()));
        }
        let bad = f.isfinite().logical_not().nonzero();
        if bad.size()[0] > 0 {
            let row = bad.int64_value(&[0, 0]);
            return Err(Error::config(
                "f(x, y)",
                format!("row {row}"),
                "not finite (the network returned NaN or ±inf)",
            ));
        }
        Ok(f)
    }

    /// Energy-based prediction: the exact posterior `p(y | x)` by enumerating every label
    /// configuration, and its argmax. Refuses label spaces above
    /// `EnumerationConfig::default().max_configurations`.
    pub fn predict_by_energy(&self, x: &Tensor) -> Result<EnergyPrediction> {
        let x = x.to_device(self.device());
        tch::no_grad(|| predict_by_energy(&self.energy, &x, None, &EnumerationConfig::default()))
    }

    /// Sample-based prediction (the paper's): `config.chains_per_input` chains of the run's
    /// prediction kernel on `y` with `x` fixed, majority vote. Needs no enumeration.
    pub fn predict_by_sampling(
        &self,
        x: &Tensor,
        config: &SamplePredictionConfig,
    ) -> Result<SamplePrediction> {
        let x = x.to_device(self.device());
        predict_by_sampling(&self.energy, &self.prediction_kernel()?, &x, None, config)
    }

    /// The run's prediction kernel on `y`: `predict_y_sampler`, by default the `y_sampler`.
    pub fn prediction_kernel(&self) -> Result<AnyDiscrete> {
        AnyDiscrete::from_config(&TrainConfig {
            y_sampler: self
                .config
                .predict_y_sampler
                .unwrap_or(self.config.y_sampler),
            ..self.config.clone()
        })
    }

    /// Evaluates the model on a labelled set `x` `[B, …]`, `y` `[B, D]` one-hot: energy-based
    /// accuracy and ECE (20 bins) when asked and the label space can be enumerated within
    /// `max_configurations` (an error otherwise), sample-based accuracy (`eval_chains` chains ×
    /// `eval_steps` steps of the run's prediction kernel from `q₀(y)`, majority vote). Uses
    /// torch's generator.
    pub fn evaluate(
        &self,
        x: &Tensor,
        y: &Tensor,
        energy_based: bool,
        sample_based: bool,
    ) -> Result<EvalMetrics> {
        let layout = self.layout();
        let (x, y) = (x.to_device(self.device()), y.to_device(self.device()));
        layout.validate("JointModel::evaluate", "y", &y)?;
        let truth = layout.decode(&y);
        let mut m = EvalMetrics {
            test_examples: x.size()[0],
            ..Default::default()
        };
        let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len().max(1) as f64;
        if energy_based {
            let p = self.predict_by_energy(&x)?;
            let per = accuracy_per_variable(&p.values, &truth)?;
            m.energy_accuracy = Some(mean(&per));
            m.energy_accuracy_per_attribute = Some(per);
            m.ece = Some(mean_ece(&p.marginals(layout), &truth, layout, 20)?);
        }
        if sample_based {
            let cfg = SamplePredictionConfig {
                chains_per_input: self.config.eval_chains,
                steps: self.config.eval_steps,
                y_init: self.y_init.clone(),
            };
            let per = accuracy_per_variable(&self.predict_by_sampling(&x, &cfg)?.values, &truth)?;
            m.sample_accuracy = Some(mean(&per));
            m.sample_accuracy_per_attribute = Some(per);
        }
        Ok(m)
    }

    /// The run's joint sampler (its kernels on `y` and `x`).
    pub fn sampler(&self) -> Result<JointSampler<AnyDiscrete, AnyContinuous>> {
        Ok(JointSampler::new(
            AnyDiscrete::from_config(&self.config)?,
            AnyContinuous::from_config(&self.config)?,
        ))
    }

    /// `n` joint samples after `sweeps` sweeps of the run's sampler, started as `start` says
    /// (see [`GenerationStart`]), with the label variables of `fixed` clamped (one value for
    /// every chain, or `n` values) and, optionally, the elements of `x` where `mask` is true
    /// clamped to `values` (`x_fixed = (values, mask)`, inpainting). Returns `(x [n, …], label
    /// values [n, V] int64)`. Uses torch's generator.
    pub fn generate(
        &self,
        n: i64,
        fixed: &[(usize, &[i64])],
        x_fixed: Option<(&Tensor, &Tensor)>,
        start: GenerationStart,
        sweeps: usize,
    ) -> Result<(Tensor, Tensor)> {
        let clamps = Clamps {
            labels: fixed,
            x: x_fixed,
        };
        let (x0, y0) = self.start_states(start, n, &clamps)?;
        mwg::generate(&self.sampler()?, &self.energy, &x0, &y0, &clamps, sweeps)
    }
}

impl<M: JointEnergy> JointModel<M> {
    /// Start states `(x0, y0)` of `n` test-time chains for the clamps `clamps`: noise (`p₀(x)`,
    /// `q₀(y)`), replay states whose labels already equal the clamped values (any state when
    /// none does), or replay states drawn with probability ∝ `p(clamped labels | x)` from a random
    /// pool of 2 048 (needs an enumerable label space).
    fn start_states(
        &self,
        start: GenerationStart,
        n: i64,
        clamps: &Clamps<'_>,
    ) -> Result<(Tensor, Tensor)> {
        let s = self;
        if n < 1 {
            return Err(Error::config("n", n, "must be ≥ 1"));
        }
        let layout = s.layout();
        let device = s.buffer.x.device();
        let targets = clamps.label_targets(layout, n, device)?;
        Ok(match start {
            GenerationStart::Noise => {
                let x0 = s.x_init.sample(n);
                let y0 = s.y_init.sample(layout, n, device, x0.kind())?;
                (x0, y0)
            }
            GenerationStart::Buffer => {
                let vals = layout.decode(&s.buffer.y); // [N, V]
                let mut ok = Tensor::ones([n, s.buffer.len()], (Kind::Bool, device));
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
                    s.buffer.x.index_select(0, &idx),
                    s.buffer.y.index_select(0, &idx),
                )
            }
            GenerationStart::Posterior => {
                // Sampling–importance–resampling: a pool of replay states (≈ samples of the
                // model's p(x)), each chain picks one with probability ∝ p(clamped labels | x)
                // under the model (exact, by enumeration): ≈ p(x | clamped labels).
                let pool_n = s.buffer.len().min(POSTERIOR_POOL);
                let pool =
                    Tensor::randperm(s.buffer.len(), (Kind::Int64, device)).narrow(0, 0, pool_n);
                let pool_x = s.buffer.x.index_select(0, &pool);
                let pool_y = s.buffer.y.index_select(0, &pool);
                let mut log_w = Tensor::zeros([n, pool_n], (Kind::Float, device));
                if !targets.is_empty() {
                    let pred = tch::no_grad(|| {
                        predict_by_energy(&s.energy, &pool_x, None, &EnumerationConfig::default())
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
        })
    }
}
