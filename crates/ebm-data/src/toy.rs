//! The paper's toy data: 8 Gaussians on a circle with three binary attributes
//! (docs/REFERENCE-NOTES.md §7.1, the authors' `8gaussians_multi`).

use crate::{hide_labels, Batch, DataSource};
use ebm_core::{Result, YLayout};
use tch::{Device, Kind, Tensor};

/// Mode centres in the authors' order (indices 0..7), before scaling.
const CENTERS: [(f64, f64); 8] = [
    (0.0, -1.0),
    (1.0, 0.0),
    (0.0, 1.0),
    (-1.0, 0.0),
    (
        std::f64::consts::FRAC_1_SQRT_2,
        -std::f64::consts::FRAC_1_SQRT_2,
    ),
    (
        std::f64::consts::FRAC_1_SQRT_2,
        std::f64::consts::FRAC_1_SQRT_2,
    ),
    (
        -std::f64::consts::FRAC_1_SQRT_2,
        std::f64::consts::FRAC_1_SQRT_2,
    ),
    (
        -std::f64::consts::FRAC_1_SQRT_2,
        -std::f64::consts::FRAC_1_SQRT_2,
    ),
];

/// The 8-Gaussians toy distribution: mode `m` uniform in 0..8,
/// `x = (4 · c_m + 0.5 · N(0, I)) / 1.414` (radius ≈ 2.83, per-coordinate sd ≈ 0.354), and three
/// binary attributes, the bits of the mode index: `a₁ = [m < 4]` (axis-aligned vs diagonal
/// mode), `a₂ = m mod 2`, `a₃ = ⌊m/2⌋ mod 2`. Jointly the attributes identify the mode.
/// Labels are laid out as three 2-way one-hot groups (`y` `[B, 6]`).
///
/// Fresh samples are drawn for every batch (infinite data), from torch's generator.
#[derive(Debug, Clone)]
pub struct EightGaussians {
    layout: YLayout,
    missing_fraction: f64,
    kind: Kind,
}

impl EightGaussians {
    /// The generator; `missing_fraction` of label groups are hidden at random in every batch
    /// (at least one kept per example; see [`hide_labels`]). `kind` is the float kind of `x`, `y`.
    pub fn new(missing_fraction: f64, kind: Kind) -> Result<Self> {
        if !(0.0..1.0).contains(&missing_fraction) {
            return Err(ebm_core::Error::config(
                "missing_labels",
                missing_fraction,
                "must be in [0, 1)",
            ));
        }
        Ok(Self {
            layout: YLayout::categorical(vec![2, 2, 2])?,
            missing_fraction,
            kind,
        })
    }

    /// Mode index → attribute values `[a₁, a₂, a₃]`.
    pub fn attributes(mode: i64) -> [i64; 3] {
        [i64::from(mode < 4), mode % 2, (mode / 2) % 2]
    }

    /// Attribute values `[a₁, a₂, a₃]` → mode index (the attributes are a bijection).
    pub fn mode_of(attrs: [i64; 3]) -> Option<i64> {
        (0..8).find(|&m| Self::attributes(m) == attrs)
    }

    /// Centre of mode `m` in data coordinates.
    pub fn center(mode: usize) -> (f64, f64) {
        let (a, b) = CENTERS[mode % 8];
        (4.0 * a / 1.414, 4.0 * b / 1.414)
    }

    /// Draws `n` points: `x` `[n, 2]`, labels `y` `[n, 6]`, modes `[n]`.
    pub fn sample(&self, n: i64, device: Device) -> Result<(Tensor, Tensor, Tensor)> {
        let modes = Tensor::randint(8, [n], (Kind::Int64, device));
        let centers: Vec<f64> = CENTERS.iter().flat_map(|&(a, b)| [a, b]).collect();
        let centers = Tensor::from_slice(&centers)
            .view([8, 2])
            .to_kind(self.kind)
            .to_device(device);
        let x = (centers.index_select(0, &modes) * 4.0
            + Tensor::randn([n, 2], (self.kind, device)) * 0.5)
            / 1.414;
        let table: Vec<i64> = (0..8).flat_map(Self::attributes).collect();
        let table = Tensor::from_slice(&table).view([8, 3]).to_device(device);
        let values = table.index_select(0, &modes);
        let y = self.layout.encode(&values, self.kind)?;
        Ok((x, y, modes))
    }
}

impl DataSource for EightGaussians {
    fn y_layout(&self) -> &YLayout {
        &self.layout
    }

    fn x_shape(&self) -> Vec<i64> {
        vec![2]
    }

    fn next_batch(&mut self, batch_size: i64, device: Device) -> Result<Batch> {
        let (x, y, _) = self.sample(batch_size, device)?;
        let observed = (self.missing_fraction > 0.0).then(|| {
            hide_labels(
                batch_size,
                self.layout.num_vars() as i64,
                self.missing_fraction,
                device,
            )
        });
        Ok(Batch { x, y, observed })
    }

    fn test_set(&mut self, max: i64, device: Device) -> Result<Batch> {
        let (x, y, _) = self.sample(max, device)?;
        Ok(Batch {
            x,
            y,
            observed: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attributes_are_a_bijection_with_4_4_splits() {
        let mut seen = std::collections::HashSet::new();
        for m in 0..8 {
            let a = EightGaussians::attributes(m);
            assert!(seen.insert(a));
            assert_eq!(EightGaussians::mode_of(a), Some(m));
        }
        for attr in 0..3 {
            let ones = (0..8)
                .filter(|&m| EightGaussians::attributes(m)[attr] == 1)
                .count();
            assert_eq!(ones, 4);
        }
    }

    #[test]
    fn samples_sit_on_their_modes_with_correct_labels() {
        ebm_core::seed_everything(0);
        let g = EightGaussians::new(0.0, Kind::Double).unwrap();
        let (x, y, modes) = g.sample(4000, Device::Cpu).unwrap();
        let values = g.y_layout().decode(&y);
        let xs = Vec::<f64>::try_from(x.reshape([-1])).unwrap();
        let ms = Vec::<i64>::try_from(modes).unwrap();
        let vs = Vec::<i64>::try_from(values.reshape([-1])).unwrap();
        let mut sq = 0.0;
        for i in 0..4000 {
            let (cx, cy) = EightGaussians::center(ms[i] as usize);
            let (dx, dy) = (xs[2 * i] - cx, xs[2 * i + 1] - cy);
            sq += dx * dx + dy * dy;
            assert_eq!(
                [vs[3 * i], vs[3 * i + 1], vs[3 * i + 2]],
                EightGaussians::attributes(ms[i])
            );
        }
        let sd = (sq / 8000.0).sqrt();
        assert!((sd - 0.5 / 1.414).abs() < 0.01, "per-coordinate sd {sd}");
        assert!((EightGaussians::center(1).0 - 2.8289).abs() < 1e-3);
    }
}
