//! The state of a batch of joint chains: position `(x, y)`, its cached evaluation, and masks of
//! what is held fixed.

use crate::energy::JointEnergy;
use crate::error::{Error, Result};
use crate::eval::Evaluation;
use crate::layout::ColumnMaps;
use tch::{Kind, Tensor};

mod proposal;

pub use proposal::Proposal;

/// A batch of `B` joint chains at `(x, y)` with the cached [`Evaluation`] of `f` there.
///
/// * `x` `[B, …]` float, `y` `[B, D]` same float kind, laid out by the energy's
///   [`YLayout`](crate::YLayout);
/// * `y_free` `[B, D]` bool: columns whose variable may change (`None`: all free). Built from a
///   per-variable mask by [`JointState::with_fixed_y`];
/// * `x_free` bool, broadcastable to `x`: elements that may move (`None`: all free).
///
/// Kernels take the state by value and return the next one, keeping the evaluation in step with
/// the position, so that a step never re-evaluates a point it has already seen. The fields are
/// private so that the cache cannot fall out of step: a state is built by [`JointState::new`],
/// read through accessors, and moved only through a [`Proposal`] and [`JointState::accept`].
#[derive(Debug)]
pub struct JointState {
    x: Tensor,
    y: Tensor,
    eval: Evaluation,
    y_free: Option<Tensor>,
    x_free: Option<Tensor>,
    columns: ColumnMaps,
}

fn check_finite(op: &'static str, what: &'static str, t: &Tensor) -> Result<()> {
    if bool::try_from(t.isfinite().all())? {
        Ok(())
    } else {
        Err(Error::NonFinite { op, what })
    }
}

impl JointState {
    /// Validates `x` `[B, …]` (float, finite) and `y` `[B, D]` (valid for the energy's layout,
    /// same kind and device as `x`) and evaluates `f` there (one forward + one backward).
    ///
    /// Reads `x` and `y` on the host once for validation.
    pub fn new<E: JointEnergy + ?Sized>(energy: &E, x: &Tensor, y: &Tensor) -> Result<Self> {
        const OP: &str = "JointState::new";
        let xs = x.size();
        if xs.is_empty() || xs[0] == 0 {
            return Err(Error::shape(OP, "x", "[B, …] with B ≥ 1", &xs));
        }
        if !x.is_floating_point() {
            return Err(Error::config(
                "x",
                format!("{:?}", x.kind()),
                "x must be a floating-point tensor",
            ));
        }
        let layout = energy.y_layout();
        layout.validate(OP, "y", y)?;
        let ys = y.size();
        if ys[0] != xs[0] {
            return Err(Error::shape(
                OP,
                "y",
                format!("[{}, {}]", xs[0], layout.dim()),
                &ys,
            ));
        }
        if y.kind() != x.kind() || y.device() != x.device() {
            return Err(Error::config(
                "y",
                format!("{:?} on {:?}", y.kind(), y.device()),
                format!(
                    "y must have the kind and device of x ({:?} on {:?})",
                    x.kind(),
                    x.device()
                ),
            ));
        }
        check_finite(OP, "x", x)?;
        let eval = Evaluation::at(energy, x, y)?;
        Ok(Self {
            x: x.detach(),
            y: y.detach(),
            eval,
            y_free: None,
            x_free: None,
            columns: ColumnMaps::for_layout(layout, x.device()),
        })
    }

    /// Like [`JointState::new`] without the host-side validation of `x` and `y` (no
    /// synchronisation): for inputs the caller already knows to be valid, e.g. inside a training
    /// loop. Shapes of the energy's output are still checked.
    pub fn new_trusted<E: JointEnergy + ?Sized>(
        energy: &E,
        x: &Tensor,
        y: &Tensor,
    ) -> Result<Self> {
        let eval = Evaluation::at(energy, x, y)?;
        Ok(Self {
            x: x.detach(),
            y: y.detach(),
            eval,
            y_free: None,
            x_free: None,
            columns: ColumnMaps::for_layout(energy.y_layout(), x.device()),
        })
    }

    /// Number of chains `B`.
    pub fn batch_size(&self) -> i64 {
        self.x.size()[0]
    }

    /// The continuous block `x` `[B, …]`.
    pub fn x(&self) -> &Tensor {
        &self.x
    }
    /// The discrete block `y` `[B, D]` (one-hot groups, then bits).
    pub fn y(&self) -> &Tensor {
        &self.y
    }
    /// `f`, `∂f/∂y`, `∂f/∂h` (and `∂f/∂x`) at `(x, y)`; `f` higher = more probable.
    pub fn eval(&self) -> &Evaluation {
        &self.eval
    }
    /// `[B, D]` bool, the columns of `y` that may change; `None` = all.
    pub fn y_free(&self) -> Option<&Tensor> {
        self.y_free.as_ref()
    }
    /// Bool mask broadcastable to `x`, the elements that may move; `None` = all.
    pub fn x_free(&self) -> Option<&Tensor> {
        self.x_free.as_ref()
    }
    /// Column ↔ variable maps of the layout, on the state's device.
    pub fn columns(&self) -> &ColumnMaps {
        &self.columns
    }
    /// `(x, y)`, giving up the cached evaluation.
    pub fn into_xy(self) -> (Tensor, Tensor) {
        (self.x, self.y)
    }

    /// `∂f/∂x` `[B, …]` at the current point (computed on first use and cached; one backward
    /// pass through the feature stage for energies that have one).
    pub fn grad_x<E: JointEnergy + ?Sized>(&mut self, energy: &E) -> Result<Tensor> {
        self.eval.grad_x(energy, &self.x)
    }

    /// Holds the variables (groups/bits) where `fixed` is true at their current values.
    /// `fixed` is bool `[B, V]` (per chain) or `[V]` (all chains).
    pub fn with_fixed_y(mut self, fixed: &Tensor) -> Result<Self> {
        let vars = self.columns.cardinality.size()[0];
        let s = fixed.size();
        let ok = fixed.kind() == Kind::Bool && (s == [vars] || s == [self.batch_size(), vars]);
        if !ok {
            return Err(Error::shape(
                "JointState::with_fixed_y",
                "fixed-variable mask",
                format!("bool [{vars}] or [{}, {vars}]", self.batch_size()),
                &s,
            ));
        }
        let fixed = fixed.to_device(self.x.device());
        let free_cols = self
            .columns
            .expand_var_mask(&fixed.logical_not())
            .expand([self.batch_size(), self.y.size()[1]], false)
            .contiguous();
        self.y_free = Some(free_cols);
        Ok(self)
    }

    /// Holds the elements of `x` where `fixed` is true (inpainting). `fixed` is bool with the
    /// shape of `x` `[B, …]` or of one chain `[…]`.
    pub fn with_fixed_x(mut self, fixed: &Tensor) -> Result<Self> {
        let xs = self.x.size();
        let s = fixed.size();
        if fixed.kind() != Kind::Bool || (s != xs && s.as_slice() != &xs[1..]) {
            return Err(Error::shape(
                "JointState::with_fixed_x",
                "fixed-element mask",
                format!("bool {:?} or {:?}", xs, &xs[1..]),
                &s,
            ));
        }
        self.x_free = Some(fixed.to_device(self.x.device()).logical_not());
        Ok(self)
    }
}

#[cfg(test)]
mod tests;
