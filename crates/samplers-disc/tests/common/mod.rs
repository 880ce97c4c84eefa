//! Shared material for the `samplers-disc` integration tests:
//!
//! * energies with a **closed form written twice** — once as a `tch` [`JointEnergy`] (what the
//!   kernels see) and once in plain Rust `f64` ([`HostModel`]: log-density and its gradient with
//!   respect to the one-hot `y`), so that proposals, acceptance probabilities and transition
//!   matrices can be recomputed independently of the code under test;
//! * host enumeration of a [`YLayout`] (configurations, one-hot rows, single-change moves);
//! * exact host transition matrices of Gibbs-with-Gradients and random-scan Gibbs, and the
//!   matrix of the real GWG kernel assembled from `Gwg::proposal` × `Gwg::step_with`;
//! * statistics: total variation, its iid Monte-Carlo quantile, χ² with pooling.
//!
//! Everything runs in `f64` on the CPU.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use ebm_core::{seed_everything, JointEnergy, JointState, YLayout};
use rand::{rngs::StdRng, Rng, SeedableRng};
use rand_distr::StandardNormal;
use samplers_disc::Gwg;
use std::cell::Cell;
use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use tch::{Device, Kind, Tensor};

/// Tensor options of every test: `f64` on the CPU.
pub const F64: (Kind, Device) = (Kind::Double, Device::Cpu);

static TORCH_RNG: Mutex<()> = Mutex::new(());

/// Seeds torch's global generator (and returns a host RNG seeded alike) while holding a lock
/// that serialises the tests of one test binary: the harness runs tests on parallel threads,
/// which would interleave their draws from the one global torch generator and make a fixed seed
/// meaningless. Keep the guard alive for the whole test.
pub fn seeded(seed: u64) -> (MutexGuard<'static, ()>, StdRng) {
    let guard = TORCH_RNG.lock().unwrap_or_else(|e| e.into_inner());
    let rng = seed_everything(seed);
    (guard, rng)
}

// -------------------------------------------------------------------------------------------
// Tensor ↔ host conversions
// -------------------------------------------------------------------------------------------

/// The dummy continuous block `x` `[B, 1]` (zeros) for energies that ignore `x`.
pub fn dummy_x(b: usize) -> Tensor {
    Tensor::zeros([b as i64, 1], F64)
}

/// A `[R, D]` `f64` tensor from host rows.
pub fn rows_to_tensor(rows: &[Vec<f64>], d: usize) -> Tensor {
    let flat: Vec<f64> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    assert_eq!(flat.len(), rows.len() * d);
    Tensor::from_slice(&flat).view([rows.len() as i64, d as i64])
}

/// All elements of a tensor, row-major, as `f64`.
pub fn to_f64(t: &Tensor) -> Vec<f64> {
    Vec::<f64>::try_from(&t.to_kind(Kind::Double).contiguous().view(-1)).unwrap()
}

/// All elements of a bool tensor, row-major.
pub fn to_bool(t: &Tensor) -> Vec<bool> {
    Vec::<bool>::try_from(&t.to_kind(Kind::Bool).contiguous().view(-1)).unwrap()
}

/// All elements of an integer tensor, row-major.
pub fn to_i64(t: &Tensor) -> Vec<i64> {
    Vec::<i64>::try_from(&t.to_kind(Kind::Int64).contiguous().view(-1)).unwrap()
}

/// A host standard-normal draw.
pub fn normal(rng: &mut StdRng) -> f64 {
    rng.sample::<f64, _>(StandardNormal)
}

// -------------------------------------------------------------------------------------------
// Host enumeration of a layout
// -------------------------------------------------------------------------------------------

/// Every configuration (value of each variable) of `layout`, in mixed-radix order with the
/// last variable changing fastest. Written independently of `YLayout::enumerate_values`.
pub fn host_configs(layout: &YLayout) -> Vec<Vec<usize>> {
    let v = layout.num_vars();
    let cards: Vec<usize> = (0..v).map(|i| layout.cardinality(i)).collect();
    let total: usize = cards.iter().product();
    let mut out = Vec::with_capacity(total);
    let mut cur = vec![0usize; v];
    for _ in 0..total {
        out.push(cur.clone());
        for i in (0..v).rev() {
            cur[i] += 1;
            if cur[i] < cards[i] {
                break;
            }
            cur[i] = 0;
        }
    }
    out
}

/// Mixed-radix index of a configuration (the position in [`host_configs`]).
pub fn config_index(layout: &YLayout, vals: &[usize]) -> usize {
    vals.iter()
        .enumerate()
        .fold(0, |acc, (v, &k)| acc * layout.cardinality(v) + k)
}

/// The one-hot row `y` `[D]` of a configuration: one-hot groups, then bits.
pub fn one_hot(layout: &YLayout, vals: &[usize]) -> Vec<f64> {
    let mut y = vec![0.0; layout.dim()];
    for (v, &k) in vals.iter().enumerate() {
        let r = layout.columns(v);
        if layout.is_bit(v) {
            y[r.start] = k as f64;
        } else {
            y[r.start + k] = 1.0;
        }
    }
    y
}

/// The configuration of a valid one-hot row (panics on an invalid row).
pub fn decode_row(layout: &YLayout, row: &[f64]) -> Vec<usize> {
    (0..layout.num_vars())
        .map(|v| {
            let r = layout.columns(v);
            if layout.is_bit(v) {
                let b = row[r.start];
                assert!(b == 0.0 || b == 1.0, "bit {v} is {b}");
                b as usize
            } else {
                let hot: Vec<usize> = r.clone().filter(|&c| row[c] == 1.0).collect();
                let zeros = r.clone().filter(|&c| row[c] == 0.0).count();
                assert!(
                    hot.len() == 1 && zeros == r.len() - 1,
                    "group {v} not one-hot: {:?}",
                    &row[r]
                );
                hot[0] - r.start
            }
        })
        .collect()
}

