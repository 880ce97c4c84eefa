//! `joint_ebm._native`: the workspace's samplers, prediction and saved models for Python.
//!
//! Tensors cross between Python and Rust as handles to the same `at::Tensor` (`pyo3-tch`): the
//! package runs on the libtorch of the user's `torch`, so nothing is copied and autograd graphs
//! are shared. A Python energy `f(x, y) -> Tensor[B]` (higher = more probable) is wrapped as a
//! [`ebm_core::JointEnergy`] by [`energy::Bridge`]; an exception it raises, or an output of the
//! wrong shape, dtype or device, is raised again in Python once the Rust call returns, and a
//! panic in Rust becomes a `RuntimeError` — never a crash of the interpreter.

// The Python methods mirror keyword arguments one-to-one.
#![allow(clippy::too_many_arguments)]

use pyo3::prelude::*;

mod convert;
mod energy;
mod kernels;
mod model;
mod predict;

/// Keeps freed memory in the process's heap (glibc: `M_MMAP_THRESHOLD` 32 MiB,
/// `M_TRIM_THRESHOLD` unlimited) instead of returning every large tensor's pages to the system,
/// which saves the page faults of re-allocating them: ≈ 10 % of a CNN sampler's time on one
/// thread (measured). Process-wide and irreversible; call it once, early. The Rust examples and
/// benches do the same. Returns whether the allocator accepted the settings (false off glibc).
#[pyfunction]
fn keep_freed_memory() -> bool {
    ebm_core::keep_freed_memory()
}

/// The module `joint_ebm._native` (re-exported by `joint_ebm`).
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("TORCH_VERSION", convert::TORCH_VERSION)?;
    m.add_class::<convert::PyLayout>()?;
    m.add_class::<energy::Energy>()?;
    m.add_class::<kernels::Gwg>()?;
    m.add_class::<kernels::Dmala>()?;
    m.add_class::<kernels::ExactGibbs>()?;
    m.add_class::<kernels::Langevin>()?;
    m.add_class::<kernels::Mala>()?;
    m.add_class::<kernels::JointSampler>()?;
    m.add_class::<model::Model>()?;
    m.add_function(wrap_pyfunction!(predict::predict_by_energy, m)?)?;
    m.add_function(wrap_pyfunction!(predict::predict_by_sampling, m)?)?;
    m.add_function(wrap_pyfunction!(model::load_model, m)?)?;
    m.add_function(wrap_pyfunction!(keep_freed_memory, m)?)?;
    Ok(())
}
