//! A Python callable `f(x, y) -> Tensor[B]` as a [`JointEnergy`].

use crate::convert::{out, released, PyLayout};
use ebm_core::{JointEnergy, YLayout};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3_tch::PyTensor;
use std::sync::Mutex;
use tch::Tensor;

/// A joint energy written in Python: `f(x, y) -> Tensor[B]`, **higher = more probable**
/// (`p(x, y) ∝ exp f`), with `x` `[B, …]` and `y` `[B, D]` laid out by `layout`; any callable,
/// e.g. a `torch.nn.Module`. It must be differentiable in `x` and `y` (the kernels take
/// `∂f/∂x` and `∂f/∂y` through torch's autograd) and row `b` of the output may depend only on
/// row `b` of the inputs. Freeze the module's parameters (`requires_grad_(False)`) while
/// sampling, or each call also builds their gradient graph.
///
/// With `features` (a callable `h = features(x)` `[B, …]` that does not depend on `y`), `f` is
/// the head `f(h, y)`: the samplers then compute `h` once per move of `x` and reuse it for every
/// label proposal (the Rust trait's feature stage), which saves most of a CNN's cost per
/// discrete step.
#[pyclass(name = "Energy", module = "joint_ebm", frozen)]
pub struct Energy {
    pub f: Py<PyAny>,
    pub features: Option<Py<PyAny>>,
    pub layout: YLayout,
}

#[pymethods]
impl Energy {
    #[new]
    #[pyo3(signature = (f, layout, features = None))]
    fn new(
        f: &Bound<'_, PyAny>,
        layout: PyRef<'_, PyLayout>,
        features: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Self> {
        if !f.is_callable() {
            return Err(PyTypeError::new_err(format!(
                "Energy: f must be callable as f(x, y), got {}",
                f.get_type()
            )));
        }
        if let Some(g) = features.filter(|g| !g.is_callable()) {
            return Err(PyTypeError::new_err(format!(
                "Energy: features must be callable as features(x), got {}",
                g.get_type()
            )));
        }
        Ok(Self {
            f: f.clone().unbind(),
            features: features.map(|g| g.clone().unbind()),
            layout: layout.inner.clone(),
        })
    }

    /// The layout of `y`.
    #[getter]
    fn layout(&self) -> PyLayout {
        PyLayout {
            inner: self.layout.clone(),
        }
    }

    /// `f(x, y)` `[B]`, checked as the kernels check it.
    fn __call__(&self, py: Python<'_>, x: PyTensor, y: PyTensor) -> PyResult<PyTensor> {
        let bridge = Bridge::new(self);
        let b = &bridge;
        let (x, y) = (x.0, y.0);
        let r = released(py, "Energy", move || {
            b.layout.validate("Energy", "y", &y)?;
            Ok(b.log_density(&x, &y))
        });
        bridge.finish(r).map(out)
    }
}

/// The Python energy seen from Rust during one call into the library (which runs with the
/// GIL released; each evaluation takes it back). The first Python error (an exception, or an
/// output of the wrong shape, dtype or device) is kept and later evaluations return NaN rows
/// that still depend on the inputs (so the kernels' gradients exist); the caller raises the
/// kept error once the Rust call returns ([`Bridge::finish`]).
pub struct Bridge<'a> {
    f: &'a Py<PyAny>,
    features: Option<&'a Py<PyAny>>,
    layout: &'a YLayout,
    error: Mutex<Option<PyErr>>,
}

impl<'a> Bridge<'a> {
    pub fn new(energy: &'a Energy) -> Self {
        Self {
            f: &energy.f,
            features: energy.features.as_ref(),
            layout: &energy.layout,
            error: Mutex::new(None),
        }
    }

    fn failed(&self) -> bool {
        self.error.lock().map(|e| e.is_some()).unwrap_or(true)
    }