/// Configuration indices ([`config_index`]) of every row of `y` `[B, D]`.
pub fn decode_indices(layout: &YLayout, y: &Tensor) -> Vec<usize> {
    let d = layout.dim();
    let flat = to_f64(y);
    flat.chunks(d)
        .map(|row| config_index(layout, &decode_row(layout, row)))
        .collect()
}

/// The variable a column belongs to.
pub fn var_of_col(layout: &YLayout, col: usize) -> usize {
    (0..layout.num_vars())
        .find(|&v| layout.columns(v).contains(&col))
        .unwrap()
}

/// The single change that proposal cell `cell` stands for at `vals`: `(variable, new value)`,
/// or `None` when the cell is the current value of a group (not a move).
pub fn cell_move(layout: &YLayout, vals: &[usize], cell: usize) -> Option<(usize, usize)> {
    let v = var_of_col(layout, cell);
    let r = layout.columns(v);
    if layout.is_bit(v) {
        Some((v, 1 - vals[v]))
    } else {
        let k = cell - r.start;
        (k != vals[v]).then_some((v, k))
    }
}

/// `vals` with variable `v` set to `k`.
pub fn with_value(vals: &[usize], v: usize, k: usize) -> Vec<usize> {
    let mut out = vals.to_vec();
    out[v] = k;
    out
}

/// The cell that proposes the reverse of the move `vals → (v := k)`: the old value's column
/// for a group, the same bit for a bit.
pub fn reverse_cell(layout: &YLayout, vals: &[usize], v: usize) -> usize {
    let r = layout.columns(v);
    if layout.is_bit(v) {
        r.start
    } else {
        r.start + vals[v]
    }
}

/// The configurations of `layout` whose clamped variables (`fixed[v]`) take the values of
/// `anchor`: the conditional space a clamped chain lives on.
pub fn conditional_configs(layout: &YLayout, fixed: &[bool], anchor: &[usize]) -> Vec<Vec<usize>> {
    host_configs(layout)
        .into_iter()
        .filter(|c| (0..c.len()).all(|v| !fixed[v] || c[v] == anchor[v]))
        .collect()
}

/// Map from configuration to its position in `states`.
pub fn index_map(states: &[Vec<usize>]) -> HashMap<Vec<usize>, usize> {
    states
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, s)| (s, i))
        .collect()
}

// -------------------------------------------------------------------------------------------
// Energies with host closed forms
// -------------------------------------------------------------------------------------------

/// An energy whose log-density and gradient are also written in plain Rust.
pub trait HostModel: JointEnergy {
    /// `f(y)` from the closed form (higher = more probable); `y` is one one-hot row `[D]`.
    fn host_log_p(&self, y: &[f64]) -> f64;
    /// `∂f/∂y` `[D]` at `y`, `y` treated as real, from the closed form.
    fn host_grad(&self, y: &[f64]) -> Vec<f64>;
}

fn host_matvec(a: &[f64], y: &[f64]) -> Vec<f64> {
    let d = y.len();
    (0..d)
        .map(|i| (0..d).map(|j| a[i * d + j] * y[j]).sum())
        .collect()
}

fn random_symmetric(rng: &mut StdRng, d: usize, sd: f64) -> Vec<f64> {
    let mut a = vec![0.0; d * d];
    for i in 0..d {
        for j in i..d {
            let v = sd * normal(rng);
            a[i * d + j] = v;
            a[j * d + i] = v;
        }
    }
    a
}

/// `f(y) = w·y + ½ yᵀ A y` with symmetric `A`; `∂f/∂y = w + A y`. Used to check the
/// proposal against a closed-form gradient.
pub struct Quadratic {
    layout: YLayout,
    w: Vec<f64>,
    a: Vec<f64>,
    wt: Tensor,
    at: Tensor,
}

impl Quadratic {
    /// Weights `w ~ N(0, 1)`, `A_ij ~ N(0, 0.5²)` from a host RNG seeded with `seed`.
    pub fn random(layout: YLayout, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let d = layout.dim();
        let w: Vec<f64> = (0..d).map(|_| normal(&mut rng)).collect();
        let a = random_symmetric(&mut rng, d, 0.5);
        let wt = Tensor::from_slice(&w);
        let at = Tensor::from_slice(&a).view([d as i64, d as i64]);
        Self {
            layout,
            w,
            a,
            wt,
            at,
        }
    }
}

impl JointEnergy for Quadratic {
    fn y_layout(&self) -> &YLayout {
        &self.layout
    }
    fn log_density_from_features(&self, _h: &Tensor, y: &Tensor) -> Tensor {
        y.mv(&self.wt)
            + (y.matmul(&self.at) * y).sum_dim_intlist([1i64].as_slice(), false, None) * 0.5
    }
}

impl HostModel for Quadratic {
    fn host_log_p(&self, y: &[f64]) -> f64 {
        let ay = host_matvec(&self.a, y);
        (0..y.len())
            .map(|i| self.w[i] * y[i] + 0.5 * y[i] * ay[i])
            .sum()
    }
    fn host_grad(&self, y: &[f64]) -> Vec<f64> {
        let ay = host_matvec(&self.a, y);
        (0..y.len()).map(|i| self.w[i] + ay[i]).collect()
    }
}

