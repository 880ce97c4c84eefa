//! Build script: links libtorch with an rpath (see build-support/torch_link.rs).
include!("../../build-support/torch_link.rs");

fn main() {
    link_libtorch();
}
