//! The replay buffer of persistent contrastive divergence.

use ebm_core::{eval::select_rows, Error, Result, XInit, YInit, YLayout};
use tch::{Device, Kind, Tensor};

/// A replay buffer of joint samples `(x, y)` (paper appendix B, "Sampling"; Du & Mordatch 2019).
///
/// `x` `[N, …]` and `y` `[N, D]` live on the training device. Each draw picks `B` slots
/// uniformly **with replacement**; each drawn chain is re-initialised with probability
/// `reinit_prob` (x and y together) from the initial distributions; after sampling, **both**
/// `x` and `y` are written back to the same slots (the paper's intent; the authors' default
/// buffer forgets `y`, docs/REFERENCE-NOTES.md §4.2). When a slot is drawn twice in one batch,
/// the later row's write wins.
#[derive(Debug)]
pub struct ReplayBuffer {
    /// Stored `x` `[N, …]`.
    pub x: Tensor,
    /// Stored `y` `[N, D]`.
    pub y: Tensor,
}

/// One draw from the buffer: slot indices `[B]`, starting points, and which were re-initialised.
#[derive(Debug)]
pub struct Draw {
    /// `[B]` int64 slot indices.
    pub index: Tensor,
    /// `[B, …]` starting `x`.
    pub x: Tensor,
    /// `[B, D]` starting `y`.
    pub y: Tensor,
    /// `[B]` bool: re-initialised from noise.
    pub reinit: Tensor,
}

impl ReplayBuffer {
    /// A buffer of `size` samples drawn from the initial distributions.
    pub fn new(size: i64, x_init: &XInit, y_init: &YInit, layout: &YLayout) -> Result<Self> {
        if size < 1 {
            return Err(Error::config("buffer_size", size, "must be ≥ 1"));
        }
        let x = x_init.sample(size);
        let y = y_init.sample(layout, size, x.device(), x.kind())?;
        Ok(Self { x, y })
    }

    /// Number of slots.
    pub fn len(&self) -> i64 {
        self.x.size()[0]
    }

    /// Whether the buffer is empty (never, once built).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Draws `batch` starting points (no host synchronisation).
    pub fn draw(
        &self,
        batch: i64,
        reinit_prob: f64,
        x_init: &XInit,
        y_init: &YInit,
        layout: &YLayout,
    ) -> Result<Draw> {
        let index = Tensor::randint(self.len(), [batch], (Kind::Int64, self.x.device()));
        self.draw_at(index, reinit_prob, x_init, y_init, layout)
    }

    /// As [`Self::draw`], from the slots `slots` only (uniformly, with replacement): a buffer
    /// split into parts that hold different kinds of chain. An empty or out-of-range `slots`
    /// is an error.
    pub fn draw_slots(
        &self,
        slots: std::ops::Range<i64>,
        batch: i64,
        reinit_prob: f64,
        x_init: &XInit,
        y_init: &YInit,
        layout: &YLayout,
    ) -> Result<Draw> {
        if slots.is_empty() || slots.start < 0 || slots.end > self.len() {
            return Err(Error::config(
                "slots",
                format!("{slots:?}"),
                format!("a non-empty range within the buffer's {} slots", self.len()),
            ));
        }
        let index = Tensor::randint_low(
            slots.start,
            slots.end,
            [batch],
            (Kind::Int64, self.x.device()),
        );
        self.draw_at(index, reinit_prob, x_init, y_init, layout)
    }

    /// The draw of the slots `index` `[B]`, each re-initialised with probability `reinit_prob`.
    fn draw_at(
        &self,
        index: Tensor,
        reinit_prob: f64,
        x_init: &XInit,
        y_init: &YInit,
        layout: &YLayout,
    ) -> Result<Draw> {
        let device: Device = self.x.device();
        let batch = index.size()[0];
        let reinit = Tensor::rand([batch], (Kind::Float, device)).lt(reinit_prob);
        let x_noise = x_init.sample(batch);
        let y_noise = y_init.sample(layout, batch, device, self.y.kind())?;
        let x = select_rows(&reinit, &x_noise, &self.x.index_select(0, &index));
        let y = select_rows(&reinit, &y_noise, &self.y.index_select(0, &index));
        Ok(Draw {
            index,
            x,
            y,
            reinit,
        })
    }