/// A non-quadratic log-density on `y`:
/// `f(y) = s · [ v·tanh(W y + b) + ½ yᵀ A y + Σ_t c_t y_{i_t} y_{j_t} y_{k_t} + u·y ]`
/// (a tiny tanh MLP plus pairwise and triple interactions), so that GWG's first-order estimate
/// of `f(y') − f(y)` is inexact. All weights from a seeded host RNG; `s` scales the whole
/// log-density (robustness tests use `s = ±1e3`).
pub struct Mlp {
    layout: YLayout,
    scale: f64,
    hidden: usize,
    w1: Vec<f64>,
    b1: Vec<f64>,
    v: Vec<f64>,
    a: Vec<f64>,
    u: Vec<f64>,
    triples: Vec<(usize, usize, usize, f64)>,
    /// The triples as index tensors `(i, j, k)` and coefficients `c` (`None` without triples).
    triple_t: Option<(Tensor, Tensor, Tensor, Tensor)>,
    w1t: Tensor,
    b1t: Tensor,
    vt: Tensor,
    at: Tensor,
    ut: Tensor,
}

impl Mlp {
    /// Random weights: `W ~ N(0, 1)`, `b ~ N(0, 0.5²)`, `v ~ N(0, 1)`, `A ~ N(0, 0.3²)`,
    /// `u ~ N(0, 0.5²)`, and `D` triple terms on random column triples of distinct
    /// variables with `c ~ N(0, 1)`; the whole log-density multiplied by `scale`.
    pub fn random(layout: YLayout, hidden: usize, scale: f64, seed: u64) -> Self {
        let mut rng = StdRng::seed_from_u64(seed);
        let d = layout.dim();
        let w1: Vec<f64> = (0..hidden * d).map(|_| normal(&mut rng)).collect();
        let b1: Vec<f64> = (0..hidden).map(|_| 0.5 * normal(&mut rng)).collect();
        let v: Vec<f64> = (0..hidden).map(|_| normal(&mut rng)).collect();
        let a = random_symmetric(&mut rng, d, 0.3);
        let u: Vec<f64> = (0..d).map(|_| 0.5 * normal(&mut rng)).collect();
        let mut triples = Vec::new();
        if layout.num_vars() >= 3 {
            while triples.len() < d {
                let i = rng.random_range(0..d);
                let j = rng.random_range(0..d);
                let k = rng.random_range(0..d);
                let (vi, vj, vk) = (
                    var_of_col(&layout, i),
                    var_of_col(&layout, j),
                    var_of_col(&layout, k),
                );
                if vi != vj && vj != vk && vi != vk {
                    triples.push((i, j, k, normal(&mut rng)));
                }
            }
        }
        let (h, dd) = (hidden as i64, d as i64);
        let col = |f: fn(&(usize, usize, usize, f64)) -> usize| {
            Tensor::from_slice(&triples.iter().map(|t| f(t) as i64).collect::<Vec<_>>())
        };
        let triple_t = (!triples.is_empty()).then(|| {
            (
                col(|t| t.0),
                col(|t| t.1),
                col(|t| t.2),
                Tensor::from_slice(&triples.iter().map(|t| t.3).collect::<Vec<_>>()),
            )
        });
        Self {
            triple_t,
            w1t: Tensor::from_slice(&w1).view([h, dd]),
            b1t: Tensor::from_slice(&b1),
            vt: Tensor::from_slice(&v),
            at: Tensor::from_slice(&a).view([dd, dd]),
            ut: Tensor::from_slice(&u),
            layout,
            scale,
            hidden,
            w1,
            b1,
            v,
            a,
            u,
            triples,
        }
    }

    fn hidden_pre(&self, y: &[f64]) -> Vec<f64> {
        let d = y.len();
        (0..self.hidden)
            .map(|k| self.b1[k] + (0..d).map(|i| self.w1[k * d + i] * y[i]).sum::<f64>())
            .collect()
    }
}

impl JointEnergy for Mlp {
    fn y_layout(&self) -> &YLayout {
        &self.layout
    }
    fn log_density_from_features(&self, _h: &Tensor, y: &Tensor) -> Tensor {
        let dims = [1i64];
        let mlp = (y.matmul(&self.w1t.tr()) + &self.b1t).tanh().mv(&self.vt);
        let pair = (y.matmul(&self.at) * y).sum_dim_intlist(dims.as_slice(), false, None) * 0.5;
        let mut f = mlp + pair + y.mv(&self.ut);
        if let Some((ti, tj, tk, tc)) = &self.triple_t {
            let prod = y.index_select(1, ti) * y.index_select(1, tj) * y.index_select(1, tk);
            f += prod.mv(tc);
        }
        f * self.scale
    }
}

impl HostModel for Mlp {
    fn host_log_p(&self, y: &[f64]) -> f64 {
        let pre = self.hidden_pre(y);
        let mlp: f64 = (0..self.hidden).map(|k| self.v[k] * pre[k].tanh()).sum();
        let ay = host_matvec(&self.a, y);
        let pair: f64 = (0..y.len()).map(|i| 0.5 * y[i] * ay[i]).sum();
        let lin: f64 = (0..y.len()).map(|i| self.u[i] * y[i]).sum();
        let tri: f64 = self
            .triples
            .iter()
            .map(|&(i, j, k, c)| c * y[i] * y[j] * y[k])
            .sum();
        self.scale * (mlp + pair + lin + tri)
    }
    fn host_grad(&self, y: &[f64]) -> Vec<f64> {
        let d = y.len();
        let pre = self.hidden_pre(y);
        let ay = host_matvec(&self.a, y);
        let mut g: Vec<f64> = (0..d).map(|i| ay[i] + self.u[i]).collect();
        for (k, p) in pre.iter().enumerate() {
            let t = p.tanh();
            let coef = self.v[k] * (1.0 - t * t);
            for (i, gi) in g.iter_mut().enumerate() {
                *gi += coef * self.w1[k * d + i];
            }
        }
        for &(i, j, k, c) in &self.triples {
            g[i] += c * y[j] * y[k];
            g[j] += c * y[i] * y[k];
            g[k] += c * y[i] * y[j];
        }
        g.iter().map(|x| x * self.scale).collect()
    }
}

