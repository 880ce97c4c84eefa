//! The layout of the discrete block `y`: categorical groups (one-hot) followed by binary bits.
//!
//! `y` is a float tensor `[B, D]` whose columns are the concatenated one-hot vectors of the
//! categorical *groups* (sizes `K_1, …, K_G`), followed by `n_bits` plain binary columns.
//! A *variable* is either one group or one bit, so there are `V = G + n_bits` variables and
//! `D = Σ K_g + n_bits` columns. Masks that fix or free labels are given per variable
//! (`[B, V]`) and expanded to columns (`[B, D]`) with [`ColumnMaps`].

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

mod column_maps;

pub use column_maps::ColumnMaps;

/// Layout of the discrete block `y` `[B, D]`: one-hot groups first, then binary bits.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct YLayout {
    groups: Vec<usize>,
    bits: usize,
}

impl YLayout {
    /// A layout with categorical groups of the given sizes followed by `bits` binary columns.
    ///
    /// Errors if a group has fewer than 2 values or the layout has no variable at all.
    pub fn new(groups: Vec<usize>, bits: usize) -> Result<Self> {
        if let Some(k) = groups.iter().find(|&&k| k < 2) {
            return Err(Error::config(
                "groups",
                format!("{groups:?}"),
                format!("every categorical group needs at least 2 values, found {k}"),
            ));
        }
        if groups.is_empty() && bits == 0 {
            return Err(Error::config(
                "groups",
                "[] and bits = 0",
                "a layout needs at least one variable",
            ));
        }
        Ok(Self { groups, bits })
    }

    /// Only categorical groups (e.g. `[2, 2, 2]` for the toy data, `[10]` for MNIST).
    pub fn categorical(groups: Vec<usize>) -> Result<Self> {
        Self::new(groups, 0)
    }

    /// Only binary bits (Ising-type models).
    pub fn binary(bits: usize) -> Result<Self> {
        Self::new(Vec::new(), bits)
    }

    /// Sizes of the categorical groups.
    pub fn groups(&self) -> &[usize] {
        &self.groups
    }

    /// Number of binary bits.
    pub fn bits(&self) -> usize {
        self.bits
    }

    /// Number of columns `D` of `y`.
    pub fn dim(&self) -> usize {
        self.groups.iter().sum::<usize>() + self.bits
    }

    /// Number of variables `V` (groups + bits).
    pub fn num_vars(&self) -> usize {
        self.groups.len() + self.bits
    }

    /// Number of values variable `v` can take (`K_g` for a group, 2 for a bit).
    pub fn cardinality(&self, v: usize) -> usize {
        if v < self.groups.len() {
            self.groups[v]
        } else {
            2
        }
    }

    /// Column range of variable `v` in `y`.
    pub fn columns(&self, v: usize) -> std::ops::Range<usize> {
        if v < self.groups.len() {
            let start: usize = self.groups[..v].iter().sum();
            start..start + self.groups[v]
        } else {
            let start = self.groups.iter().sum::<usize>() + (v - self.groups.len());
            start..start + 1
        }
    }

    /// Whether variable `v` is a binary bit (rather than a categorical group).
    pub fn is_bit(&self, v: usize) -> bool {
        v >= self.groups.len()
    }

    /// Total number of label configurations `Π K_g · 2^bits` (saturating).
    pub fn num_configurations(&self) -> u128 {
        (0..self.num_vars()).fold(1u128, |acc, v| {
            acc.saturating_mul(self.cardinality(v) as u128)
        })
    }

