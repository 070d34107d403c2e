//! `#[repr(C)]` types stored in eBPF maps, shared byte-for-byte by the kernel programs and
//! user space. Addresses and ports are kept in network byte order, as the kernel hands
//! them to the programs, so the hot path never converts.

#![no_std]

/// A service frontend: a virtual IPv4 address and port (network byte order).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ServiceKey {
    pub ip: u32,
    pub port: u16,
    pub _pad: u16,
}

/// Where connections to a frontend go (network byte order).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Backend {
    pub ip: u32,
    pub port: u16,
    pub _pad: u16,
}

/// Name of the map from [`ServiceKey`] to [`Backend`].
pub const SERVICES_MAP: &str = "SERVICES";
/// Capacity of the services map.
pub const MAX_SERVICES: u32 = 65_536;
/// Name of the program that rewrites `connect()` to a service.
pub const CONNECT4_PROGRAM: &str = "skiff_connect4";

#[cfg(feature = "user")]
mod user {
    // SAFETY: both types are `#[repr(C)]`, `Copy`, made only of integers, and have explicit
    // padding fields, so every byte is initialised and any bit pattern is valid.
    unsafe impl aya::Pod for super::ServiceKey {}
    // SAFETY: as above.
    unsafe impl aya::Pod for super::Backend {}
}
