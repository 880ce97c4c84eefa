//! The kernels and the joint sampler as Python classes.
//!
//! Discrete kernels (`Gwg`, `Dmala`, `ExactGibbs`) move `y` with `x` fixed, continuous ones
//! (`Langevin`, `Mala`) move `x` with `y` fixed; `JointSampler` alternates them
//! (Metropolis-within-Gibbs). Every `run` takes an [`Energy`], `x` `[B, …]`, `y` `[B, D]` (the
//! dtype and device of `x`), optional clamps and a seed, and returns the new tensors with a
//! dict of diagnostics.

use crate::convert::{guarded, out, released};
use crate::energy::{Bridge, Energy};
use ebm_core::{ContinuousKernel, DiscreteKernel, JointEnergy, JointState, Result, StepInfo};
use jem_train::{AnyContinuous, AnyDiscrete};
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3_tch::PyTensor;
use samplers_cont::{LangevinConfig, MalaConfig};
use samplers_disc::{DmalaConfig, GwgConfig};
use tch::{Kind, Tensor};

/// Gibbs-with-Gradients on `y`: one variable changes per step, proposed from the gradient's
/// first-order estimate of every change, MH-corrected (exact). `temperature` 2 is the GWG
/// paper's.
#[pyclass(module = "joint_ebm", frozen)]
pub struct Gwg {
    pub kernel: samplers_disc::Gwg,
}

/// DMALA on `y`: every free variable redrawn per step from the gradient's proposal,
/// MH-corrected (`adjusted=False`: DULA, biased). `group_step_size` (default: `step_size`) for
/// the categorical groups.
#[pyclass(module = "joint_ebm", frozen)]
pub struct Dmala {
    pub kernel: samplers_disc::Dmala,
}

/// Exact Gibbs on `y`: one variable per step redrawn from its full conditional by evaluating
/// every value (exact; cost grows with the cardinality).
#[pyclass(module = "joint_ebm", frozen)]
pub struct ExactGibbs {}

/// Unadjusted Langevin on `x`: `x ← x + step_size·∇ₓf + noise_scale·ξ`. The paper's `(ε, λ)`:
/// `Langevin(epsilon=…, temperature=…)` (`step_size = ε²/(2λ)`, `noise_scale = ε`). Biased
/// unless `noise_scale² = 2·step_size`.
#[pyclass(module = "joint_ebm", frozen)]
pub struct Langevin {
    pub kernel: samplers_cont::Langevin,
}

/// MALA on `x`: the Langevin proposal with a Metropolis–Hastings correction (exact).
#[pyclass(module = "joint_ebm", frozen)]
pub struct Mala {
    pub kernel: samplers_cont::Mala,
}

#[pymethods]
impl Gwg {
    #[new]
    #[pyo3(signature = (temperature = 2.0))]
    fn new(temperature: f64) -> PyResult<Self> {
        let kernel = guarded("Gwg", || samplers_disc::Gwg::new(GwgConfig { temperature }))?;
        Ok(Self { kernel })
    }

    /// `steps` steps on `y` with `x` fixed; returns `(y, diagnostics)`.
    #[pyo3(signature = (energy, x, y, steps = 1, fixed_y = None, seed = None))]
    fn run(
        &self,
        py: Python<'_>,
        energy: PyRef<'_, Energy>,
        x: PyTensor,
        y: PyTensor,
        steps: usize,
        fixed_y: Option<PyTensor>,
        seed: Option<i64>,
    ) -> PyResult<(PyTensor, Py<PyDict>)> {
        let kernel = Block::Labels(self.any());
        run_block(py, kernel, &energy, x, y, steps, fixed_y, seed)
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.kernel)
    }
}

#[pymethods]
impl Dmala {
    #[new]
    #[pyo3(signature = (step_size = 0.2, group_step_size = None, adjusted = true))]
    fn new(step_size: f64, group_step_size: Option<f64>, adjusted: bool) -> PyResult<Self> {
        let config = DmalaConfig {
            step_size,
            group_step_size,
            adjusted,
        };
        let kernel = guarded("Dmala", || samplers_disc::Dmala::new(config))?;
        Ok(Self { kernel })
    }

