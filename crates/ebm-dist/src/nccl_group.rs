//! [`NcclGroup`]: collectives on CUDA tensors through NVIDIA's NCCL, loaded at run time.
//!
//! **Untested on a GPU** (the project had no GPU when it was written): it builds in CI and its
//! library loading and unique-id creation are exercised on CPU machines that have the NCCL
//! library, but no collective has run on a device yet.

// NCCL's C interface is called through function pointers from `libloading`: every call is
// `unsafe`. The pointers handed to NCCL are the data pointers of contiguous `Float` CUDA
// tensors that outlive the (synchronised) call.
#![allow(unsafe_code)]

use crate::MpiGroup;
use ebm_core::{Collective, Error, Result};
use std::ffi::{c_char, c_int, c_void, CStr};
use tch::{Device, Kind, Tensor};

/// `ncclUniqueId`: 128 opaque bytes.
#[repr(C)]
#[derive(Clone, Copy)]
struct UniqueId {
    internal: [c_char; 128],
}

type NcclResult = c_int;
type Comm = *mut c_void;
const NCCL_FLOAT32: c_int = 7;
const NCCL_SUM: c_int = 0;

struct Api {
    get_unique_id: unsafe extern "C" fn(*mut UniqueId) -> NcclResult,
    comm_init_rank: unsafe extern "C" fn(*mut Comm, c_int, UniqueId, c_int) -> NcclResult,
    all_reduce: unsafe extern "C" fn(
        *const c_void,
        *mut c_void,
        usize,
        c_int,
        c_int,
        Comm,
        *mut c_void,
    ) -> NcclResult,
    broadcast: unsafe extern "C" fn(
        *const c_void,
        *mut c_void,
        usize,
        c_int,
        c_int,
        Comm,
        *mut c_void,
    ) -> NcclResult,
    comm_destroy: unsafe extern "C" fn(Comm) -> NcclResult,
    comm_abort: unsafe extern "C" fn(Comm) -> NcclResult,
    error_string: unsafe extern "C" fn(NcclResult) -> *const c_char,
    set_device: unsafe extern "C" fn(c_int) -> c_int,
    // Keeps the libraries loaded while the function pointers live.
    _nccl: libloading::Library,
    _cudart: libloading::Library,
}

fn open(names: &[&str]) -> Result<libloading::Library> {
    let mut why = Vec::new();
    for n in names {
        // SAFETY: loading NCCL / the CUDA runtime runs their initialisers, which have no
        // preconditions (libtorch's CUDA build has usually loaded them already).
        match unsafe { libloading::Library::new(n) } {
            Ok(l) => return Ok(l),
            Err(e) => why.push(format!("{n}: {e}")),
        }
    }
    Err(Error::Distributed(format!(
        "cannot load {}: {}",
        names.join(" or "),
        why.join("; ")
    )))
}

impl Api {
    fn load() -> Result<Self> {
        let nccl = open(&["libnccl.so.2", "libnccl.so"])?;
        let cudart = open(&["libcudart.so.13", "libcudart.so.12", "libcudart.so"])?;
        macro_rules! sym {
            ($lib:expr, $name:literal) => {
                // SAFETY: the declared signature is NCCL's / the CUDA runtime's C signature.
                *unsafe { $lib.get($name) }.map_err(|e| {
                    Error::Distributed(format!(
                        "{}: {e}",
                        String::from_utf8_lossy(&$name[..$name.len() - 1])
                    ))
                })?
            };
        }
        Ok(Self {
            get_unique_id: sym!(nccl, b"ncclGetUniqueId\0"),
            comm_init_rank: sym!(nccl, b"ncclCommInitRank\0"),
            all_reduce: sym!(nccl, b"ncclAllReduce\0"),
            broadcast: sym!(nccl, b"ncclBroadcast\0"),
            comm_destroy: sym!(nccl, b"ncclCommDestroy\0"),
            comm_abort: sym!(nccl, b"ncclCommAbort\0"),
            error_string: sym!(nccl, b"ncclGetErrorString\0"),
            set_device: sym!(cudart, b"cudaSetDevice\0"),
            _nccl: nccl,
            _cudart: cudart,
        })
    }

    fn check(&self, what: &str, r: NcclResult) -> Result<()> {
        if r == 0 {
            return Ok(());
        }
        // SAFETY: NCCL returns a static, NUL-terminated string for any result code.
        let msg = unsafe { CStr::from_ptr((self.error_string)(r)) };
        Err(Error::Distributed(format!(
            "NCCL {what}: {} (code {r})",
            msg.to_string_lossy()
        )))
    }

    fn unique_id(&self) -> Result<UniqueId> {
        let mut id = UniqueId { internal: [0; 128] };
        // SAFETY: `id` is a valid, writable ncclUniqueId.
        self.check("ncclGetUniqueId", unsafe { (self.get_unique_id)(&mut id) })?;
        Ok(id)
    }
}

