//! Socket-level load balancing: a cgroup/connect4 program rewrites connections to a
//! Service frontend into connections to a backend, from a map user space programs.

use std::net::SocketAddrV4;
use std::path::{Path, PathBuf};

use aya::maps::{HashMap, MapData};
use aya::programs::{CgroupAttachMode, CgroupSockAddr};
use aya::{Ebpf, include_bytes_aligned};
use skiff_ebpf_common::{Backend, CONNECT4_PROGRAM, SERVICES_MAP, ServiceKey};

/// The eBPF object, built by build.rs.
static OBJECT: &[u8] = include_bytes_aligned!(concat!(env!("OUT_DIR"), "/skiff-ebpf"));

#[derive(Debug, thiserror::Error)]
pub enum DataplaneError {
    #[error(
        "loading skiff's eBPF programs into the kernel failed: {0}. The service dataplane \
         needs root (CAP_BPF and CAP_NET_ADMIN) and a kernel with BPF and BTF support"
    )]
    Load(String),
    #[error(
        "attaching the connect() hook to cgroup {path} failed: {detail}. It must be a cgroup v2 \
         directory (mount one with `mount -t cgroup2 none <dir>`)"
    )]
    Attach { path: PathBuf, detail: String },
    #[error("updating the eBPF services map failed: {0}")]
    Map(String),
}

/// The loaded socket load balancer. Dropping it detaches the hook and unloads the programs.
#[derive(Debug)]
pub struct SocketLb {
    ebpf: Ebpf,
    services: HashMap<MapData, ServiceKey, Backend>,
}

fn key(addr: SocketAddrV4) -> ServiceKey {
    ServiceKey {
        ip: u32::from(*addr.ip()).to_be(),
        port: addr.port().to_be(),
        _pad: 0,
    }
}

fn backend(addr: SocketAddrV4) -> Backend {
    Backend {
        ip: u32::from(*addr.ip()).to_be(),
        port: addr.port().to_be(),
        _pad: 0,
    }
}

impl SocketLb {
    /// Loads the programs and creates the maps (nothing is attached yet).
    pub fn load() -> Result<Self, DataplaneError> {
        let mut ebpf = Ebpf::load(OBJECT).map_err(|e| DataplaneError::Load(e.to_string()))?;
        let program: &mut CgroupSockAddr = ebpf
            .program_mut(CONNECT4_PROGRAM)
            .ok_or_else(|| DataplaneError::Load(format!("program {CONNECT4_PROGRAM} is missing")))?
            .try_into()
            .map_err(|e: aya::programs::ProgramError| DataplaneError::Load(e.to_string()))?;
        program
            .load()
            .map_err(|e| DataplaneError::Load(format!("{e:?}")))?;
        let map = ebpf
            .take_map(SERVICES_MAP)
            .ok_or_else(|| DataplaneError::Load(format!("map {SERVICES_MAP} is missing")))?;
        let services = HashMap::try_from(map).map_err(|e| DataplaneError::Load(e.to_string()))?;
        Ok(SocketLb { ebpf, services })
    }

    /// Applies the hook to every process in the cgroup v2 at `path` (and its descendants).
    pub fn attach(&mut self, path: &Path) -> Result<(), DataplaneError> {
        let attach_error = |detail: String| DataplaneError::Attach {
            path: path.to_owned(),
            detail,
        };
        let cgroup = std::fs::File::open(path).map_err(|e| attach_error(e.to_string()))?;
        let program: &mut CgroupSockAddr = self
            .ebpf
            .program_mut(CONNECT4_PROGRAM)
            .ok_or_else(|| attach_error("program missing".into()))?
            .try_into()
            .map_err(|e: aya::programs::ProgramError| attach_error(e.to_string()))?;
        program
            .attach(cgroup, CgroupAttachMode::Single)
            .map_err(|e| attach_error(e.to_string()))?;
        Ok(())
    }

    /// Sends connections to `frontend` to `to`.
    pub fn set_service(
        &mut self,
        frontend: SocketAddrV4,
        to: SocketAddrV4,
    ) -> Result<(), DataplaneError> {
        self.services
            .insert(key(frontend), backend(to), 0)
            .map_err(|e| DataplaneError::Map(e.to_string()))
    }

    /// Stops rewriting connections to `frontend`. Removing an absent frontend is not an error.
    pub fn remove_service(&mut self, frontend: SocketAddrV4) -> Result<(), DataplaneError> {
        match self.services.remove(&key(frontend)) {
            Ok(()) => Ok(()),
            Err(aya::maps::MapError::SyscallError(e))
                if e.io_error.kind() == std::io::ErrorKind::NotFound =>
            {
                Ok(())
            }
            Err(e) => Err(DataplaneError::Map(e.to_string())),
        }
    }
}
