//! The training loop of [`Trainer::train`], with its options, per-iteration reports, observer
//! and summary.

use super::{iteration_seed, RecoveryEvent, Trainer};
use crate::metrics::EvalMetrics;
use ebm_core::{Batch, DataSource, Error, JointEnergy, Result};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// What happened in one training iteration (host values, read once per iteration).
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct IterationReport {
    /// Iteration index (0-based).
    pub iteration: usize,
    /// Loss `−(mean f⁺ − mean f⁻) + c·(mean f⁺² + mean f⁻²) − α·mean Σ_v log p(y_v | y_¬v, x⁺)`.
    pub loss: f64,
    /// Mean `f(x⁺, y⁺)` of the data (higher = more probable).
    pub f_pos: f64,
    /// Mean `f(x⁻, y⁻)` of the negative samples.
    pub f_neg: f64,
    /// With `conditional_negatives`: the mean `f` of the joint chains alone (`None` without
    /// conditional negatives, or when every chain was conditional this iteration; pooled over
    /// the ranks of a data-parallel run). With conditional negatives the gap check of
    /// automatic recovery reads it instead of `f_neg` (and skips an iteration without joint
    /// chains): conditional chains start far from the data by design and sit below it.
    pub f_neg_joint: Option<f64>,
    /// With `conditional_negatives`: the mean `f` of the conditional chains alone.
    pub f_neg_conditional: Option<f64>,
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
    /// After an automatic recovery from divergence (rollback and retune).
    fn on_recovery(&mut self, _event: &RecoveryEvent) {}
}

/// An observer that does nothing.
pub struct Silent;
impl Observer for Silent {}

/// Summary of a finished [`Trainer::train`] call.
#[derive(Clone, Debug, Serialize)]
pub struct TrainSummary {
    /// Iterations completed in total (including before a resume).
    pub iterations: usize,
    /// Seconds spent training in this call, excluding evaluations and checkpoints.
    pub train_seconds: f64,
    /// The last report.
    pub last: Option<IterationReport>,
    /// Automatic recoveries over the whole run (including before a resume).
    pub recoveries: Vec<RecoveryEvent>,
    /// Ranks that trained together (1: a single process; see [`Trainer::set_collective`]).
    pub world_size: usize,
    /// Seconds of `train_seconds` spent averaging gradients across ranks.
    pub all_reduce_seconds: f64,
}

/// Where [`Trainer::train`] evaluates and checkpoints.
#[derive(Clone, Copy, Debug)]
pub struct TrainOptions<'a> {
    /// Held-out labelled examples (e.g. `DataSource::test_set`); the first `eval_examples` of
    /// them (all when 0) are evaluated. `None`: no accuracies (judges still run).
    pub test: Option<&'a Batch>,
    /// Examples carved from the training data, for choosing settings: when given, the
    /// evaluations every `eval_every` iterations read these (their metrics marked
    /// `split: "validation"`) and `test` is read only at the end. `None`: every evaluation
    /// reads `test`.
    pub validation: Option<&'a Batch>,
    /// Energy-based accuracy and ECE (the label space must be enumerable). Default true.
    pub energy_based: bool,
    /// Sample-based accuracy. Default true.
    pub sample_based: bool,
    /// Folder of checkpoints; `None`: none are written.
    pub checkpoint_dir: Option<&'a Path>,
    /// A flag checked before every iteration and before the final evaluation (e.g. set by a
    /// SIGINT/SIGTERM handler): when it is set the run writes a checkpoint (if it has a
    /// folder) and returns `Error::Interrupted`; resuming from that checkpoint continues
    /// exactly (a run stopped before its final evaluation runs just that evaluation).
    pub stop: Option<&'a AtomicBool>,
}

impl Default for TrainOptions<'_> {
    fn default() -> Self {
        Self {
            test: None,
            validation: None,
            energy_based: true,
            sample_based: true,
            checkpoint_dir: None,
            stop: None,
        }
    }
}

impl TrainOptions<'_> {
    /// Whether [`Self::stop`] is set.
    fn stop_requested(&self) -> bool {
        self.stop.is_some_and(|f| f.load(Ordering::SeqCst))
    }
}

impl<M: JointEnergy> Trainer<M> {
    /// A checkpoint into `dir` (told to the observer), or `None` without a folder.
    fn checkpoint_into(
        &self,
        dir: Option<&Path>,
        observer: &mut dyn Observer,
    ) -> Result<Option<PathBuf>> {
        dir.map(|dir| {
            let p = self.save_checkpoint(dir)?;
            observer.on_checkpoint(&p);
            Ok(p)
        })
        .transpose()
    }

