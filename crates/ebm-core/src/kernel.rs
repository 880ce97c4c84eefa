//! The kernel interfaces shared by the discrete and continuous samplers.
//!
//! A kernel is a validated configuration with `step(energy, state) -> (state, info)`: it takes a
//! [`JointState`] by value, moves one block (`y` for a [`DiscreteKernel`], `x` for a
//! [`ContinuousKernel`]) with the other block held fixed, and returns the next state with its
//! evaluation kept in step. No host synchronisation happens inside `step`.

use crate::energy::JointEnergy;
use crate::error::Result;
use crate::state::JointState;
use tch::Tensor;

/// Per-chain facts about one kernel step, kept on the device.
#[derive(Debug)]
pub struct StepInfo {
    /// `[B]` Metropolis–Hastings acceptance probability `min(1, α)` of the proposal made
    /// (1 for kernels without an accept/reject step, 0 for a chain whose proposal was invalid).
    pub accept_prob: Tensor,
    /// `[B]` bool: whether the chain moved to the proposal.
    pub accepted: Tensor,
}

/// A Markov kernel on `y` given `x` (targets `p(y | x) ∝ exp(f(x, y))`, `f` higher = more
/// probable).
pub trait DiscreteKernel {
    /// One step on `y`; `x` and clamped variables are unchanged.
    fn step<E: JointEnergy + ?Sized>(
        &self,
        energy: &E,
        state: JointState,
    ) -> Result<(JointState, StepInfo)>;

    /// Whether the kernel leaves `p(y | x)` exactly invariant.
    fn is_exact(&self) -> bool;

    /// Whether one step, when a single variable is free, replaces it with an exact draw from
    /// its full conditional that does not depend on its current value (exact Gibbs). Then the
    /// state after any `n ≥ 1` steps with `x` fixed has the same distribution as after one, and
    /// callers may stop after the first step. Default `false`.
    fn draws_single_free_variable_exactly(&self) -> bool {
        false
    }

    /// Short name for logs (`gwg`, `gibbs`).
    fn name(&self) -> &'static str;
}

/// A Markov kernel on `x` given `y`.
pub trait ContinuousKernel {
    /// One step on `x`; `y` and clamped elements of `x` are unchanged.
    fn step<E: JointEnergy + ?Sized>(
        &self,
        energy: &E,
        state: JointState,
    ) -> Result<(JointState, StepInfo)>;

    /// Whether the kernel leaves `p(x | y) ∝ exp(f(x, y))` exactly invariant.
    fn is_exact(&self) -> bool;

    /// Short name for logs (`langevin`, `mala`).
    fn name(&self) -> &'static str;
}
