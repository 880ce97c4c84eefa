//! Conditional generation and inpainting: joint chains with some label variables and some
//! elements of `x` held fixed (the paper's modified kernel `T̄_d`: the discrete kernel skips
//! the clamped variables, the continuous kernel still sees the full `y`).

use crate::sampler::{JointSampler, SweepDiagnostics};
use ebm_core::{ContinuousKernel, DiscreteKernel, Error, JointEnergy, JointState, Result, YLayout};
use tch::{Device, Tensor};

/// Clamps of a generation: which label variables are held, at which values, and which
/// elements of `x` are held (inpainting).
#[derive(Clone, Copy, Debug, Default)]
pub struct Clamps<'a> {
    /// `(variable, values)` pairs: the variable is held at `values[0]` in every chain, or at
    /// `values[i]` in chain `i` when one value per chain is given.
    pub labels: &'a [(usize, &'a [i64])],
    /// `(values [n, …], mask [n, …] bool)`: elements of `x` where `mask` is true are held at
    /// `values`.
    pub x: Option<(&'a Tensor, &'a Tensor)>,
}

impl Clamps<'_> {
    /// The clamped label values as `(variable, [n] int64 on device)`, validated against
    /// `layout` and the number of chains `n`.
    pub fn label_targets(
        &self,
        layout: &YLayout,
        n: i64,
        device: Device,
    ) -> Result<Vec<(usize, Tensor)>> {
        let mut targets = Vec::with_capacity(self.labels.len());
        for &(var, values) in self.labels {
            let bad = var >= layout.num_vars()
                || (values.len() != 1 && values.len() as i64 != n)
                || values
                    .iter()
                    .any(|&v| v < 0 || v as usize >= layout.cardinality(var));
            if bad {
                return Err(Error::config(
                    "fixed",
                    format!("variable {var} with {} values", values.len()),
                    format!(
                        "variable must be < {}, with 1 or n = {n} values each < its cardinality",
                        layout.num_vars()
                    ),
                ));
            }
            let t = Tensor::from_slice(values)
                .to_device(device)
                .expand([n], false);
            targets.push((var, t));
        }
        Ok(targets)
    }
}

/// The start state of a clamped chain: `x0` `[n, …]` with the clamped elements of `x`
/// overwritten by their values, `y0` `[n, D]` with the clamped label variables set, and both
/// clamp masks installed (validates everything; errors name the bad argument).
pub fn clamped_state<E: JointEnergy + ?Sized>(
    energy: &E,
    x0: &Tensor,
    y0: &Tensor,
    clamps: &Clamps,
) -> Result<JointState> {
    const OP: &str = "mwg::clamped_state";
    let layout = energy.y_layout();
    let n = *x0
        .size()
        .first()
        .ok_or_else(|| Error::shape(OP, "x0", "[n, …]", &x0.size()))?;
    let device = x0.device();
    let targets = clamps.label_targets(layout, n, device)?;
    let mut x = x0.shallow_clone();
    if let Some((values, mask)) = clamps.x {
        if values.size() != x0.size() || mask.size() != x0.size() {
            return Err(Error::shape(
                OP,
                "clamped x values and mask",
                format!("{:?}", x0.size()),
                &values.size(),
            ));
        }
        x = values
            .to_device(device)
            .to_kind(x0.kind())
            .where_self(&mask.to_device(device), x0);
    }
    let mut y = y0.shallow_clone();
    let mut var_mask = None;
    if !targets.is_empty() {
        layout.validate(OP, "y0", y0)?;
        let vals = layout.decode(y0);
        for (var, t) in &targets {
            vals.select(1, *var as i64).copy_(t);
        }
        y = layout.encode(&vals, y0.kind())?;
        let m: Vec<bool> = (0..layout.num_vars())
            .map(|v| targets.iter().any(|(f, _)| *f == v))
            .collect();
        var_mask = Some(Tensor::from_slice(&m).to_device(device));
    }
    let mut state = JointState::new(energy, &x, &y)?;
    if let Some(m) = &var_mask {
        state = state.with_fixed_y(m)?;
    }
    if let Some((_, mask)) = clamps.x {
        state = state.with_fixed_x(&mask.to_device(device))?;
    }
    Ok(state)
}

/// Conditional generation / inpainting: `sweeps` sweeps of `sampler` from
/// [`clamped_state`]`(x0, y0, clamps)`. Returns `(x [n, …], label values [n, V] int64)`.
/// Uses torch's generator.
pub fn generate<E, D, C>(
    sampler: &JointSampler<D, C>,
    energy: &E,
    x0: &Tensor,
    y0: &Tensor,
    clamps: &Clamps,
    sweeps: usize,
) -> Result<(Tensor, Tensor)>
where
    E: JointEnergy + ?Sized,
    D: DiscreteKernel,
    C: ContinuousKernel,
{
    let state = clamped_state(energy, x0, y0, clamps)?;
    let mut d = SweepDiagnostics::default();
    let state = sampler.run(energy, state, sweeps, &mut d)?;
    let (x, y) = state.into_xy();
    Ok((x, energy.y_layout().decode(&y)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ebm_core::FnEnergy;
    use samplers_cont::{Mala, MalaConfig};
    use samplers_disc::{Gwg, GwgConfig};
    use tch::Kind;

    /// Clamped labels and x elements stay at their values through the chain; the free ones
    /// move; bad clamps are errors.
    #[test]
    fn clamps_hold_and_bad_clamps_are_errors() {
        tch::manual_seed(11);
        let layout = YLayout::categorical(vec![3, 3]).unwrap();
        let energy = FnEnergy::new(layout.clone(), |x: &Tensor, y: &Tensor| {
            -(x * x).sum_dim_intlist([1i64].as_slice(), false, None) / 2.0
                + y.sum_dim_intlist([1i64].as_slice(), false, None) * 0.0
        });
        let n = 32;
        let x0 = Tensor::randn([n, 4], (Kind::Double, Device::Cpu));
        let y0 = layout
            .encode(
                &Tensor::zeros([n, 2], (Kind::Int64, Device::Cpu)),
                Kind::Double,
            )
            .unwrap();
        let per_chain: Vec<i64> = (0..n).map(|i| i % 3).collect();
        let xv = Tensor::full([n, 4], 7.0, (Kind::Double, Device::Cpu));
        let xm = Tensor::from_slice(&[true, false, false, false])
            .view([1, 4])
            .expand([n, 4], false);
        let labels = [(1usize, per_chain.as_slice())];
        let clamps = Clamps {
            labels: &labels,
            x: Some((&xv, &xm)),
        };
        let sampler = JointSampler::new(
            Gwg::new(GwgConfig::default()).unwrap(),
            Mala::new(MalaConfig::from_noise_scale(0.5)).unwrap(),
        );
        let (x, v) = generate(&sampler, &energy, &x0, &y0, &clamps, 30).unwrap();
        assert_eq!(
            Vec::<i64>::try_from(v.select(1, 1)).unwrap(),
            per_chain,
            "clamped label moved"
        );
        assert!(bool::try_from(x.select(1, 0).eq(7.0).all()).unwrap());
        assert!(bool::try_from(x.select(1, 1).ne_tensor(&x0.select(1, 1)).any()).unwrap());
        assert!(
            bool::try_from(v.select(1, 0).ne(0).any()).unwrap(),
            "free label stuck"
        );
        for bad in [[(2usize, &[0i64][..])], [(0, &[3][..])], [(0, &[0, 1][..])]] {
            let c = Clamps {
                labels: &bad,
                x: None,
            };
            assert!(clamped_state(&energy, &x0, &y0, &c).is_err());
        }
    }
}
