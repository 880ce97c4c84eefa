//! Initial distributions `q₀(y)` for the discrete block and `p₀(x)` for the continuous block.

use crate::error::{Error, Result};
use crate::layout::YLayout;
use serde::{Deserialize, Serialize};
use tch::{Device, Kind, Tensor};

/// Initial distribution `q₀(y)`: independent per variable.
///
/// The paper (appendix B, "Sampling noise") uses [`YInit::Uniform`] over configurations for
/// dSprites and the empirical frequencies of one data batch ([`YInit::empirical`]) for the toy
/// data and MNIST. (The authors' code uses a point mass instead; docs/REFERENCE-NOTES.md §10.1.)
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub enum YInit {
    /// Every value of every variable equally likely.
    Uniform,
    /// One probability vector per variable (`K_g` entries for a group, 2 for a bit:
    /// `[P(0), P(1)]`), each summing to 1.
    Probs(Vec<Vec<f64>>),
}

impl YInit {
    /// Per-variable empirical frequencies of the labels `y` `[N, D]` (a data batch). Values that
    /// never occur get probability 0 (as in the paper's "proportional to the number of
    /// occurrences").
    pub fn empirical(layout: &YLayout, y: &Tensor) -> Result<Self> {
        layout.validate("YInit::empirical", "y", y)?;
        let n = y.size()[0] as f64;
        let col_sums = Vec::<f64>::try_from(
            y.sum_dim_intlist([0i64].as_slice(), false, Kind::Double)
                .to_device(Device::Cpu),
        )?;
        let probs = (0..layout.num_vars())
            .map(|v| {
                let r = layout.columns(v);
                if layout.is_bit(v) {
                    let p1 = col_sums[r.start] / n;
                    vec![1.0 - p1, p1]
                } else {
                    col_sums[r].iter().map(|c| c / n).collect()
                }
            })
            .collect();
        Ok(YInit::Probs(probs))
    }

    /// Checks the probability vectors against the layout.
    pub fn validate(&self, layout: &YLayout) -> Result<()> {
        if let YInit::Probs(p) = self {
            if p.len() != layout.num_vars() {
                return Err(Error::config(
                    "y_init",
                    format!("{} probability vectors", p.len()),
                    format!("the layout has {} variables", layout.num_vars()),
                ));
            }
            for (v, pv) in p.iter().enumerate() {
                let sum: f64 = pv.iter().sum();
                if pv.len() != layout.cardinality(v)
                    || pv.iter().any(|q| !q.is_finite() || *q < 0.0)
                    || (sum - 1.0).abs() > 1e-6
                {
                    return Err(Error::config(
                        "y_init",
                        format!("{pv:?}"),
                        format!(
                            "variable {v} needs {} non-negative probabilities summing to 1",
                            layout.cardinality(v)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Draws `n` labels `[n, D]` of float `kind` on `device`. Uses torch's generator (seed it
    /// with [`seed_everything`](crate::seed_everything)); no host synchronisation.
    pub fn sample(&self, layout: &YLayout, n: i64, device: Device, kind: Kind) -> Result<Tensor> {
        self.validate(layout)?;
        let mut values = Vec::with_capacity(layout.num_vars());
        for v in 0..layout.num_vars() {
            let k = layout.cardinality(v) as i64;
            let col = match self {
                YInit::Uniform => Tensor::randint(k, [n], (Kind::Int64, device)),
                YInit::Probs(p) => Tensor::from_slice(&p[v])
                    .to_device(device)
                    .multinomial(n, true),
            };
            values.push(col);
        }
        let values = Tensor::stack(&values, 1);
        layout.encode(&values, kind)
    }
}

/// Initial distribution `p₀(x)`: independent uniform per element between the element-wise
/// minimum and maximum of one data batch (paper appendix B, "Sampling noise").
#[derive(Debug)]
pub struct XInit {
    /// Element-wise minimum `[…]` (one chain's shape).
    pub low: Tensor,
    /// Element-wise maximum `[…]`.
    pub high: Tensor,
}

impl XInit {
    /// Bounds from a data batch `x` `[N, …]`.
    pub fn from_batch(x: &Tensor) -> Result<Self> {
        if x.size().is_empty() || x.size()[0] == 0 {
            return Err(Error::shape(
                "XInit::from_batch",
                "x",
                "[N, …] with N ≥ 1",
                &x.size(),
            ));
        }
        if !bool::try_from(x.isfinite().all())? {
            return Err(Error::NonFinite {
                op: "XInit::from_batch",
                what: "x",
            });
        }
        Ok(Self {
            low: x.amin([0i64].as_slice(), false).detach(),
            high: x.amax([0i64].as_slice(), false).detach(),
        })
    }

    /// Draws `n` points `[n, …]` uniformly in the box. No host synchronisation.
    pub fn sample(&self, n: i64) -> Tensor {
        let mut shape = vec![n];
        shape.extend(self.low.size());
        let u = Tensor::rand(shape.as_slice(), (self.low.kind(), self.low.device()));
        &self.low + u * (&self.high - &self.low)
    }
}
