//! The collective operations a data-parallel run needs, as a trait the training layer consumes
//! without knowing the engine (MPI for CPU ranks, NCCL for GPUs; see the `ebm-dist` crate).

use crate::Result;
use tch::Tensor;

/// A group of cooperating processes ("ranks") `0 … world_size − 1`, each holding a replica of
/// the model, that exchange tensors collectively. Every rank must call the same operations in
/// the same order with tensors of the same shape and kind; the operations block until every
/// rank has joined them.
///
/// Tensors are modified **in place** (through the given handle, as libtorch's in-place ops):
/// contiguous, `Float`, on a device the engine can read (CPU for MPI).
pub trait Collective {
    /// This process's rank, `0 … world_size − 1`; rank 0 evaluates, writes figures and owns
    /// the run's main checkpoints.
    fn rank(&self) -> usize;
    /// Number of ranks.
    fn world_size(&self) -> usize;
    /// Replaces `t` on every rank by the element-wise sum of all ranks' `t`; every rank ends
    /// with the same values.
    fn all_reduce_sum(&self, t: &Tensor) -> Result<()>;
    /// Replaces `t` on every rank by rank `root`'s `t`.
    fn broadcast(&self, t: &Tensor, root: usize) -> Result<()>;
    /// Returns once every rank has called it.
    fn barrier(&self) -> Result<()>;
    /// What runs the collectives, for logs (e.g. "MPI (Open MPI 4.1.4)").
    fn engine(&self) -> String;
    /// Ends every rank of the group with exit status `code` — what a rank that cannot go on
    /// (an error of its own) must do so that the others, blocked in a collective, do not wait
    /// for it forever. The default ends only this process.
    fn abort(&self, code: i32) -> ! {
        std::process::exit(code)
    }
}

/// The trivial group of one process: every collective is the identity. What a run without a
/// launcher uses; also a reference implementation for tests.
#[derive(Clone, Copy, Debug, Default)]
pub struct SingleProcess;

impl Collective for SingleProcess {
    fn rank(&self) -> usize {
        0
    }
    fn world_size(&self) -> usize {
        1
    }
    fn all_reduce_sum(&self, _t: &Tensor) -> Result<()> {
        Ok(())
    }
    fn broadcast(&self, _t: &Tensor, _root: usize) -> Result<()> {
        Ok(())
    }
    fn barrier(&self) -> Result<()> {
        Ok(())
    }
    fn engine(&self) -> String {
        "single process".into()
    }
}