    /// Checks that `y` is `[B, D]`, holds only 0/1, and has exactly one 1 per group.
    ///
    /// Reads the tensor on the host: call it at API boundaries, never inside a sampler loop.
    pub fn validate(&self, op: &'static str, what: &'static str, y: &Tensor) -> Result<()> {
        let size = y.size();
        if size.len() != 2 || size[1] != self.dim() as i64 {
            return Err(Error::shape(
                op,
                what,
                format!("[B, {}]", self.dim()),
                &size,
            ));
        }
        if !y.is_floating_point() {
            return Err(Error::InvalidLabels {
                op,
                what,
                reason: format!("expected a floating-point tensor, got {:?}", y.kind()),
            });
        }
        let binary = y.eq(0.0).logical_or(&y.eq(1.0));
        if !bool::try_from(binary.all())? {
            return Err(Error::InvalidLabels {
                op,
                what,
                reason: "entries must be exactly 0 or 1".into(),
            });
        }
        for (g, _) in self.groups.iter().enumerate() {
            let r = self.columns(g);
            let sums = y.narrow(1, r.start as i64, r.len() as i64).sum_dim_intlist(
                [1i64].as_slice(),
                false,
                Kind::Double,
            );
            let bad = sums.ne(1.0);
            if bool::try_from(bad.any())? {
                let row = i64::try_from(bad.nonzero().get(0).get(0))?;
                return Err(Error::InvalidLabels {
                    op,
                    what,
                    reason: format!("group {g} is not one-hot in row {row}"),
                });
            }
        }
        Ok(())
    }

    /// One-hot encoding of integer values `[B, V]` (group index or bit value per variable)
    /// into `y` `[B, D]` of the given float kind.
    pub fn encode(&self, values: &Tensor, kind: Kind) -> Result<Tensor> {
        let size = values.size();
        if size.len() != 2 || size[1] != self.num_vars() as i64 {
            return Err(Error::shape(
                "YLayout::encode",
                "values",
                format!("[B, {}]", self.num_vars()),
                &size,
            ));
        }
        let mut parts = Vec::with_capacity(self.num_vars());
        for (g, &k) in self.groups.iter().enumerate() {
            let col = values.select(1, g as i64);
            let bad = col.lt(0).logical_or(&col.ge(k as i64));
            if bool::try_from(bad.any())? {
                return Err(Error::InvalidLabels {
                    op: "YLayout::encode",
                    what: "values",
                    reason: format!("group {g} has a value outside 0..{k}"),
                });
            }
            parts.push(col.one_hot(k as i64).to_kind(kind));
        }
        if self.bits > 0 {
            let bits = values.narrow(1, self.groups.len() as i64, self.bits as i64);
            let bad = bits.lt(0).logical_or(&bits.gt(1));
            if bool::try_from(bad.any())? {
                return Err(Error::InvalidLabels {
                    op: "YLayout::encode",
                    what: "values",
                    reason: "bits must be 0 or 1".into(),
                });
            }
            parts.push(bits.to_kind(kind));
        }
        Ok(Tensor::cat(&parts, 1))
    }

    /// Integer values `[B, V]` (int64) of a valid `y` `[B, D]`: the argmax of each group, the
    /// value of each bit. Runs on the device; no host synchronisation.
    pub fn decode(&self, y: &Tensor) -> Tensor {
        let mut parts = Vec::with_capacity(self.num_vars());
        for g in 0..self.groups.len() {
            let r = self.columns(g);
            parts.push(y.narrow(1, r.start as i64, r.len() as i64).argmax(1, true));
        }
        if self.bits > 0 {
            let start = self.groups.iter().sum::<usize>() as i64;
            parts.push(y.narrow(1, start, self.bits as i64).to_kind(Kind::Int64));
        }
        Tensor::cat(&parts, 1)
    }

    /// All label configurations as integer values `[C, V]` in lexicographic order (the last
    /// variable changes fastest), refusing when there are more than `limit`.
    pub fn enumerate_values(&self, limit: u64) -> Result<Tensor> {
        let count = self.num_configurations();
        if count > limit as u128 {
            return Err(Error::TooManyConfigurations {
                op: "YLayout::enumerate_values",
                count,
                limit,
            });
        }
        let v = self.num_vars();
        let c = count as usize;
        let mut data = vec![0i64; c * v];
        for i in 0..c {
            let mut rest = i;
            for var in (0..v).rev() {
                let k = self.cardinality(var);
                data[i * v + var] = (rest % k) as i64;
                rest /= k;
            }
        }
        Ok(Tensor::from_slice(&data).view([c as i64, v as i64]))
    }
}

#[cfg(test)]
mod tests;
