//! Helpers shared by the examples: the common command line, the run directory, progress
//! reporting and PNG plots. (A module, not a library, so that the libraries never depend on
//! clap, indicatif or image.)
#![allow(dead_code)]

/// `eprintln!` in one write. The standard error stream is unbuffered and `eprintln!` writes a
/// formatted line piece by piece, so lines that several processes (the ranks of a
/// data-parallel run) print at once can interleave mid-line; a line written whole cannot
/// (pipes keep writes of up to 4 KiB whole).
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let line = format!("{}\n", format_args!($($arg)*));
        let _ = std::io::stderr().write_all(line.as_bytes());
    }};
}

pub mod plot;
pub mod run;

use anyhow::{Context, Result};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use jem_train::{EvalMetrics, IterationReport, Observer};
use joint_ebm::ebm_core::DeviceChoice;
use std::fs::{self, File, OpenOptions};
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Flags every example accepts, spelled the same everywhere.
#[derive(clap::Args, Debug, Clone)]
pub struct CommonArgs {
    /// Directory for the resolved config, metrics, figures and checkpoints.
    #[arg(long, default_value = "runs/default")]
    pub out_dir: PathBuf,
    /// Hyper-parameter preset: `default` (fast), `paper` (the paper's table, verbatim) or
    /// `tiny` (seconds; smoke tests only); dSprites also `conditional` (the paper's CNN with
    /// an extra conditional term of weight 1, the previous default) and `paper-objective` (the
    /// paper's CNN and samplers on a similar budget; the paper's objective plus an L2
    /// penalty 0.01 on energies, with the negative phase Rao-Blackwellised over y). Default: `default`; on
    /// `--resume`, the resumed run's (its `config.json`).
    #[arg(long)]
    pub preset: Option<String>,
    /// [`preset`](Self::preset), resolved (and the resumed run's `config.json` read) once.
    #[arg(skip)]
    resolved_preset: std::sync::OnceLock<String>,
    /// A JSON file of training settings applied on top of the preset: a run's `config.json`
    /// or any subset of its `train` keys (fresh runs only).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Sets one training setting by its name in `config.json`, e.g. `--set lr=5e-4 --set
    /// langevin.step_size=5` (repeatable; after `--config`, before the other flags). On
    /// `--resume` only keys that keep the checkpoint usable: the kernels' sections
    /// (`langevin.*`, `mala.*`, `dmala.*`, `gwg.*`), `recovery.*` and the other flags' keys.
    #[arg(long = "set", value_name = "KEY=VALUE")]
    pub set: Vec<String>,
    /// Seed of every random choice.
    #[arg(long)]
    pub seed: Option<u64>,
    /// auto | cpu | cuda.
    #[arg(long, default_value = "auto")]
    pub device: DeviceChoice,
    /// Override the preset's number of training iterations.
    #[arg(long)]
    pub iterations: Option<usize>,
    /// Resume from a run folder (OUT_DIR), its checkpoints/ or one checkpoint; only the flags
    /// given change the checkpoint's configuration.
    #[arg(long)]
    pub resume: Option<PathBuf>,
    /// Hide this fraction of label groups at random (at least one kept per example).
    #[arg(long, default_value_t = 0.0)]
    pub missing_labels: f64,
    /// Examples (and negative chains) per iteration, per rank in a data-parallel run (fresh
    /// runs only: the replay buffer and the optimiser's state are sized by it).
    #[arg(long)]
    pub batch_size: Option<i64>,
    /// Override the preset's learning rate (lower it when training diverges).
    #[arg(long)]
    pub lr: Option<f64>,
    /// Decay the learning rate linearly from this iteration to `lr × --lr-decay-final` at the
    /// last iteration (0 = constant, the paper's schedule).
    #[arg(long)]
    pub lr_decay_from: Option<usize>,
    /// Final factor of the learning-rate decay (default 0.1).
    #[arg(long)]
    pub lr_decay_final: Option<f64>,
    /// Multiply the learning rate of the label weights (the y columns of the energy's first
    /// layer) by this factor (1 = the paper): lets `p(y | x)` keep pace with `p(x)`.
    #[arg(long)]
    pub label_lr_scale: Option<f64>,
    /// Override the preset's MWG sweeps per iteration (more sweeps: better negatives).
    #[arg(long)]
    pub sweeps: Option<usize>,
    /// Weight of the L2 penalty on energies (≈ 0.1 stabilises a diverging run; 0 = off).
    #[arg(long)]
    pub l2_energy: Option<f64>,
    /// Kernel on the labels in every chain: `gwg` (the paper), `gibbs` (exact Gibbs) or
    /// `dmala` (discrete Langevin, exact; `--set dmala.step_size=…`).
    #[arg(long)]
    pub y_sampler: Option<jem_train::YSampler>,
    /// Kernel on the labels of sample-based prediction only (`gwg`, `gibbs`, `dmala`; default:
    /// the `--y-sampler`).
    #[arg(long)]
    pub predict_y_sampler: Option<jem_train::YSampler>,
    /// Kernel on x in every joint chain: `langevin` (the paper) or `mala` (exact; its noise
    /// scale `--set mala.noise_scale=…`).
    #[arg(long)]
    pub x_sampler: Option<jem_train::XSampler>,
    /// Probability of restarting a negative chain at a data point of the batch (labels from
    /// q₀) instead of its buffer state (0 = the paper).
    #[arg(long)]
    pub data_reinit_prob: Option<f64>,
    /// Automatic recovery from divergence and collapse: roll back to the last healthy snapshot,
    /// halve the learning rate, reseed and continue (`on`: `RecoveryConfig::on`, what every
    /// `default` preset has) or stop at the first divergence (`off`). Default: the preset's,
    /// or on `--resume` the run's own.
    #[arg(long, value_parser = ["on", "off"])]
    pub recovery: Option<String>,
    /// Recoveries allowed before the run gives up (default: the preset's or the run's, 3).
    #[arg(long)]
    pub max_recoveries: Option<usize>,
    /// Clip the global gradient norm to this value before each optimiser step (0 = off).
    #[arg(long)]
    pub clip_grad: Option<f64>,
    /// Override the preset's evaluation interval in iterations (0 = only at the end).
    #[arg(long)]
    pub eval_every: Option<usize>,
    /// Weight α of an extra exact conditional term `α · log p(y | x)` (pseudo-likelihood for
    /// several label groups) added on top of the joint log-likelihood — a different objective
    /// (the joint likelihood already contains log p(y | x) once), not in the paper; 0 = the
    /// paper's objective.
    #[arg(long)]
    pub cond_weight: Option<f64>,
    /// Test examples for evaluation (default: the preset's; 0 = the whole test split).
    #[arg(long)]
    pub eval_examples: Option<i64>,
    /// Labels in the negative phase: `sampled` (the paper) or `expected` (Rao-Blackwellised:
    /// the exact posterior expectation over y of each negative x; same objective, lower
    /// variance).
    #[arg(long)]
    pub negative_labels: Option<jem_train::NegativeLabels>,
    /// MWG sweeps of test-time chains (figures and generation judges).
    #[arg(long)]
    pub gen_sweeps: Option<usize>,
    /// Start of test-time chains: `noise` (the paper's text), `buffer` (replay states whose
    /// labels already match, as the authors' code) or `posterior` (replay states resampled in
    /// proportion to the model's p(clamped labels | x); not in the paper).
    #[arg(long)]
    pub gen_start: Option<jem_train::GenerationStart>,
    /// CPU threads for libtorch's intra-op parallelism. Default 1: on small shared machines
    /// OpenMP's spinning barriers make 2+ threads up to 100× slower whenever another process
    /// holds a core (measured on the 2-core CI machine); raise it on a dedicated machine.
    #[arg(long, default_value_t = 1)]
    pub threads: i32,
}

