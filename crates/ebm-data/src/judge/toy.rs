//! The toy judge: the Bayes classifier of the 8-Gaussians mixture.

use crate::EightGaussians;
use ebm_core::{Error, Result};
use tch::{Device, Kind, Tensor};

/// The Bayes-optimal attributes of toy points `x` `[N, 2]`: the most probable mode under the
/// known mixture (equal weights, isotropic components of standard deviation `0.5 / 1.414`, so
/// the nearest centre), mapped to its attributes with [`EightGaussians::attributes`].
/// Returns `[N][3]` attribute values. Non-finite points are an error.
pub fn toy_bayes_attributes(x: &Tensor) -> Result<Vec<[i64; 3]>> {
    let s = x.size();
    if s.len() != 2 || s[1] != 2 {
        return Err(Error::shape("toy_bayes_attributes", "x", "[N, 2]", &s));
    }
    let v = Vec::<f64>::try_from(x.to_device(Device::Cpu).to_kind(Kind::Double).reshape([-1]))?;
    if v.iter().any(|a| !a.is_finite()) {
        return Err(Error::NonFinite {
            op: "toy_bayes_attributes",
            what: "x",
        });
    }
    Ok(v.chunks(2)
        .map(|p| {
            let d = |m: usize| {
                let (cx, cy) = EightGaussians::center(m);
                (p[0] - cx).powi(2) + (p[1] - cy).powi(2)
            };
            let best = (0..8).min_by(|&a, &b| d(a).total_cmp(&d(b))).unwrap_or(0);
            EightGaussians::attributes(best as i64)
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// On data from the mixture the Bayes classifier is nearly perfect (the modes are ≈ 2.2
    /// standard deviations from the decision boundary); on noise spread over the plane it
    /// agrees with given attributes at chance (½ per attribute).
    #[test]
    fn data_near_perfect_noise_at_chance() {
        tch::manual_seed(0);
        let g = EightGaussians::new(0.0, Kind::Double).unwrap();
        let (x, _, modes) = g.sample(4000, Device::Cpu).unwrap();
        let modes = Vec::<i64>::try_from(modes).unwrap();
        let got = toy_bayes_attributes(&x).unwrap();
        let right = got
            .iter()
            .zip(&modes)
            .filter(|(a, &m)| **a == EightGaussians::attributes(m))
            .count();
        assert!(right as f64 / 4000.0 > 0.95, "{right}");
        let noise = Tensor::rand([4000, 2], (Kind::Double, Device::Cpu)) * 8.0 - 4.0;
        let got = toy_bayes_attributes(&noise).unwrap();
        let agree = got
            .iter()
            .zip(&modes)
            .filter(|(a, &m)| a[0] == EightGaussians::attributes(m)[0])
            .count();
        let rate = agree as f64 / 4000.0;
        assert!((0.45..0.55).contains(&rate), "{rate}");
        assert!(toy_bayes_attributes(&Tensor::zeros([3], (Kind::Float, Device::Cpu))).is_err());
    }
}