    /// The Python error raised inside the call, if any (it wins over the library's error,
    /// which is only its consequence), else `r`.
    pub fn finish<T>(&self, r: PyResult<T>) -> PyResult<T> {
        match self.error.lock().ok().and_then(|mut e| e.take()) {
            Some(e) => Err(e),
            None => r,
        }
    }

    fn call(&self, py: Python<'_>, h: &Tensor, y: &Tensor) -> PyResult<Tensor> {
        let b = h.size().first().copied().unwrap_or(0);
        let result = self
            .f
            .bind(py)
            .call1((PyTensor(h.shallow_clone()), PyTensor(y.shallow_clone())))?;
        let t = tensor_from(&result, || {
            format!("the energy must return a torch.Tensor of shape [{b}] (one value per row)")
        })?;
        if t.size() != [b] {
            return Err(PyValueError::new_err(format!(
                "the energy returned shape {:?} for x {:?} and y {:?}; expected [{b}] (one value per row)",
                t.size(),
                h.size(),
                y.size()
            )));
        }
        if t.kind() != y.kind() {
            return Err(PyValueError::new_err(format!(
                "the energy returned dtype {:?} for x and y of dtype {:?}; expected the same dtype",
                t.kind(),
                y.kind()
            )));
        }
        if t.device() != h.device() {
            return Err(PyValueError::new_err(format!(
                "the energy returned a tensor on {:?} for x on {:?}; expected the same device",
                t.device(),
                h.device()
            )));
        }
        Ok(t)
    }

    fn call_features(&self, py: Python<'_>, g: &Py<PyAny>, x: &Tensor) -> PyResult<Tensor> {
        let b = x.size().first().copied().unwrap_or(0);
        let result = g.bind(py).call1((PyTensor(x.shallow_clone()),))?;
        let h = tensor_from(&result, || {
            format!("features(x) must return a torch.Tensor [{b}, …]")
        })?;
        if h.size().first() != Some(&b) || h.device() != x.device() {
            return Err(PyValueError::new_err(format!(
                "features(x) returned shape {:?} on {:?} for x {:?} on {:?}; expected [{b}, …] on the same device",
                h.size(),
                h.device(),
                x.size(),
                x.device()
            )));
        }
        Ok(h)
    }

    fn keep(&self, e: PyErr) {
        if let Ok(mut slot) = self.error.lock() {
            slot.get_or_insert(e);
        }
    }

    fn nan_rows(h: &Tensor, y: &Tensor) -> Tensor {
        let b = h.size().first().copied().unwrap_or(0);
        let zero_h = h
            .reshape([b, -1])
            .sum_dim_intlist([1i64].as_slice(), false, None)
            * 0.0;
        let zero_y = y
            .sum_dim_intlist([1i64].as_slice(), false, None)
            .to_kind(h.kind())
            * 0.0;
        zero_h + zero_y + f64::NAN
    }
}

/// The tensor a Python callable returned, or a `TypeError` saying what was `expected` and what
/// came instead.
fn tensor_from(result: &Bound<'_, PyAny>, expected: impl FnOnce() -> String) -> PyResult<Tensor> {
    result
        .extract::<PyTensor>()
        .map(|t| t.0)
        .map_err(|_| PyTypeError::new_err(format!("{}, got {}", expected(), result.get_type())))
}

impl JointEnergy for Bridge<'_> {
    fn y_layout(&self) -> &YLayout {
        self.layout
    }

    fn features(&self, x: &Tensor) -> Option<Tensor> {
        let g = self.features?;
        if self.failed() {
            return None;
        }
        match Python::with_gil(|py| self.call_features(py, g, x)) {
            Ok(h) => Some(h),
            Err(e) => {
                self.keep(e);
                None
            }
        }
    }

    fn log_density_from_features(&self, h: &Tensor, y: &Tensor) -> Tensor {
        if self.failed() {
            return Self::nan_rows(h, y);
        }
        match Python::with_gil(|py| self.call(py, h, y)) {
            Ok(t) => t,
            Err(e) => {
                self.keep(e);
                Self::nan_rows(h, y)
            }
        }
    }
}
