//! Device selection (`--device auto|cpu|cuda`), seeding and a runtime report.

use crate::error::{Error, Result};
use rand::{rngs::StdRng, SeedableRng};
use serde::{Deserialize, Serialize};
use std::str::FromStr;
use tch::{Cuda, Device};

/// Which device to run on, as given on a command line.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeviceChoice {
    /// CUDA device 0 when available, else the CPU (with a warning through `tracing`).
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
    /// Resolves the choice to a `tch` device.
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
                    tracing::warn!("--device auto: CUDA unavailable, falling back to the CPU");
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
    /// PyTorch version `tch` was built for.
    pub torch_version: &'static str,
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

/// Collects a [`RuntimeReport`].
pub fn runtime_report() -> RuntimeReport {
    RuntimeReport {
        torch_version: "2.13.0",
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
