//! Prediction of labels from `x`: energy-based (enumeration) and sample-based (MCMC vote).

use crate::sampler::run_discrete;
use ebm_core::{DiscreteKernel, Error, JointEnergy, JointState, Result, YInit, YLayout};
use serde::{Deserialize, Serialize};
use tch::{Kind, Tensor};

/// Labels observed at prediction time: `values` `[B, D]` (valid labels; only the observed
/// variables' entries matter) and `fixed` `[V]` bool (which variables are observed, the same
/// for every input).
#[derive(Debug, Clone, Copy)]
pub struct Observed<'a> {
    /// `[B, D]` labels holding the observed values.
    pub values: &'a Tensor,
    /// `[V]` bool, true for observed variables.
    pub fixed: &'a Tensor,
}

/// Settings of [`predict_by_energy`].
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct EnumerationConfig {
    /// Refuse to enumerate more label configurations than this (default 65 536).
    pub max_configurations: u64,
    /// Rows (inputs × configurations) per batched head evaluation (default 65 536).
    pub chunk_rows: i64,
}

impl Default for EnumerationConfig {
    fn default() -> Self {
        Self {
            max_configurations: 65_536,
            chunk_rows: 65_536,
        }
    }
}

/// Result of [`predict_by_energy`].
#[derive(Debug)]
pub struct EnergyPrediction {
    /// `[B, V]` int64 predicted value of every variable (observed ones as given): the
    /// configuration with the highest `f(x, y)`, i.e. the joint MAP of `p(y | x)`.
    pub values: Tensor,
    /// `[C, V]` int64: the configurations that were enumerated.
    pub configurations: Tensor,
    /// `[B, C]` `log p(y_c | x, observed)`: the exact posterior over the enumerated
    /// configurations (softmax of `f`).
    pub log_posterior: Tensor,
}

impl EnergyPrediction {
    /// Posterior marginals `p(v = k | x)` per variable: one `[B, K_v]` tensor per variable.
    pub fn marginals(&self, layout: &YLayout) -> Vec<Tensor> {
        let p = self.log_posterior.exp();
        (0..layout.num_vars())
            .map(|v| {
                let k = layout.cardinality(v) as i64;
                let onehot = self
                    .configurations
                    .select(1, v as i64)
                    .to_device(p.device())
                    .one_hot(k)
                    .to_kind(p.kind());
                p.matmul(&onehot)
            })
            .collect()
    }
}

/// Validates `observed` against the layout and batch, and returns which variables are observed
/// (`[V]`, read to the host once); all false when nothing is observed.
fn observed_mask(
    op: &'static str,
    layout: &YLayout,
    batch: i64,
    observed: Option<&Observed>,
) -> Result<Vec<bool>> {
    let Some(obs) = observed else {
        return Ok(vec![false; layout.num_vars()]);
    };
    layout.validate(op, "observed values", obs.values)?;
    if obs.values.size()[0] != batch {
        return Err(Error::shape(
            op,
            "observed values",
            format!("[{batch}, {}]", layout.dim()),
            &obs.values.size(),
        ));
    }
    let s = obs.fixed.size();
    if obs.fixed.kind() != Kind::Bool || s != [layout.num_vars() as i64] {
        return Err(Error::shape(
            op,
            "observed mask",
            format!("bool [{}]", layout.num_vars()),
            &s,
        ));
    }
    Ok(Vec::<bool>::try_from(
        obs.fixed.to_device(tch::Device::Cpu),
    )?)
}

