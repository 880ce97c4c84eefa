//! Test-time sampling from noise (no replay buffer) with the EMA model.

use anyhow::Result;
use jem_train::Trainer;
use joint_ebm::cont::Langevin;
use joint_ebm::core::{JointEnergy, JointState};
use joint_ebm::disc::Gwg;
use joint_ebm::mwg::{JointSampler, SweepDiagnostics};
use joint_ebm::tch::Tensor;

/// `n` joint samples after `eval_steps` MWG sweeps from `p₀(x)`, `q₀(y)` with the EMA model.
/// `fixed` clamps variables to values (`(variable, value)` pairs, the same for all chains);
/// `x_fixed` optionally clamps elements of `x` to given values (`(values [n, …], mask)`).
/// Returns `(x [n, …], label values [n, V])`.
pub fn from_noise<M: JointEnergy>(
    t: &Trainer<M>,
    n: i64,
    fixed: &[(usize, i64)],
    x_fixed: Option<(&Tensor, &Tensor)>,
) -> Result<(Tensor, Tensor)> {
    let layout = t.ema_model().y_layout().clone();
    let mut x0 = t.x_init().sample(n);
    if let Some((values, mask)) = x_fixed {
        x0 = values
            .to_device(x0.device())
            .where_self(&mask.to_device(x0.device()), &x0);
    }
    let mut y0 = t.y_init().sample(&layout, n, t.device(), x0.kind())?;
    let mut state_mask = None;
    if !fixed.is_empty() {
        let vals = layout.decode(&y0);
        for &(var, value) in fixed {
            let _ = vals.select(1, var as i64).fill_(value);
        }
        y0 = layout.encode(&vals, x0.kind())?;
        let m: Vec<bool> = (0..layout.num_vars())
            .map(|v| fixed.iter().any(|&(f, _)| f == v))
            .collect();
        state_mask = Some(Tensor::from_slice(&m));
    }
    let mut state = JointState::new(t.ema_model(), &x0, &y0)?;
    if let Some(m) = &state_mask {
        state = state.with_fixed_y(m)?;
    }
    if let Some((_, mask)) = x_fixed {
        state = state.with_fixed_x(mask)?;
    }
    let cfg = t.config();
    let sampler = JointSampler::new(
        Gwg::new(cfg.gwg.clone())?,
        Langevin::new(cfg.langevin.clone())?,
    );
    let mut d = SweepDiagnostics::default();
    let state = sampler.run(t.ema_model(), state, cfg.eval_steps, &mut d)?;
    Ok((state.x, layout.decode(&state.y)))
}
