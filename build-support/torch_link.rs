// Shared build-script snippet, `include!`d by the build.rs of every crate that links libtorch.
//
// * rpath to the libtorch lib folder, so tests, examples and benches start without
//   LD_LIBRARY_PATH (`DEP_TCH_LIBTORCH_LIB` comes from torch-sys's `links = "tch"`; it is seen
//   only by crates that depend on `torch-sys` directly, which every such crate does);
// * `--no-as-needed -ltorch`, so the linker keeps libtorch.so (which pulls libtorch_cuda.so)
//   even though no symbol is referenced from it directly: without it CUDA silently disappears.
//
// These arguments apply to this package's own tests, examples and benches. A binary crate of
// your own that links these libraries needs the same three lines in its build.rs.
fn link_libtorch() {
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    if let Ok(lib) = std::env::var("DEP_TCH_LIBTORCH_LIB") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
    }
    if std::env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux") {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch");
    }
}