/// Energy-based prediction: enumerates every configuration of the free (unobserved) variables,
/// evaluates `f(x, y)` for each (no gradients; features computed once), and returns the argmax
/// and the exact posterior `p(y | x, observed) = softmax_y f(x, y)`.
///
/// `x` `[B, …]`. Errors with [`Error::TooManyConfigurations`] when the free variables have more
/// than `config.max_configurations` joint configurations.
pub fn predict_by_energy<E: JointEnergy + ?Sized>(
    energy: &E,
    x: &Tensor,
    observed: Option<Observed>,
    config: &EnumerationConfig,
) -> Result<EnergyPrediction> {
    const OP: &str = "predict_by_energy";
    let layout = energy.y_layout();
    let batch = *x
        .size()
        .first()
        .ok_or_else(|| Error::shape(OP, "x", "[B, …]", &x.size()))?;
    if config.chunk_rows < 1 {
        return Err(Error::config(
            "chunk_rows",
            config.chunk_rows,
            "must be ≥ 1",
        ));
    }
    let fixed = observed_mask(OP, layout, batch, observed.as_ref())?;
    // Enumerate the free variables only (a sub-layout), then embed into all V variables.
    let free_vars: Vec<usize> = (0..layout.num_vars()).filter(|&v| !fixed[v]).collect();
    let (device, kind) = (x.device(), x.kind());
    let observed_values = match &observed {
        Some(o) => layout.decode(o.values).to_device(device),
        None => Tensor::zeros([batch, layout.num_vars() as i64], (Kind::Int64, device)),
    };
    let configurations = if free_vars.is_empty() {
        Tensor::zeros([1, layout.num_vars() as i64], (Kind::Int64, device))
    } else {
        let sub = YLayout::new(
            free_vars
                .iter()
                .filter(|&&v| !layout.is_bit(v))
                .map(|&v| layout.cardinality(v))
                .collect(),
            free_vars.iter().filter(|&&v| layout.is_bit(v)).count(),
        )?;
        let sub_values = sub
            .enumerate_values(config.max_configurations)?
            .to_device(device);
        let c = sub_values.size()[0];
        let full = Tensor::zeros([c, layout.num_vars() as i64], (Kind::Int64, device));
        // sub-layout order: free groups first, then free bits — same relative order as layout.
        let index = Tensor::from_slice(&free_vars.iter().map(|&v| v as i64).collect::<Vec<_>>())
            .to_device(device);
        full.index_copy(1, &index, &sub_values)
    };
    let c = configurations.size()[0];
    let fixed_t = Tensor::from_slice(&fixed).to_device(device);

    let scores = tch::no_grad(|| -> Result<Tensor> {
        let h = energy.features(x).unwrap_or_else(|| x.shallow_clone());
        let h_shape = h.size();
        let per_chunk = (config.chunk_rows / batch.max(1)).max(1);
        let mut parts = Vec::new();
        let mut start = 0;
        while start < c {
            let n = per_chunk.min(c - start);
            let cfg = configurations.narrow(0, start, n); // [n, V]
                                                          // values[b, j, v] = observed[b, v] if fixed[v] else cfg[j, v]
            let vals = observed_values
                .unsqueeze(1)
                .where_self(&fixed_t.view([1, 1, -1]), &cfg.unsqueeze(0))
                .reshape([batch * n, layout.num_vars() as i64]);
            let y = layout.encode(&vals, kind)?;
            let mut rep = vec![batch, n];
            rep.extend(&h_shape[1..]);
            let mut flat = vec![batch * n];
            flat.extend(&h_shape[1..]);
            let hr = h
                .unsqueeze(1)
                .expand(rep.as_slice(), false)
                .reshape(flat.as_slice());
            let f = energy.log_density_from_features(&hr, &y);
            if f.size() != [batch * n] {
                return Err(Error::shape(
                    OP,
                    "log_density output",
                    format!("[{}]", batch * n),
                    &f.size(),
                ));
            }
            parts.push(f.view([batch, n]));
            start += n;
        }
        Ok(Tensor::cat(&parts, 1))
    })?;
    let log_posterior = scores.log_softmax(1, kind);
    let best = scores.argmax(1, false);
    let values = configurations.index_select(0, &best);
    let values = observed_values.where_self(&fixed_t.view([1, -1]), &values);
    Ok(EnergyPrediction {
        values,
        configurations,
        log_posterior,
    })
}

/// Settings of [`predict_by_sampling`]. Defaults follow the paper (Tables 1–3: 10 chains,
/// 200 steps) with `q₀(y)` uniform.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SamplePredictionConfig {
    /// Independent chains per input (paper: 10).
    pub chains_per_input: i64,
    /// Discrete steps per chain with `x` fixed (paper: 200).
    pub steps: usize,
    /// Initial distribution of the chains' labels.
    pub y_init: YInit,
}

impl Default for SamplePredictionConfig {
    fn default() -> Self {
        Self {
            chains_per_input: 10,
            steps: 200,
            y_init: YInit::Uniform,
        }
    }
}

/// Result of [`predict_by_sampling`].
#[derive(Debug)]
pub struct SamplePrediction {
    /// `[B, V]` int64: per-variable majority vote over the chains' final states (ties go to
    /// the lowest value).
    pub values: Tensor,
    /// One `[B, K_v]` tensor per variable: fraction of chains ending at each value.
    pub vote_fractions: Vec<Tensor>,
}

