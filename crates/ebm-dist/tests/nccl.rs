//! The NCCL engine's plumbing on a machine without a GPU: the library loads from libtorch's
//! CUDA environment and creates a unique id (collectives themselves need GPUs: untested).
#![cfg(feature = "nccl")]
#![allow(clippy::unwrap_used)]

#[test]
fn nccl_loads_and_creates_a_unique_id() {
    match ebm_dist::nccl_unique_id_bytes() {
        Ok(id) => {
            assert_eq!(id.len(), 128);
            assert!(id.iter().any(|&b| b != 0), "an all-zero unique id");
            let again = ebm_dist::nccl_unique_id_bytes().unwrap();
            assert_ne!(id, again, "two unique ids should differ");
        }
        // A CPU-only libtorch has no NCCL: say so, and fail only where it is required.
        Err(e) => {
            eprintln!("NCCL not available here: {e}");
            assert!(
                std::env::var("JOINT_EBM_REQUIRE_NCCL").is_err(),
                "JOINT_EBM_REQUIRE_NCCL is set but {e}"
            );
        }
    }
}
