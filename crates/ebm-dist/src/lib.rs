//! Data-parallel collectives for joint energy-based models.
//!
//! A data-parallel run starts one process ("rank") per device, each with its own data, replay
//! buffer and chains; gradients are averaged over the ranks before every optimiser step, so
//! every rank holds the same parameters. The training layer (`jem-train`) consumes the
//! [`ebm_core::Collective`] trait; this crate provides the engines and the launch glue:
//!
//! * [`MpiGroup`] (feature `mpi`): collectives over MPI — Open MPI on Debian/Ubuntu
//!   (`apt-get install libopenmpi-dev openmpi-bin libclang-dev`), or any MPI-3.1 library;
//!   tensors travel through host memory. Ranks are started by the MPI launcher (`mpirun -n 2 …`, or `srun --mpi=pmix …`
//!   under Slurm), which also detects a dead rank and stops the others.
//! * `NcclGroup` (feature `nccl`, implies `mpi`): collectives on CUDA tensors through NCCL,
//!   one GPU per rank (the launch's local rank), the NCCL id broadcast over MPI. **Untested on
//!   a GPU.**
//! * [`from_env`] / [`from_env_for`]: the group this process was launched into — `None` for a plain single
//!   process, an [`MpiGroup`] under an MPI launcher, a clear error for a multi-rank launch this
//!   build cannot serve (no `mpi` feature, or torchrun's TCP rendezvous).
//!
//! Why MPI (and NCCL for GPUs) rather than PyTorch's own c10d/Gloo is written down in the
//! project's `docs/DISTRIBUTED.md`.
//!
//! ```
//! // Without a launcher there is no group: train as a single process.
//! assert!(ebm_dist::from_env().unwrap().is_none() || ebm_dist::launch_info().world_size > 1);
//! ```

#[cfg(feature = "mpi")]
mod mpi_group;

#[cfg(feature = "mpi")]
pub use mpi_group::MpiGroup;

#[cfg(feature = "nccl")]
mod nccl_group;

#[cfg(feature = "nccl")]
pub use nccl_group::{nccl_unique_id_bytes, NcclGroup};

use ebm_core::{Collective, Error, Result};

/// Where this process sits in a launch, read from the environment the launchers set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LaunchInfo {
    /// Global rank (0 without a launcher).
    pub rank: usize,
    /// Number of ranks (1 without a launcher).
    pub world_size: usize,
    /// Rank on this machine: the GPU index a rank should use.
    pub local_rank: usize,
    /// Which launcher set the variables: `"mpi"` (Open MPI's `OMPI_COMM_WORLD_*`, or PMI's
    /// `PMI_RANK`/`PMI_SIZE` of MPICH and Slurm), `"torchrun"` (`RANK`/`WORLD_SIZE` with
    /// `MASTER_ADDR`), `"slurm"` (`SLURM_PROCID`/`SLURM_NTASKS`) or `"none"`.
    pub launcher: &'static str,
}

fn env_usize(names: &[&str]) -> Option<usize> {
    names
        .iter()
        .find_map(|n| std::env::var(n).ok().and_then(|v| v.trim().parse().ok()))
}

/// Reads rank, world size and local rank from the variables that MPI launchers, Slurm and
/// torchrun set (in that order of precedence); a single process without them.
pub fn launch_info() -> LaunchInfo {
    let mpi = env_usize(&["OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"]);
    if let Some(world_size) = mpi {
        return LaunchInfo {
            rank: env_usize(&["OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"]).unwrap_or(0),
            world_size,
            local_rank: env_usize(&[
                "OMPI_COMM_WORLD_LOCAL_RANK",
                "MPI_LOCALRANKID",
                "LOCAL_RANK",
            ])
            .unwrap_or(0),
            launcher: "mpi",
        };
    }
    if let Some(world_size) = env_usize(&["WORLD_SIZE"]) {
        return LaunchInfo {
            rank: env_usize(&["RANK"]).unwrap_or(0),
            world_size,
            local_rank: env_usize(&["LOCAL_RANK"]).unwrap_or(0),
            launcher: "torchrun",
        };
    }
    if let Some(world_size) = env_usize(&["SLURM_NTASKS"]) {
        return LaunchInfo {
            rank: env_usize(&["SLURM_PROCID"]).unwrap_or(0),
            world_size,
            local_rank: env_usize(&["SLURM_LOCALID"]).unwrap_or(0),
            launcher: "slurm",
        };
    }
    LaunchInfo {
        rank: 0,
        world_size: 1,
        local_rank: 0,
        launcher: "none",
    }
}

/// The process group this process was launched into.
///
/// * No launcher, or a launch of one rank: `Ok(None)` — train as a single process.
/// * An MPI launch of several ranks: an initialised [`MpiGroup`] (feature `mpi`), or an error
///   saying that this build lacks the feature.
/// * torchrun or Slurm variables announcing several ranks without an MPI launcher: an error
///   naming the launch command to use instead (the MPI engine rendezvouses through its own
///   launcher, not through `MASTER_ADDR:MASTER_PORT`).
pub fn from_env() -> Result<Option<Box<dyn Collective>>> {
    let info = launch_info();
    if info.world_size <= 1 {
        return Ok(None);
    }
    match info.launcher {
        "mpi" => mpi_group(),
        other => Err(Error::Distributed(format!(
            "{other} announced {} ranks (this is rank {}), but ranks of this project \
             communicate through MPI: launch them with `mpirun -n {}` (one machine or a \
             hostfile) or `srun --mpi=pmix` under Slurm, with a binary built with the `mpi` \
             feature",
            info.world_size, info.rank, info.world_size
        ))),
    }
}

/// Like [`from_env`], with the engine chosen by the device the model trains on: NCCL for a
/// CUDA device when built with the `nccl` feature (GPU `local_rank`), MPI otherwise (CUDA
/// tensors then travel through host memory).
pub fn from_env_for(device: tch::Device) -> Result<Option<Box<dyn Collective>>> {
    #[cfg(feature = "nccl")]
    {
        let info = launch_info();
        if device.is_cuda() && info.world_size > 1 && info.launcher == "mpi" {
            let mpi = MpiGroup::init()?;
            return Ok(Some(Box::new(NcclGroup::init(mpi, info.local_rank)?)));
        }
    }
    let _ = device;
    from_env()
}

#[cfg(feature = "mpi")]
fn mpi_group() -> Result<Option<Box<dyn Collective>>> {
    Ok(Some(Box::new(MpiGroup::init()?)))
}

#[cfg(not(feature = "mpi"))]
fn mpi_group() -> Result<Option<Box<dyn Collective>>> {
    let info = launch_info();
    Err(Error::Distributed(format!(
        "launched as rank {} of {} by an MPI launcher, but this binary was built without the \
         `mpi` feature: rebuild with `--features mpi` (needs libopenmpi-dev and libclang-dev)",
        info.rank, info.world_size
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A plain test process is rank 0 of 1 with no group (the variables are absent in `cargo
    /// test` unless it is itself launched by MPI, which the assertion allows).
    #[test]
    fn plain_process_is_a_single_rank() {
        let info = launch_info();
        if info.launcher == "none" {
            assert_eq!((info.rank, info.world_size), (0, 1));
            assert!(from_env().unwrap().is_none());
        }
    }
}
