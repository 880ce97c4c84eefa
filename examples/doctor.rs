//! Prints what libtorch sees: version, CUDA/cuDNN, threads. `cargo run --example doctor`
fn main() {
    let r = joint_ebm::ebm_core::runtime_report();
    println!(
        "torch (libtorch) version : {}",
        r.torch_version
            .as_deref()
            .unwrap_or("unknown (no build-version or version.py found)")
    );
    println!(
        "libtorch loaded from     : {}",
        r.libtorch_path
            .as_ref()
            .map_or("unknown".into(), |p| p.display().to_string())
    );
    println!("built with CUDA          : {}", r.built_with_cuda);
    println!(
        "CUDA available           : {} ({} device(s))",
        r.cuda_available, r.cuda_devices
    );
    println!("cuDNN available          : {}", r.cudnn_available);
    println!("intra-op threads         : {}", r.threads);
    println!("inter-op threads         : {}", r.interop_threads);
    println!("MKL / OpenMP             : {} / {}", r.mkl, r.openmp);
    println!(
        "LIBTORCH (build time)    : {}",
        option_env!("LIBTORCH").unwrap_or("(not set)")
    );
    if !r.cuda_available {
        println!("\n{}", joint_ebm::ebm_core::CUDA_UNAVAILABLE);
    }
}
