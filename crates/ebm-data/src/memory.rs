//! [`InMemory`]'s public constructors: your own tensors or a `.safetensors` / `.npz` file of
//! them as a [`DataSource`].

use crate::images::{ImageSplit, InMemory};
use crate::preprocess::Preprocess;
use crate::Batch;
use ebm_core::{DataSource, Error, Result, YLayout};
use std::path::Path;
use tch::{Device, Kind, Tensor};

/// The tensor names [`InMemory::from_file`] reads.
pub const FILE_TENSORS: [&str; 4] = ["train_x", "train_y", "test_x", "test_y"];

impl InMemory {
    /// A dataset of your own: `train` and `test` splits whose `labels` hold one value per label
    /// variable of `layout` (`[N, V]` integers: a class index per group, 0/1 per bit) for the
    /// `N` rows of `images` (`[N, …]`). Batches serve `x = images / scale` as float32, then
    /// `preprocess` if given (e.g. [`Preprocess::MNIST`] for `uint8` digits), and every label
    /// observed. Errors name the split and the tensor whose shape or values do not fit.
    pub fn from_splits(
        layout: YLayout,
        train: ImageSplit,
        test: ImageSplit,
        preprocess: Option<Preprocess>,
    ) -> Result<Self> {
        check_split("train", &layout, &train)?;
        check_split("test", &layout, &test)?;
        Self::new(layout, train, test, preprocess, 0.0, 0)
    }

    /// The same data with a fixed random `fraction` of the training labels hidden (at least
    /// one variable per example kept; the rule of [`crate::hide_labels`], drawn from `seed`):
    /// the partially labelled training of the paper's Eq. 8.
    pub fn with_missing_labels(self, fraction: f64, seed: u64) -> Result<Self> {
        Self::new(
            self.layout,
            self.train,
            self.test,
            self.preprocess,
            fraction,
            seed,
        )
    }

    /// Reads the four tensors [`FILE_TENSORS`] — `train_x` `[N, …]`, `train_y` `[N, V]`,
    /// `test_x`, `test_y` — from a `.safetensors` or `.npz` file (by extension) and serves them
    /// as [`InMemory::from_splits`] does. `uint8` inputs are scaled by 1/255 (intensities in
    /// `[0, 1]`), other inputs served as stored; labels may be any integer type.
    pub fn from_file(path: &Path, layout: YLayout, preprocess: Option<Preprocess>) -> Result<Self> {
        let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
        let read = match ext {
            "safetensors" => Tensor::read_safetensors(path),
            "npz" => Tensor::read_npz(path),
            _ => {
                return Err(Error::file(
                    path,
                    "expected a .safetensors or .npz file of train_x, train_y, test_x, test_y",
                ))
            }
        };
        let mut tensors = read.map_err(|e| Error::file(path, format!("cannot read: {e}")))?;
        let mut take = |name: &str| -> Result<Tensor> {
            let i = tensors.iter().position(|(n, _)| n == name).ok_or_else(|| {
                let names: Vec<&str> = tensors.iter().map(|(n, _)| n.as_str()).collect();
                Error::file(
                    path,
                    format!("no tensor `{name}` (it holds: {})", names.join(", ")),
                )
            })?;
            Ok(tensors.swap_remove(i).1)
        };
        let split = |x: Tensor, y: Tensor| ImageSplit {
            scale: if x.kind() == Kind::Uint8 { 255.0 } else { 1.0 },
            images: x,
            labels: y,
        };
        let train = split(take("train_x")?, take("train_y")?);
        let test = split(take("test_x")?, take("test_y")?);
        Self::from_splits(layout, train, test, preprocess)
            .map_err(|e| Error::file(path, e.to_string()))
    }