    /// `steps` steps on `y` with `x` fixed; returns `(y, diagnostics)`.
    #[pyo3(signature = (energy, x, y, steps = 1, fixed_y = None, seed = None))]
    fn run(
        &self,
        py: Python<'_>,
        energy: PyRef<'_, Energy>,
        x: PyTensor,
        y: PyTensor,
        steps: usize,
        fixed_y: Option<PyTensor>,
        seed: Option<i64>,
    ) -> PyResult<(PyTensor, Py<PyDict>)> {
        let kernel = Block::Labels(self.any());
        run_block(py, kernel, &energy, x, y, steps, fixed_y, seed)
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.kernel)
    }
}

#[pymethods]
impl ExactGibbs {
    #[new]
    fn new() -> Self {
        Self {}
    }

    /// `steps` steps on `y` with `x` fixed; returns `(y, diagnostics)`.
    #[pyo3(signature = (energy, x, y, steps = 1, fixed_y = None, seed = None))]
    fn run(
        &self,
        py: Python<'_>,
        energy: PyRef<'_, Energy>,
        x: PyTensor,
        y: PyTensor,
        steps: usize,
        fixed_y: Option<PyTensor>,
        seed: Option<i64>,
    ) -> PyResult<(PyTensor, Py<PyDict>)> {
        let kernel = Block::Labels(self.any());
        run_block(py, kernel, &energy, x, y, steps, fixed_y, seed)
    }

    fn __repr__(&self) -> &'static str {
        "ExactGibbs"
    }
}

fn langevin_config(
    step_size: Option<f64>,
    noise_scale: Option<f64>,
    epsilon: Option<f64>,
    temperature: Option<f64>,
) -> PyResult<LangevinConfig> {
    match (step_size, noise_scale, epsilon, temperature) {
        (None, None, Some(e), Some(t)) => Ok(LangevinConfig::from_paper(e, t)),
        (Some(a), Some(s), None, None) => Ok(LangevinConfig {
            step_size: a,
            noise_scale: s,
        }),
        (None, None, None, None) => Ok(LangevinConfig::default()),
        _ => Err(PyValueError::new_err(
            "Langevin: give step_size and noise_scale, or the paper's epsilon and temperature",
        )),
    }
}

#[pymethods]
impl Langevin {
    #[new]
    #[pyo3(signature = (step_size = None, noise_scale = None, *, epsilon = None, temperature = None))]
    fn new(
        step_size: Option<f64>,
        noise_scale: Option<f64>,
        epsilon: Option<f64>,
        temperature: Option<f64>,
    ) -> PyResult<Self> {
        let config = langevin_config(step_size, noise_scale, epsilon, temperature)?;
        let kernel = guarded("Langevin", || samplers_cont::Langevin::new(config))?;
        Ok(Self { kernel })
    }

    /// `steps` steps on `x` with `y` fixed; returns `(x, diagnostics)`.
    #[pyo3(signature = (energy, x, y, steps = 1, fixed_x = None, seed = None))]
    fn run(
        &self,
        py: Python<'_>,
        energy: PyRef<'_, Energy>,
        x: PyTensor,
        y: PyTensor,
        steps: usize,
        fixed_x: Option<PyTensor>,
        seed: Option<i64>,
    ) -> PyResult<(PyTensor, Py<PyDict>)> {
        let kernel = Block::Inputs(self.any());
        run_block(py, kernel, &energy, x, y, steps, fixed_x, seed)
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.kernel)
    }
}

#[pymethods]
impl Mala {
    #[new]
    #[pyo3(signature = (step_size = None, noise_scale = 0.1))]
    fn new(step_size: Option<f64>, noise_scale: f64) -> PyResult<Self> {
        let mut config = MalaConfig::from_noise_scale(noise_scale);
        if let Some(a) = step_size {
            config.step_size = a;
        }
        let kernel = guarded("Mala", || samplers_cont::Mala::new(config))?;
        Ok(Self { kernel })
    }

    /// `steps` steps on `x` with `y` fixed; returns `(x, diagnostics)`.
    #[pyo3(signature = (energy, x, y, steps = 1, fixed_x = None, seed = None))]
    fn run(
        &self,
        py: Python<'_>,
        energy: PyRef<'_, Energy>,
        x: PyTensor,
        y: PyTensor,
        steps: usize,
        fixed_x: Option<PyTensor>,
        seed: Option<i64>,
    ) -> PyResult<(PyTensor, Py<PyDict>)> {
        let kernel = Block::Inputs(self.any());
        run_block(py, kernel, &energy, x, y, steps, fixed_x, seed)
    }

    fn __repr__(&self) -> String {
        format!("{:?}", self.kernel)
    }
}

