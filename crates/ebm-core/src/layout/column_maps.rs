//! The device maps from the columns of `y` to its variables, cached per layout.

use super::YLayout;
use tch::{Device, Kind, Tensor};

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
