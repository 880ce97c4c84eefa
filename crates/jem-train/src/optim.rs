//! Adam with a linear warm-up, and the exponential moving average of parameters.
//!
//! Written here rather than taken from `tch::nn::Optimizer` so that the optimiser state (first
//! and second moments, step count) can be checkpointed and resumed exactly.

use ebm_core::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::Tensor;

/// Learning rate at iteration `it` (0-based) with linear warm-up over `warmup` iterations:
/// `lr · (it + 1) / warmup` while `it < warmup`, then `lr` (the authors' schedule,
/// docs/REFERENCE-NOTES.md §5).
pub fn warmup_lr(lr: f64, warmup: usize, it: usize) -> f64 {
    if it < warmup {
        lr * (it + 1) as f64 / warmup as f64
    } else {
        lr
    }
}

/// Whether [`scheduled_lr`] decays at all: `decay_from > 0` and at least one iteration after
/// `decay_from` before the last (`iterations − 1`).
pub fn lr_decays(decay_from: usize, iterations: usize) -> bool {
    decay_from > 0 && decay_from + 1 < iterations
}

/// Learning rate at iteration `it` (0-based) of a run of `iterations`: [`warmup_lr`], then,
/// when `decay_from > 0`, a linear decay from `lr` at iteration `decay_from` to
/// `lr · final_factor` at the last iteration (`iterations − 1`). `decay_from = 0` (or
/// `≥ iterations`) keeps `lr` constant after warm-up, the authors' schedule. Extending a
/// run's `iterations` on resume stretches the decay.
pub fn scheduled_lr(
    lr: f64,
    warmup: usize,
    decay_from: usize,
    final_factor: f64,
    iterations: usize,
    it: usize,
) -> f64 {
    let base = warmup_lr(lr, warmup, it);
    if !lr_decays(decay_from, iterations) || it <= decay_from {
        return base;
    }
    let last = iterations - 1;
    let t = ((it - decay_from) as f64 / (last - decay_from) as f64).min(1.0);
    base * (1.0 - t * (1.0 - final_factor))
}

/// Adam hyper-parameters (PyTorch defaults; the paper uses β = (0.9, 0.999)).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct AdamConfig {
    /// β₁.
    pub beta1: f64,
    /// β₂.
    pub beta2: f64,
    /// ε in the denominator.
    pub eps: f64,
}

impl Default for AdamConfig {
    fn default() -> Self {
        Self {
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        }
    }
}

/// The variables of `vs` with their names, in name order.
pub(crate) fn sorted_variables(vs: &VarStore) -> Vec<(String, Tensor)> {
    let mut named: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    named.sort_by(|a, b| a.0.cmp(&b.0));
    named
}

/// Adam (Kingma & Ba) over every variable of a `VarStore`, in name order:
/// `m ← β₁m + (1−β₁)g`, `v ← β₂v + (1−β₂)g²`, `θ ← θ − lr · m̂ / (√v̂ + ε)` with bias-corrected
/// `m̂ = m/(1−β₁ᵗ)`, `v̂ = v/(1−β₂ᵗ)`; identical to `torch.optim.Adam` without weight decay.
#[derive(Debug)]
pub struct Adam {
    config: AdamConfig,
    names: Vec<String>,
    vars: Vec<Tensor>,
    /// Per-variable multiplier of the learning rate (1 unless [`Adam::scale_lr`] set it).
    lr_scales: Vec<f64>,
    m: Vec<Tensor>,
    v: Vec<Tensor>,
    step: i64,
}

impl Adam {
    /// Adam over all variables of `vs`.
    pub fn new(vs: &VarStore, config: AdamConfig) -> Self {
        let (names, vars): (Vec<_>, Vec<_>) = sorted_variables(vs).into_iter().unzip();
        let m = vars.iter().map(Tensor::zeros_like).collect();
        let v = vars.iter().map(Tensor::zeros_like).collect();
        let lr_scales = vec![1.0; names.len()];
        Self {
            config,
            names,
            vars,
            lr_scales,
            m,
            v,
            step: 0,
        }
    }