/// Edges `(a, b)` of an `L × L` periodic square lattice (right and down neighbours of every
/// site, sites numbered row-major); `2 L²` distinct edges for `L ≥ 3`.
pub fn periodic_edges(side: usize) -> Vec<(usize, usize)> {
    let mut e = Vec::new();
    for r in 0..side {
        for c in 0..side {
            let s = r * side + c;
            e.push((s, r * side + (c + 1) % side));
            e.push((s, ((r + 1) % side) * side + c));
        }
    }
    e
}

fn adjacency(n: usize, edges: &[(usize, usize)]) -> Tensor {
    let mut a = vec![0.0f64; n * n];
    for &(i, j) in edges {
        a[i * n + j] += 1.0;
        a[j * n + i] += 1.0;
    }
    Tensor::from_slice(&a).view([n as i64, n as i64])
}

/// Periodic `L × L` Ising model on bits: `log p = J Σ_<ij> s_i s_j`, `s = 2y − 1`.
pub struct Ising {
    layout: YLayout,
    /// Coupling `J`.
    pub j: f64,
    edges: Vec<(usize, usize)>,
    adj: Tensor,
}

impl Ising {
    /// The `side × side` periodic Ising model with coupling `j`.
    pub fn new(side: usize, j: f64) -> Self {
        let n = side * side;
        let edges = periodic_edges(side);
        Self {
            layout: YLayout::binary(n).unwrap(),
            j,
            adj: adjacency(n, &edges),
            edges,
        }
    }
}

impl JointEnergy for Ising {
    fn y_layout(&self) -> &YLayout {
        &self.layout
    }
    fn log_density_from_features(&self, _h: &Tensor, y: &Tensor) -> Tensor {
        let s = y * 2.0 - 1.0;
        (s.matmul(&self.adj) * &s).sum_dim_intlist([1i64].as_slice(), false, None) * (0.5 * self.j)
    }
}

impl HostModel for Ising {
    fn host_log_p(&self, y: &[f64]) -> f64 {
        let s = |i: usize| 2.0 * y[i] - 1.0;
        self.j * self.edges.iter().map(|&(a, b)| s(a) * s(b)).sum::<f64>()
    }
    fn host_grad(&self, y: &[f64]) -> Vec<f64> {
        // ∂/∂y_i = 2 ∂/∂s_i = 2 J Σ_{edges ∋ i} s_other.
        let mut g = vec![0.0; y.len()];
        for &(a, b) in &self.edges {
            g[a] += 2.0 * self.j * (2.0 * y[b] - 1.0);
            g[b] += 2.0 * self.j * (2.0 * y[a] - 1.0);
        }
        g
    }
}

/// Periodic `L × L` Potts model with `K` states on one-hot groups:
/// `log p = J Σ_<ij> [y_i = y_j]` (the dot product of the two one-hot vectors).
pub struct Potts {
    layout: YLayout,
    /// Coupling `J`.
    pub j: f64,
    k: usize,
    sites: usize,
    edges: Vec<(usize, usize)>,
    adj: Tensor,
}

impl Potts {
    /// The `side × side` periodic Potts model with `k` states and coupling `j`.
    pub fn new(side: usize, k: usize, j: f64) -> Self {
        let n = side * side;
        let edges = periodic_edges(side);
        Self {
            layout: YLayout::categorical(vec![k; n]).unwrap(),
            j,
            k,
            sites: n,
            adj: adjacency(n, &edges),
            edges,
        }
    }
}

impl JointEnergy for Potts {
    fn y_layout(&self) -> &YLayout {
        &self.layout
    }
    fn log_density_from_features(&self, _h: &Tensor, y: &Tensor) -> Tensor {
        let yv = y.view([-1, self.sites as i64, self.k as i64]);
        let nb = self.adj.matmul(&yv);
        (nb * yv).sum_dim_intlist([1i64, 2].as_slice(), false, None) * (0.5 * self.j)
    }
}

impl HostModel for Potts {
    fn host_log_p(&self, y: &[f64]) -> f64 {
        let k = self.k;
        let dot = |a: usize, b: usize| (0..k).map(|c| y[a * k + c] * y[b * k + c]).sum::<f64>();
        self.j * self.edges.iter().map(|&(a, b)| dot(a, b)).sum::<f64>()
    }
    fn host_grad(&self, y: &[f64]) -> Vec<f64> {
        let k = self.k;
        let mut g = vec![0.0; y.len()];
        for &(a, b) in &self.edges {
            for c in 0..k {
                g[a * k + c] += self.j * y[b * k + c];
                g[b * k + c] += self.j * y[a * k + c];
            }
        }
        g
    }
}

/// Wraps an energy and counts the calls into it: head forwards, rows evaluated by the head,
/// and feature-stage forwards. With `with_features`, the wrapper has a feature stage
/// `h(x) = 2x` (which the wrapped energy ignores), so that the test can check that a kernel
/// step never recomputes features.
pub struct Counting<E> {
    /// The wrapped energy.
    pub inner: E,
    /// Number of calls of `log_density_from_features`.
    pub head_forwards: Cell<u64>,
    /// Total number of rows passed to `log_density_from_features`.
    pub head_rows: Cell<u64>,
    /// Number of calls of `features`.
    pub feature_forwards: Cell<u64>,
    with_features: bool,
}

