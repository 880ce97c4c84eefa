//! The layout of the discrete block `y`: categorical groups (one-hot) followed by binary bits.
//!
//! `y` is a float tensor `[B, D]` whose columns are the concatenated one-hot vectors of the
//! categorical *groups* (sizes `K_1, …, K_G`), followed by `n_bits` plain binary columns.
//! A *variable* is either one group or one bit, so there are `V = G + n_bits` variables and
//! `D = Σ K_g + n_bits` columns. Masks that fix or free labels are given per variable
//! (`[B, V]`) and expanded to columns (`[B, D]`) with [`ColumnMaps`].

use crate::error::{Error, Result};
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

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

/// Device tensors that map columns of `y` to variables, used by the discrete kernels.
///
/// Every map is a vector of length `D` or `V`, so memory and the cost of each use grow
/// linearly in `D`: sums over a variable's columns are segment operations (`index_add` into
/// `[B, V]`, then `index_select` back to `[B, D]`), not products with a dense `[D, D]` matrix.
/// [`ColumnMaps::for_layout`] builds them once per `(layout, device)` and hands out
/// shallow copies (shared storage, no host loop and no host-to-device copy per state).
#[derive(Debug)]
pub struct ColumnMaps {
    /// `[D]` bool: true for columns of categorical groups, false for bits.
    pub categorical: Tensor,
    /// `[D]` int64: the variable index of every column.
    pub var_of_col: Tensor,
    /// `[D]` int64: the value a column stands for (position in its group; 1 for a bit).
    pub value_of_col: Tensor,
    /// `[V]` int64: number of values of each variable.
    pub cardinality: Tensor,
    max_cardinality: i64,
    num_vars: i64,
}

/// The key of the per-layout cache of [`ColumnMaps::for_layout`].
type MapsKey = (YLayout, Device);

/// Entries kept by the cache before it is emptied (a program uses a handful of layouts).
const MAPS_CACHE_LIMIT: usize = 64;

fn maps_cache() -> &'static std::sync::Mutex<std::collections::HashMap<MapsKey, ColumnMaps>> {
    static CACHE: std::sync::OnceLock<
        std::sync::Mutex<std::collections::HashMap<MapsKey, ColumnMaps>>,
    > = std::sync::OnceLock::new();
    CACHE.get_or_init(Default::default)
}

impl ColumnMaps {
    /// Builds the maps for `layout` on `device` (one host loop over the `D` columns and four
    /// small host-to-device copies; the maps are integer and bool, so they serve states of
    /// any float kind). Prefer [`ColumnMaps::for_layout`], which does this once per layout.
    pub fn new(layout: &YLayout, device: Device) -> Self {
        let d = layout.dim();
        let mut cat = vec![false; d];
        let mut var = vec![0i64; d];
        let mut val = vec![0i64; d];
        let nv = layout.num_vars();
        let card: Vec<i64> = (0..nv).map(|v| layout.cardinality(v) as i64).collect();
        for v in 0..nv {
            let r = layout.columns(v);
            for i in r.clone() {
                var[i] = v as i64;
                val[i] = if layout.is_bit(v) {
                    1
                } else {
                    (i - r.start) as i64
                };
                cat[i] = !layout.is_bit(v);
            }
        }
        Self {
            categorical: Tensor::from_slice(&cat).to_device(device),
            var_of_col: Tensor::from_slice(&var).to_device(device),
            value_of_col: Tensor::from_slice(&val).to_device(device),
            cardinality: Tensor::from_slice(&card).to_device(device),
            max_cardinality: card.iter().copied().max().unwrap_or(2),
            num_vars: nv as i64,
        }
    }

    /// The maps of `layout` on `device`, built on the first call for this `(layout, device)`
    /// and shared afterwards: the tensors returned are shallow copies of the cached ones (the
    /// same storage; the maps are never written).
    pub fn for_layout(layout: &YLayout, device: Device) -> Self {
        let key = (layout.clone(), device);
        let mut cache = match maps_cache().lock() {
            Ok(c) => c,
            // A panic while the lock was held cannot leave a half-written entry (entries are
            // inserted whole), so the cache stays usable.
            Err(poisoned) => poisoned.into_inner(),
        };
        if let Some(m) = cache.get(&key) {
            return m.shallow_clone();
        }
        if cache.len() >= MAPS_CACHE_LIMIT {
            cache.clear();
        }
        let m = Self::new(layout, device);
        let out = m.shallow_clone();
        cache.insert(key, m);
        out
    }

    /// A copy sharing every tensor's storage.
    pub fn shallow_clone(&self) -> Self {
        Self {
            categorical: self.categorical.shallow_clone(),
            var_of_col: self.var_of_col.shallow_clone(),
            value_of_col: self.value_of_col.shallow_clone(),
            cardinality: self.cardinality.shallow_clone(),
            max_cardinality: self.max_cardinality,
            num_vars: self.num_vars,
        }
    }

    /// The largest number of values of any variable (2 for a layout of bits only), from the
    /// layout: reading it needs no host synchronisation.
    pub fn max_cardinality(&self) -> i64 {
        self.max_cardinality
    }

    /// The number of variables `V` (groups and bits), from the layout.
    pub fn num_vars(&self) -> i64 {
        self.num_vars
    }

    /// Expands a per-variable mask `[B, V]` (or `[V]`) to a per-column mask `[B, D]` (or `[D]`).
    pub fn expand_var_mask(&self, var_mask: &Tensor) -> Tensor {
        var_mask.index_select(-1, &self.var_of_col)
    }

