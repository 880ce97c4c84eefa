//! Batches with a fixed share of fully labelled examples, for partially labelled training.
//!
//! With labels observed for a fraction `p` of the training examples, batches drawn uniformly
//! hold about `p·B` labelled examples; when `p` is small (10 % of the masks, say) the labelled
//! term of the objective gets a tenth of the signal of full supervision, and the imputations
//! that stand in for the rest are the model's own. [`LabelledShare`] draws `round(s·B)` rows of
//! every batch from the **complete** examples (every label variable observed) and the rest
//! from the others, each pool in its own fresh `randperm` order per pass (torch's generator),
//! then shuffles the batch's rows. This reweights the objective: a complete example counts
//! `s / p` times as often as under uniform batches and an incomplete one `(1 − s) / (1 − p)`
//! times, a common practice in semi-supervised training and **not** the paper's weighting
//! (its Eq. 8 sums over all examples alike).

use ebm_core::{Error, Result};
use tch::{Device, Kind, Tensor};

/// Positions `0..n` in a fresh `randperm` order per pass (torch's generator), handed out `k`
/// at a time; a new pass starts when fewer than `k` are left in this one (the rest of the
/// pass is dropped). The epoch order of [`crate::InMemory`]'s batches and of each pool here.
#[derive(Debug, Default)]
pub(crate) struct EpochOrder {
    order: Option<Tensor>,
    cursor: i64,
}

impl EpochOrder {
    /// Forgets the current pass (the next call starts a new one).
    pub(crate) fn reset(&mut self) {
        self.order = None;
        self.cursor = 0;
    }

    /// The next `k ≤ n` positions of the pass over `0..n` (int64 `[k]`, CPU).
    pub(crate) fn next(&mut self, n: i64, k: i64) -> Tensor {
        if self.order.is_none() || self.cursor + k > n {
            self.reset();
        }
        let order = self
            .order
            .get_or_insert_with(|| Tensor::randperm(n, (Kind::Int64, Device::Cpu)));
        let picked = order.narrow(0, self.cursor, k);
        self.cursor += k;
        picked
    }
}

/// One pool of training-example indices and its pass order.
#[derive(Debug)]
struct Pool {
    /// Indices into the training split, int64 `[n]`, CPU.
    idx: Tensor,
    order: EpochOrder,
}

impl Pool {
    fn new(idx: Tensor) -> Self {
        Self {
            idx,
            order: EpochOrder::default(),
        }
    }

    fn len(&self) -> i64 {
        self.idx.size()[0]
    }

    /// `k ≤ len` indices, the next of this pass.
    fn take(&mut self, k: i64) -> Tensor {
        let picked = self.order.next(self.len(), k);
        self.idx.index_select(0, &picked)
    }
}

/// Draws batch indices with a fixed share of complete examples (module docs).
#[derive(Debug)]
pub(crate) struct LabelledShare {
    share: f64,
    complete: Pool,
    incomplete: Pool,
}

impl LabelledShare {
    /// Pools from the observed mask `[N, V]` (bool); an error when `share` is not in `(0, 1]`
    /// or a pool the share needs is empty.
    pub(crate) fn new(observed: &Tensor, share: f64) -> Result<Self> {
        if !(share > 0.0 && share <= 1.0) {
            return Err(Error::config("labelled_share", share, "must be in (0, 1]"));
        }
        let complete = observed.to_device(Device::Cpu).all_dim(1, false);
        let pool = |m: &Tensor| m.nonzero().view([-1]);
        let (complete, incomplete) = (
            Pool::new(pool(&complete)),
            Pool::new(pool(&complete.logical_not())),
        );
        if complete.len() == 0 {
            return Err(Error::config(
                "labelled_share",
                share,
                "no training example has every label observed",
            ));
        }
        if share < 1.0 && incomplete.len() == 0 {
            return Err(Error::config(
                "labelled_share",
                share,
                "every training example is fully labelled, so there is nothing to mix in; use 1 or none",
            ));
        }
        Ok(Self {
            share,
            complete,
            incomplete,
        })
    }

    /// The share of complete examples in every batch.
    pub(crate) fn share(&self) -> f64 {
        self.share
    }

    /// Indices (int64 `[batch_size]`, CPU) of the next batch: `round(share · batch_size)`
    /// complete examples and the rest incomplete, rows shuffled. An error when a pool is
    /// smaller than its part of the batch.
    pub(crate) fn next(&mut self, batch_size: i64) -> Result<Tensor> {
        let k = ((self.share * batch_size as f64).round() as i64).clamp(0, batch_size);
        for (part, pool, what) in [
            (k, &self.complete, "fully labelled"),
            (batch_size - k, &self.incomplete, "partially labelled"),
        ] {
            if part > pool.len() {
                return Err(Error::config(
                    "batch_size",
                    batch_size,
                    format!(
                        "a batch takes {part} {what} examples (labelled_share {}) and there are {}",
                        self.share,
                        pool.len()
                    ),
                ));
            }
        }
        let mut parts = vec![self.complete.take(k)];
        if batch_size > k {
            parts.push(self.incomplete.take(batch_size - k));
        }
        let idx = Tensor::cat(&parts, 0);
        let mix = Tensor::randperm(batch_size, (Kind::Int64, Device::Cpu));
        Ok(idx.index_select(0, &mix))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn observed(complete_rows: &[bool]) -> Tensor {
        // Incomplete rows: first variable observed, second not.
        let rows: Vec<bool> = complete_rows.iter().flat_map(|&c| [true, c]).collect();
        Tensor::from_slice(&rows).view([complete_rows.len() as i64, 2])
    }

    #[test]
    fn each_batch_holds_the_share_and_every_complete_example_comes_round() {
        tch::manual_seed(0);
        // 4 complete examples (rows 0, 3, 6, 9) among 12.
        let rows: Vec<bool> = (0..12).map(|i| i % 3 == 0).collect();
        let obs = observed(&rows);
        let mut s = LabelledShare::new(&obs, 0.5).unwrap();
        let mut seen_complete = vec![0; 12];
        for _ in 0..4 {
            let idx = Vec::<i64>::try_from(s.next(4).unwrap()).unwrap();
            assert_eq!(idx.len(), 4);
            let complete: Vec<i64> = idx.iter().copied().filter(|&i| i % 3 == 0).collect();
            assert_eq!(complete.len(), 2, "{idx:?}");
            for i in complete {
                seen_complete[i as usize] += 1;
            }
        }
        // Two passes over the 4 complete examples in 4 batches: each seen exactly twice.
        for i in (0..12).step_by(3) {
            assert_eq!(seen_complete[i], 2, "{seen_complete:?}");
        }
    }

    #[test]
    fn refuses_bad_shares_empty_pools_and_oversized_parts() {
        let obs = observed(&[true, false, false]);
        for bad in [0.0, -0.1, 1.5, f64::NAN] {
            assert!(LabelledShare::new(&obs, bad).is_err(), "{bad}");
        }
        assert!(LabelledShare::new(&observed(&[false, false]), 0.5).is_err());
        assert!(LabelledShare::new(&observed(&[true, true]), 0.5).is_err());
        assert!(LabelledShare::new(&observed(&[true, true]), 1.0).is_ok());
        // One complete example cannot fill half of a batch of 4.
        let mut s = LabelledShare::new(&obs, 0.5).unwrap();
        let e = s.next(4).unwrap_err().to_string();
        assert!(e.contains("fully labelled"), "{e}");
        assert_eq!(s.next(2).unwrap().size(), [2]);
    }
}