impl CommonArgs {
    /// The overriding flags as library [`jem_train::Overrides`]: applied to the preset on a
    /// fresh run, to the checkpoint's configuration on `--resume`.
    pub fn overrides(&self) -> jem_train::Overrides {
        jem_train::Overrides {
            iterations: self.iterations,
            seed: self.seed,
            lr: self.lr,
            lr_decay_from: self.lr_decay_from,
            lr_decay_final: self.lr_decay_final,
            label_lr_scale: self.label_lr_scale,
            sweeps: self.sweeps,
            l2_energy: self.l2_energy,
            clip_grad: self.clip_grad,
            data_reinit_prob: self.data_reinit_prob,
            cond_weight: self.cond_weight,
            negative_labels: self.negative_labels,
            y_sampler: self.y_sampler,
            predict_y_sampler: self.predict_y_sampler.map(Some),
            x_sampler: self.x_sampler,
            // A fresh run applies `--set` to the preset directly (any key); on `--resume` only
            // the keys that keep the checkpoint usable, checked by the library.
            set: if self.resume.is_some() {
                self.set.clone()
            } else {
                Vec::new()
            },
            eval_every: self.eval_every,
            eval_examples: self.eval_examples,
            checkpoint_every: None,
            gen_sweeps: self.gen_sweeps,
            gen_start: self.gen_start,
            recovery: self.recovery.as_deref().map(|r| {
                if r == "on" {
                    jem_train::RecoveryConfig::on()
                } else {
                    jem_train::RecoveryConfig::default()
                }
            }),
            max_recoveries: self.max_recoveries,
        }
    }