impl<E> Counting<E> {
    /// Counters at zero.
    pub fn new(inner: E, with_features: bool) -> Self {
        Self {
            inner,
            head_forwards: Cell::new(0),
            head_rows: Cell::new(0),
            feature_forwards: Cell::new(0),
            with_features,
        }
    }
}

impl<E: JointEnergy> JointEnergy for Counting<E> {
    fn y_layout(&self) -> &YLayout {
        self.inner.y_layout()
    }
    fn features(&self, x: &Tensor) -> Option<Tensor> {
        if self.with_features {
            self.feature_forwards.set(self.feature_forwards.get() + 1);
            Some(x * 2.0)
        } else {
            None
        }
    }
    fn log_density_from_features(&self, h: &Tensor, y: &Tensor) -> Tensor {
        self.head_forwards.set(self.head_forwards.get() + 1);
        self.head_rows
            .set(self.head_rows.get() + h.size()[0] as u64);
        self.inner.log_density_from_features(h, y)
    }
}

// -------------------------------------------------------------------------------------------
// Exact host kernels
// -------------------------------------------------------------------------------------------

/// `log q(cell | y)` `[D]` of GWG at configuration `vals` with gradient `grad` (`∂f/∂y`),
/// written from the definition: scores `g[i,k] − g[i,cur_i]` (group `i` set to `k ≠ cur_i`) and
/// `(1 − 2 y_j) g_j` (flip bit `j`) of free variables, divided by `temp`, one softmax over all of
/// them; `-inf` for every other cell. All `-inf` when nothing is free.
pub fn host_gwg_log_q(
    layout: &YLayout,
    vals: &[usize],
    grad: &[f64],
    free: &[bool],
    temp: f64,
) -> Vec<f64> {
    let y = one_hot(layout, vals);
    let mut s = vec![f64::NEG_INFINITY; layout.dim()];
    for v in 0..layout.num_vars() {
        if !free[v] {
            continue;
        }
        let r = layout.columns(v);
        if layout.is_bit(v) {
            s[r.start] = (1.0 - 2.0 * y[r.start]) * grad[r.start] / temp;
        } else {
            let cur = r.start + vals[v];
            for c in r {
                if c != cur {
                    s[c] = (grad[c] - grad[cur]) / temp;
                }
            }
        }
    }
    log_softmax(&s)
}

/// Log-softmax over the finite entries of `s` (the `-inf` entries stay `-inf`).
pub fn log_softmax(s: &[f64]) -> Vec<f64> {
    let m = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if m == f64::NEG_INFINITY {
        return s.to_vec();
    }
    let lse = m + s.iter().map(|&x| (x - m).exp()).sum::<f64>().ln();
    s.iter().map(|&x| x - lse).collect()
}

/// One proposable GWG move from a state of the host matrix.
#[derive(Clone, Debug)]
pub struct HostMove {
    /// Index of the start state in `states`.
    pub from: usize,
    /// Proposed cell (column of `y`).
    pub cell: usize,
    /// Index of the proposed state in `states`.
    pub to: usize,
    /// `log q(cell | y)`.
    pub log_q: f64,
    /// Exact acceptance `min(1, exp(f(y') − f(y)) q(y | y') / q(y' | y))`.
    pub accept: f64,
}

/// The exact GWG kernel on `states` (closed under changes of the free variables), from the
/// host closed forms only.
pub struct HostGwg {
    /// `P[i][j]`, row-stochastic, diagonal = 1 − Σ off-diagonal.
    pub p: Vec<Vec<f64>>,
    /// Every proposable move with its probability and acceptance.
    pub moves: Vec<HostMove>,
}

/// Builds [`HostGwg`] for `model` on `states` with free variables `free` and temperature `temp`.
pub fn host_gwg<M: HostModel>(
    model: &M,
    states: &[Vec<usize>],
    free: &[bool],
    temp: f64,
) -> HostGwg {
    let layout = model.y_layout();
    let idx = index_map(states);
    let n = states.len();
    let mut p = vec![vec![0.0; n]; n];
    let mut moves = Vec::new();
    for (i, s) in states.iter().enumerate() {
        let y = one_hot(layout, s);
        let f = model.host_log_p(&y);
        let lq = host_gwg_log_q(layout, s, &model.host_grad(&y), free, temp);
        for (cell, &l) in lq.iter().enumerate() {
            if l == f64::NEG_INFINITY {
                continue;
            }
            let (v, k) = cell_move(layout, s, cell).expect("proposable cell is a move");
            let t = with_value(s, v, k);
            let j = idx[&t];
            let y2 = one_hot(layout, &t);
            let f2 = model.host_log_p(&y2);
            let lq2 = host_gwg_log_q(layout, &t, &model.host_grad(&y2), free, temp);
            let back = lq2[reverse_cell(layout, s, v)];
            let log_alpha = f2 - f + back - l;
            let accept = log_alpha.min(0.0).exp();
            p[i][j] += l.exp() * accept;
            moves.push(HostMove {
                from: i,
                cell,
                to: j,
                log_q: l,
                accept,
            });
        }
    }
    set_diagonal(&mut p);
    HostGwg { p, moves }
}

/// Sets `P[i][i] = 1 − Σ_{j≠i} P[i][j]`.
pub fn set_diagonal(p: &mut [Vec<f64>]) {
    for (i, row) in p.iter_mut().enumerate() {
        let off: f64 = row
            .iter()
            .enumerate()
            .filter(|&(j, _)| j != i)
            .map(|(_, &x)| x)
            .sum();
        row[i] = 1.0 - off;
    }
}