impl Gwg {
    fn any(&self) -> AnyDiscrete {
        AnyDiscrete::Gwg(self.kernel.clone())
    }
}

impl Dmala {
    fn any(&self) -> AnyDiscrete {
        AnyDiscrete::Dmala(self.kernel.clone())
    }
}

impl ExactGibbs {
    fn any(&self) -> AnyDiscrete {
        AnyDiscrete::Gibbs(samplers_disc::ExactGibbs)
    }
}

impl Langevin {
    fn any(&self) -> AnyContinuous {
        AnyContinuous::Langevin(self.kernel.clone())
    }
}

impl Mala {
    fn any(&self) -> AnyContinuous {
        AnyContinuous::Mala(self.kernel.clone())
    }
}

/// The discrete kernel a Python object is.
pub fn discrete_of(obj: &Bound<'_, PyAny>) -> PyResult<AnyDiscrete> {
    if let Ok(k) = obj.downcast::<Gwg>() {
        Ok(k.get().any())
    } else if let Ok(k) = obj.downcast::<Dmala>() {
        Ok(k.get().any())
    } else if let Ok(k) = obj.downcast::<ExactGibbs>() {
        Ok(k.get().any())
    } else {
        Err(PyTypeError::new_err(format!(
            "expected a discrete kernel (Gwg, Dmala or ExactGibbs), got {}",
            obj.get_type()
        )))
    }
}

fn continuous_of(obj: &Bound<'_, PyAny>) -> PyResult<AnyContinuous> {
    if let Ok(k) = obj.downcast::<Langevin>() {
        Ok(k.get().any())
    } else if let Ok(k) = obj.downcast::<Mala>() {
        Ok(k.get().any())
    } else {
        Err(PyTypeError::new_err(format!(
            "expected a continuous kernel (Langevin or Mala), got {}",
            obj.get_type()
        )))
    }
}

/// Gibbs on `y` given `x`, then a move of `x` given `y`, per sweep (Metropolis-within-Gibbs);
/// exact when both kernels are.
#[pyclass(module = "joint_ebm", frozen)]
pub struct JointSampler {
    sampler: mwg::JointSampler<AnyDiscrete, AnyContinuous>,
}

#[pymethods]
impl JointSampler {
    #[new]
    fn new(discrete: &Bound<'_, PyAny>, continuous: &Bound<'_, PyAny>) -> PyResult<Self> {
        Ok(Self {
            sampler: mwg::JointSampler::new(discrete_of(discrete)?, continuous_of(continuous)?),
        })
    }

    /// Whether the joint chain leaves `exp f` exactly invariant.
    #[getter]
    fn is_exact(&self) -> bool {
        self.sampler.is_exact()
    }

    /// `sweeps` sweeps from `(x, y)`; variables of `y` where `fixed_y` (`[V]` or `[B, V]` bool)
    /// is true and elements of `x` where `fixed_x` (bool, the shape of `x` or of one row) is
    /// true stay at their values. Returns `(x, y, diagnostics)`.
    #[pyo3(signature = (energy, x, y, sweeps = 1, fixed_y = None, fixed_x = None, seed = None))]
    fn run(
        &self,
        py: Python<'_>,
        energy: PyRef<'_, Energy>,
        x: PyTensor,
        y: PyTensor,
        sweeps: usize,
        fixed_y: Option<PyTensor>,
        fixed_x: Option<PyTensor>,
        seed: Option<i64>,
    ) -> PyResult<(PyTensor, PyTensor, Py<PyDict>)> {
        let bridge = Bridge::new(&energy);
        let (b, sampler) = (&bridge, &self.sampler);
        let (x, y) = (x.0, y.0);
        let (fixed_y, fixed_x) = (fixed_y.map(|t| t.0), fixed_x.map(|t| t.0));
        let r = released(py, "JointSampler.run", move || {
            if let Some(s) = seed {
                tch::manual_seed(s);
            }
            let state = start(b, &x, &y, fixed_y.as_ref(), fixed_x.as_ref())?;
            let mut d = mwg::SweepDiagnostics::default();
            let state = sampler.run(b, state, sweeps, &mut d)?;
            let s = d.summary();
            let (x, y) = state.into_xy();
            Ok((x, y, s))
        });
        let (x, y, s) = bridge.finish(r)?;
        let dict = PyDict::new(py);
        dict.set_item("accept_prob_y", s.accept_prob_y)?;
        dict.set_item("accept_rate_y", s.accept_rate_y)?;
        dict.set_item("accept_prob_x", s.accept_prob_x)?;
        dict.set_item("sweeps", s.sweeps)?;
        Ok((out(x), out(y), dict.unbind()))
    }

