//! Automatic recovery from divergence: in-memory snapshots of the whole training state, and
//! the rollback-and-retune step (see [`RecoveryConfig`](crate::RecoveryConfig)).

use super::{Observer, Trainer};
use crate::config::TrainConfig;
use ebm_core::{Error, JointEnergy, Result};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use tch::Tensor;

/// One automatic recovery: what diverged, where the run went back to, and the settings it
/// continued with. Written to `metrics.jsonl` by the examples and kept in checkpoints.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RecoveryEvent {
    /// The iteration at which the divergence was detected.
    pub iteration: usize,
    /// The iteration of the snapshot the state was restored to.
    pub rolled_back_to: usize,
    /// What diverged, in words.
    pub cause: String,
    /// The remedy, in words (e.g. "lr 1e-3 → 5e-4, new seed").
    pub remedy: String,
    /// Learning rate from now on.
    pub lr: f64,
    /// Sweeps per iteration from now on.
    pub sweeps: usize,
    /// L2 penalty on energies from now on.
    pub l2_energy: f64,
    /// Seed from now on (a fresh sampler stream).
    pub seed: u64,
}

/// A copy of everything an iteration changes: parameters, EMA, optimiser, buffer.
pub(super) struct Snapshot {
    pub(super) iteration: usize,
    live: BTreeMap<String, Tensor>,
    ema: BTreeMap<String, Tensor>,
    adam: Vec<(String, Tensor)>,
    adam_steps: i64,
    buffer_x: Tensor,
    buffer_y: Tensor,
}

fn deep_copy(vars: std::collections::HashMap<String, Tensor>) -> BTreeMap<String, Tensor> {
    vars.into_iter()
        .map(|(n, t)| (n, t.detach().copy()))
        .collect()
}

fn restore_into(
    vars: std::collections::HashMap<String, Tensor>,
    saved: &BTreeMap<String, Tensor>,
) -> Result<()> {
    tch::no_grad(|| -> Result<()> {
        for (name, mut t) in vars {
            let s = saved
                .get(&name)
                .ok_or_else(|| Error::config("snapshot", name.clone(), "variable missing"))?;
            t.f_copy_(s)?;
        }
        Ok(())
    })
}

