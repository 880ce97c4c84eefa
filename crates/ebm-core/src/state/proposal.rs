//! Moves of a [`JointState`]: proposals of a new `x` or `y`, evaluated there, and their
//! acceptance.

use super::JointState;
use crate::energy::JointEnergy;
use crate::error::{Error, Result};
use crate::eval::{select_rows, Evaluation};
use tch::{Kind, Tensor};

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

impl JointState {
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
}
