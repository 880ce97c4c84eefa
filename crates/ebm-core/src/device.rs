//! Device selection (`--device auto|cpu|cuda`), seeding and a runtime report.

use crate::error::{Error, Result};
use rand::{rngs::StdRng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use tch::{Cuda, Device};

/// Which device to run on, as given on a command line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// CUDA device 0 when available, else the CPU (saying so on stderr).
    #[default]
    Auto,
    /// The CPU.
    Cpu,
    /// CUDA device 0; an error when CUDA is unavailable.
    Cuda,
}

impl FromStr for DeviceChoice {
    type Err = Error;
    fn from_str(s: &str) -> Result<Self> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(Self::Auto),
            "cpu" => Ok(Self::Cpu),
            "cuda" | "gpu" => Ok(Self::Cuda),
            other => Err(Error::config("device", other, "expected auto, cpu or cuda")),
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Auto => "auto",
            Self::Cpu => "cpu",
            Self::Cuda => "cuda",
        })
    }
}

/// Why CUDA is unavailable, in words a user can act on.
pub const CUDA_UNAVAILABLE: &str = "CUDA is not available to libtorch. Likely causes: no NVIDIA \
GPU or driver on this machine (check `nvidia-smi`); CUDA_VISIBLE_DEVICES hides every GPU; the \
libtorch in use is a CPU-only build (LIBTORCH points at it); or the binary was linked without \
`-Wl,--no-as-needed -ltorch`, so libtorch_cuda.so was dropped (every crate's build.rs in this \
project adds it; a binary of your own needs the same). Run `cargo run --example doctor` for details.";

impl DeviceChoice {
    /// Resolves the choice to a `tch` device. `Auto` without CUDA falls back to the CPU and
    /// says so on stderr.
    pub fn resolve(self) -> Result<Device> {
        match self {
            Self::Cpu => Ok(Device::Cpu),
            Self::Cuda => {
                if Cuda::is_available() {
                    Ok(Device::Cuda(0))
                } else {
                    Err(Error::Device(CUDA_UNAVAILABLE.into()))
                }
            }
            Self::Auto => {
                if Cuda::is_available() {
                    Ok(Device::Cuda(0))
                } else {
                    // On stderr, not through a logging facade: with no subscriber installed a
                    // `tracing` warning reaches no terminal, and this one changes the run.
                    eprintln!("device auto: CUDA unavailable, falling back to the CPU");
                    Ok(Device::Cpu)
                }
            }
        }
    }
}

/// Seeds torch's generators (CPU and CUDA) and returns a host RNG seeded from the same value.
pub fn seed_everything(seed: u64) -> StdRng {
    tch::manual_seed(seed as i64);
    if Cuda::is_available() {
        Cuda::manual_seed_all(seed);
    }
    StdRng::seed_from_u64(seed)
}

/// Facts about the libtorch runtime, for a `doctor` command.
#[derive(Clone, Debug, Serialize)]
pub struct RuntimeReport {
    /// Version of the libtorch this process has loaded, read at run time from the library's
    /// folder (`build-version` of a libtorch archive, or `version.py` of a PyTorch
    /// installation); `None` when it cannot be found.
    pub torch_version: Option<String>,
    /// The `libtorch_cpu` shared library this process has loaded (from `/proc/self/maps`).
    pub libtorch_path: Option<PathBuf>,
    /// `torch.cuda.is_available()`.
    pub cuda_available: bool,
    /// Number of CUDA devices.
    pub cuda_devices: i64,
    /// cuDNN availability.
    pub cudnn_available: bool,
    /// libtorch was built with CUDA support (`libtorch_cuda` linked in).
    pub built_with_cuda: bool,
    /// Intra-op threads libtorch uses.
    pub threads: i32,
    /// Inter-op threads.
    pub interop_threads: i32,
    /// Built with MKL.
    pub mkl: bool,
    /// Built with OpenMP.
    pub openmp: bool,
}

/// The path of the loaded `libtorch_cpu` shared library, from `/proc/self/maps` (Linux; `None`
/// elsewhere or when it is not mapped).
pub fn loaded_libtorch() -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| {
            Path::new(p)
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("libtorch_cpu."))
        })
        .map(PathBuf::from)
}

/// The version of the libtorch whose `lib/` folder is `lib_dir`: the first line of
/// `../build-version` (libtorch archives) or `__version__` in `../version.py` (the `torch`
/// folder of a PyTorch installation). `None` when neither file says.
pub fn libtorch_version(lib_dir: &Path) -> Option<String> {
    let root = lib_dir.parent()?;
    if let Ok(v) = std::fs::read_to_string(root.join("build-version")) {
        let v = v.lines().next().unwrap_or("").trim();
        if !v.is_empty() {
            return Some(v.to_string());
        }
    }
    let py = std::fs::read_to_string(root.join("version.py")).ok()?;
    py.lines()
        .find_map(|l| l.trim().strip_prefix("__version__"))
        .and_then(|rest| rest.split(['\'', '"']).nth(1))
        .map(str::to_string)
}

/// Collects a [`RuntimeReport`].
pub fn runtime_report() -> RuntimeReport {
    let libtorch_path = loaded_libtorch();
    RuntimeReport {
        torch_version: libtorch_path
            .as_deref()
            .and_then(Path::parent)
            .and_then(libtorch_version),
        libtorch_path,
        cuda_available: Cuda::is_available(),
        cuda_devices: Cuda::device_count(),
        cudnn_available: Cuda::cudnn_is_available(),
        built_with_cuda: tch::utils::has_cuda(),
        threads: tch::get_num_threads(),
        interop_threads: tch::utils::get_num_interop_threads(),
        mkl: tch::utils::has_mkl(),
        openmp: tch::utils::has_openmp(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libtorch_version_files_are_read() {
        let d = std::env::temp_dir().join(format!("ebm-core-version-{}", std::process::id()));
        let lib = d.join("lib");
        std::fs::create_dir_all(&lib).unwrap();
        assert_eq!(libtorch_version(&lib), None);
        std::fs::write(
            d.join("version.py"),
            "x = 1\n__version__ = '2.13.0+cu130'\n",
        )
        .unwrap();
        assert_eq!(libtorch_version(&lib).as_deref(), Some("2.13.0+cu130"));
        std::fs::write(d.join("build-version"), "2.5.1+cpu\n").unwrap();
        assert_eq!(libtorch_version(&lib).as_deref(), Some("2.5.1+cpu"));
        std::fs::remove_dir_all(&d).unwrap();
        // This test binary links libtorch: it is found, and its version can be read.
        let r = runtime_report();
        let p = r.libtorch_path.expect("libtorch_cpu is mapped");
        assert!(p.exists(), "{}", p.display());
        assert!(r
            .torch_version
            .is_some_and(|v| v.chars().next().is_some_and(|c| c.is_ascii_digit())));
    }

    #[test]
    fn parse_and_resolve() {
        assert_eq!("CPU".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
        assert!("tpu".parse::<DeviceChoice>().is_err());
        assert_eq!(DeviceChoice::Cpu.resolve().unwrap(), Device::Cpu);
        assert!(DeviceChoice::Auto.resolve().is_ok());
        if !Cuda::is_available() {
            let e = DeviceChoice::Cuda.resolve().unwrap_err().to_string();
            assert!(
                e.contains("nvidia-smi") && e.contains("no-as-needed"),
                "{e}"
            );
        }
    }
}
