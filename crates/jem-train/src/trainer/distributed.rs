//! Data-parallel training: the trainer's side of an [`ebm_core::Collective`] group.
//!
//! Every rank runs the same iterations on its own batches and chains (its seeds are derived
//! from the run's seed and its rank); after the backward pass the gradients are averaged over
//! the ranks in buckets, so Adam sees the same gradient everywhere and the parameters, Adam's
//! moments and the EMA stay identical on every rank. The iteration's scalars (loss, mean
//! energies) are averaged too, so that every rank takes the same divergence and recovery
//! decisions, and a stop request on any rank stops all of them at the same iteration.

use super::Trainer;
use crate::optim::sorted_variables;
use ebm_core::{Collective, Error, JointEnergy, Result};
use std::time::Instant;
use tch::{Kind, Tensor};

/// Gradient elements per all-reduce bucket: 4 Mi `f32` = 16 MiB, under PyTorch DDP's 25 MB
/// default; the paper's energies (0.2–2.0 M parameters) fit in one bucket.
pub const GRADIENT_BUCKET_ELEMENTS: usize = 4 << 20;

/// Averages the gradients of `vars` over the ranks of `group`, in place: consecutive
/// gradients are flattened into buckets of at most `bucket_elements` elements (a larger
/// gradient gets a bucket of its own), each bucket is summed across ranks with one
/// all-reduce and divided by the world size. Variables without a gradient are skipped (the
/// same on every rank, as every rank runs the same graph). `f32` gradients.
pub fn all_reduce_gradients(
    vars: &[Tensor],
    group: &dyn Collective,
    bucket_elements: usize,
) -> Result<()> {
    let world = group.world_size() as f64;
    if world <= 1.0 {
        return Ok(());
    }
    let grads: Vec<Tensor> = vars
        .iter()
        .map(Tensor::grad)
        .filter(Tensor::defined)
        .collect();
    let mut start = 0;
    while start < grads.len() {
        let mut end = start;
        let mut n = 0;
        while end < grads.len() && (end == start || n + grads[end].numel() <= bucket_elements) {
            n += grads[end].numel();
            end += 1;
        }
        let bucket = &grads[start..end];
        let flat = Tensor::f_cat(
            &bucket
                .iter()
                .map(|g| g.f_reshape([-1]))
                .collect::<std::result::Result<Vec<_>, _>>()?,
            0,
        )?
        .f_to_kind(Kind::Float)?;
        group.all_reduce_sum(&flat)?;
        let _ = flat.shallow_clone().f_div_scalar_(world)?;
        let mut offset = 0;
        for g in bucket {
            let k = g.numel() as i64;
            let part = flat.f_narrow(0, offset, k)?.f_view(g.size().as_slice())?;
            tch::no_grad(|| g.shallow_clone().f_copy_(&part))?;
            offset += k;
        }
        start = end;
    }
    Ok(())
}

impl<M: JointEnergy> Trainer<M> {
    /// Makes this trainer one rank of a data-parallel run: rank 0's parameters, EMA and Adam
    /// state are broadcast to every rank (so all ranks start identical, whatever their own
    /// initialisation or checkpoint), and from now on every [`Trainer::step`] averages the
    /// gradients over the group. Every rank must call this, in the same order relative to
    /// other collectives. In [`Trainer::train`] only rank 0 evaluates (the others return empty
    /// metrics) and should write the run's figures; each rank keeps its own checkpoints (its
    /// buffer and chains are its own; give each rank its own folder).
    pub fn set_collective(&mut self, group: Box<dyn Collective>) -> Result<()> {
        if group.rank() >= group.world_size() {
            return Err(Error::Distributed(format!(
                "rank {} in a world of {}",
                group.rank(),
                group.world_size()
            )));
        }
        for (_, t) in sorted_variables(&self.vs)
            .into_iter()
            .chain(sorted_variables(&self.ema.vs))
            .chain(self.adam.state_tensors())
        {
            let host = t.f_to_kind(Kind::Float)?.f_contiguous()?;
            group.broadcast(&host, 0)?;
            tch::no_grad(|| t.shallow_clone().f_copy_(&host))?;
        }
        self.session.group = Some(group);
        Ok(())
    }

    /// This process's rank (0 without a group).
    pub fn rank(&self) -> usize {
        self.session.group.as_ref().map_or(0, |g| g.rank())
    }

    /// Number of ranks (1 without a group).
    pub fn world_size(&self) -> usize {
        self.session.group.as_ref().map_or(1, |g| g.world_size())
    }

    /// The seed of this rank's random choices: the run's seed on rank 0 (so a single process
    /// is unchanged), a SplitMix-style offset of it on the others.
    pub(super) fn rank_seed(&self) -> u64 {
        (self.ema.config.seed)
            .wrapping_add((self.rank() as u64).wrapping_mul(0xA24B_AED4_963E_E407))
    }

    /// Averages `values` (a `[k]` tensor) over the ranks, in place; identity without a group.
    pub(super) fn mean_over_ranks(&self, values: &Tensor) -> Result<()> {
        if let Some(g) = &self.session.group {
            g.all_reduce_sum(values)?;
            let _ = values
                .shallow_clone()
                .f_div_scalar_(g.world_size() as f64)?;
        }
        Ok(())
    }

    /// Whether `flag` is set on any rank (one small all-reduce); `flag` without a group.
    pub(super) fn on_any_rank(&self, flag: bool) -> Result<bool> {
        match &self.session.group {
            None => Ok(flag),
            Some(g) => {
                let t = Tensor::from_slice(&[if flag { 1f32 } else { 0.0 }]);
                g.all_reduce_sum(&t)?;
                Ok(t.double_value(&[0]) > 0.0)
            }
        }
    }

    /// Averages the live model's gradients over the ranks (no-op without a group) and adds
    /// the time it took to the session's all-reduce clock.
    pub(super) fn average_gradients(&mut self) -> Result<()> {
        let Some(g) = &self.session.group else {
            return Ok(());
        };
        let start = Instant::now();
        // Adam's variables: the live model's, in name order, so every rank buckets alike.
        all_reduce_gradients(self.adam.variables(), g.as_ref(), GRADIENT_BUCKET_ELEMENTS)?;
        self.session.all_reduce_seconds += start.elapsed().as_secs_f64();
        Ok(())
    }

    /// Ends every rank of the group with exit status `code` (see
    /// [`ebm_core::Collective::abort`]); without a group, ends this process. For a rank that
    /// hit an error of its own: the others would otherwise wait for it in their next
    /// collective.
    pub fn abort_all_ranks(&self, code: i32) -> ! {
        match &self.session.group {
            Some(g) => g.abort(code),
            None => std::process::exit(code),
        }
    }

    /// Seconds spent averaging gradients across ranks in the current training call.
    pub fn all_reduce_seconds(&self) -> f64 {
        self.session.all_reduce_seconds
    }
}