/// An MPI launch whose ranks exchange CUDA tensors through NCCL: the NCCL unique id is created
/// on rank 0 and broadcast over MPI, each rank drives GPU `local_rank`, and collectives run on
/// the CUDA default stream with the device synchronised before returning (so the result is
/// ready, like the MPI engine's). Rank, world size, barrier and abort are MPI's.
///
/// **Untested on a GPU** — see the module documentation.
pub struct NcclGroup {
    api: Api,
    comm: Comm,
    device: usize,
    mpi: MpiGroup,
}

impl std::fmt::Debug for NcclGroup {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NcclGroup")
            .field("rank", &self.rank())
            .field("world_size", &self.world_size())
            .field("device", &self.device)
            .finish()
    }
}

/// Creates an NCCL unique id — a check that the NCCL library loads and works on this machine
/// (needs no GPU).
pub fn nccl_unique_id_bytes() -> Result<Vec<u8>> {
    let api = Api::load()?;
    let id = api.unique_id()?;
    Ok(id.internal.iter().map(|&c| c as u8).collect())
}

impl NcclGroup {
    /// Joins the MPI launch `mpi` and builds the NCCL communicator over its ranks on GPU
    /// `device` (usually the launch's local rank).
    pub fn init(mpi: MpiGroup, device: usize) -> Result<Self> {
        let api = Api::load()?;
        // SAFETY: plain CUDA runtime call with an integer argument.
        let err = unsafe { (api.set_device)(device as c_int) };
        if err != 0 {
            return Err(Error::Distributed(format!(
                "cudaSetDevice({device}) failed with CUDA error {err}"
            )));
        }
        let id = if mpi.rank() == 0 {
            api.unique_id()?
        } else {
            UniqueId { internal: [0; 128] }
        };
        // Broadcast the id's 128 bytes over MPI (as 128 floats: exact for byte values).
        let bytes: Vec<f32> = id.internal.iter().map(|&c| c as u8 as f32).collect();
        let t = Tensor::from_slice(&bytes);
        mpi.broadcast(&t, 0)?;
        let got = Vec::<f32>::try_from(&t)?;
        let mut id = UniqueId { internal: [0; 128] };
        for (d, s) in id.internal.iter_mut().zip(got) {
            *d = s as u8 as c_char;
        }
        let mut comm: Comm = std::ptr::null_mut();
        // SAFETY: `comm` is writable; `id` is the same on every rank; rank < world size.
        api.check("ncclCommInitRank", unsafe {
            (api.comm_init_rank)(
                &mut comm,
                mpi.world_size() as c_int,
                id,
                mpi.rank() as c_int,
            )
        })?;
        Ok(Self {
            api,
            comm,
            device,
            mpi,
        })
    }

    fn check_tensor(&self, t: &Tensor, op: &str) -> Result<()> {
        if t.device() != Device::Cuda(self.device) || t.kind() != Kind::Float || !t.is_contiguous()
        {
            return Err(Error::Distributed(format!(
                "NCCL {op} takes contiguous Float tensors on cuda:{}, got {:?} on {:?}",
                self.device,
                t.kind(),
                t.device()
            )));
        }
        Ok(())
    }
}

impl Collective for NcclGroup {
    fn rank(&self) -> usize {
        self.mpi.rank()
    }
    fn world_size(&self) -> usize {
        self.mpi.world_size()
    }
    fn all_reduce_sum(&self, t: &Tensor) -> Result<()> {
        self.check_tensor(t, "all-reduce")?;
        let p = t.data_ptr();
        // SAFETY: `p` points to `numel` f32 on this rank's device, alive until the device is
        // synchronised below; in-place (send = receive) is allowed by NCCL; default stream.
        self.api.check("ncclAllReduce", unsafe {
            (self.api.all_reduce)(
                p,
                p,
                t.numel(),
                NCCL_FLOAT32,
                NCCL_SUM,
                self.comm,
                std::ptr::null_mut(),
            )
        })?;
        tch::Cuda::synchronize(self.device as i64);
        Ok(())
    }
    fn broadcast(&self, t: &Tensor, root: usize) -> Result<()> {
        self.check_tensor(t, "broadcast")?;
        let p = t.data_ptr();
        // SAFETY: as in `all_reduce_sum`.
        self.api.check("ncclBroadcast", unsafe {
            (self.api.broadcast)(
                p,
                p,
                t.numel(),
                NCCL_FLOAT32,
                root as c_int,
                self.comm,
                std::ptr::null_mut(),
            )
        })?;
        tch::Cuda::synchronize(self.device as i64);
        Ok(())
    }
    fn barrier(&self) -> Result<()> {
        self.mpi.barrier()
    }
    fn abort(&self, code: i32) -> ! {
        // SAFETY: the communicator is valid; aborting it releases peers blocked in NCCL.
        unsafe { (self.api.comm_abort)(self.comm) };
        self.mpi.abort(code)
    }
    fn engine(&self) -> String {
        format!(
            "NCCL on cuda:{}, ids over {}",
            self.device,
            self.mpi.engine()
        )
    }
}

impl Drop for NcclGroup {
    fn drop(&mut self) {
        // SAFETY: the communicator was created by `init` and is destroyed once.
        unsafe { (self.api.comm_destroy)(self.comm) };
    }
}