    /// Moves `n` training examples, chosen by a permutation fixed by `seed`, into a
    /// validation split (for choosing settings without reading the test split; served by
    /// [`InMemory::validation_set`]); their observed-label rows go with them, and a
    /// [labelled share](InMemory::set_labelled_share) draws from what is left. An error when
    /// `n` leaves no training example, a split is already held out, or the share's pools no
    /// longer hold a complete (and an incomplete) example.
    pub fn hold_out_validation(&mut self, n: usize, seed: u64) -> Result<()> {
        let total = self.train.len();
        if n == 0 || n >= total || self.validation.is_some() {
            return Err(Error::config(
                "validation",
                n,
                format!(
                    "must be in 1..{total} (the training set size), once per dataset{}",
                    if self.validation.is_some() {
                        "; a validation split is already held out"
                    } else {
                        ""
                    }
                ),
            ));
        }
        let perm: Vec<i64> = crate::seeded_permutation(total, seed)
            .into_iter()
            .map(|i| i as i64)
            .collect();
        let val = Tensor::from_slice(&perm[..n]);
        let keep = Tensor::from_slice(&perm[n..]);
        let take = |s: &ImageSplit, idx: &Tensor| ImageSplit {
            images: s.images.index_select(0, idx),
            labels: s.labels.index_select(0, idx),
            scale: s.scale,
        };
        self.validation = Some(take(&self.train, &val));
        self.train = take(&self.train, &keep);
        self.observed = self.observed.as_ref().map(|o| o.index_select(0, &keep));
        self.order.reset();
        let share = self.labelled_share();
        self.set_labelled_share(share)
    }

    /// The first `min(max, n)` held-out validation examples, fully labelled, with fresh
    /// dequantisation noise; an error when none are held out.
    pub fn validation_set(&self, max: i64, device: Device) -> Result<Batch> {
        let v = self.validation.as_ref().ok_or_else(|| {
            Error::config(
                "validation",
                0,
                "no validation split is held out (hold_out_validation)",
            )
        })?;
        self.first_of(v, max, device)
    }

    /// The label layout.
    pub fn layout(&self) -> &YLayout {
        &self.layout
    }

    /// The training split, raw.
    pub fn train_split(&self) -> &ImageSplit {
        &self.train
    }

    /// The test split, raw.
    pub fn test_split(&self) -> &ImageSplit {
        &self.test
    }
}

/// Shapes and label values of one split against the layout.
fn check_split(name: &'static str, layout: &YLayout, s: &ImageSplit) -> Result<()> {
    let n = s.images.size().first().copied().unwrap_or(0);
    let v = layout.num_vars() as i64;
    if n < 1 {
        return Err(Error::shape(
            name,
            "x",
            "[N, …] with N ≥ 1",
            &s.images.size(),
        ));
    }
    if s.labels.size() != [n, v] {
        return Err(Error::shape(
            name,
            "y",
            format!("[{n}, {v}] (one value per label variable of the layout)"),
            &s.labels.size(),
        ));
    }
    if s.labels.is_floating_point() || s.labels.kind() == Kind::Bool {
        return Err(Error::config(
            "y",
            format!("{:?}", s.labels.kind()),
            format!("{name} labels must be integers (class index per group, 0/1 per bit)"),
        ));
    }
    if !(s.scale.is_finite() && s.scale > 0.0) {
        return Err(Error::config("scale", s.scale, "must be positive"));
    }
    let labels = s.labels.to_kind(Kind::Int64).to_device(Device::Cpu);
    let lo = Vec::<i64>::try_from(labels.amin([0i64].as_slice(), false))?;
    let hi = Vec::<i64>::try_from(labels.amax([0i64].as_slice(), false))?;
    for var in 0..v as usize {
        let k = layout.cardinality(var) as i64;
        if lo[var] < 0 || hi[var] >= k {
            return Err(Error::config(
                "y",
                format!("{name} variable {var}: values {}..={}", lo[var], hi[var]),
                format!("must lie in 0..{k}"),
            ));
        }
    }
    Ok(())
}

impl DataSource for InMemory {
    fn y_layout(&self) -> &YLayout {
        &self.layout
    }

    fn x_shape(&self) -> Vec<i64> {
        InMemory::x_shape(self)
    }

    fn next_batch(&mut self, batch_size: i64, device: Device) -> Result<Batch> {
        InMemory::next_batch(self, batch_size, device)
    }

