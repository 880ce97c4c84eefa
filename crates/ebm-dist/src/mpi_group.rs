//! [`MpiGroup`]: the collectives over MPI.

use ebm_core::{Collective, Error, Result};
use mpi::collective::{CommunicatorCollectives, Root, SystemOperation};
use mpi::environment::Universe;
use mpi::topology::{Communicator, SimpleCommunicator};
use tch::{Kind, Tensor};

/// The world communicator of an MPI launch as a [`Collective`].
///
/// Tensors are exchanged through host buffers (`f32`, copied from and back into the tensor,
/// which may live on any device; for GPUs a device-side engine such as NCCL avoids the copies). Reductions use `MPI_Allreduce` with `MPI_SUM`, whose result is the same
/// on every rank (the implementations reduce each element once and distribute it).
///
/// Failure: MPI calls block; a rank that dies is detected by the launcher (`mpirun` prints
/// which rank died and on which signal, then terminates the remaining ranks and exits non-zero),
/// so a run never hangs on a dead peer. Dropping the group finalises MPI.
pub struct MpiGroup {
    world: SimpleCommunicator,
    // Declared after `world` so that it is dropped last: dropping the universe finalises MPI.
    _universe: Universe,
}

impl std::fmt::Debug for MpiGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpiGroup")
            .field("rank", &self.rank())
            .field("world_size", &self.world_size())
            .finish()
    }
}

impl MpiGroup {
    /// Initialises MPI (single-threaded use) and takes the world communicator. An error when
    /// MPI was already initialised in this process.
    pub fn init() -> Result<Self> {
        let universe = mpi::initialize().ok_or_else(|| {
            Error::Distributed("MPI was already initialised in this process".into())
        })?;
        let world = universe.world();
        Ok(Self {
            world,
            _universe: universe,
        })
    }

    fn check(t: &Tensor, op: &str) -> Result<()> {
        if t.kind() != Kind::Float {
            return Err(Error::Distributed(format!(
                "MPI {op} takes Float tensors, got {:?}",
                t.kind()
            )));
        }
        Ok(())
    }

    fn to_host(t: &Tensor) -> Result<Vec<f32>> {
        Ok(Vec::<f32>::try_from(t.f_flatten(0, -1)?)?)
    }

    fn from_host(t: &Tensor, v: &[f32]) -> Result<()> {
        let src = Tensor::from_slice(v).f_view(t.size().as_slice())?;
        tch::no_grad(|| t.shallow_clone().f_copy_(&src))?;
        Ok(())
    }
}

impl Collective for MpiGroup {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }
    fn world_size(&self) -> usize {
        self.world.size() as usize
    }
    fn all_reduce_sum(&self, t: &Tensor) -> Result<()> {
        Self::check(t, "all-reduce")?;
        let send = Self::to_host(t)?;
        let mut recv = vec![0f32; send.len()];
        self.world
            .all_reduce_into(&send[..], &mut recv[..], SystemOperation::sum());
        Self::from_host(t, &recv)
    }
    fn broadcast(&self, t: &Tensor, root: usize) -> Result<()> {
        Self::check(t, "broadcast")?;
        if root >= self.world_size() {
            return Err(Error::Distributed(format!(
                "broadcast from rank {root} in a world of {}",
                self.world_size()
            )));
        }
        let mut buf = Self::to_host(t)?;
        self.world
            .process_at_rank(root as i32)
            .broadcast_into(&mut buf[..]);
        Self::from_host(t, &buf)
    }
    fn barrier(&self) -> Result<()> {
        self.world.barrier();
        Ok(())
    }
    fn abort(&self, code: i32) -> ! {
        self.world.abort(code)
    }
    fn engine(&self) -> String {
        match mpi::environment::library_version() {
            // "Open MPI v4.1.4, package: …" → "Open MPI v4.1.4".
            Ok(v) => format!("MPI ({})", v.split([',', '\n']).next().unwrap_or("").trim()),
            Err(_) => "MPI".into(),
        }
    }
}