/// The seed of recovery attempt `attempt` (1, 2, …) of a run seeded `seed`: a SplitMix64 step,
/// so every attempt samples a fresh stream.
pub fn recovery_seed(seed: u64, attempt: usize) -> u64 {
    let mut z = seed ^ (attempt as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

impl<M: JointEnergy> Trainer<M> {
    /// At the start of an iteration: takes a snapshot when one is due (every
    /// `snapshot_every` iterations) and the interval since the previous one was healthy
    /// (every gap within half the gap limit, none beyond it now), or when there is none yet.
    pub(super) fn maybe_snapshot(&mut self) -> Result<()> {
        let policy = &self.ema.config.recovery;
        if !policy.enabled {
            return Ok(());
        }
        let start = self.session.gap_window.0;
        let first = self.session.snapshot.is_none();
        if !first && self.ema.iteration < start + policy.snapshot_every {
            return Ok(());
        }
        if self.gap_healthy() || first {
            self.take_snapshot()?;
        }
        self.session.gap_window = (self.ema.iteration, 0.0);
        Ok(())
    }

    /// Whether the current snapshot interval is healthy: no gap beyond the limit now and
    /// every gap in it within half the limit (always, without a gap limit).
    pub(super) fn gap_healthy(&self) -> bool {
        self.session.gap_streak == 0
            && self
                .ema
                .config
                .recovery
                .gap_limit(self.ema.config.l2_energy)
                .is_none_or(|limit| self.session.gap_window.1 <= 0.5 * limit)
    }

    /// After an iteration: the collapse detector (see [`crate::RecoveryConfig`]). Returns
    /// the cause when `|gap|` has been beyond the gap limit for `energy_gap_patience`
    /// iterations in a row, counting from iteration `energy_gap_from` (`iteration`: the index of
    /// the iteration just done, as in [`crate::IterationReport`]).
    pub(super) fn gap_check(&mut self, iteration: usize, f_pos: f64, f_neg: f64) -> Option<String> {
        let policy = &self.ema.config.recovery;
        let limit = policy.gap_limit(self.ema.config.l2_energy)?;
        let gap = f_pos - f_neg;
        let s = &mut self.session;
        if iteration < policy.energy_gap_from {
            s.gap_streak = 0;
            return None;
        }
        s.gap_window.1 = s.gap_window.1.max(gap.abs());
        if gap.abs() > limit {
            s.gap_streak += 1;
        } else {
            s.gap_streak = 0;
        }
        if s.gap_streak < policy.energy_gap_patience {
            return None;
        }
        let c = self.ema.config.l2_energy;
        let bound = if c > 0.0 {
            format!(
                " ({:.0} % of its bound 1/l2_energy = {:.3}: the negative chains have left the data)",
                100.0 * gap.abs() * c,
                1.0 / c
            )
        } else {
            String::new()
        };
        Some(format!(
            "energy gap mean f⁺ − mean f⁻ (joint chains only with conditional negatives) = \
             {gap:.3} beyond ±{limit:.3} for {} iterations{bound}",
            policy.energy_gap_patience
        ))
    }

    /// Copies the training state (parameters, EMA, optimiser, buffer) for a later rollback.
    pub(super) fn take_snapshot(&mut self) -> Result<()> {
        self.session.snapshot = Some(Snapshot {
            iteration: self.ema.iteration,
            live: deep_copy(self.vs.variables()),
            ema: deep_copy(self.ema.vs.variables()),
            adam: self
                .adam
                .state_tensors()
                .into_iter()
                .map(|(n, t)| (n, t.copy()))
                .collect(),
            adam_steps: self.adam.steps(),
            buffer_x: self.ema.buffer.x.copy(),
            buffer_y: self.ema.buffer.y.copy(),
        });
        Ok(())
    }

    /// Rolls back to the snapshot, applies the next remedy and records it; an error naming
    /// every attempt once `max_recoveries` are spent (or without a snapshot).
    /// `at`: the iteration at which the divergence was detected.
    pub(super) fn recover(
        &mut self,
        at: usize,
        cause: String,
        observer: &mut dyn Observer,
    ) -> Result<()> {
        let policy = self.ema.config.recovery.clone();
        let history = |events: &[RecoveryEvent]| -> String {
            events
                .iter()
                .map(|e| format!("iteration {} ({}) → {}", e.iteration, e.cause, e.remedy))
                .collect::<Vec<_>>()
                .join("; ")
        };
        if self.recoveries.len() >= policy.max_recoveries {
            return Err(Error::Diverged {
                iteration: at,
                what: format!(
                    "{cause}; automatic recovery gave up after {} attempt(s): {}",
                    self.recoveries.len(),
                    history(&self.recoveries)
                ),
            });
        }
        let Some(snap) = &self.session.snapshot else {
            return Err(Error::Diverged {
                iteration: at,
                what: format!("{cause} (no snapshot to roll back to)"),
            });
        };
        restore_into(self.vs.variables(), &snap.live)?;
        restore_into(self.ema.vs.variables(), &snap.ema)?;
        self.adam.load_state(&snap.adam, snap.adam_steps)?;
        tch::no_grad(|| -> Result<()> {
            self.ema.buffer.x.f_copy_(&snap.buffer_x)?;
            self.ema.buffer.y.f_copy_(&snap.buffer_y)?;
            Ok(())
        })?;
        let rolled_back_to = snap.iteration;
        self.ema.iteration = rolled_back_to;
        let old: TrainConfig = self.ema.config.clone();
        let attempt = self.recoveries.len() + 1;
        let c = &mut self.ema.config;
        c.lr *= policy.lr_factor;
        c.sweeps += policy.add_sweeps;
        c.langevin.step_size *= policy.langevin_step_factor;
        c.l2_energy = (c.l2_energy + policy.add_l2_energy).max(policy.min_l2_energy);
        c.seed = recovery_seed(old.seed, attempt);
        let mut remedy = Vec::new();
        if c.lr != old.lr {
            remedy.push(format!("lr {:.3e} → {:.3e}", old.lr, c.lr));
        }
        if c.langevin.step_size != old.langevin.step_size {
            remedy.push(format!(
                "Langevin step {:.3e} → {:.3e}",
                old.langevin.step_size, c.langevin.step_size
            ));
        }
        if policy.add_sweeps > 0 {
            remedy.push(format!("sweeps {} → {}", old.sweeps, c.sweeps));
        }
        if c.l2_energy != old.l2_energy {
            remedy.push(format!("L2 {} → {}", old.l2_energy, c.l2_energy));
        }
        if policy.reinit_buffer > 0.0 {
            tch::manual_seed(c.seed as i64);
            self.ema.buffer.reinit_fraction(
                policy.reinit_buffer,
                &self.ema.x_init,
                &self.ema.y_init,
                &self.layout,
            )?;
            remedy.push(format!(
                "{:.0} % of the buffer re-initialised",
                100.0 * policy.reinit_buffer
            ));
        }
        remedy.push(format!("new seed {}", c.seed));
        let event = RecoveryEvent {
            iteration: at,
            rolled_back_to,
            cause,
            remedy: remedy.join(", "),
            lr: c.lr,
            sweeps: c.sweeps,
            l2_energy: c.l2_energy,
            seed: c.seed,
        };
        self.session.gap_streak = 0;
        self.session.gap_window = (rolled_back_to, 0.0);
        observer.on_recovery(&event);
        self.recoveries.push(event);
        Ok(())
    }
}