/// The exact random-scan Gibbs kernel on `states` from the definition: pick a free variable
/// uniformly, draw it from its full conditional `∝ exp f`.
pub fn host_gibbs<M: HostModel>(model: &M, states: &[Vec<usize>], free: &[bool]) -> Vec<Vec<f64>> {
    let layout = model.y_layout();
    let idx = index_map(states);
    let n = states.len();
    let nfree = free.iter().filter(|&&b| b).count();
    let mut p = vec![vec![0.0; n]; n];
    for (i, s) in states.iter().enumerate() {
        for v in (0..layout.num_vars()).filter(|&v| free[v]) {
            let targets: Vec<Vec<usize>> = (0..layout.cardinality(v))
                .map(|k| with_value(s, v, k))
                .collect();
            let f: Vec<f64> = targets
                .iter()
                .map(|t| model.host_log_p(&one_hot(layout, t)))
                .collect();
            let lp = log_softmax(&f);
            for (t, l) in targets.iter().zip(lp) {
                p[i][idx[t]] += l.exp() / nfree as f64;
            }
        }
    }
    p
}

/// `π ∝ exp f` on `states` from the host closed form.
pub fn host_pi<M: HostModel>(model: &M, states: &[Vec<usize>]) -> Vec<f64> {
    let layout = model.y_layout();
    let f: Vec<f64> = states
        .iter()
        .map(|s| model.host_log_p(&one_hot(layout, s)))
        .collect();
    log_softmax(&f).into_iter().map(f64::exp).collect()
}

/// `max_ij |π_i P_ij − π_j P_ji|`.
pub fn detailed_balance_residual(pi: &[f64], p: &[Vec<f64>]) -> f64 {
    let n = pi.len();
    let mut worst = 0.0f64;
    for i in 0..n {
        for j in 0..n {
            worst = worst.max((pi[i] * p[i][j] - pi[j] * p[j][i]).abs());
        }
    }
    worst
}

/// `‖πP − π‖∞`.
pub fn stationarity_residual(pi: &[f64], p: &[Vec<f64>]) -> f64 {
    let n = pi.len();
    (0..n)
        .map(|j| ((0..n).map(|i| pi[i] * p[i][j]).sum::<f64>() - pi[j]).abs())
        .fold(0.0, f64::max)
}

/// `max_ij |A_ij − B_ij|`.
pub fn max_abs_diff(a: &[Vec<f64>], b: &[Vec<f64>]) -> f64 {
    a.iter()
        .zip(b)
        .flat_map(|(r, s)| r.iter().zip(s).map(|(x, y)| (x - y).abs()))
        .fold(0.0, f64::max)
}

// -------------------------------------------------------------------------------------------
// The real kernel's matrix
// -------------------------------------------------------------------------------------------

/// The GWG kernel's transition matrix assembled from the kernel itself: every (state, move)
/// pair is one chain of a batch; `Gwg::proposal` gives `q(cell | y)`, `Gwg::step_with` gives
/// the acceptance it reports for that proposal; `P[i][j] = Σ q · accept_prob`, diagonal
/// `1 − Σ`. Also checks that `step_with` moves an accepting chain to exactly the proposed
/// neighbour and leaves a rejecting one in place.
pub struct KernelGwg {
    /// Row-stochastic matrix on `states`.
    pub p: Vec<Vec<f64>>,
    /// One entry per batch row: `(from, cell, to, log_q, accept_prob)`.
    pub rows: Vec<(usize, usize, usize, f64, f64)>,
}

/// Builds [`KernelGwg`]; `fixed` `[V]` clamps variables (all states must agree on them).
pub fn kernel_gwg<E: JointEnergy>(
    energy: &E,
    kernel: &Gwg,
    states: &[Vec<usize>],
    fixed: Option<&[bool]>,
) -> KernelGwg {
    let layout = energy.y_layout();
    let idx = index_map(states);
    let nv = layout.num_vars();
    let free: Vec<bool> = (0..nv).map(|v| !matches!(fixed, Some(f) if f[v])).collect();
    let mut pairs = Vec::new();
    for (i, s) in states.iter().enumerate() {
        for cell in 0..layout.dim() {
            if let Some((v, k)) = cell_move(layout, s, cell) {
                if free[v] {
                    pairs.push((i, cell, idx[&with_value(s, v, k)]));
                }
            }
        }
    }
    let ys: Vec<Vec<f64>> = pairs
        .iter()
        .map(|&(i, _, _)| one_hot(layout, &states[i]))
        .collect();
    let y = rows_to_tensor(&ys, layout.dim());
    let mut state = JointState::new(energy, &dummy_x(pairs.len()), &y).unwrap();
    if let Some(f) = fixed {
        state = state.with_fixed_y(&Tensor::from_slice(f)).unwrap();
    }
    let cells = Tensor::from_slice(&pairs.iter().map(|p| p.1 as i64).collect::<Vec<_>>());
    let prop = kernel.proposal(&state, state.y(), state.eval().grad_y(), state.y_free());
    let lq = to_f64(&prop.log_probs.gather(1, &cells.unsqueeze(1), false));
    let log_u = Tensor::full([pairs.len() as i64], f64::NEG_INFINITY, F64);
    let (next, info) = kernel.step_with(energy, state, &cells, &log_u).unwrap();
    let acc = to_f64(&info.accept_prob);
    let accepted = to_bool(&info.accepted);
    let ends = decode_indices(layout, next.y());
    let n = states.len();
    let mut p = vec![vec![0.0; n]; n];
    let mut rows = Vec::with_capacity(pairs.len());
    for (r, &(i, cell, j)) in pairs.iter().enumerate() {
        let expect_end = if accepted[r] { &states[j] } else { &states[i] };
        assert_eq!(
            ends[r],
            config_index(layout, expect_end),
            "step_with moved chain {r} (state {i}, cell {cell}, accepted {}) to the wrong state",
            accepted[r]
        );
        p[i][j] += lq[r].exp() * acc[r];
        rows.push((i, cell, j, lq[r], acc[r]));
    }
    set_diagonal(&mut p);
    KernelGwg { p, rows }
}

