//! The state of a batch of joint chains: position `(x, y)`, its cached evaluation, and masks of
//! what is held fixed.

use crate::energy::JointEnergy;
use crate::error::{Error, Result};
use crate::eval::{select_rows, Evaluation};
use crate::layout::ColumnMaps;
use tch::{Kind, Tensor};

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

/// Which block a [`Proposal`] moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Block {
    X,
    Y,
}

/// A proposed move of one block of a [`JointState`], evaluated there: built only by
/// [`JointState::propose_x`], [`JointState::propose_y`] or [`JointState::propose_y_among`]
/// (which enforce the state's clamp masks before evaluating), consumed by
/// [`JointState::accept`]. A kernel reads `f`, `∂f/∂y` and `∂f/∂x` at the proposal to compute
/// its acceptance probability; it cannot pair a position with an evaluation of another point.
#[derive(Debug)]
pub struct Proposal {
    x: Tensor,
    y: Tensor,
    eval: Evaluation,
    block: Block,
}

impl Proposal {
    /// The proposed `x` `[B, …]` (clamped elements as in the state).
    pub fn x(&self) -> &Tensor {
        &self.x
    }
    /// The proposed `y` `[B, D]` (clamped variables as in the state).
    pub fn y(&self) -> &Tensor {
        &self.y
    }
    /// The evaluation of `f` at the proposal.
    pub fn eval(&self) -> &Evaluation {
        &self.eval
    }
    /// `∂f/∂x` at the proposal (computed on first use; see [`Evaluation::grad_x`]).
    pub fn grad_x<E: JointEnergy + ?Sized>(&mut self, energy: &E) -> Result<Tensor> {
        self.eval.grad_x(energy, &self.x)
    }
}