/// Sample-based prediction (paper §6, docs/REFERENCE-NOTES.md §6.2): for each input,
/// `chains_per_input` chains start from `q₀(y)` (observed variables set and clamped), run
/// `steps` steps of the discrete kernel with `x` fixed, and vote per variable with their final
/// states.
///
/// **Shortcut, same distribution.** When exactly one variable is free and the kernel redraws
/// it exactly from its full conditional ([`DiscreteKernel::draws_single_free_variable_exactly`],
/// exact Gibbs), every step is an independent exact draw from `p(y | x, observed)`, so the final
/// state after `steps ≥ 1` steps has the same distribution as after one: only one step is run.
/// The vote, and hence the prediction's distribution, is unchanged (the cost drops by `steps`×).
pub fn predict_by_sampling<E: JointEnergy + ?Sized, D: DiscreteKernel>(
    energy: &E,
    kernel: &D,
    x: &Tensor,
    observed: Option<Observed>,
    config: &SamplePredictionConfig,
) -> Result<SamplePrediction> {
    const OP: &str = "predict_by_sampling";
    let layout = energy.y_layout();
    let batch = *x
        .size()
        .first()
        .ok_or_else(|| Error::shape(OP, "x", "[B, …]", &x.size()))?;
    if config.chains_per_input < 1 {
        return Err(Error::config(
            "chains_per_input",
            config.chains_per_input,
            "must be ≥ 1",
        ));
    }
    let fixed = observed_mask(OP, layout, batch, observed.as_ref())?;
    let n = config.chains_per_input;
    let (device, kind) = (x.device(), x.kind());
    let xr = x.repeat_interleave_self_int(n, 0, None);
    let mut y0 = config.y_init.sample(layout, batch * n, device, kind)?;
    if let Some(o) = &observed {
        let cols = ebm_core::ColumnMaps::for_layout(layout, device);
        let fixed_cols = cols
            .expand_var_mask(&o.fixed.to_device(device))
            .view([1, -1]);
        let obs = o
            .values
            .to_device(device)
            .repeat_interleave_self_int(n, 0, None);
        y0 = obs.where_self(&fixed_cols, &y0);
    }
    let mut state = JointState::new(energy, &xr, &y0)?;
    if let Some(o) = &observed {
        state = state.with_fixed_y(o.fixed)?;
    }
    let free_vars = fixed.iter().filter(|&&f| !f).count();
    let steps = if free_vars == 1 && kernel.draws_single_free_variable_exactly() {
        config.steps.min(1)
    } else {
        config.steps
    };
    let state = run_discrete(kernel, energy, state, steps)?;
    let finals = layout.decode(state.y()); // [B*n, V]
    let mut values = Vec::with_capacity(layout.num_vars());
    let mut vote_fractions = Vec::with_capacity(layout.num_vars());
    for v in 0..layout.num_vars() {
        let k = layout.cardinality(v) as i64;
        let votes = finals
            .select(1, v as i64)
            .one_hot(k)
            .to_kind(Kind::Float)
            .view([batch, n, k])
            .mean_dim([1i64].as_slice(), false, Kind::Float);
        values.push(votes.argmax(1, false));
        vote_fractions.push(votes);
    }
    Ok(SamplePrediction {
        values: Tensor::stack(&values, 1),
        vote_fractions,
    })
}

/// Fraction of `(example, variable)` pairs where `predicted` `[B, V]` equals `truth` `[B, V]`
/// (int64), ignoring pairs where `mask` `[B, V]` (bool, optional) is false.
pub fn accuracy(predicted: &Tensor, truth: &Tensor, mask: Option<&Tensor>) -> Result<f64> {
    if predicted.size() != truth.size() {
        return Err(Error::shape(
            "accuracy",
            "predicted",
            format!("{:?}", truth.size()),
            &predicted.size(),
        ));
    }
    let hits = predicted.eq_tensor(truth);
    let (hits, total) = match mask {
        Some(m) => (hits.logical_and(m).sum(Kind::Double), m.sum(Kind::Double)),
        None => (hits.sum(Kind::Double), Tensor::from(hits.numel() as f64)),
    };
    Ok(f64::try_from(hits)? / f64::try_from(total)?.max(1.0))
}