    /// Multiplies the learning rate of every variable whose name ends with `suffix` by `scale`
    /// (replacing an earlier scale) and returns how many variables matched. Under Adam, whose
    /// steps do not depend on the gradient's scale, this is the same as multiplying those
    /// parameters' contribution to the network by `scale` (with their initial values scaled
    /// alike): a per-parameter-group learning rate as in `torch.optim`'s parameter groups.
    pub fn scale_lr(&mut self, suffix: &str, scale: f64) -> usize {
        let mut n = 0;
        for (name, s) in self.names.iter().zip(&mut self.lr_scales) {
            if name.ends_with(suffix) {
                *s = scale;
                n += 1;
            }
        }
        n
    }

    /// The variables it updates, in name order (the same on every process holding the same
    /// model).
    pub fn variables(&self) -> &[Tensor] {
        &self.vars
    }

    /// Steps taken so far.
    pub fn steps(&self) -> i64 {
        self.step
    }

    /// Applies one update with learning rate `lr` from the gradients accumulated in the
    /// variables, then zeroes those gradients. Variables without a gradient are skipped.
    /// A failing tensor operation (e.g. a device mismatch) is returned, not ignored.
    pub fn step(&mut self, lr: f64) -> Result<()> {
        self.step_clipped(lr, None)
    }

    /// Like [`Adam::step`], after rescaling all gradients together so that their global L2
    /// norm is at most `max_norm` (when given): `g ← g · min(1, max_norm / (‖g‖ + 1e-6))`, as
    /// `torch.nn.utils.clip_grad_norm_`. Computed on the device, without a host read.
    pub fn step_clipped(&mut self, lr: f64, max_norm: Option<f64>) -> Result<()> {
        self.step += 1;
        let (b1, b2, eps) = (self.config.beta1, self.config.beta2, self.config.eps);
        let c1 = 1.0 - b1.powi(self.step as i32);
        let c2 = 1.0 - b2.powi(self.step as i32);
        tch::no_grad(|| -> Result<()> {
            let scale = match max_norm {
                Some(max) => {
                    let mut sq: Option<Tensor> = None;
                    for var in &self.vars {
                        let g = var.grad();
                        if g.defined() {
                            let s = g.f_square()?.f_sum(tch::Kind::Float)?;
                            sq = Some(match sq {
                                Some(acc) => acc.f_add(&s)?,
                                None => s,
                            });
                        }
                    }
                    sq.map(|s| -> Result<Tensor> {
                        Ok(s.f_sqrt()?
                            .f_add_scalar(1e-6)?
                            .f_reciprocal()?
                            .f_mul_scalar(max)?
                            .f_clamp_max(1.0)?)
                    })
                    .transpose()?
                }
                None => None,
            };
            for (((var, m), v), lr_scale) in self
                .vars
                .iter_mut()
                .zip(&mut self.m)
                .zip(&mut self.v)
                .zip(&self.lr_scales)
            {
                let mut g = var.grad();
                if !g.defined() {
                    continue;
                }
                let gs = match &scale {
                    Some(c) => g.f_mul(c)?,
                    None => g.shallow_clone(),
                };
                // In-place ops return a handle to the same tensor; only the errors matter.
                let _ = m.f_mul_scalar_(b1)?.f_add_(&gs.f_mul_scalar(1.0 - b1)?)?;
                let _ = v
                    .f_mul_scalar_(b2)?
                    .f_add_(&gs.f_mul(&gs)?.f_mul_scalar(1.0 - b2)?)?;
                let denom = v.f_div_scalar(c2)?.f_sqrt()?.f_add_scalar(eps)?;
                let _ = var.f_sub_(
                    &m.f_div_scalar(c1)?
                        .f_div(&denom)?
                        .f_mul_scalar(lr * lr_scale)?,
                )?;
                let _ = g.f_zero_()?;
            }
            Ok(())
        })
    }

    /// The state as named tensors (`m.<name>`, `v.<name>`) for a checkpoint.
    pub fn state_tensors(&self) -> Vec<(String, Tensor)> {
        self.names
            .iter()
            .zip(&self.m)
            .map(|(n, t)| (format!("m.{n}"), t.shallow_clone()))
            .chain(
                self.names
                    .iter()
                    .zip(&self.v)
                    .map(|(n, t)| (format!("v.{n}"), t.shallow_clone())),
            )
            .collect()
    }