    /// The run's preset: `--preset` if given; else, on `--resume DIR`, the one recorded in the
    /// resumed run's `config.json` (in `DIR` or up to two folders above it, so that a run
    /// folder, its `checkpoints/` or one checkpoint can be given); else `default`. The
    /// preset decides which floors and bars the end-of-run health check applies, so a resumed
    /// smoke-test (`tiny`) run is not judged against a real preset's floors.
    pub fn preset(&self) -> String {
        self.resolved_preset
            .get_or_init(|| {
                if let Some(p) = &self.preset {
                    return p.clone();
                }
                self.resume
                    .as_deref()
                    .and_then(|dir| {
                        dir.ancestors().take(3).find_map(|d| {
                            let text = fs::read_to_string(d.join("config.json")).ok()?;
                            let v: serde_json::Value = serde_json::from_str(&text).ok()?;
                            v.get("preset")?.as_str().map(str::to_string)
                        })
                    })
                    .unwrap_or_else(|| "default".to_string())
            })
            .clone()
    }

    /// The preset of [`preset`](Self::preset) of `experiment` (`jem_train::presets`), with
    /// the overriding flags applied.
    pub fn resolve_config(&self, experiment: &str) -> Result<jem_train::TrainConfig> {
        let mut config = jem_train::presets::lookup(experiment, &self.preset())?;
        if self.resume.is_some() && self.config.is_some() {
            anyhow::bail!(
                "--config configures a fresh run; on --resume the run keeps its configuration \
                 and `--set KEY=VALUE` changes single keys that keep the checkpoint usable"
            );
        }
        if let Some(file) = &self.config {
            config.apply_file(file)?;
        }
        if self.resume.is_none() {
            config.set_all(&self.set)?;
        }
        self.overrides().apply(&mut config)?;
        if let Some(b) = self.batch_size {
            if self.resume.is_some() {
                anyhow::bail!("--batch-size cannot change on --resume (the run keeps its own)");
            }
            config.batch_size = b;
        }
        Ok(config)
    }

    /// Tunes the allocator (`keep_freed_memory`), applies `--threads` and resolves `--device`.
    pub fn setup(&self) -> Result<joint_ebm::tch::Device> {
        // Freed tensor memory stays in the heap (glibc): fewer page faults, ≈ 10 % on the CNN.
        joint_ebm::ebm_core::keep_freed_memory();
        if self.threads < 1 {
            anyhow::bail!("--threads must be ≥ 1");
        }
        joint_ebm::tch::set_num_threads(self.threads);
        let device = self.device.resolve()?;
        if device == joint_ebm::tch::Device::Cpu && self.device != DeviceChoice::Cpu {
            // The library's `tracing` warning reaches no terminal without a subscriber.
            say!("--device auto: CUDA unavailable, falling back to the CPU");
        }
        Ok(device)
    }

