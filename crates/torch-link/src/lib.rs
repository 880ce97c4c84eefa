//! Build-script helper: links the package's executables (binaries, tests, examples, benches)
//! against libtorch so that they start without `LD_LIBRARY_PATH` and keep CUDA.
//!
//! Cargo does not pass a library's `rustc-link-arg`s on to the executables of the packages that
//! depend on it, so each package that builds an executable needs them in its own build script:
//!
//! ```ignore
//! // build.rs (with `torch-link` under [build-dependencies] and `torch-sys` under
//! // [dependencies], so that cargo hands libtorch's location to the build script)
//! fn main() {
//!     torch_link::link_libtorch();
//! }
//! ```
//!
//! What it emits:
//! * `-Wl,-rpath,<libtorch>/lib`: the dynamic loader finds `libtorch*.so` at run time;
//! * on Linux, `-Wl,--no-as-needed -ltorch`: the linker keeps `libtorch.so` (which pulls in
//!   `libtorch_cuda.so`) although no symbol is referenced from it directly; without it CUDA
//!   silently disappears from the binary.
//!
//! This crate has no dependencies and never touches the network.

use std::path::{Path, PathBuf};

/// Where libtorch's shared libraries are: `DEP_TCH_LIBTORCH_LIB` (exported by `torch-sys`'s
/// build script to the build scripts of the packages that depend on it directly), else
/// `$LIBTORCH/lib`. `None` when neither is set.
pub fn libtorch_lib_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DEP_TCH_LIBTORCH_LIB") {
        return Some(PathBuf::from(dir));
    }
    std::env::var_os("LIBTORCH").map(|root| Path::new(&root).join("lib"))
}

/// The `cargo:` lines that [`link_libtorch`] prints for a libtorch library folder `lib` and a
/// target OS `target_os` (as in `CARGO_CFG_TARGET_OS`).
pub fn link_lines(lib: &Path, target_os: &str) -> Vec<String> {
    let mut lines = vec![format!("cargo:rustc-link-arg=-Wl,-rpath,{}", lib.display())];
    if target_os == "linux" {
        lines.push("cargo:rustc-link-arg=-Wl,--no-as-needed".into());
        lines.push("cargo:rustc-link-arg=-ltorch".into());
    }
    lines
}

/// Call from `build.rs`: prints the link arguments described in the crate docs.
///
/// # Panics
/// When libtorch cannot be located (neither `DEP_TCH_LIBTORCH_LIB` nor `LIBTORCH` is set), or
/// the folder found does not exist: a build script reports errors by panicking, and the message
/// says what to set. (Without these lines the build would succeed and the binary fail at start
/// with the dynamic loader's "libtorch_cpu.so: cannot open shared object file".)
pub fn link_libtorch() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    println!("cargo:rerun-if-env-changed=LIBTORCH");
    let Some(lib) = libtorch_lib_dir() else {
        panic!(
            "torch-link: cannot locate libtorch. Add `torch-sys` to this package's \
             [dependencies] (it exports DEP_TCH_LIBTORCH_LIB to this build script) or set \
             LIBTORCH to a libtorch folder (the one holding lib/ and include/)."
        );
    };
    if !lib.is_dir() {
        panic!(
            "torch-link: libtorch's library folder {} does not exist: check LIBTORCH \
             (it must hold lib/ and include/)",
            lib.display()
        );
    }
    let os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    for line in link_lines(&lib, &os) {
        println!("{line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn linux_gets_rpath_and_no_as_needed() {
        let l = link_lines(Path::new("/opt/libtorch/lib"), "linux");
        assert_eq!(
            l,
            vec![
                "cargo:rustc-link-arg=-Wl,-rpath,/opt/libtorch/lib".to_string(),
                "cargo:rustc-link-arg=-Wl,--no-as-needed".into(),
                "cargo:rustc-link-arg=-ltorch".into(),
            ]
        );
    }

    #[test]
    fn other_systems_get_only_the_rpath() {
        let l = link_lines(Path::new("/opt/libtorch/lib"), "macos");
        assert_eq!(l.len(), 1);
        assert!(l[0].ends_with("-rpath,/opt/libtorch/lib"));
    }
}