    fn __repr__(&self) -> String {
        format!(
            "JointSampler({:?}, {:?})",
            self.sampler.discrete, self.sampler.continuous
        )
    }
}

fn start(
    energy: &impl JointEnergy,
    x: &Tensor,
    y: &Tensor,
    fixed_y: Option<&Tensor>,
    fixed_x: Option<&Tensor>,
) -> Result<JointState> {
    let x = x.detach();
    let y = y.detach();
    let mut state = JointState::new(energy, &x, &y)?;
    if let Some(f) = fixed_y {
        state = state.with_fixed_y(f)?;
    }
    if let Some(f) = fixed_x {
        state = state.with_fixed_x(f)?;
    }
    Ok(state)
}

/// Running means of acceptance over steps (on the device; read once at the end).
#[derive(Default)]
struct Acceptance {
    prob: Option<Tensor>,
    rate: Option<Tensor>,
    steps: usize,
}

impl Acceptance {
    fn record(&mut self, info: &StepInfo) {
        let p = info.accept_prob.to_kind(Kind::Double).mean(Kind::Double);
        let r = info.accepted.to_kind(Kind::Double).mean(Kind::Double);
        self.prob = Some(match self.prob.take() {
            Some(a) => a + p,
            None => p,
        });
        self.rate = Some(match self.rate.take() {
            Some(a) => a + r,
            None => r,
        });
        self.steps += 1;
    }

    fn into_dict(self, py: Python<'_>) -> PyResult<Py<PyDict>> {
        let n = self.steps.max(1) as f64;
        let read = |t: Option<Tensor>| -> PyResult<f64> {
            t.map(|t| f64::try_from(t).map(|v| v / n))
                .transpose()
                .map(|v| v.unwrap_or(f64::NAN))
                .map_err(|e| PyValueError::new_err(e.to_string()))
        };
        let dict = PyDict::new(py);
        dict.set_item("accept_prob", read(self.prob)?)?;
        dict.set_item("accept_rate", read(self.rate)?)?;
        dict.set_item("steps", self.steps)?;
        Ok(dict.unbind())
    }
}

/// A kernel with the block it moves.
enum Block {
    /// Moves `y` with `x` fixed.
    Labels(AnyDiscrete),
    /// Moves `x` with `y` fixed.
    Inputs(AnyContinuous),
}

impl Block {
    fn name(&self) -> &'static str {
        match self {
            Self::Labels(k) => k.name(),
            Self::Inputs(k) => k.name(),
        }
    }

    fn step(&self, energy: &Bridge<'_>, state: JointState) -> Result<(JointState, StepInfo)> {
        match self {
            Self::Labels(k) => k.step(energy, state),
            Self::Inputs(k) => k.step(energy, state),
        }
    }
}

/// `steps` steps of one block kernel from `(x, y)`, the variables (labels) or elements (inputs)
/// of the moved block where `fixed` is true held; returns the moved block and the acceptance.
fn run_block(
    py: Python<'_>,
    kernel: Block,
    energy: &Energy,
    x: PyTensor,
    y: PyTensor,
    steps: usize,
    fixed: Option<PyTensor>,
    seed: Option<i64>,
) -> PyResult<(PyTensor, Py<PyDict>)> {
    let bridge = Bridge::new(energy);
    let b = &bridge;
    let (x, y) = (x.0, y.0);
    let fixed = fixed.map(|t| t.0);
    let kernel = &kernel;
    let r = released(py, kernel.name(), move || {
        if let Some(s) = seed {
            tch::manual_seed(s);
        }
        let mut state = match kernel {
            Block::Labels(_) => start(b, &x, &y, fixed.as_ref(), None)?,
            Block::Inputs(_) => start(b, &x, &y, None, fixed.as_ref())?,
        };
        let mut acc = Acceptance::default();
        for _ in 0..steps {
            let (next, info) = kernel.step(b, state)?;
            acc.record(&info);
            state = next;
        }
        let (x, y) = state.into_xy();
        Ok((
            if matches!(kernel, Block::Labels(_)) {
                y
            } else {
                x
            },
            acc,
        ))
    });
    let (moved, acc) = bridge.finish(r)?;
    Ok((out(moved), acc.into_dict(py)?))
}