    fn test_set(&mut self, max: i64, device: Device) -> Result<Batch> {
        InMemory::test_set(self, max, device)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toy_split(n: i64) -> ImageSplit {
        ImageSplit {
            images: Tensor::arange(n * 2, (Kind::Float, Device::Cpu)).view([n, 2]),
            labels: Tensor::arange(n, (Kind::Int64, Device::Cpu))
                .remainder(3)
                .view([n, 1]),
            scale: 1.0,
        }
    }

    /// Batches serve the stored rows with one-hot labels; a bad layout, shape or label value
    /// is an error naming it.
    #[test]
    fn own_tensors_serve_batches_and_bad_ones_are_named() {
        let layout = YLayout::categorical(vec![3]).unwrap();
        let mut d =
            InMemory::from_splits(layout.clone(), toy_split(6), toy_split(4), None).unwrap();
        assert_eq!(DataSource::x_shape(&d), vec![2]);
        let b = d.next_batch(6, Device::Cpu).unwrap();
        let rows = Vec::<f32>::try_from(b.x.select(1, 0)).unwrap();
        let mut seen: Vec<i64> = rows.iter().map(|r| *r as i64 / 2).collect();
        seen.sort();
        assert_eq!(
            seen,
            vec![0, 1, 2, 3, 4, 5],
            "one epoch serves every row once"
        );
        let t = d.test_set(10, Device::Cpu).unwrap();
        assert_eq!(t.y.size(), [4, 3]);
        assert_eq!(
            Vec::<f32>::try_from(t.y.get(1)).unwrap(),
            vec![0.0, 1.0, 0.0]
        );
        let e = InMemory::from_splits(
            YLayout::categorical(vec![2]).unwrap(),
            toy_split(6),
            toy_split(4),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("0..2"), "{e}");
        let e = InMemory::from_splits(
            YLayout::categorical(vec![3, 3]).unwrap(),
            toy_split(6),
            toy_split(4),
            None,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("[6, 2]"), "{e}");
    }

    /// A `.safetensors` file round-trips; a missing tensor is named.
    #[test]
    fn files_are_read_by_name() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("d.safetensors");
        let (tr, te) = (toy_split(6), toy_split(4));
        Tensor::write_safetensors(
            &[
                ("train_x", &tr.images),
                ("train_y", &tr.labels),
                ("test_x", &te.images),
                ("test_y", &te.labels),
            ],
            &path,
        )
        .unwrap();
        let layout = YLayout::categorical(vec![3]).unwrap();
        let d = InMemory::from_file(&path, layout.clone(), None).unwrap();
        assert_eq!(d.test_set(4, Device::Cpu).unwrap().x.size(), [4, 2]);
        let bad = dir.path().join("bad.safetensors");
        Tensor::write_safetensors(&[("train_x", &tr.images)], &bad).unwrap();
        let e = InMemory::from_file(&bad, layout, None)
            .unwrap_err()
            .to_string();
        assert!(e.contains("train_y"), "{e}");
    }

    /// The held-out rows leave the training epochs: training and validation rows are
    /// disjoint and together the original split; a second hold-out or one of every row is refused.
    #[test]
    fn validation_rows_leave_training() {
        let layout = YLayout::categorical(vec![3]).unwrap();
        let mut d = InMemory::from_splits(layout, toy_split(10), toy_split(4), None).unwrap();
        d.hold_out_validation(3, 7).unwrap();
        let first_col = |b: Batch| -> Vec<i64> {
            Vec::<f32>::try_from(b.x.select(1, 0))
                .unwrap()
                .iter()
                .map(|r| *r as i64 / 2)
                .collect()
        };
        let mut train = first_col(d.next_batch(7, Device::Cpu).unwrap());
        let val = first_col(d.validation_set(10, Device::Cpu).unwrap());
        assert_eq!(val.len(), 3);
        train.extend(&val);
        train.sort();
        assert_eq!(train, (0..10).collect::<Vec<i64>>());
        assert!(d.hold_out_validation(1, 7).is_err());
        let mut e = InMemory::from_splits(
            YLayout::categorical(vec![3]).unwrap(),
            toy_split(10),
            toy_split(4),
            None,
        )
        .unwrap();
        assert!(e.hold_out_validation(10, 7).is_err());
        assert!(e.validation_set(5, Device::Cpu).is_err());
    }
}
