//! skiff's kernel-side service dataplane.
//!
//! `skiff_connect4` (cgroup/connect4) turns a `connect()` to a Service frontend into a
//! `connect()` to its backend, before any packet exists: no per-packet NAT, no conntrack.

#![no_std]
#![no_main]

use aya_ebpf::macros::{cgroup_sock_addr, map};
use aya_ebpf::maps::HashMap;
use aya_ebpf::programs::SockAddrContext;
use skiff_ebpf_common::{Backend, MAX_SERVICES, ServiceKey};

/// Allow the system call to proceed (cgroup/connect4 return value).
const ALLOW: i32 = 1;

#[map(name = "SERVICES")]
static SERVICES: HashMap<ServiceKey, Backend> = HashMap::with_max_entries(MAX_SERVICES, 0);

#[cgroup_sock_addr(connect4)]
pub fn skiff_connect4(ctx: SockAddrContext) -> i32 {
    // SAFETY: the kernel passes a valid bpf_sock_addr for the duration of the program.
    let addr = unsafe { &mut *ctx.sock_addr };
    let key = ServiceKey {
        ip: addr.user_ip4,
        // The port sits in the low 16 bits, in network byte order.
        port: addr.user_port as u16,
        _pad: 0,
    };
    // SAFETY: the value is copied out immediately; no reference outlives the lookup.
    if let Some(backend) = unsafe { SERVICES.get(key) } {
        addr.user_ip4 = backend.ip;
        addr.user_port = u32::from(backend.port);
    }
    ALLOW
}

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}
