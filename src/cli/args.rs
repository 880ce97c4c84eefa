//! [`CommonArgs`]: the flags every experiment accepts.

use anyhow::{Context, Result};
use ebm_core::DeviceChoice;
use std::fs;
use std::path::PathBuf;

/// Flags every example accepts, spelled the same everywhere.
#[derive(clap::Args, Debug, Clone)]
pub struct CommonArgs {
    /// Directory for the resolved config, metrics, figures and checkpoints. Default:
    /// `runs/default`; on `--resume`, the resumed run's own folder. Read it with
    /// [`out_dir`](Self::out_dir).
    #[arg(long = "out-dir")]
    pub out_dir_flag: Option<PathBuf>,
    /// [`out_dir`](Self::out_dir), resolved once (it looks at the resumed run's files).
    #[arg(skip)]
    resolved_out_dir: std::sync::OnceLock<PathBuf>,
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
    /// Hold out this many training examples (a fixed permutation) as a validation split:
    /// evaluations during training read it and the test split is read only at the end — for
    /// choosing settings (MNIST, dSprites; the structured sprites always carve one). Default 0:
    /// no validation split, every evaluation on the test split.
    #[arg(long, default_value_t = 0)]
    pub validation: usize,
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

    /// The preset of [`preset`](Self::preset) of the built-in `experiment`
    /// (`jem_train::presets`), with the overriding flags applied ([`resolve`](Self::resolve)).
    pub fn resolve_config(&self, experiment: &str) -> Result<jem_train::TrainConfig> {
        self.resolve(jem_train::presets::lookup(experiment, &self.preset())?)
    }

    /// `preset` (the configuration [`preset`](Self::preset) names) with the flags applied:
    /// `--config`, then `--set` (fresh runs), then the single-setting flags.
    pub fn resolve(&self, preset: jem_train::TrainConfig) -> Result<jem_train::TrainConfig> {
        let mut config = preset;
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
    pub fn setup(&self) -> Result<tch::Device> {
        // Freed tensor memory stays in the heap (glibc): fewer page faults, ≈ 10 % on the CNN.
        ebm_core::keep_freed_memory();
        if self.threads < 1 {
            anyhow::bail!("--threads must be ≥ 1");
        }
        tch::set_num_threads(self.threads);
        // `auto` without CUDA says itself that it falls back to the CPU.
        let device = self.device.resolve()?;
        Ok(device)
    }

    /// The start every training example shares: [`setup`](Self::setup), the output directory,
    /// the preset named by `--preset` (with the overriding flags), validated.
    pub fn start(&self, experiment: &str) -> Result<(tch::Device, jem_train::TrainConfig)> {
        let device = self.setup()?;
        self.prepare_out_dir()?;
        let config = self.resolve_config(experiment)?;
        config.validate()?;
        Ok((device, config))
    }

    /// The run's folder: `--out-dir` if given; else, on `--resume DIR`, the resumed run's
    /// folder (the nearest of `DIR` and the two folders above it that holds `config.json` or
    /// `checkpoints/`, so that a run folder, its `checkpoints/` or one checkpoint can be
    /// given); else `runs/default`.
    pub fn out_dir(&self) -> PathBuf {
        self.resolved_out_dir
            .get_or_init(|| {
                if let Some(d) = &self.out_dir_flag {
                    return d.clone();
                }
                match &self.resume {
                    Some(r) => r
                        .ancestors()
                        .take(3)
                        .find(|d| d.join("config.json").is_file() || d.join("checkpoints").is_dir())
                        .unwrap_or(r)
                        .to_path_buf(),
                    None => PathBuf::from("runs/default"),
                }
            })
            .clone()
    }

    /// Creates the output directory.
    pub fn prepare_out_dir(&self) -> Result<()> {
        let d = self.out_dir();
        fs::create_dir_all(&d).with_context(|| format!("cannot create {}", d.display()))
    }
    /// `OUT_DIR/checkpoints`.
    pub fn checkpoint_dir(&self) -> PathBuf {
        self.out_dir().join("checkpoints")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        common: CommonArgs,
    }

    fn out_dir(args: &[&str]) -> PathBuf {
        Cli::try_parse_from([&["x"], args].concat())
            .unwrap()
            .common
            .out_dir()
    }

    /// `--resume` writes into the resumed run's folder unless `--out-dir` says otherwise,
    /// whichever of the run folder, its `checkpoints/` or one checkpoint is given.
    #[test]
    fn a_resumed_run_writes_into_its_own_folder() {
        let run = tempfile::tempdir().unwrap();
        let ckpt = run.path().join("checkpoints").join("ckpt-00000004");
        fs::create_dir_all(&ckpt).unwrap();
        fs::write(run.path().join("config.json"), "{}").unwrap();
        for given in [
            run.path().to_path_buf(),
            run.path().join("checkpoints"),
            ckpt.clone(),
        ] {
            assert_eq!(
                out_dir(&["--resume", given.to_str().unwrap()]),
                run.path(),
                "{}",
                given.display()
            );
        }
        assert_eq!(
            out_dir(&["--resume", ckpt.to_str().unwrap(), "--out-dir", "elsewhere"]),
            PathBuf::from("elsewhere")
        );
        assert_eq!(out_dir(&[]), PathBuf::from("runs/default"));
    }
}