    /// Sums `t` `[B, D]` over the columns of each variable: `[B, V]` (float kinds).
    /// Cost `O(B·D)`.
    pub fn sum_per_var(&self, t: &Tensor) -> Tensor {
        let b = t.size()[0];
        Tensor::zeros([b, self.num_vars], (t.kind(), t.device())).index_add(1, &self.var_of_col, t)
    }

    /// For every column, the sum of `t` `[B, D]` over the columns of the same variable:
    /// `[B, D]` — for one-hot `y`, `sum_within_var(g * y)` puts `g` at each group's current
    /// value in every column of the group (and leaves a bit's own value). Cost `O(B·D)`.
    pub fn sum_within_var(&self, t: &Tensor) -> Tensor {
        self.sum_per_var(t).index_select(1, &self.var_of_col)
    }

    /// Whether any column of each variable is set in the bool mask `m` `[B, D]`: `[B, V]`.
    pub fn any_per_var(&self, m: &Tensor) -> Tensor {
        self.sum_per_var(&m.to_kind(Kind::Float)).gt(0.0)
    }

    /// `[B, D]` bool: the columns of the variable that column `cell[b]` belongs to, for each
    /// chain (`cell` `[B]` int64). Cost `O(B·D)`.
    pub fn same_var_as(&self, cell: &Tensor) -> Tensor {
        let var = self.var_of_col.index_select(0, cell); // [B]
        self.var_of_col.unsqueeze(0).eq_tensor(&var.unsqueeze(1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_and_counts() {
        let l = YLayout::new(vec![3, 2], 2).unwrap();
        assert_eq!(l.dim(), 7);
        assert_eq!(l.num_vars(), 4);
        assert_eq!(l.columns(0), 0..3);
        assert_eq!(l.columns(1), 3..5);
        assert_eq!(l.columns(3), 6..7);
        assert_eq!(l.num_configurations(), 24);
    }

    #[test]
    fn rejects_bad_layouts() {
        assert!(YLayout::new(vec![1], 0).is_err());
        assert!(YLayout::new(vec![], 0).is_err());
    }

    #[test]
    fn encode_decode_round_trip_and_validate() {
        let l = YLayout::new(vec![3, 2], 1).unwrap();
        let all = l.enumerate_values(100).unwrap();
        assert_eq!(all.size(), vec![12, 3]);
        let y = l.encode(&all, Kind::Double).unwrap();
        l.validate("test", "y", &y).unwrap();
        assert!(l.decode(&y).equal(&all));
        assert!(l.enumerate_values(11).is_err());
    }

    #[test]
    fn validate_rejects_non_one_hot_and_bad_shapes() {
        let l = YLayout::categorical(vec![2, 2]).unwrap();
        let bad = Tensor::from_slice(&[1.0f64, 1.0, 0.0, 1.0]).view([1, 4]);
        assert!(matches!(
            l.validate("t", "y", &bad),
            Err(Error::InvalidLabels { .. })
        ));
        let half = Tensor::from_slice(&[0.5f64, 0.5, 0.0, 1.0]).view([1, 4]);
        assert!(l.validate("t", "y", &half).is_err());
        let wrong = Tensor::zeros([2, 3], (Kind::Double, Device::Cpu));
        assert!(matches!(
            l.validate("t", "y", &wrong),
            Err(Error::Shape { .. })
        ));
        let ints = Tensor::from_slice(&[1i64, 0, 0, 1]).view([1, 4]);
        assert!(l.validate("t", "y", &ints).is_err());
    }

    /// The segment operations agree with the dense same-variable matrix they replace, on a
    /// layout of groups and bits.
    #[test]
    fn column_maps() {
        let l = YLayout::new(vec![2, 3], 2).unwrap();
        let m = ColumnMaps::new(&l, Device::Cpu);
        // The dense [D, D] map: 1 where two columns belong to the same variable.
        let d = l.dim();
        let mut same = vec![0f64; d * d];
        for v in 0..l.num_vars() {
            for i in l.columns(v) {
                for j in l.columns(v) {
                    same[i * d + j] = 1.0;
                }
            }
        }
        let same = Tensor::from_slice(&same).view([d as i64, d as i64]);
        let t = Tensor::randn([5, d as i64], (Kind::Double, Device::Cpu));
        assert!(m
            .sum_within_var(&t)
            .allclose(&t.matmul(&same), 1e-12, 1e-12, false));
        let cell = Tensor::from_slice(&[0i64, 3, 5, 6, 1]);
        let dense = cell
            .one_hot(d as i64)
            .to_kind(Kind::Double)
            .matmul(&same)
            .gt(0.0);
        assert!(m.same_var_as(&cell).equal(&dense));
        let mask =
            Tensor::from_slice(&[true, false, false, true, false, false, false]).view([1, 7]);
        let any = Tensor::from_slice(&[true, true, false, false]).view([1, 4]);
        assert!(m.any_per_var(&mask).equal(&any));
        let vmask = Tensor::from_slice(&[true, false, true, false]).view([1, 4]);
        let cols = m.expand_var_mask(&vmask);
        let want = Tensor::from_slice(&[true, true, false, false, false, true, false]).view([1, 7]);
        assert!(cols.equal(&want));
        assert_eq!(m.num_vars(), 4);
        // The cache hands out the same storage for the same layout.
        let a = ColumnMaps::for_layout(&l, Device::Cpu);
        let b = ColumnMaps::for_layout(&l, Device::Cpu);
        assert_eq!(a.var_of_col.data_ptr(), b.var_of_col.data_ptr());
        assert!(a.var_of_col.equal(&m.var_of_col));
    }
}
