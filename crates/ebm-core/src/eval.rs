//! Cached evaluations: `f`, `∂f/∂y` and (lazily) `∂f/∂x` at one point from one forward and one
//! backward pass.
//!
//! Every backward pass of the joint-EBM samplers goes through this module and is counted
//! per thread ([`backward_passes`]), so that tests can pin the cost of a kernel step.

use crate::energy::JointEnergy;
use crate::error::{Error, Result};
use std::cell::Cell;
use tch::Tensor;

thread_local! {
    static BACKWARD_PASSES: Cell<u64> = const { Cell::new(0) };
    static FEATURE_BACKWARD_PASSES: Cell<u64> = const { Cell::new(0) };
}

/// Number of backward passes through the head `f(h, y)` run by this module on this thread
/// (a test hook for pinning the cost of kernels; hidden from the documentation).
#[doc(hidden)]
pub fn backward_passes() -> u64 {
    BACKWARD_PASSES.with(Cell::get)
}

#[doc(hidden)]
/// Number of backward passes through a feature stage `h(x)` (vector-Jacobian products) run by
/// this module on this thread.
pub fn feature_backward_passes() -> u64 {
    FEATURE_BACKWARD_PASSES.with(Cell::get)
}

fn grads(root: &Tensor, inputs: &[&Tensor], keep_graph: bool) -> Result<Vec<Tensor>> {
    let out = Tensor::f_run_backward(&[root], inputs, keep_graph, false)?;
    Ok(out
        .into_iter()
        .zip(inputs)
        .map(|(g, x)| if g.defined() { g } else { x.zeros_like() })
        .collect())
}

/// Reshapes a per-chain mask `[B]` so that it broadcasts against `like` `[B, …]`.
pub fn per_chain(mask: &Tensor, like: &Tensor) -> Tensor {
    let mut shape = vec![-1i64];
    shape.extend(std::iter::repeat_n(1, like.dim().saturating_sub(1)));
    mask.view(shape.as_slice())
}

/// `where(mask, a, b)` per chain: `mask` `[B]` bool, `a`, `b` `[B, …]`.
pub fn select_rows(mask: &Tensor, a: &Tensor, b: &Tensor) -> Tensor {
    a.where_self(&per_chain(mask, a), b)
}

/// The autograd graph of the feature stage at the current `x`, kept so that `∂f/∂x` can be
/// obtained by one vector-Jacobian product once `∂f/∂h` is final.
#[derive(Debug)]
struct FeatureGraph {
    x_leaf: Tensor,
    h: Tensor,
}

/// `f`, `∂f/∂y` and `∂f/∂h` at one point `(x, y)` of a batch of chains, plus `∂f/∂x` when known.
///
/// Produced by one forward and one backward pass of the head ([`Evaluation::at`] also runs the
/// feature stage forward). For energies without a feature stage `h = x`, so `∂f/∂x` is known
/// at once; otherwise it is computed on demand by [`Evaluation::grad_x`] with one backward pass
/// through the feature stage, reusing the graph kept from the forward pass.
///
/// Shapes: `log_density` `[B]` (higher = more probable), `grad_y` `[B, D]`, `features` and
/// `grad_features` `[B, …]` (the shape of `h`, which is the shape of `x` without a feature stage).
#[derive(Debug)]
pub struct Evaluation {
    pub(crate) log_density: Tensor,
    pub(crate) grad_y: Tensor,
    pub(crate) features: Tensor,
    pub(crate) grad_features: Tensor,
    grad_x: Option<Tensor>,
    graph: Option<FeatureGraph>,
    identity_features: bool,
}

fn check_output(op: &'static str, f: &Tensor, batch: i64) -> Result<()> {
    let size = f.size();
    if size != [batch] {
        return Err(Error::shape(
            op,
            "log_density output",
            format!("[{batch}]"),
            &size,
        ));
    }
    Ok(())
}

impl Evaluation {
    /// Full evaluation at `(x, y)`: feature stage forward (graph kept), head forward and one
    /// head backward. `x` `[B, …]`, `y` `[B, D]`.
    pub fn at<E: JointEnergy + ?Sized>(energy: &E, x: &Tensor, y: &Tensor) -> Result<Self> {
        let batch = x.size().first().copied().unwrap_or(0);
        let x_leaf = x.detach().set_requires_grad(true);
        let y_leaf = y.detach().set_requires_grad(true);
        match energy.features(&x_leaf) {
            None => {
                let f = energy.log_density_from_features(&x_leaf, &y_leaf);
                check_output("Evaluation::at", &f, batch)?;
                let g = grads(&f.sum(f.kind()), &[&x_leaf, &y_leaf], false)?;
                BACKWARD_PASSES.with(|c| c.set(c.get() + 1));
                let (gx, gy) = (&g[0], &g[1]);
                Ok(Self {
                    log_density: f.detach(),
                    grad_y: gy.shallow_clone(),
                    features: x.detach(),
                    grad_features: gx.shallow_clone(),
                    grad_x: Some(gx.shallow_clone()),
                    graph: None,
                    identity_features: true,
                })
            }
            Some(h) => {
                let mut e = Self::at_features(energy, &h.detach(), y, false)?;
                e.graph = Some(FeatureGraph { x_leaf, h });
                Ok(e)
            }
        }
    }

