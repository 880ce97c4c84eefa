//! Conversions between Python values and the library's types, and error mapping.

use ebm_core::YLayout;
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3_tch::PyTensor;
use std::panic::{catch_unwind, AssertUnwindSafe};
use tch::{Device, Tensor};

/// The PyTorch release `tch` 0.26 is built against; `joint_ebm/__init__.py` refuses any other.
pub const TORCH_VERSION: &str = "2.13.0";

/// A library error as a Python `ValueError` (its message names the argument and the shapes).
pub fn to_py(e: ebm_core::Error) -> PyErr {
    PyValueError::new_err(e.to_string())
}

/// Runs `op`, turning a Rust panic into a `RuntimeError` and a library error into a
/// `ValueError`.
pub fn guarded<T>(what: &str, op: impl FnOnce() -> ebm_core::Result<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(op)) {
        Ok(r) => r.map_err(to_py),
        Err(payload) => {
            let msg = payload
                .downcast_ref::<String>()
                .map(String::as_str)
                .or_else(|| payload.downcast_ref::<&str>().copied())
                .unwrap_or("unknown panic");
            Err(PyRuntimeError::new_err(format!(
                "{what}: internal error: {msg}"
            )))
        }
    }
}

/// [`guarded`] with the GIL released: torch's autograd engine refuses to run backward passes
/// while the calling thread holds it, so every call into the samplers goes through here. A
/// Python energy takes the GIL back for each of its evaluations ([`crate::energy::Bridge`]).
pub fn released<T: Send>(
    py: Python<'_>,
    what: &str,
    op: impl FnOnce() -> ebm_core::Result<T> + Send,
) -> PyResult<T> {
    py.allow_threads(|| guarded(what, op))
}

/// A reference that may cross [`Python::allow_threads`]: `allow_threads` runs its closure on
/// the calling thread, and the referent (a loaded model) holds no Python object, so releasing
/// the GIL around it is sound even though its boxed network is not declared `Send`.
pub struct SameThread<'a, T: ?Sized>(pub &'a T);

// SAFETY: see the type's documentation — the value never leaves the thread that owns it.
unsafe impl<T: ?Sized> Send for SameThread<'_, T> {}

impl<T: ?Sized> SameThread<'_, T> {
    /// The referent. (A method, so that a closure captures the whole wrapper, not its field.)
    pub fn get(&self) -> &T {
        self.0
    }
}

/// `"cpu"`, `"cuda"`, `"cuda:N"`.
pub fn parse_device(s: &str) -> PyResult<Device> {
    match s {
        "cpu" => Ok(Device::Cpu),
        "cuda" => Ok(Device::Cuda(0)),
        _ => s
            .strip_prefix("cuda:")
            .and_then(|n| n.parse().ok())
            .map(Device::Cuda)
            .ok_or_else(|| {
                PyValueError::new_err(format!("device {s:?}: expected cpu, cuda or cuda:N"))
            }),
    }
    .and_then(|d| {
        if matches!(d, Device::Cuda(_)) && !tch::Cuda::is_available() {
            Err(PyValueError::new_err(format!(
                "device {s:?}: CUDA is not available"
            )))
        } else {
            Ok(d)
        }
    })
}

/// A `torch.dtype` (floating point) as a `tch::Kind`; `None`: float32.
pub fn parse_dtype(dtype: Option<&Bound<'_, PyAny>>) -> PyResult<tch::Kind> {
    let Some(d) = dtype else {
        return Ok(tch::Kind::Float);
    };
    let name = d.str()?.to_string();
    match name.as_str() {
        "torch.float32" | "torch.float" => Ok(tch::Kind::Float),
        "torch.float64" | "torch.double" => Ok(tch::Kind::Double),
        "torch.float16" | "torch.half" => Ok(tch::Kind::Half),
        "torch.bfloat16" => Ok(tch::Kind::BFloat16),
        _ => Err(PyValueError::new_err(format!(
            "dtype {name}: expected a floating-point torch.dtype"
        ))),
    }
}

/// A shallow handle to `t` for Python (same storage, same autograd node).
pub fn out(t: Tensor) -> PyTensor {
    PyTensor(t)
}

/// The layout of `y`: one-hot groups (their cardinalities) followed by independent bits, as
/// `[B, D]` columns with `D = sum(groups) + bits`.
#[pyclass(name = "YLayout", module = "joint_ebm", frozen)]
#[derive(Clone)]
pub struct PyLayout {
    pub inner: YLayout,
}

#[pymethods]
impl PyLayout {
    #[new]
    #[pyo3(signature = (groups = Vec::new(), bits = 0))]
    fn new(groups: Vec<usize>, bits: usize) -> PyResult<Self> {
        YLayout::new(groups, bits)
            .map(|inner| Self { inner })
            .map_err(to_py)
    }

    /// Cardinalities of the one-hot groups.
    #[getter]
    fn groups(&self) -> Vec<usize> {
        self.inner.groups().to_vec()
    }

    /// Number of independent bits after the groups.
    #[getter]
    fn bits(&self) -> usize {
        self.inner.bits()
    }

    /// Columns `D` of a label row.
    #[getter]
    fn dim(&self) -> usize {
        self.inner.dim()
    }

    /// Variables `V` (groups + bits).
    #[getter]
    fn num_vars(&self) -> usize {
        self.inner.num_vars()
    }

    /// `[B, V]` int64 values -> `[B, D]` one-hot/bit rows of `dtype` (default float32).
    #[pyo3(signature = (values, dtype = None))]
    fn encode(&self, values: PyTensor, dtype: Option<&Bound<'_, PyAny>>) -> PyResult<PyTensor> {
        let kind = parse_dtype(dtype)?;
        guarded("YLayout.encode", || self.inner.encode(&values, kind)).map(out)
    }

    /// `[B, D]` rows -> `[B, V]` int64 values.
    fn decode(&self, y: PyTensor) -> PyResult<PyTensor> {
        guarded("YLayout.decode", || {
            self.inner.validate("YLayout.decode", "y", &y)?;
            Ok(self.inner.decode(&y))
        })
        .map(out)
    }

    /// `n` label rows `[n, D]` drawn uniformly (each group and bit independently).
    #[pyo3(signature = (n, dtype = None, device = "cpu"))]
    fn uniform(
        &self,
        n: i64,
        dtype: Option<&Bound<'_, PyAny>>,
        device: &str,
    ) -> PyResult<PyTensor> {
        let kind = parse_dtype(dtype)?;
        let device = parse_device(device)?;
        guarded("YLayout.uniform", || {
            ebm_core::YInit::Uniform.sample(&self.inner, n, device, kind)
        })
        .map(out)
    }

    fn __repr__(&self) -> String {
        format!(
            "YLayout(groups={:?}, bits={})",
            self.inner.groups(),
            self.inner.bits()
        )
    }
}
