//! A model saved by a Rust training run, loaded without its trainer.

use crate::convert::{guarded, out, parse_device, released, PyLayout, SameThread};
use jem_train::{GenerationStart, JointModel};
use mwg::SamplePredictionConfig;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3_tch::PyTensor;
use std::collections::BTreeMap;
use std::path::PathBuf;
use std::str::FromStr;

/// A trained joint model of a built-in network: its EMA weights, label layout and the run's
/// sampler settings ([`JointModel::load_saved`]).
#[pyclass(module = "joint_ebm", unsendable)]
pub struct Model {
    inner: JointModel<Box<dyn ebm_core::JointEnergy>>,
}

/// Loads the model a training run wrote: a run folder (`--out-dir`), its `checkpoints/` or one
/// checkpoint folder.
#[pyfunction]
#[pyo3(signature = (path, device = "cpu"))]
pub fn load_model(path: PathBuf, device: &str) -> PyResult<Model> {
    let device = parse_device(device)?;
    let inner = guarded("load_model", || JointModel::load_saved(&path, device))?;
    Ok(Model { inner })
}

#[pymethods]
impl Model {
    /// The layout of `y`.
    #[getter]
    fn layout(&self) -> PyLayout {
        PyLayout {
            inner: self.inner.layout().clone(),
        }
    }

    /// The training iteration of the loaded checkpoint.
    #[getter]
    fn iteration(&self) -> usize {
        self.inner.iteration()
    }

    /// `f(x, y)` `[B]` (higher = more probable); `y` `[B, D]` valid rows.
    fn log_density(&self, py: Python<'_>, x: PyTensor, y: PyTensor) -> PyResult<PyTensor> {
        let (model, x, y) = (SameThread(&self.inner), x.0, y.0);
        released(py, "Model.log_density", move || {
            model.get().log_density(&x, &y)
        })
        .map(out)
    }

    /// Energy-based prediction (enumerates `y`): `(values [B, V], log_posterior [B, C])`.
    fn predict_by_energy(&self, py: Python<'_>, x: PyTensor) -> PyResult<(PyTensor, PyTensor)> {
        let (model, x) = (SameThread(&self.inner), x.0);
        let p = released(py, "Model.predict_by_energy", move || {
            model.get().predict_by_energy(&x)
        })?;
        Ok((out(p.values), out(p.log_posterior)))
    }

    /// Sample-based prediction with the run's kernel: `values [B, V]` by majority vote.
    #[pyo3(signature = (x, chains_per_input = 10, steps = 200, seed = None))]
    fn predict_by_sampling(
        &self,
        py: Python<'_>,
        x: PyTensor,
        chains_per_input: i64,
        steps: usize,
        seed: Option<i64>,
    ) -> PyResult<PyTensor> {
        let config = SamplePredictionConfig {
            chains_per_input,
            steps,
            ..SamplePredictionConfig::default()
        };
        let (model, x) = (SameThread(&self.inner), x.0);
        let p = released(py, "Model.predict_by_sampling", move || {
            if let Some(s) = seed {
                tch::manual_seed(s);
            }
            model.get().predict_by_sampling(&x, &config)
        })?;
        Ok(out(p.values))
    }

    /// `n` joint samples after `sweeps` sweeps of the run's sampler. `labels` maps a label
    /// variable to its clamped value (an int for every chain, or a list of `n`); `x_clamp =
    /// (values, mask)` holds the elements of `x` where `mask` is true (inpainting); `start`:
    /// `"noise"` (the paper's protocol) or `"buffer"`. Returns `(x [n, …], values [n, V])`.
    #[pyo3(signature = (n, labels = None, x_clamp = None, start = "noise", sweeps = 200, seed = None))]
    fn generate(
        &self,
        py: Python<'_>,
        n: i64,
        labels: Option<BTreeMap<usize, LabelValues>>,
        x_clamp: Option<(PyTensor, PyTensor)>,
        start: &str,
        sweeps: usize,
        seed: Option<i64>,
    ) -> PyResult<(PyTensor, PyTensor)> {
        let start =
            GenerationStart::from_str(start).map_err(|e| PyValueError::new_err(e.to_string()))?;
        let values: Vec<(usize, Vec<i64>)> = labels
            .unwrap_or_default()
            .into_iter()
            .map(|(v, vals)| (v, vals.into_vec()))
            .collect();
        let fixed: Vec<(usize, &[i64])> = values.iter().map(|(v, x)| (*v, x.as_slice())).collect();
        let model = SameThread(&self.inner);
        let x_clamp = x_clamp.map(|(v, m)| (v.0, m.0));
        let (x, y) = released(py, "Model.generate", move || {
            if let Some(s) = seed {
                tch::manual_seed(s);
            }
            let clamp = x_clamp.as_ref().map(|(v, m)| (v, m));
            model.get().generate(n, &fixed, clamp, start, sweeps)
        })?;
        Ok((out(x), out(y)))
    }

    fn __repr__(&self) -> String {
        format!(
            "Model(checkpoint={:?}, iteration={}, layout=YLayout(groups={:?}, bits={}))",
            self.inner.checkpoint().unwrap_or(std::path::Path::new("")),
            self.inner.iteration(),
            self.inner.layout().groups(),
            self.inner.layout().bits()
        )
    }
}

/// One clamped value for every chain, or one per chain.
#[derive(FromPyObject)]
pub enum LabelValues {
    One(i64),
    Many(Vec<i64>),
}

impl LabelValues {
    fn into_vec(self) -> Vec<i64> {
        match self {
            Self::One(v) => vec![v],
            Self::Many(v) => v,
        }
    }
}