/// `new` (of `current`'s shape, else a shape error) with the entries where `free` is false
/// reset to `current`: the clamp masks of a proposal, enforced in one place.
fn keep_clamped(
    op: &'static str,
    what: &'static str,
    new: &Tensor,
    current: &Tensor,
    free: Option<&Tensor>,
) -> Result<Tensor> {
    if new.size() != current.size() {
        return Err(Error::shape(
            op,
            what,
            format!("{:?}", current.size()),
            &new.size(),
        ));
    }
    Ok(match free {
        Some(free) => new.where_self(free, current),
        None => new.detach(),
    })
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

    /// A move of `x` to `x_new` `[B, …]` with `y` unchanged, evaluated there (feature stage,
    /// head forward and backward). Clamped elements of `x` keep their current values whatever
    /// `x_new` holds there.
    pub fn propose_x<E: JointEnergy + ?Sized>(
        &self,
        energy: &E,
        x_new: &Tensor,
    ) -> Result<Proposal> {
        let x = keep_clamped(
            "JointState::propose_x",
            "x_new",
            x_new,
            &self.x,
            self.x_free.as_ref(),
        )?;
        let eval = Evaluation::at(energy, &x, &self.y)?;
        Ok(Proposal {
            x,
            y: self.y.shallow_clone(),
            eval,
            block: Block::X,
        })
    }

    /// A move of `y` to `y_new` `[B, D]` (valid labels) with `x` unchanged, evaluated on the
    /// cached features (head forward and backward only). Clamped variables keep their current
    /// values whatever `y_new` holds there.
    pub fn propose_y<E: JointEnergy + ?Sized>(
        &self,
        energy: &E,
        y_new: &Tensor,
    ) -> Result<Proposal> {
        let y = keep_clamped(
            "JointState::propose_y",
            "y_new",
            y_new,
            &self.y,
            self.y_free.as_ref(),
        )?;
        let eval = Evaluation::at_features(
            energy,
            &self.eval.features,
            &y,
            self.eval.identity_features(),
        )?;
        Ok(Proposal {
            x: self.x.shallow_clone(),
            y,
            eval,
            block: Block::Y,
        })
    }

    /// A move of `y` to one of `K` candidates per chain: `candidates` `[B, K, D]` (valid
    /// labels) are evaluated in one batched head **forward** of `B · K` rows on the cached
    /// features (no gradients), `choose` receives their `f` `[B, K]` and returns the chosen
    /// index per chain `[B]` int64 (in `0..K`), and the proposal holds the chosen candidates
    /// with their full evaluation (one head forward and backward over `B` rows). Clamped
    /// variables keep their current values in every candidate.
    pub fn propose_y_among<E, C>(
        &self,
        energy: &E,
        candidates: &Tensor,
        choose: C,
    ) -> Result<Proposal>
    where
        E: JointEnergy + ?Sized,
        C: FnOnce(&Tensor) -> Result<Tensor>,
    {
        const OP: &str = "JointState::propose_y_among";
        let (b, d) = (self.y.size()[0], self.y.size()[1]);
        let cs = candidates.size();
        if cs.len() != 3 || cs[0] != b || cs[2] != d || cs[1] < 1 {
            return Err(Error::shape(
                OP,
                "candidates",
                format!("[{b}, K, {d}]"),
                &cs,
            ));
        }
        let k = cs[1];
        let cands = match &self.y_free {
            Some(free) => candidates.where_self(&free.unsqueeze(1), &self.y.unsqueeze(1)),
            None => candidates.detach(),
        }
        .reshape([b * k, d]);
        let feats = &self.eval.features;
        let mut rep = vec![b, k];
        rep.extend(&feats.size()[1..]);
        let flat: Vec<i64> = [&[b * k][..], &feats.size()[1..]].concat();
        let feats_rep = feats
            .unsqueeze(1)
            .expand(rep.as_slice(), false)
            .reshape(flat.as_slice());
        // Forward only over the B·K candidates; the full evaluation (forward and backward)
        // only at the B chosen ones.
        let f_all =
            tch::no_grad(|| energy.log_density_from_features(&feats_rep.detach(), &cands.detach()));
        if f_all.size() != [b * k] {
            return Err(Error::shape(
                OP,
                "log_density output",
                format!("[{}]", b * k),
                &f_all.size(),
            ));
        }
        let choice = choose(&f_all.view([b, k]))?;
        if choice.size() != [b] || choice.kind() != Kind::Int64 {
            return Err(Error::shape(
                OP,
                "choice",
                format!("int64 [{b}]"),
                &choice.size(),
            ));
        }
        let rows = Tensor::arange(b, (Kind::Int64, choice.device())) * k + choice.clamp(0, k - 1);
        let chosen = cands.index_select(0, &rows);
        let eval = Evaluation::at_features(energy, feats, &chosen, self.eval.identity_features())?;
        Ok(Proposal {
            x: self.x.shallow_clone(),
            y: chosen,
            eval,
            block: Block::Y,
        })
    }

    /// The next state: the proposal in every chain (for unadjusted kernels such as Langevin).
    /// Keeps the proposal's feature graph, so `∂f/∂x` there costs no new forward pass.
    pub fn accept_all(self, proposal: Proposal) -> Result<Self> {
        self.check_own("JointState::accept_all", &proposal)?;
        Ok(Self {
            x: proposal.x,
            y: proposal.y,
            eval: match proposal.block {
                Block::X => proposal.eval,
                Block::Y => {
                    let all = proposal.eval.log_density.ones_like().to_kind(Kind::Bool);
                    self.eval.select_same_x(&all, proposal.eval)
                }
            },
            ..self
        })
    }

    fn check_own(&self, op: &'static str, proposal: &Proposal) -> Result<()> {
        // The block that did not move must be this state's own tensor (same storage).
        let same = |a: &Tensor, b: &Tensor| a.size() == b.size() && a.data_ptr() == b.data_ptr();
        let ok = match proposal.block {
            Block::X => same(&proposal.y, &self.y) && proposal.x.size() == self.x.size(),
            Block::Y => same(&proposal.x, &self.x) && proposal.y.size() == self.y.size(),
        };
        if ok {
            Ok(())
        } else {
            Err(Error::config(
                "proposal",
                format!("from another state (in {op})"),
                "a proposal can only be accepted into the state that made it",
            ))
        }
    }

    /// The next state: per chain, the proposal where `accepted` `[B]` bool is true, the current
    /// point elsewhere; the evaluation follows the position. Errors when the proposal was not
    /// built from this state (other shapes, or it moved a block from a different point).
    pub fn accept(self, accepted: &Tensor, proposal: Proposal) -> Result<Self> {
        const OP: &str = "JointState::accept";
        let b = self.batch_size();
        if accepted.size() != [b] || accepted.kind() != Kind::Bool {
            return Err(Error::shape(
                OP,
                "accepted",
                format!("bool [{b}]"),
                &accepted.size(),
            ));
        }
        self.check_own(OP, &proposal)?;
        let Self {
            x,
            y,
            eval,
            y_free,
            x_free,
            columns,
        } = self;
        let (x, y, eval) = match proposal.block {
            Block::X => (
                select_rows(accepted, &proposal.x, &x),
                y,
                eval.select(accepted, proposal.eval),
            ),
            Block::Y => (
                x,
                select_rows(accepted, &proposal.y, &y),
                eval.select_same_x(accepted, proposal.eval),
            ),
        };
        Ok(Self {
            x,
            y,
            eval,
            y_free,
            x_free,
            columns,
        })
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
mod tests {
    use super::*;
    use crate::{FnEnergy, YLayout};
    use tch::{Device, Kind};

    fn energy() -> FnEnergy<impl Fn(&Tensor, &Tensor) -> Tensor> {
        // f(x, y) = −|x|²/2 + x₀·(y·w): couples both blocks.
        let w = Tensor::from_slice(&[0.0f64, 1.0, 2.0]);
        FnEnergy::new(
            YLayout::categorical(vec![3]).unwrap(),
            move |x: &Tensor, y: &Tensor| {
                -(x * x).sum_dim_intlist([1i64].as_slice(), false, None) / 2.0
                    + x.select(1, 0) * y.mv(&w)
            },
        )
    }

    fn start(b: i64) -> (Tensor, Tensor) {
        let x = Tensor::randn([b, 2], (Kind::Double, Device::Cpu));
        let y = Tensor::zeros([b, 3], (Kind::Double, Device::Cpu));
        let _ = y.select(1, 0).fill_(1.0);
        (x, y)
    }

    fn assert_in_step<E: JointEnergy>(e: &E, s: &JointState) {
        let fresh = Evaluation::at(e, s.x(), s.y()).unwrap();
        assert!(fresh
            .log_density()
            .allclose(s.eval().log_density(), 1e-12, 1e-12, false));
        assert!(fresh
            .grad_y()
            .allclose(s.eval().grad_y(), 1e-12, 1e-12, false));
    }

    #[test]
    fn accepted_moves_keep_the_cache_in_step_and_respect_clamps() {
        tch::manual_seed(3);
        let e = energy();
        let (x, y) = start(6);
        let fixed_x = Tensor::from_slice(&[true, false]);
        let fixed_y = Tensor::from_slice(&[true]);
        let s = JointState::new(&e, &x, &y)
            .unwrap()
            .with_fixed_x(&fixed_x)
            .unwrap();
        // x move: the clamped coordinate stays whatever the proposal says.
        let p = s.propose_x(&e, &(&x + 1.0)).unwrap();
        assert!(p.x().select(1, 0).equal(&x.select(1, 0)));
        let acc = Tensor::from_slice(&[true, false, true, false, true, false]);
        let s = s.accept(&acc, p).unwrap();
        assert_in_step(&e, &s);
        assert!(s.x().select(1, 0).equal(&x.select(1, 0)));
        // y move on a state with the label clamped: nothing changes.
        let s = s.with_fixed_y(&fixed_y).unwrap();
        let y2 = Tensor::zeros([6, 3], (Kind::Double, Device::Cpu));
        let _ = y2.select(1, 2).fill_(1.0);
        let p = s.propose_y(&e, &y2).unwrap();
        assert!(p.y().equal(&y));
        let s = s.accept(&acc.ones_like(), p).unwrap();
        assert!(s.y().equal(&y));
        assert_in_step(&e, &s);
    }

    #[test]
    fn a_proposal_from_another_state_is_refused() {
        tch::manual_seed(4);
        let e = energy();
        let (x, y) = start(4);
        let a = JointState::new(&e, &x, &y).unwrap();
        let b = JointState::new(&e, &(&x * 2.0), &y).unwrap();
        let y2 = y.roll([1], [1]);
        let from_b = b.propose_y(&e, &y2).unwrap();
        let all = Tensor::ones([4], (Kind::Bool, Device::Cpu));
        assert!(matches!(
            a.accept(&all, from_b),
            Err(Error::InvalidConfig { .. })
        ));
        let a = JointState::new(&e, &x, &y).unwrap();
        let p = a.propose_y(&e, &y2).unwrap();
        assert!(a
            .accept(&Tensor::ones([3], (Kind::Bool, Device::Cpu)), p)
            .is_err());
        let a = JointState::new(&e, &x, &y).unwrap();
        assert!(a
            .propose_x(&e, &Tensor::zeros([4, 3], (Kind::Double, Device::Cpu)))
            .is_err());
    }

    #[test]
    fn propose_y_among_picks_the_chosen_candidates_with_their_evaluation() {
        tch::manual_seed(5);
        let e = energy();
        let (x, y) = start(3);
        let s = JointState::new(&e, &x, &y).unwrap();
        let eye = Tensor::eye(3, (Kind::Double, Device::Cpu));
        let cands = eye.unsqueeze(0).expand([3, 3, 3], false); // [B, K = 3, D]
        let p = s
            .propose_y_among(&e, &cands, |f| {
                assert_eq!(f.size(), vec![3, 3]);
                Ok(Tensor::from_slice(&[2i64, 0, 1]))
            })
            .unwrap();
        let want = Tensor::from_slice(&[2i64, 0, 1])
            .one_hot(3)
            .to_kind(Kind::Double);
        assert!(p.y().equal(&want));
        let s = s
            .accept(&Tensor::ones([3], (Kind::Bool, Device::Cpu)), p)
            .unwrap();
        assert_in_step(&e, &s);
    }
}