    /// Head-only evaluation at `(h, y)` with features `h` `[B, …]` already computed for the
    /// current `x`: one head forward and one head backward, no feature-stage work.
    /// `identity_features` says whether `h` is `x` itself (energy without a feature stage).
    ///
    /// The result has no `∂f/∂x` and no feature graph. Kernels do not call this directly: a
    /// move of `y` is evaluated by [`JointState::propose_y`](crate::JointState::propose_y),
    /// which keeps the state's cache in step.
    pub fn at_features<E: JointEnergy + ?Sized>(
        energy: &E,
        h: &Tensor,
        y: &Tensor,
        identity_features: bool,
    ) -> Result<Self> {
        let batch = h.size().first().copied().unwrap_or(0);
        let h_leaf = h.detach().set_requires_grad(true);
        let y_leaf = y.detach().set_requires_grad(true);
        let f = energy.log_density_from_features(&h_leaf, &y_leaf);
        check_output("Evaluation::at_features", &f, batch)?;
        let g = grads(&f.sum(f.kind()), &[&h_leaf, &y_leaf], false)?;
        BACKWARD_PASSES.with(|c| c.set(c.get() + 1));
        let (gh, gy) = (&g[0], &g[1]);
        Ok(Self {
            log_density: f.detach(),
            grad_y: gy.shallow_clone(),
            features: h.detach(),
            grad_features: gh.shallow_clone(),
            grad_x: identity_features.then(|| gh.shallow_clone()),
            graph: None,
            identity_features,
        })
    }

    /// `f(x, y)` `[B]`; higher = more probable.
    pub fn log_density(&self) -> &Tensor {
        &self.log_density
    }
    /// `∂f/∂y` `[B, D]`, `y` treated as real.
    pub fn grad_y(&self) -> &Tensor {
        &self.grad_y
    }
    /// `h(x)` `[B, …]`, detached (`x` itself when the energy has no feature stage).
    pub fn features(&self) -> &Tensor {
        &self.features
    }
    /// `∂f/∂h` `[B, …]`.
    pub fn grad_features(&self) -> &Tensor {
        &self.grad_features
    }

    /// Whether the energy that produced this evaluation has no feature stage (`h = x`).
    pub fn identity_features(&self) -> bool {
        self.identity_features
    }

    /// `∂f/∂x` `[B, …]` at the evaluated point, computed on first use by one backward pass
    /// through the feature stage (from the kept graph, or after recomputing `h(x)` when the
    /// graph is gone, e.g. after a per-chain selection between two different `x`).
    /// `x` must be the point this evaluation belongs to.
    pub fn grad_x<E: JointEnergy + ?Sized>(&mut self, energy: &E, x: &Tensor) -> Result<Tensor> {
        if let Some(g) = &self.grad_x {
            return Ok(g.shallow_clone());
        }
        if self.graph.is_none() {
            let x_leaf = x.detach().set_requires_grad(true);
            let h = energy.features(&x_leaf).ok_or_else(|| {
                Error::config(
                    "features",
                    "None",
                    "the energy returned features before but not now",
                )
            })?;
            self.graph = Some(FeatureGraph { x_leaf, h });
        }
        let graph = self
            .graph
            .as_ref()
            .ok_or_else(|| Error::config("features", "None", "feature graph missing"))?;
        let root = (&graph.h * &self.grad_features).sum(graph.h.kind());
        let g = grads(&root, &[&graph.x_leaf], true)?;
        FEATURE_BACKWARD_PASSES.with(|c| c.set(c.get() + 1));
        let gx = g.into_iter().next().unwrap_or_else(|| x.zeros_like());
        self.grad_x = Some(gx.shallow_clone());
        Ok(gx)
    }

    /// Per-chain choice between `self` and `proposal`, both evaluated at the **same** `x`
    /// (a discrete move): rows where `accept` `[B]` is true come from `proposal`.
    /// The feature graph of `self` stays valid; `∂f/∂x` is recomputed on demand for features
    /// energies (its value changed with `y`).
    pub(crate) fn select_same_x(self, accept: &Tensor, proposal: Evaluation) -> Evaluation {
        let grad_x = match (&self.grad_x, &proposal.grad_x) {
            (Some(a), Some(b)) if self.identity_features => Some(select_rows(accept, b, a)),
            _ => None,
        };
        Evaluation {
            log_density: select_rows(accept, &proposal.log_density, &self.log_density),
            grad_y: select_rows(accept, &proposal.grad_y, &self.grad_y),
            features: self.features,
            grad_features: select_rows(accept, &proposal.grad_features, &self.grad_features),
            grad_x,
            graph: self.graph,
            identity_features: self.identity_features,
        }
    }

    /// Per-chain choice between `self` and `proposal` evaluated at a different `x` (a
    /// continuous move with an accept/reject step): rows where `accept` `[B]` is true come
    /// from `proposal`. A feature graph cannot be kept (it belongs to one `x`); `∂f/∂x` is
    /// kept when both sides know it.
    pub(crate) fn select(self, accept: &Tensor, proposal: Evaluation) -> Evaluation {
        let grad_x = match (&self.grad_x, &proposal.grad_x) {
            (Some(a), Some(b)) => Some(select_rows(accept, b, a)),
            _ => None,
        };
        Evaluation {
            log_density: select_rows(accept, &proposal.log_density, &self.log_density),
            grad_y: select_rows(accept, &proposal.grad_y, &self.grad_y),
            features: select_rows(accept, &proposal.features, &self.features),
            grad_features: select_rows(accept, &proposal.grad_features, &self.grad_features),
            grad_x,
            graph: None,
            identity_features: self.identity_features,
        }
    }
}
