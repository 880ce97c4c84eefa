//! Energy-based and sample-based prediction of `y` given `x`.

use crate::convert::{out, released};
use crate::energy::{Bridge, Energy};
use crate::kernels::discrete_of;
use ebm_core::YInit;
use mwg::{EnumerationConfig, Observed, SamplePredictionConfig};
use pyo3::prelude::*;
use pyo3_tch::PyTensor;

/// Energy-based prediction: every configuration of the free labels is scored and the argmax
/// returned with the exact posterior `p(y | x) = softmax_y f(x, y)`. `observed` (`[B, D]`
/// rows) with `fixed` (`[V]` bool) holds observed variables. Returns `(values [B, V] int64,
/// log_posterior [B, C] over the C enumerated configurations)`. Refuses (ValueError) when the
/// free labels have more than `max_configurations` configurations.
#[pyfunction]
#[pyo3(signature = (energy, x, observed = None, fixed = None, max_configurations = 65_536))]
pub fn predict_by_energy(
    py: Python<'_>,
    energy: PyRef<'_, Energy>,
    x: PyTensor,
    observed: Option<PyTensor>,
    fixed: Option<PyTensor>,
    max_configurations: u64,
) -> PyResult<(PyTensor, PyTensor)> {
    let bridge = Bridge::new(&energy);
    let b = &bridge;
    let config = EnumerationConfig {
        max_configurations,
        ..EnumerationConfig::default()
    };
    let (x, observed, fixed) = (x.0, observed.map(|t| t.0), fixed.map(|t| t.0));
    let r = released(py, "predict_by_energy", move || {
        let obs = observation(observed.as_ref(), fixed.as_ref())?;
        let x = x.detach();
        tch::no_grad(|| mwg::predict_by_energy(b, &x, obs, &config))
    });
    let p = bridge.finish(r)?;
    Ok((out(p.values), out(p.log_posterior)))
}

/// Sample-based prediction (the paper's): `chains_per_input` chains of `kernel` on `y` with `x`
/// fixed, each `steps` steps from uniform labels (observed variables clamped), majority vote
/// per variable. Returns `(values [B, V] int64, vote fractions: one [B, K_v] per variable)`.
#[pyfunction]
#[pyo3(signature = (energy, kernel, x, chains_per_input = 10, steps = 200, observed = None, fixed = None, seed = None))]
pub fn predict_by_sampling(
    py: Python<'_>,
    energy: PyRef<'_, Energy>,
    kernel: &Bound<'_, PyAny>,
    x: PyTensor,
    chains_per_input: i64,
    steps: usize,
    observed: Option<PyTensor>,
    fixed: Option<PyTensor>,
    seed: Option<i64>,
) -> PyResult<(PyTensor, Vec<PyTensor>)> {
    let kernel = discrete_of(kernel)?;
    let bridge = Bridge::new(&energy);
    let b = &bridge;
    let (x, observed, fixed) = (x.0, observed.map(|t| t.0), fixed.map(|t| t.0));
    let config = SamplePredictionConfig {
        chains_per_input,
        steps,
        y_init: YInit::Uniform,
    };
    let r = released(py, "predict_by_sampling", move || {
        if let Some(s) = seed {
            tch::manual_seed(s);
        }
        let obs = observation(observed.as_ref(), fixed.as_ref())?;
        mwg::predict_by_sampling(b, &kernel, &x.detach(), obs, &config)
    });
    let p = bridge.finish(r)?;
    Ok((
        out(p.values),
        p.vote_fractions.into_iter().map(out).collect(),
    ))
}

fn observation<'a>(
    values: Option<&'a tch::Tensor>,
    fixed: Option<&'a tch::Tensor>,
) -> ebm_core::Result<Option<Observed<'a>>> {
    match (values, fixed) {
        (Some(values), Some(fixed)) => Ok(Some(Observed { values, fixed })),
        (None, None) => Ok(None),
        _ => Err(ebm_core::Error::config(
            "observed",
            "one of observed / fixed",
            "give both observed (the [B, D] label rows) and fixed (the [V] bool mask), or neither",
        )),
    }
}
