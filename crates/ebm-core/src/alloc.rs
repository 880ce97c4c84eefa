//! Allocator tuning for CPU tensors.

/// On Linux with glibc, keeps freed memory in the process heap so that libtorch's CPU tensors
/// reuse it instead of mapping fresh pages on every allocation: sets `M_MMAP_THRESHOLD` to its
/// maximum (32 MiB: blocks up to that size come from the heap, not from `mmap`) and
/// `M_TRIM_THRESHOLD` to `i32::MAX` (the heap is not shrunk). Returns whether both settings
/// were accepted; a no-op returning `false` elsewhere.
///
/// Why: a sampler sweep allocates and frees the same large activations thousands of times;
/// with glibc's defaults many of them are `mmap`ed, faulted in page by page and unmapped again
/// (8.8 % of a dSprites training iteration was spent in the kernel, mostly page faults).
/// Measured with `mwg_sweep/dsprites` (one thread): 1.73–1.83 s → 1.59 s per iteration; no
/// change for the MLP energies (see docs/PERFORMANCE.md). The cost is a larger resident set:
/// freed memory stays with the process. Setting only one of the two thresholds was slower than
/// glibc's defaults (measured), so both are set together.
///
/// Call it once, early (the examples and benches do, before building any tensor). The same
/// effect for any process, PyTorch included:
/// `GLIBC_TUNABLES=glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=2147483647`.
pub fn keep_freed_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        const MMAP_THRESHOLD_MAX: libc::c_int = 32 << 20;
        // SAFETY: `mallopt` only changes allocator parameters; it is thread-safe (it takes the
        // arena locks) and may be called at any time. Both values are within glibc's ranges.
        #[allow(unsafe_code)]
        unsafe {
            let mmap = libc::mallopt(libc::M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX);
            let trim = libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
            mmap == 1 && trim == 1
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    /// The settings are accepted on glibc (where the CI runs) and tensors still work after.
    #[test]
    fn settings_are_accepted() {
        let ok = super::keep_freed_memory();
        if cfg!(all(target_os = "linux", target_env = "gnu")) {
            assert!(ok);
        }
        let t = tch::Tensor::ones([1 << 22], (tch::Kind::Float, tch::Device::Cpu));
        assert_eq!(t.sum(tch::Kind::Double).double_value(&[]), (1 << 22) as f64);
    }
}
