//! Adam over the variables of a `VarStore`, with per-variable learning-rate scales and
//! global-norm gradient clipping.

use ebm_core::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::Tensor;

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
