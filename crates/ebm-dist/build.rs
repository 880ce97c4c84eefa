//! Build script: rpath to libtorch and `--no-as-needed -ltorch` for this package's tests,
//! examples and benches (see the `torch-link` crate).
fn main() {
    torch_link::link_libtorch();
}
