//! An energy over images and structured labels whose label variables **interact**: the mask
//! enters the CNN as an image channel beside `x`, the factor one-hots join the MLP head.
//!
//! ```text
//! y = [factors (categorical groups, D_f columns) | mask (s_m × s_m bits)]
//! m  = nearest-upsample(mask as [B, 1, s_m, s_m]) to side × side
//! h  = SiLU-CNN([x, m])      Conv(2,16,3,1,1)-SiLU-Conv(16,32,4,2,1)-SiLU-Conv(32,64,4,2,1)-SiLU-
//!                            Conv(64,128,4,2,1)-SiLU-Conv(128,16,1)-Flatten   → 16·(side/8)² features
//! readout head (default):  z = Linear(F,256)-SiLU-Linear(256,256)-SiLU-Linear(256, 1 + D_f) of h,
//!                           f(x, y) = z₀ + ⟨centre(z₁…), factors⟩, centre = minus each group's mean
//! concat head:              f(x, y) = MLP(concat(h, factors)),
//!                           Linear(F + D_f, 256)-SiLU-Linear(256,256)-SiLU-Linear(256,1)
//! with factor maps (optional, [`FactorMap`]), the chosen coordinate groups also as channels:
//! c_g = ⟨y_g, T_g⟩ broadcast along the other axis   (T_g [V_g, side]: value k marks its stripe)
//! h  = SiLU-CNN([x, m, c_…])   (the first convolution gains one input channel per map)
//! with a mask, plus a unary term:
//! u  = Conv(1,16,3,1,1)-SiLU-Conv(16,16,3,1,1)-SiLU-Conv(16,1,r,r)(x)   one logit per mask bit
//! f(x, y) += ⟨u(x), mask⟩
//! ```
//!
//! The **unary term** is a per-bit logit from `x` alone, as the unary potentials of a CRF: it
//! gives the samplers each bit's local evidence directly (a discrete move needs it), while the
//! CNN on `[x, m]` carries the interactions between bits, with `x` and with the factors.
//!
//! The **readout** head ([`FactorHead::Readout`]) reads the factors as JEM reads labels — one
//! logit per factor value — but from features of `x` *and the mask*, so the factors interact
//! with the mask (and, through it, with each other given `x` alone). Its logits are centred
//! within each group (the same function class: a group's mean is an offset that `z₀` carries),
//! so that the label weights do not double as an energy offset and receive the data-versus-
//! negatives gradient only through label differences. The **concat** head
//! ([`FactorHead::Concat`]) is the paper's dSprites head: the factors enter at the MLP's input
//! and must meet class-specific features in a hidden layer first, which learns slowly (measured
//! for dSprites' two position labels; `docs/EXPERIMENTS.md` §28–29).
//!
//! Higher = more probable. Not an architecture of the paper: the paper's dSprites network reads
//! `y` only at the input of the head (its labels were two position bins); here the mask is a
//! spatial label, so it meets `x` where the network is spatial. The energy does **not**
//! factorise over the label variables given `x`: mask bits interact with each other and with
//! `x` through the convolutions and the SiLUs, and with the factors through the head, so
//! `log Σ_y e^{f(x, y)}` has no closed form and the joint must be sampled.
//!
//! Without mask bits in the layout (factors only) the network is the paper's dSprites CNN
//! (one input channel) with a factor head; without factor groups (mask only) the head reads
//! `h` alone. Shapes: `x` `[B, 1, side, side]` (or `side²` values per row), `y` `[B, D]`,
//! output `[B]`.
//!
//! **Factor maps** ([`MaskCnnEnergy::with_maps`]; none by default) draw a coordinate group —
//! a position bin — as a fixed stripe image beside `x`: value `k` of `V` lights the pixel
//! columns (or rows) where the `k`-th of `V` equal parts of `[from, to)` (fractions of the
//! side) lies, at least one pixel wide. The position label then meets `x` where the network is
//! spatial, as the mask does, instead of only in the head. With maps the energy is no longer
//! affine in those groups' one-hots, so a conditional read from the label gradient is a
//! first-order approximation for them. Not in the paper.
//!
//! **Feature stage** exposed to the samplers: with a mask or maps, the first convolution's `x` half
//! (`conv0_x(x)`, `[B, 16, side, side]`; the mask half `conv0_m(m)` is added per evaluation, the
//! parts being one `Conv(c, 16, 3)` split by input channel), so a move of `y` costs the
//! rest of the network; without either the whole CNN, so a move costs the head only.

