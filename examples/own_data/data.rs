//! The tutorial's data: your `DataSource` (see `docs/YOUR-OWN-DATA.md`, section 3).
use joint_ebm::ebm_core::{Batch, DataSource, Result, YLayout};
use joint_ebm::tch::{Device, Kind, Tensor};

/// Four clusters at radius 2, label = cluster. Draws from torch's generator, so a resumed run
/// sees the batches the uninterrupted one would have.
pub struct Clusters {
    pub layout: YLayout,
}

impl DataSource for Clusters {
    fn y_layout(&self) -> &YLayout {
        &self.layout
    }
    fn x_shape(&self) -> Vec<i64> {
        vec![2]
    }
    fn next_batch(&mut self, n: i64, device: Device) -> Result<Batch> {
        let k = Tensor::randint(4, [n, 1], (Kind::Int64, device));
        let angle = k.to_kind(Kind::Float) * std::f64::consts::FRAC_PI_2;
        let x = Tensor::cat(&[angle.cos(), angle.sin()], 1) * 2.0
            + Tensor::randn([n, 2], (Kind::Float, device)) * 0.2;
        let y = self.layout.encode(&k, Kind::Float)?;
        Ok(Batch::labelled(&x, &y))
    }
    fn test_set(&mut self, max: i64, device: Device) -> Result<Batch> {
        self.next_batch(max.min(500), device)
    }
}
