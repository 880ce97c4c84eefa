//! The exponential moving average of parameters.

use ebm_core::{Error, Result};
use tch::nn::VarStore;

/// Exponential moving average of parameters, `θ̂ ← μ θ̂ + (1 − μ) θ` after every optimiser step,
/// `θ̂₀ = θ₀` (paper appendix B, μ = 0.99). The average lives in a second `VarStore` holding
/// the same architecture (tch's two-store pattern), used for evaluation and test-time sampling.
pub fn ema_update(ema: &VarStore, live: &VarStore, decay: f64) -> Result<()> {
    let live_vars = live.variables();
    tch::no_grad(|| -> Result<()> {
        for (name, mut e) in ema.variables() {
            let l = live_vars.get(&name).ok_or_else(|| {
                Error::config("ema", name.clone(), "variable missing from the live model")
            })?;
            let _ = e.f_mul_scalar_(decay)?.f_add_(&(l * (1.0 - decay)))?;
        }
        Ok(())
    })
}