mod maps;

pub use maps::{FactorMap, MapAxis};

use crate::models::{torch_conv2d, torch_linear};
use ebm_core::{JointEnergy, YLayout};
use tch::nn::{self, Module};
use tch::Tensor;

/// See the module documentation.
#[derive(Debug)]
pub struct MaskCnnEnergy {
    layout: YLayout,
    side: i64,
    mask_side: i64,
    factor_dim: i64,
    conv0_x: nn::Conv2D,
    /// `None` when the layout has no mask bits.
    conv0_m: Option<nn::Conv2D>,
    convs: Vec<nn::Conv2D>,
    head: Vec<nn::Linear>,
    readout: bool,
    /// The unary term's convolutions (`None` without a mask).
    unary: Option<Vec<nn::Conv2D>>,
    /// The factor maps with their stripe tables `[V_g, side]` (non-trainable variables).
    maps: Vec<(FactorMap, Tensor)>,
    /// The first convolution's part for the maps (`None` without maps).
    conv0_f: Option<nn::Conv2D>,
}

/// How the factor one-hots enter [`MaskCnnEnergy`] (see the module docs).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FactorHead {
    /// One logit per factor value from the features of `x` and the mask (default).
    #[default]
    Readout,
    /// The factors concatenated to the features at the MLP's input (the paper's dSprites head).
    Concat,
}

impl MaskCnnEnergy {
    /// Builds the network under `path` for `side × side` images (`side` divisible by 8) and
    /// labels laid out by `layout`: its categorical groups are the factors, its bits (if any)
    /// a square mask whose side divides `side`. Errors name a layout or side that does not fit.
    /// No factor maps ([`Self::with_maps`]).
    pub fn new(
        path: &nn::Path,
        layout: YLayout,
        side: i64,
        factor_head: FactorHead,
    ) -> ebm_core::Result<Self> {
        Self::with_maps(path, layout, side, factor_head, &[])
    }