    /// The start every training example shares: [`setup`](Self::setup), the output directory,
    /// the preset named by `--preset` (with the overriding flags), validated.
    pub fn start(
        &self,
        experiment: &str,
    ) -> Result<(joint_ebm::tch::Device, jem_train::TrainConfig)> {
        let device = self.setup()?;
        self.prepare_out_dir()?;
        let config = self.resolve_config(experiment)?;
        config.validate()?;
        Ok((device, config))
    }

    /// Creates the output directory.
    pub fn prepare_out_dir(&self) -> Result<()> {
        fs::create_dir_all(&self.out_dir)
            .with_context(|| format!("cannot create {}", self.out_dir.display()))
    }
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.out_dir.join("checkpoints")
    }
}

/// Writes `value` as pretty JSON to `path` atomically (temp file + rename).
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    fs::write(&tmp, serde_json::to_string_pretty(value)?)
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
    Ok(())
}

/// Renders training progress: a bar on a terminal (iteration, loss, acceptance, ETA), nothing
/// otherwise; evaluations go to `metrics.jsonl` (appended, flushed each time) and a line on
/// stderr.
pub struct RunObserver {
    bar: ProgressBar,
    metrics: File,
    last_loss: f64,
    pub last_report: Option<IterationReport>,
    /// Not a terminal: a plain progress line every `LOG_EVERY` (logs stay readable).
    plain: Option<Instant>,
}

/// Interval of the plain progress lines written when stderr is not a terminal.
const LOG_EVERY: std::time::Duration = std::time::Duration::from_secs(30);

impl RunObserver {
    pub fn new(out_dir: &Path, total: usize, start: usize) -> Result<Self> {
        let bar = ProgressBar::new(total as u64);
        if std::io::stderr().is_terminal() {
            bar.set_style(
                ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} {msg} ETA {eta}",
                )
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
        } else {
            bar.set_draw_target(ProgressDrawTarget::hidden());
        }
        let plain = (!std::io::stderr().is_terminal()).then(Instant::now);
        bar.set_position(start as u64);
        let path = out_dir.join("metrics.jsonl");
        let metrics = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .with_context(|| format!("cannot open {}", path.display()))?;
        Ok(Self {
            bar,
            metrics,
            last_loss: f64::NAN,
            last_report: None,
            plain,
        })
    }
    pub fn finish(&self) {
        self.bar.finish_and_clear();
    }
}

impl Observer for RunObserver {
    fn on_iteration(&mut self, r: &IterationReport) {
        self.bar.set_position(r.iteration as u64 + 1);
        self.last_loss = r.loss;
        let cond = r
            .cond_ll
            .map_or(String::new(), |c| format!(" cond-ll {c:+.3}"));
        let msg = format!(
            "loss {:+.3} f+ {:+.2} f- {:+.2}{cond} y-accept {:.2} lr {:.1e}",
            r.loss, r.f_pos, r.f_neg, r.accept_y, r.lr
        );
        if let Some(last) = &mut self.plain {
            if last.elapsed() >= LOG_EVERY {
                *last = Instant::now();
                say!(
                    "[it {}/{} {:.0}s] {msg}",
                    r.iteration + 1,
                    self.bar.length().unwrap_or(0),
                    r.seconds
                );
            }
        }
        self.bar.set_message(msg);
        self.last_report = Some(r.clone());
    }
    fn on_evaluation(&mut self, iteration: usize, m: &EvalMetrics) {
        let mut line = serde_json::json!({ "iteration": iteration, "loss": self.last_loss });
        if let (Some(obj), Ok(serde_json::Value::Object(extra))) =
            (line.as_object_mut(), serde_json::to_value(m))
        {
            obj.extend(extra);
            if let Some(r) = &self.last_report {
                obj.insert("f_pos".into(), r.f_pos.into());
                obj.insert("f_neg".into(), r.f_neg.into());
                obj.insert("accept_y".into(), r.accept_y.into());
                if let Some(c) = r.cond_ll {
                    obj.insert("cond_ll".into(), c.into());
                }
                obj.insert("train_seconds".into(), r.seconds.into());
            }
        }
        let _ = writeln!(self.metrics, "{line}");
        let _ = self.metrics.flush();
        let fmt = |v: Option<f64>| v.map_or("-".to_string(), |v| format!("{v:.4}"));
        let judges: String = m
            .judges
            .iter()
            .map(|(k, v)| format!("  {k} {v:.3}"))
            .collect();
        self.bar.suspend(|| {
            say!(
                "[eval @ {iteration}] energy acc {}  sample acc {}  ECE {}{judges}",
                fmt(m.energy_accuracy),
                fmt(m.sample_accuracy),
                fmt(m.ece)
            )
        });
    }
    fn on_checkpoint(&mut self, _path: &Path) {}
    fn on_recovery(&mut self, e: &jem_train::RecoveryEvent) {
        let line = serde_json::json!({ "recovery": e });
        let _ = writeln!(self.metrics, "{line}");
        let _ = self.metrics.flush();
        self.bar.set_position(e.rolled_back_to as u64);
        self.bar.suspend(|| {
            say!(
                "[recovery at {}] {}: rolled back to iteration {}; {}",
                e.iteration,
                e.cause,
                e.rolled_back_to,
                e.remedy
            )
        });
    }
}