// -------------------------------------------------------------------------------------------
// Statistics
// -------------------------------------------------------------------------------------------

/// Histogram of state indices.
pub fn counts(indices: &[usize], n_states: usize) -> Vec<u64> {
    let mut c = vec![0u64; n_states];
    for &i in indices {
        c[i] += 1;
    }
    c
}

/// Total variation `½ Σ |n_i / N − π_i|`.
pub fn tv(counts: &[u64], pi: &[f64]) -> f64 {
    let n: u64 = counts.iter().sum();
    0.5 * counts
        .iter()
        .zip(pi)
        .map(|(&c, &p)| (c as f64 / n as f64 - p).abs())
        .sum::<f64>()
}

/// Cumulative sums of `π` (for inverse-CDF sampling).
pub fn cdf(pi: &[f64]) -> Vec<f64> {
    let mut acc = 0.0;
    pi.iter()
        .map(|&p| {
            acc += p;
            acc
        })
        .collect()
}

/// `n` iid exact draws (state indices) from the distribution with cumulative sums `cdf`.
pub fn sample_exact(cdf: &[f64], n: usize, rng: &mut StdRng) -> Vec<usize> {
    let total = *cdf.last().unwrap();
    (0..n)
        .map(|_| {
            let u = rng.random::<f64>() * total;
            cdf.partition_point(|&c| c <= u).min(cdf.len() - 1)
        })
        .collect()
}

/// The null distribution of TV for `n` iid exact draws from `π`, by simulation with `reps`
/// replications: `(mean, sd, mean + 3.09 sd)` — the last is the (normal-approximation) 99.9%
/// quantile used as the threshold of the statistical tests.
pub fn iid_tv_quantile(pi: &[f64], n: usize, reps: usize, rng: &mut StdRng) -> (f64, f64, f64) {
    let c = cdf(pi);
    let tvs: Vec<f64> = (0..reps)
        .map(|_| tv(&counts(&sample_exact(&c, n, rng), pi.len()), pi))
        .collect();
    let mean = tvs.iter().sum::<f64>() / reps as f64;
    let var = tvs.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / (reps as f64 - 1.0);
    (mean, var.sqrt(), mean + 3.09 * var.sqrt())
}

/// Pearson χ² of `counts` against `π` with cells merged so that every cell expects at least 5
/// draws: cells are taken in order of increasing expected count and accumulated until the
/// running cell reaches 5 (a remainder below 5 joins the last cell). Returns `(χ², df)`.
pub fn chi2_pooled(counts: &[u64], pi: &[f64]) -> (f64, usize) {
    let n = counts.iter().sum::<u64>() as f64;
    let mut cells: Vec<(f64, f64)> = counts
        .iter()
        .zip(pi)
        .map(|(&c, &p)| (n * p, c as f64))
        .collect();
    cells.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut merged: Vec<(f64, f64)> = Vec::new();
    let (mut e, mut o) = (0.0, 0.0);
    for (ce, co) in cells {
        e += ce;
        o += co;
        if e >= 5.0 {
            merged.push((e, o));
            e = 0.0;
            o = 0.0;
        }
    }
    if e > 0.0 || o > 0.0 {
        match merged.last_mut() {
            Some(last) => {
                last.0 += e;
                last.1 += o;
            }
            None => merged.push((e, o)),
        }
    }
    let stat = merged.iter().map(|&(e, o)| (o - e).powi(2) / e).sum();
    (stat, merged.len().saturating_sub(1))
}

/// 99.9% quantile of χ²(df), Wilson–Hilferty approximation (accurate to a few per cent for
/// `df ≥ 10`).
pub fn chi2_quantile_999(df: usize) -> f64 {
    let k = df as f64;
    let z = 3.090_232;
    k * (1.0 - 2.0 / (9.0 * k) + z * (2.0 / (9.0 * k)).sqrt()).powi(3)
}

/// `n` configurations drawn uniformly, as a `[n, D]` one-hot tensor.
pub fn uniform_y(layout: &YLayout, n: usize, rng: &mut StdRng) -> Tensor {
    let rows: Vec<Vec<f64>> = (0..n)
        .map(|_| {
            let vals: Vec<usize> = (0..layout.num_vars())
                .map(|v| rng.random_range(0..layout.cardinality(v)))
                .collect();
            one_hot(layout, &vals)
        })
        .collect();
    rows_to_tensor(&rows, layout.dim())
}

/// The one-hot `[n, D]` tensor of configurations given by their indices into `configs`.
pub fn configs_to_y(layout: &YLayout, configs: &[Vec<usize>], indices: &[usize]) -> Tensor {
    let rows: Vec<Vec<f64>> = indices
        .iter()
        .map(|&i| one_hot(layout, &configs[i]))
        .collect();
    rows_to_tensor(&rows, layout.dim())
}

// -------------------------------------------------------------------------------------------
// DMALA from its definition
// -------------------------------------------------------------------------------------------