    /// [`Self::new`] with some categorical groups also drawn as image channels ([`FactorMap`]).
    /// Errors name a map whose group is not a categorical group of `layout`, is mapped twice, or
    /// whose `[from, to)` is not an interval within `[0, 1]`.
    pub fn with_maps(
        path: &nn::Path,
        layout: YLayout,
        side: i64,
        factor_head: FactorHead,
        maps: &[FactorMap],
    ) -> ebm_core::Result<Self> {
        for (i, m) in maps.iter().enumerate() {
            let why = if m.group >= layout.groups().len() {
                Some(format!(
                    "the layout has {} categorical groups",
                    layout.groups().len()
                ))
            } else if maps[..i].iter().any(|o| o.group == m.group) {
                Some("the group is mapped twice".to_string())
            } else if !(0.0 <= m.from && m.from < m.to && m.to <= 1.0) {
                Some("needs 0 ≤ from < to ≤ 1".to_string())
            } else {
                None
            };
            if let Some(why) = why {
                return Err(ebm_core::Error::config("factor map", format!("{m:?}"), why));
            }
        }
        let bits = layout.bits() as i64;
        let mask_side = (bits as f64).sqrt().round() as i64;
        if bits > 0 && (mask_side * mask_side != bits || side % mask_side != 0) {
            return Err(ebm_core::Error::config(
                "layout",
                format!("{bits} bits"),
                format!(
                    "the mask bits must form a square whose side divides the image side {side}"
                ),
            ));
        }
        if side < 8 || side % 8 != 0 {
            return Err(ebm_core::Error::config(
                "side",
                side,
                "must be a multiple of 8",
            ));
        }
        let factor_dim = layout.dim() as i64 - bits;
        // One Conv(c_in, 16, 3) split by input channel, initialised like PyTorch's with the
        // fan-in of the whole convolution.
        let c_in = 1 + i64::from(bits > 0) + maps.len() as i64;
        let init = 1.0 / ((c_in * 9) as f64).sqrt();
        let cfg = |bias: bool| nn::ConvConfig {
            padding: 1,
            bias,
            ws_init: nn::Init::Uniform {
                lo: -init,
                up: init,
            },
            bs_init: nn::Init::Uniform {
                lo: -init,
                up: init,
            },
            ..Default::default()
        };
        let conv0_x = nn::conv2d(path / "conv0_x", 1, 16, 3, cfg(true));
        let conv0_m = (bits > 0).then(|| nn::conv2d(path / "conv0_m", 1, 16, 3, cfg(false)));
        let conv0_f = (!maps.is_empty())
            .then(|| nn::conv2d(path / "conv0_f", maps.len() as i64, 16, 3, cfg(false)));
        let maps = maps
            .iter()
            .map(|m| {
                let table = m
                    .table(layout.groups()[m.group], side)
                    .to_device(path.device())
                    .to_kind(path.kind());
                (*m, path.add(&format!("map{}", m.group), table, false))
            })
            .collect();
        let specs = [
            (16, 32, 4, 2, 1),
            (32, 64, 4, 2, 1),
            (64, 128, 4, 2, 1),
            (128, 16, 1, 1, 0),
        ];
        let convs = specs
            .iter()
            .enumerate()
            .map(|(i, &(ci, co, k, s, p))| {
                torch_conv2d(&(path / format!("conv{}", i + 1)), ci, co, k, s, p)
            })
            .collect();
        let features = 16 * (side / 8) * (side / 8);
        let readout = factor_head == FactorHead::Readout;
        let r = if bits > 0 { side / mask_side } else { 1 };
        let unary = (bits > 0).then(|| {
            vec![
                torch_conv2d(&(path / "unary0"), 1, 16, 3, 1, 1),
                torch_conv2d(&(path / "unary1"), 16, 16, 3, 1, 1),
                torch_conv2d(&(path / "unary2"), 16, 1, r, r, 0),
            ]
        });
        let (inputs, outputs) = if readout {
            (features, 1 + factor_dim)
        } else {
            (features + factor_dim, 1)
        };
        let head = vec![
            torch_linear(&(path / "head0"), inputs, 256),
            torch_linear(&(path / "head1"), 256, 256),
            torch_linear(&(path / "head2"), 256, outputs),
        ];
        Ok(Self {
            layout,
            side,
            mask_side,
            factor_dim,
            conv0_x,
            conv0_m,
            convs,
            head,
            readout,
            unary,
            maps,
            conv0_f,
        })
    }

    /// Whether the CNN reads `y` (a mask channel or factor maps): then the feature stage ends
    /// after the first convolution's `x` part.
    fn trunk_reads_y(&self) -> bool {
        self.conv0_m.is_some() || self.conv0_f.is_some()
    }

    /// The factor maps' channels `[B, n_maps, side, side]` from the factor columns `[B, D_f]`.
    fn map_channels(&self, factors: &Tensor) -> Tensor {
        let b = factors.size()[0];
        let s = self.side;
        let parts: Vec<Tensor> = self
            .maps
            .iter()
            .map(|(m, table)| {
                let cols = self.layout.columns(m.group);
                let profile = factors
                    .narrow(1, cols.start as i64, cols.len() as i64)
                    .to_kind(table.kind())
                    .matmul(table); // [B, side]
                match m.axis {
                    MapAxis::Columns => profile.view([b, 1, 1, s]).expand([b, 1, s, s], false),
                    MapAxis::Rows => profile.view([b, 1, s, 1]).expand([b, 1, s, s], false),
                }
            })
            .collect();
        Tensor::cat(&parts, 1)
    }

    /// The CNN features `[B, F]` from the first convolution's pre-activation `[B, 16, s, s]`.
    fn trunk_after_conv0(&self, a: &Tensor) -> Tensor {
        let mut h = a.silu();
        let last = self.convs.len() - 1;
        for (i, c) in self.convs.iter().enumerate() {
            h = c.forward(&h);
            if i < last {
                h = h.silu();
            }
        }
        h.flatten(1, -1)
    }