/// `--energy`: the energy network of an image experiment.
#[derive(
    clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum EnergyArg {
    /// An MLP on `concat(x, y)` (the paper's MNIST energy).
    Mlp,
    /// The paper's dSprites network: CNN features, then an MLP head on `concat(h, y)`.
    Cnn,
    /// JEM's label readout on the same CNN: an MLP to one logit per label value,
    /// `f(x, y) = ⟨logit(x), y⟩` (no paper experiment uses it).
    Logit,
}

impl EnergyArg {
    /// The run's energy: `flag` if given; else, on `--resume DIR`, the one recorded in
    /// `DIR/config.json` (`options.energy`; `paper` for runs from before the option); else
    /// `preset_default`. Announced on stderr; for [`EnergyArg::Logit`] on a fresh run without
    /// `--label-lr-scale`, `config.label_lr_scale` is reset to 1 (the readout has no input-side
    /// label weights for the multiplier to act on). Returns it with its [`label`](Self::label)
    /// relative to `paper`.
    pub fn choose(
        experiment: &str,
        flag: Option<Self>,
        c: &CommonArgs,
        config: &mut jem_train::TrainConfig,
        preset_default: Self,
        paper: Self,
    ) -> Result<(Self, String)> {
        let energy = match (flag, &c.resume) {
            (Some(e), _) => e,
            (None, None) => preset_default,
            (None, Some(dir)) => Self::recorded(dir)?.unwrap_or(paper),
        };
        if energy == EnergyArg::Logit && c.label_lr_scale.is_none() && c.resume.is_none() {
            config.label_lr_scale = 1.0;
        }
        let label = energy.label(paper);
        say!("{experiment}: energy: {label}");
        Ok((energy, label))
    }

    /// The energy recorded in a run directory's `config.json` (`None` for runs from before
    /// the option).
    fn recorded(dir: &Path) -> Result<Option<Self>> {
        let path = dir.join("config.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("cannot read {} (pass --energy)", path.display()))?;
        let v: serde_json::Value = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON (pass --energy)", path.display()))?;
        match v.pointer("/options/energy") {
            None | Some(serde_json::Value::Null) => Ok(None),
            Some(e) => serde_json::from_value(e.clone())
                .map(Some)
                .with_context(|| {
                    format!("unknown energy {e} in {} (pass --energy)", path.display())
                }),
        }
    }

    /// For logs and `metrics.json`: the architecture and whether it is `paper`'s.
    pub fn label(self, paper: Self) -> String {
        let what = match self {
            EnergyArg::Mlp => "mlp: MLP on concat(x, y)",
            EnergyArg::Cnn => "cnn: CNN features + MLP head on concat(h, y)",
            EnergyArg::Logit => "logit: CNN features + MLP to one logit per label value",
        };
        if self == paper {
            format!("{what} (the paper's)")
        } else {
            format!("{what} (not the paper's)")
        }
    }
}