    /// Trains until `config.iterations`, drawing batches from `data` (torch's generator seeded
    /// from the run's seed and the iteration before each draw), evaluating on `options.test`
    /// every `eval_every` iterations and at the end (with the installed judge, if any), and
    /// checkpointing into `options.checkpoint_dir` every `checkpoint_every` iterations and at
    /// the end. Returns the final metrics (accuracies `None` without a test set). On
    /// divergence, returns [`Error::Diverged`](ebm_core::Error::Diverged); the last checkpoint
    /// written stays loadable.
    ///
    /// Data-parallel (after [`Trainer::set_collective`]): every rank draws its own batches and
    /// runs its own chains, gradients are averaged before each optimiser step, a stop request
    /// on any rank stops all of them after the same iteration, and only rank 0 evaluates.
    pub fn train<D: DataSource + ?Sized>(
        &mut self,
        data: &mut D,
        options: &TrainOptions,
        observer: &mut dyn Observer,
    ) -> Result<(EvalMetrics, TrainSummary)> {
        if data.y_layout() != &self.layout {
            return Err(Error::config(
                "data",
                format!("labels {:?}", data.y_layout()),
                format!(
                    "the data source's label layout differs from the model's {:?}",
                    self.layout
                ),
            ));
        }
        let x_shape = self.ema.buffer.x.size().get(1..).map(<[i64]>::to_vec);
        if x_shape.as_deref() != Some(&data.x_shape()[..]) {
            return Err(Error::config(
                "data",
                format!("x of shape {:?}", data.x_shape()),
                format!(
                    "the model's chains have x of shape {:?}",
                    x_shape.unwrap_or_default()
                ),
            ));
        }
        let first = |b: Option<&Batch>| {
            b.map(|t| {
                let n = t.x.size().first().copied().unwrap_or(0);
                let keep = match self.ema.config.eval_examples {
                    0 => n,
                    k => k.min(n),
                };
                (t.x.narrow(0, 0, keep), t.y.narrow(0, 0, keep))
            })
        };
        let test = first(options.test);
        let validation = first(options.validation);
        // `during`: a periodic evaluation (the validation examples when given).
        let evaluate = |t: &mut Self, during: bool| -> Result<EvalMetrics> {
            let (set, split) = match (&validation, during) {
                (Some(v), true) => (Some(v), "validation"),
                _ => (test.as_ref(), "test"),
            };
            let mut m = match set {
                Some((x, y)) => t.evaluate(x, y, options.energy_based, options.sample_based)?,
                None => EvalMetrics::default(),
            };
            m.split = set.map(|_| split.to_string());
            m.judges = t.judge()?;
            Ok(m)
        };
        self.session.clock = Instant::now();
        self.session.all_reduce_seconds = 0.0;
        let mut side_seconds = 0.0;
        let mut last = None;
        while self.ema.iteration < self.ema.config.iterations {
            if self.on_any_rank(options.stop_requested())? {
                let checkpoint = self.checkpoint_into(options.checkpoint_dir, observer)?;
                return Err(Error::Interrupted {
                    iteration: self.ema.iteration,
                    checkpoint,
                });
            }
            let policy = self.ema.config.recovery.clone();
            self.maybe_snapshot()?;
            tch::manual_seed(iteration_seed(self.rank_seed(), self.ema.iteration, 3));
            let rows = self
                .ema
                .config
                .batch_size
                .max(self.ema.config.cond_batch_size);
            let b = data.next_batch(rows, self.device)?;
            let step = self.step(&b);
            let mut report = match step {
                Ok(r) => r,
                Err(Error::Diverged { iteration, what }) if policy.enabled => {
                    self.recover(iteration, what, observer)?;
                    continue;
                }
                Err(e) => return Err(e),
            };
            // With conditional negatives the gap is the joint chains' (none this iteration:
            // no check, the streak as it was).
            let f_neg = if self.ema.config.conditional_negatives > 0.0 {
                report.f_neg_joint
            } else {
                Some(report.f_neg)
            };
            let verdict =
                f_neg.and_then(|f_neg| self.gap_check(report.iteration, report.f_pos, f_neg));
            if let Some(what) = verdict {
                if policy.enabled {
                    self.recover(report.iteration, what, observer)?;
                    continue;
                }
                return Err(Error::Diverged {
                    iteration: report.iteration,
                    what,
                });
            }
            report.seconds -= side_seconds;
            observer.on_iteration(&report);
            last = Some(report);
            let done = self.ema.iteration;
            let finished = done == self.ema.config.iterations;
            let side = Instant::now();
            if !finished
                && self.ema.config.eval_every > 0
                && done % self.ema.config.eval_every == 0
                && self.rank() == 0
            {
                let m = evaluate(self, true)?;
                observer.on_evaluation(done, &m);
            }
            if !finished
                && self.ema.config.checkpoint_every > 0
                && done % self.ema.config.checkpoint_every == 0
            {
                self.checkpoint_into(options.checkpoint_dir, observer)?;
            }
            side_seconds += side.elapsed().as_secs_f64();
        }
        let train_seconds = self.session.clock.elapsed().as_secs_f64() - side_seconds;
        let checkpoint = self.checkpoint_into(options.checkpoint_dir, observer)?;
        // A stop requested during the last iterations (or before a resume of a finished run)
        // skips the final evaluation, which can take longer than training: the checkpoint is
        // written, and resuming from it runs the evaluation alone.
        if self.on_any_rank(options.stop_requested())? {
            return Err(Error::Interrupted {
                iteration: self.ema.iteration,
                checkpoint,
            });
        }
        // Data-parallel: only rank 0 evaluates (the parameters are the same on every rank).
        let m = if self.rank() == 0 {
            let m = evaluate(self, false)?;
            observer.on_evaluation(self.ema.iteration, &m);
            m
        } else {
            EvalMetrics::default()
        };
        Ok((
            m,
            TrainSummary {
                iterations: self.ema.iteration,
                train_seconds,
                last,
                recoveries: self.recoveries.clone(),
                world_size: self.world_size(),
                all_reduce_seconds: self.session.all_reduce_seconds,
            },
        ))
    }
}