    fn head_on(&self, h: &Tensor, factors: Option<&Tensor>) -> Tensor {
        let mut z = match factors {
            Some(f) if !self.readout => Tensor::cat(&[h, &f.to_kind(h.kind())], 1),
            _ => h.shallow_clone(),
        };
        for (i, l) in self.head.iter().enumerate() {
            z = l.forward(&z);
            if i + 1 < self.head.len() {
                z = z.silu();
            }
        }
        match factors {
            Some(f) if self.readout => {
                let logits = self.centred(&z.narrow(1, 1, self.factor_dim));
                z.select(1, 0) + (logits * f.to_kind(z.kind())).sum_dim_intlist(1, false, z.kind())
            }
            _ => z.select(1, 0),
        }
    }

    /// The readout's logits `[B, D_f]` centred within each factor group: `f` is unchanged as a
    /// function class (a group's mean logit is a label-independent offset, which `z₀` carries),
    /// but the label weights no longer double as an energy offset, so the contrastive phase's
    /// data-versus-negatives gradient reaches them only through label differences.
    fn centred(&self, logits: &Tensor) -> Tensor {
        let parts: Vec<Tensor> = (0..self.layout.groups().len())
            .map(|g| {
                let cols = self.layout.columns(g);
                let l = logits.narrow(1, cols.start as i64, cols.len() as i64);
                &l - l.mean_dim(1, true, l.kind())
            })
            .collect();
        Tensor::cat(&parts, 1)
    }

    fn split(&self, y: &Tensor) -> (Option<Tensor>, Option<Tensor>) {
        let factors = (self.factor_dim > 0).then(|| y.narrow(1, 0, self.factor_dim));
        let mask = self
            .conv0_m
            .is_some()
            .then(|| y.narrow(1, self.factor_dim, self.mask_side * self.mask_side));
        (factors, mask)
    }

    /// The mask bits `[B, s_m²]` as an image channel `[B, 1, side, side]` (nearest upsampling).
    fn mask_channel(&self, mask: &Tensor) -> Tensor {
        let r = self.side / self.mask_side;
        mask.view([-1, 1, self.mask_side, self.mask_side])
            .repeat_interleave_self_int(r, 2, None)
            .repeat_interleave_self_int(r, 3, None)
    }
}

impl JointEnergy for MaskCnnEnergy {
    fn y_layout(&self) -> &YLayout {
        &self.layout
    }

    /// With a mask: `[conv0_x(x) flattened | u(x)]`, `[B, 16·side² + s_m²]`; with maps and no
    /// mask: `conv0_x(x)` flattened; with neither: the CNN features.
    fn features(&self, x: &Tensor) -> Option<Tensor> {
        let x = x.reshape([-1, 1, self.side, self.side]);
        let a = self.conv0_x.forward(&x);
        if !self.trunk_reads_y() {
            // The whole CNN is y-independent.
            return Some(self.trunk_after_conv0(&a));
        }
        Some(match &self.unary {
            Some(convs) => {
                let mut u = x.shallow_clone();
                for (i, c) in convs.iter().enumerate() {
                    u = c.forward(&u);
                    if i + 1 < convs.len() {
                        u = u.silu();
                    }
                }
                Tensor::cat(&[a.flatten(1, -1), u.flatten(1, -1)], 1)
            }
            None => a.flatten(1, -1),
        })
    }

    fn log_density_from_features(&self, h: &Tensor, y: &Tensor) -> Tensor {
        let (factors, mask) = self.split(y);
        if !self.trunk_reads_y() {
            return self.head_on(h, factors.as_ref());
        }
        let n = 16 * self.side * self.side;
        let mut a = h.narrow(1, 0, n).view([-1, 16, self.side, self.side]);
        let mut unary = None;
        if let (Some(conv), Some(mask)) = (&self.conv0_m, mask) {
            let bits = self.mask_side * self.mask_side;
            let u = h.narrow(1, n, bits);
            let mask = mask.to_kind(h.kind());
            a = &a + conv.forward(&self.mask_channel(&mask));
            unary = Some((u * &mask).sum_dim_intlist(1, false, h.kind()));
        }
        if let (Some(conv), Some(f)) = (&self.conv0_f, &factors) {
            a = &a + conv.forward(&self.map_channels(f).to_kind(h.kind()));
        }
        let f = self.head_on(&self.trunk_after_conv0(&a), factors.as_ref());
        match unary {
            Some(u) => f + u,
            None => f,
        }
    }
}

#[cfg(test)]
mod tests;