    /// Re-initialises each slot with probability `fraction` from `p₀(x) q₀(y)` (a recovery's
    /// remedy: chains that have left the data start again). No host synchronisation.
    pub fn reinit_fraction(
        &mut self,
        fraction: f64,
        x_init: &XInit,
        y_init: &YInit,
        layout: &YLayout,
    ) -> Result<()> {
        if fraction <= 0.0 {
            return Ok(());
        }
        let n = self.len();
        let device: Device = self.x.device();
        let pick = Tensor::rand([n], (Kind::Float, device)).lt(fraction);
        let x_noise = x_init.sample(n).to_kind(self.x.kind());
        let y_noise = y_init.sample(layout, n, device, self.y.kind())?;
        self.x = select_rows(&pick, &x_noise, &self.x);
        self.y = select_rows(&pick, &y_noise, &self.y);
        Ok(())
    }

    /// Writes the sampled chains back to their slots.
    pub fn write_back(&mut self, index: &Tensor, x: &Tensor, y: &Tensor) {
        let _ = self.x.index_copy_(0, index, &x.detach());
        let _ = self.y.index_copy_(0, index, &y.detach());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reinit_rate_write_back_and_both_blocks() {
        ebm_core::seed_everything(0);
        let layout = YLayout::categorical(vec![2, 3]).unwrap();
        let data = Tensor::rand([64, 2], (Kind::Double, Device::Cpu)) + 10.0;
        let x_init = XInit::from_batch(&data).unwrap();
        let y_init = YInit::Uniform;
        let mut buf = ReplayBuffer::new(1000, &x_init, &y_init, &layout).unwrap();
        // mark the buffer: x far away from the init box, y a fixed label
        let _ = buf.x.fill_(-5.0);
        let fixed = layout
            .encode(&Tensor::from_slice(&[1i64, 2]).view([1, 2]), Kind::Double)
            .unwrap();
        buf.y.copy_(&fixed.expand([1000, 5], false));
        let d = buf.draw(20_000, 0.05, &x_init, &y_init, &layout).unwrap();
        let reinit = d
            .reinit
            .to_kind(Kind::Double)
            .mean(Kind::Double)
            .double_value(&[]);
        // 0.05 ± 4 binomial sd
        assert!(
            (reinit - 0.05).abs() < 4.0 * (0.05f64 * 0.95 / 20_000.0).sqrt(),
            "{reinit}"
        );
        // re-initialised rows come from the init distributions (both blocks), others from the buffer
        let from_noise = d.x.select(1, 0).gt(0.0);
        assert!(from_noise.equal(&d.reinit));
        let y_is_fixed = d.y.eq_tensor(&fixed).all_dim(1, false);
        assert!(bool::try_from(y_is_fixed.logical_or(&d.reinit).all()).unwrap());
        // with 20k uniform re-inits over 6 configurations, some differ from the fixed label
        assert!(bool::try_from(y_is_fixed.logical_not().logical_and(&d.reinit).any()).unwrap());
        // write-back stores both x and y
        let idx = Tensor::from_slice(&[3i64, 7]);
        let x_new = Tensor::from_slice(&[1.0f64, 2.0, 3.0, 4.0]).view([2, 2]);
        let y_new = layout
            .encode(
                &Tensor::from_slice(&[0i64, 0, 1, 1]).view([2, 2]),
                Kind::Double,
            )
            .unwrap();
        buf.write_back(&idx, &x_new, &y_new);
        assert!(buf.x.index_select(0, &idx).equal(&x_new));
        assert!(buf.y.index_select(0, &idx).equal(&y_new));
        assert!(bool::try_from(buf.x.get(4).eq(-5.0).all()).unwrap());
    }

    #[test]
    fn draws_with_replacement_uniformly() {
        ebm_core::seed_everything(1);
        let layout = YLayout::categorical(vec![2]).unwrap();
        let x_init = XInit::from_batch(&Tensor::rand([8, 1], (Kind::Double, Device::Cpu))).unwrap();
        let buf = ReplayBuffer::new(10, &x_init, &YInit::Uniform, &layout).unwrap();
        let d = buf
            .draw(100_000, 0.0, &x_init, &YInit::Uniform, &layout)
            .unwrap();
        let counts = d.index.bincount::<Tensor>(None, 10).to_kind(Kind::Double) / 100_000.0;
        let max_dev = (counts - 0.1).abs().max().double_value(&[]);
        assert!(
            max_dev < 4.0 * (0.1f64 * 0.9 / 100_000.0).sqrt(),
            "{max_dev}"
        );
    }
}
