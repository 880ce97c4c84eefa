//! Checkpoints: writing one atomically and resuming a run from one.

use super::{build_pair, check_layout, enumerated_labels, RunState, Trainer};
use crate::buffer::ReplayBuffer;
use crate::checkpoint;
use crate::overrides::Overrides;
use ebm_core::{Error, JointEnergy, Result, XInit, YInit, YLayout};
use std::path::{Path, PathBuf};
use tch::nn::{self, VarStore};
use tch::{Device, Tensor};

impl<M: JointEnergy> Trainer<M> {
    /// Resumes from a checkpoint: `dir` is a checkpoint folder, a folder of checkpoints (the
    /// one `LATEST` names, else the newest complete one) or a run folder holding
    /// `checkpoints/`. When that checkpoint cannot be loaded (a corrupt or truncated file),
    /// the older complete ones are tried in turn, newest first; the ones skipped, with the
    /// reason, are listed by [`Trainer::resume_skipped`]. Nothing is deleted or rewritten.
    /// The checkpoint's configuration is used, changed only by `overrides` (the fields that
    /// keep a checkpoint usable, e.g. a longer run, a lower learning rate or a new seed after
    /// a divergence; see [`Overrides`]). With no loadable checkpoint, the first error.
    pub fn resume(
        dir: &Path,
        device: Device,
        build: impl Fn(&nn::Path) -> M,
        overrides: &Overrides,
    ) -> Result<Self> {
        let first = checkpoint::resolve(dir)?;
        let mut candidates = vec![first.clone()];
        if let Some(parent) = first.parent() {
            if let Ok(all) = checkpoint::list(parent) {
                candidates.extend(all.into_iter().filter(|p| *p < first));
            }
        }
        let mut skipped = Vec::new();
        let mut first_error = None;
        for ckpt in candidates {
            match Self::load_checkpoint(&ckpt, device, &build, overrides) {
                Ok(mut t) => {
                    t.session.resume_skipped = skipped;
                    return Ok(t);
                }
                Err(e) => {
                    skipped.push((ckpt, e.to_string()));
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| Error::file(dir, "no checkpoint")))
    }

    /// The checkpoints that [`Trainer::resume`] could not load and skipped, with the reason.
    pub fn resume_skipped(&self) -> &[(PathBuf, String)] {
        &self.session.resume_skipped
    }

    fn load_checkpoint(
        ckpt: &Path,
        device: Device,
        build: &impl Fn(&nn::Path) -> M,
        overrides: &Overrides,
    ) -> Result<Self> {
        let state = read_state(ckpt)?;
        let mut config = state.config.clone();
        overrides.apply(&mut config)?;
        config.validate()?;
        let (mut vs, model, mut ema_vs, ema_model) = build_pair(device, build);
        load_params(&mut vs, ckpt, "model.safetensors")?;
        load_params(&mut ema_vs, ckpt, "ema.safetensors")?;
        ema_vs.freeze();
        let mut adam = super::optimizer(&vs, &config)?;
        adam.load_state(
            &read_tensors(ckpt, "optimizer.safetensors")?,
            state.adam_steps,
        )?;
        let layout = model.y_layout().clone();
        let (x_init, buffer) = read_chains(ckpt, device, &layout, &state.y_init)?;
        check_layout(&config, &layout)?;
        let all_y = enumerated_labels(&config, &layout, device)?;
        Ok(Self {
            device,
            vs,
            model,
            ema: crate::JointModel {
                vs: ema_vs,
                energy: ema_model,
                config,
                x_init,
                y_init: state.y_init,
                buffer,
                iteration: state.iteration,
                checkpoint: None,
            },
            adam,
            layout,
            all_y,
            recoveries: state.recoveries,
            architecture: state.architecture,
            session: super::Session::new(),
        })
    }

    /// Writes a checkpoint into `dir` atomically (see [`checkpoint`]). Refuses (keeping the
    /// previous checkpoint) when a parameter is not finite.
    pub fn save_checkpoint(&self, dir: &Path) -> Result<PathBuf> {
        for (name, t) in self.vs.variables() {
            if !bool::try_from(t.isfinite().all())? {
                return Err(Error::Diverged {
                    iteration: self.ema.iteration,
                    what: format!("parameter {name} is not finite"),
                });
            }
        }
        let state = RunState {
            iteration: self.ema.iteration,
            adam_steps: self.adam.steps(),
            config: self.ema.config.clone(),
            y_init: self.ema.y_init.clone(),
            recoveries: self.recoveries.clone(),
            architecture: self.architecture.clone(),
        };
        let healthy = self.gap_healthy();
        checkpoint::write_atomically(
            dir,
            self.ema.iteration,
            self.ema.config.keep_checkpoints,
            |tmp| {
                let file_err = |p: PathBuf, e: tch::TchError| Error::file(p, e.to_string());
                let p = tmp.join("model.safetensors");
                self.vs.save(&p).map_err(|e| file_err(p.clone(), e))?;
                let p = tmp.join("ema.safetensors");
                self.ema.vs.save(&p).map_err(|e| file_err(p.clone(), e))?;
                let p = tmp.join("optimizer.safetensors");
                Tensor::write_safetensors(&self.adam.state_tensors(), &p)
                    .map_err(|e| file_err(p.clone(), e))?;
                let p = tmp.join("buffer.safetensors");
                Tensor::write_safetensors(
                    &[("x", &self.ema.buffer.x), ("y", &self.ema.buffer.y)],
                    &p,
                )
                .map_err(|e| file_err(p.clone(), e))?;
                let p = tmp.join("init.safetensors");
                Tensor::write_safetensors(
                    &[
                        ("low", &self.ema.x_init.low),
                        ("high", &self.ema.x_init.high),
                    ],
                    &p,
                )
                .map_err(|e| file_err(p.clone(), e))?;
                if healthy {
                    let p = tmp.join(checkpoint::HEALTHY);
                    std::fs::write(&p, b"").map_err(|e| Error::io(&p, "cannot write", e))?;
                }
                let p = tmp.join("state.json");
                let text = serde_json::to_string_pretty(&state)
                    .map_err(|e| Error::file(&p, e.to_string()))?;
                std::fs::write(&p, text).map_err(|e| Error::io(&p, "cannot write", e))
            },
        )
    }
}

/// The run state (`state.json`) of the checkpoint folder `ckpt`.
pub(crate) fn read_state(ckpt: &Path) -> Result<RunState> {
    let path = ckpt.join("state.json");
    let text = std::fs::read_to_string(&path)
        .map_err(|e| Error::io(&path, "cannot read the run state", e))?;
    serde_json::from_str(&text)
        .map_err(|e| Error::file(&path, format!("not a valid run state: {e}")))
}

/// Loads the parameters of `ckpt/name` into `vs`.
pub(crate) fn load_params(vs: &mut VarStore, ckpt: &Path, name: &str) -> Result<()> {
    let p = ckpt.join(name);
    vs.load(&p)
        .map_err(|e| Error::file(&p, format!("cannot load parameters: {e}")))
}

/// The named tensors of the safetensors file `ckpt/name`.
pub(crate) fn read_tensors(ckpt: &Path, name: &str) -> Result<Vec<(String, Tensor)>> {
    let p = ckpt.join(name);
    Tensor::read_safetensors(&p).map_err(|e| Error::file(&p, format!("cannot read: {e}")))
}

/// The start distribution `p₀(x)` and the replay buffer of the checkpoint `ckpt` on `device`,
/// checked against the model's label `layout` (with the run's `q₀(y)`).
pub(crate) fn read_chains(
    ckpt: &Path,
    device: Device,
    layout: &YLayout,
    y_init: &YInit,
) -> Result<(XInit, ReplayBuffer)> {
    let get = |ts: &[(String, Tensor)], key: &str, file: &str| -> Result<Tensor> {
        ts.iter()
            .find(|(n, _)| n == key)
            .map(|(_, t)| t.to_device(device))
            .ok_or_else(|| Error::file(ckpt.join(file), format!("missing tensor {key}")))
    };
    let init = read_tensors(ckpt, "init.safetensors")?;
    let x_init = XInit {
        low: get(&init, "low", "init.safetensors")?,
        high: get(&init, "high", "init.safetensors")?,
    };
    let buf = read_tensors(ckpt, "buffer.safetensors")?;
    let buffer = ReplayBuffer {
        x: get(&buf, "x", "buffer.safetensors")?,
        y: get(&buf, "y", "buffer.safetensors")?,
    };
    y_init.validate(layout)?;
    if buffer.y.size().get(1).copied() != Some(layout.dim() as i64) {
        return Err(Error::file(
            ckpt.join("buffer.safetensors"),
            format!(
                "labels of width {:?} do not match the model's layout {layout:?} (D = {})",
                buffer.y.size().get(1),
                layout.dim()
            ),
        ));
    }
    Ok((x_init, buffer))
}