/// DMALA's step sizes: `bits` (`α`) and `groups` (`α_g`, the categorical groups'); a plain
/// `f64` is both.
#[derive(Clone, Copy, Debug)]
pub struct Alpha {
    pub bits: f64,
    pub groups: f64,
}

impl From<f64> for Alpha {
    fn from(a: f64) -> Self {
        Self { bits: a, groups: a }
    }
}

/// DMALA's proposal from `vals` with gradient `g` `[D]` and steps `alpha`, per variable: the
/// log-probability of each of its values (`-inf` for the values a clamped variable cannot
/// take). Categorical `i` at `c`: `∝ exp((g[i,k] − g[i,c]) / 2 − 1[k ≠ c] / α_g)`; bit at `b`:
/// flip with log-odds `(1 − 2b) g / 2 − 1 / (2α)`.
pub fn host_dmala_var_log_q(
    layout: &YLayout,
    vals: &[usize],
    g: &[f64],
    free: &[bool],
    alpha: impl Into<Alpha>,
) -> Vec<Vec<f64>> {
    let alpha: Alpha = alpha.into();
    (0..layout.num_vars())
        .map(|v| {
            let r = layout.columns(v);
            let card = layout.cardinality(v);
            if !free[v] {
                return (0..card)
                    .map(|k| if k == vals[v] { 0.0 } else { f64::NEG_INFINITY })
                    .collect();
            }
            if layout.is_bit(v) {
                let b = vals[v] as f64;
                let l = (1.0 - 2.0 * b) * g[r.start] / 2.0 - 1.0 / (2.0 * alpha.bits);
                let log_flip = -(1.0 + (-l).exp()).ln();
                let log_stay = -(1.0 + l.exp()).ln();
                (0..2)
                    .map(|k| if k == vals[v] { log_stay } else { log_flip })
                    .collect()
            } else {
                let gc = g[r.start + vals[v]];
                let s: Vec<f64> = (0..card)
                    .map(|k| {
                        (g[r.start + k] - gc) / 2.0
                            - if k == vals[v] {
                                0.0
                            } else {
                                1.0 / alpha.groups
                            }
                    })
                    .collect();
                log_softmax(&s)
            }
        })
        .collect()
}

/// `log q(to | from)` of DMALA from its definition.
pub fn host_dmala_log_q<M: HostModel>(
    model: &M,
    from: &[usize],
    to: &[usize],
    free: &[bool],
    alpha: impl Into<Alpha>,
) -> f64 {
    let layout = model.y_layout();
    let g = model.host_grad(&one_hot(layout, from));
    let per = host_dmala_var_log_q(layout, from, &g, free, alpha);
    to.iter().enumerate().map(|(v, &k)| per[v][k]).sum()
}

/// DMALA's exact transition matrix on `states` (a space closed under the clamps):
/// `P_ij = q(j | i) · min(1, π_j q(i | j) / (π_i q(j | i)))` for `i ≠ j`. With
/// `omit_reverse`, the deliberately wrong ratio `π_j / (π_i q(j | i))`.
pub fn host_dmala<M: HostModel>(
    model: &M,
    states: &[Vec<usize>],
    free: &[bool],
    alpha: impl Into<Alpha>,
    omit_reverse: bool,
) -> Vec<Vec<f64>> {
    let alpha: Alpha = alpha.into();
    let layout = model.y_layout();
    let n = states.len();
    let f: Vec<f64> = states
        .iter()
        .map(|s| model.host_log_p(&one_hot(layout, s)))
        .collect();
    let mut p = vec![vec![0.0; n]; n];
    for i in 0..n {
        for j in 0..n {
            if i == j {
                continue;
            }
            let lq = host_dmala_log_q(model, &states[i], &states[j], free, alpha);
            if lq == f64::NEG_INFINITY {
                continue;
            }
            let lr = if omit_reverse {
                0.0
            } else {
                host_dmala_log_q(model, &states[j], &states[i], free, alpha)
            };
            let log_a = (f[j] - f[i] + lr - lq).min(0.0);
            p[i][j] = (lq + log_a).exp();
        }
    }
    set_diagonal(&mut p);
    p
}

/// One real step of `step` from `n` copies of every state (as one batch, optionally clamped by
/// the `[V]` mask `fixed`): returns `(start index, end index into states, accept_prob,
/// accepted)` per chain. Asserts that every end state lies in `states` (clamped variables
/// unchanged).
pub fn one_step_from_every_state<E: JointEnergy>(
    energy: &E,
    states: &[Vec<usize>],
    fixed: Option<&[bool]>,
    n: usize,
    step: impl Fn(JointState) -> (JointState, ebm_core::StepInfo),
) -> Vec<(usize, usize, f64, bool)> {
    let layout = energy.y_layout();
    let start: Vec<usize> = (0..states.len())
        .flat_map(|i| std::iter::repeat_n(i, n))
        .collect();
    let y = configs_to_y(layout, states, &start);
    let mut state = JointState::new(energy, &dummy_x(start.len()), &y).unwrap();
    if let Some(f) = fixed {
        state = state.with_fixed_y(&Tensor::from_slice(f)).unwrap();
    }
    let (next, info) = step(state);
    let full = host_configs(layout);
    let idx = index_map(states);
    let ends: Vec<usize> = decode_indices(layout, next.y())
        .into_iter()
        .map(|e| {
            *idx.get(&full[e])
                .unwrap_or_else(|| panic!("chain left the space: {:?}", full[e]))
        })
        .collect();
    let a = to_f64(&info.accept_prob);
    let acc = to_bool(&info.accepted);
    (0..start.len())
        .map(|r| (start[r], ends[r], a[r], acc[r]))
        .collect()
}