    /// Restores the state written by [`Adam::state_tensors`] and the step count.
    pub fn load_state(&mut self, tensors: &[(String, Tensor)], step: i64) -> Result<()> {
        let find = |key: &str| {
            tensors
                .iter()
                .find(|(n, _)| n == key)
                .map(|(_, t)| t)
                .ok_or_else(|| {
                    Error::file(
                        "optimizer.safetensors",
                        format!("missing optimiser tensor {key}"),
                    )
                })
        };
        tch::no_grad(|| -> Result<()> {
            for (i, n) in self.names.iter().enumerate() {
                self.m[i].f_copy_(find(&format!("m.{n}"))?)?;
                self.v[i].f_copy_(find(&format!("v.{n}"))?)?;
            }
            Ok(())
        })?;
        self.step = step;
        Ok(())
    }
}

/// Exponential moving average of parameters, `θ̂ ← μ θ̂ + (1 − μ) θ` after every optimiser step,
/// `θ̂₀ = θ₀` (paper appendix B, μ = 0.99). The average lives in a second `VarStore` holding
/// the same architecture (tch's two-store pattern), used for evaluation and test-time sampling.
pub fn ema_update(ema: &VarStore, live: &VarStore, decay: f64) -> Result<()> {
    let live_vars = live.variables();
    tch::no_grad(|| -> Result<()> {
        for (name, mut e) in ema.variables() {
            let l = live_vars.get(&name).ok_or_else(|| {
                Error::config("ema", name.clone(), "variable missing from the live model")
            })?;
            let _ = e.f_mul_scalar_(decay)?.f_add_(&(l * (1.0 - decay)))?;
        }
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{nn, Device, Kind};

    #[test]
    fn linear_decay_schedule() {
        // Off: the warm-up schedule.
        assert_eq!(scheduled_lr(1e-3, 50, 0, 0.1, 1500, 1200), 1e-3);
        assert_eq!(
            scheduled_lr(1e-3, 50, 0, 0.1, 1500, 10),
            warmup_lr(1e-3, 50, 10)
        );
        // On: constant until the start, then linear to lr · factor at the last iteration.
        assert_eq!(scheduled_lr(1e-3, 50, 1000, 0.1, 1501, 1000), 1e-3);
        let mid = scheduled_lr(1e-3, 50, 1000, 0.1, 1501, 1250);
        assert!((mid - 0.55e-3).abs() < 1e-12, "{mid}");
        let end = scheduled_lr(1e-3, 50, 1000, 0.1, 1501, 1500);
        assert!((end - 1e-4).abs() < 1e-12, "{end}");
        // Never below the final rate, even past the end (a resumed run evaluated late).
        assert!((scheduled_lr(1e-3, 50, 1000, 0.1, 1501, 3000) - 1e-4).abs() < 1e-12);
        // A start at or past the end is off.
        assert_eq!(scheduled_lr(1e-3, 50, 1500, 0.1, 1501, 1500), 1e-3);
    }

    #[test]
    fn warmup_schedule() {
        assert!((warmup_lr(1e-4, 1000, 0) - 1e-7).abs() < 1e-20);
        assert!((warmup_lr(1e-4, 1000, 499) - 5e-5).abs() < 1e-18);
        assert_eq!(warmup_lr(1e-4, 1000, 999), 1e-4);
        assert_eq!(warmup_lr(1e-4, 1000, 5000), 1e-4);
        assert_eq!(warmup_lr(1e-3, 0, 0), 1e-3);
    }

    #[test]
    fn ema_arithmetic() {
        let live = VarStore::new(Device::Cpu);
        let mut ema = VarStore::new(Device::Cpu);
        let w = live.root().var("w", &[3], nn::Init::Const(1.0));
        let _ = ema.root().var("w", &[3], nn::Init::Const(0.0));
        ema.copy(&live).unwrap();
        tch::no_grad(|| {
            let _ = w.shallow_clone().fill_(2.0);
        });
        ema_update(&ema, &live, 0.99).unwrap();
        let e = ema.variables()["w"].double_value(&[0]);
        assert!((e - (0.99 * 1.0 + 0.01 * 2.0)).abs() < 1e-6, "{e}");
        ema_update(&ema, &live, 0.99).unwrap();
        let e2 = ema.variables()["w"].double_value(&[1]);
        assert!((e2 - (0.99 * e + 0.01 * 2.0)).abs() < 1e-6, "{e2}");
    }

    /// Matches a hand-computed Adam trajectory on f(θ) = θ² from θ = 1.
    #[test]
    fn adam_matches_reference_steps() {
        let vs = VarStore::new(Device::Cpu);
        let _ = vs.root().var("t", &[1], nn::Init::Const(1.0));
        let mut opt = Adam::new(&vs, AdamConfig::default());
        let (mut th, mut m, mut v) = (1.0f64, 0.0f64, 0.0f64);
        for t in 1..=5 {
            let var = &vs.variables()["t"];
            let loss = (var * var).sum(Kind::Double);
            loss.backward();
            opt.step(0.1).unwrap();
            let g = 2.0 * th;
            m = 0.9 * m + 0.1 * g;
            v = 0.999 * v + 0.001 * g * g;
            let mh = m / (1.0 - 0.9f64.powi(t));
            let vh = v / (1.0 - 0.999f64.powi(t));
            th -= 0.1 * mh / (vh.sqrt() + 1e-8);
            let got = vs.variables()["t"].double_value(&[0]);
            assert!((got - th).abs() < 1e-5, "step {t}: {got} vs {th}");
        }
        assert_eq!(opt.steps(), 5);
    }

    /// A scaled variable moves `scale` times as far as the same variable unscaled, the others
    /// exactly as before; only names with the suffix match.
    #[test]
    fn lr_scale_multiplies_only_the_matching_steps() {
        let run = |scale: Option<f64>| {
            let vs = VarStore::new(Device::Cpu);
            let a = vs.root().var("layer_weight_y", &[2], nn::Init::Const(1.0));
            let b = vs.root().var("layer_weight_x", &[2], nn::Init::Const(1.0));
            let mut opt = Adam::new(&vs, AdamConfig::default());
            if let Some(s) = scale {
                assert_eq!(opt.scale_lr("weight_y", s), 1);
            }
            for _ in 0..3 {
                let loss = (&a * &a + &b * &b * 3.0).sum(Kind::Float);
                loss.backward();
                opt.step(0.01).unwrap();
            }
            (1.0 - a.double_value(&[0]), 1.0 - b.double_value(&[0]))
        };
        let (da, db) = run(None);
        let (sa, sb) = run(Some(10.0));
        assert!(da > 0.0 && db > 0.0);
        assert!((sa / da - 10.0).abs() < 0.05, "{sa} vs {da}");
        assert_eq!(sb, db);
    }

    /// Clipping rescales the whole gradient to the given global norm, and is a no-op below it.
    #[test]
    fn clipping_bounds_the_global_norm() {
        for (max, want_scale) in [(1.0f64, 0.2f64), (100.0, 1.0)] {
            let vs = VarStore::new(Device::Cpu);
            let a = vs.root().var("a", &[1], nn::Init::Const(0.0));
            let b = vs.root().var("b", &[1], nn::Init::Const(0.0));
            // Gradient (3, 4): norm 5.
            let loss = (&a * 3.0 + &b * 4.0).sum(Kind::Float);
            loss.backward();
            // SGD-like first Adam step is sign-based, so read the moments instead.
            let mut opt = Adam::new(&vs, AdamConfig::default());
            opt.step_clipped(0.0, Some(max)).unwrap();
            let m = opt.state_tensors();
            let ma = m
                .iter()
                .find(|(n, _)| n == "m.a")
                .unwrap()
                .1
                .double_value(&[0]);
            let mb = m
                .iter()
                .find(|(n, _)| n == "m.b")
                .unwrap()
                .1
                .double_value(&[0]);
            let scale = want_scale.min(max / (5.0 + 1e-6));
            assert!((ma - 0.1 * 3.0 * scale).abs() < 1e-6, "{max}: {ma}");
            assert!((mb - 0.1 * 4.0 * scale).abs() < 1e-6, "{max}: {mb}");
            assert!(a.grad().abs().sum(Kind::Float).double_value(&[]) == 0.0);
        }
    }
}
