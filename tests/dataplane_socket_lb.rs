//! The eBPF connect() hook, loaded into the real kernel: a process in the hooked cgroup that
//! connects to a Service frontend reaches the backend the map names.
//!
//! Everything happens in a network namespace the test creates, holding only a loopback
//! interface: a connection that is not rewritten has no route and fails at once, so no packet
//! can leave the machine.

use std::io::Write;
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener};
use std::process::{Command, Output};

use skiff_proxy::SocketLb;
use skiff_testkit::{NetNs, TestCgroup, require_root};

const FRONTEND: SocketAddrV4 = SocketAddrV4::new(Ipv4Addr::new(10, 96, 0, 10), 80);
const GREETING: &str = "hello from the backend";

/// Connects to the frontend from a process inside the namespace (and inside `cgroup` when
/// given) and returns what it read.
fn connect(ns: &NetNs, cgroup: Option<&TestCgroup>) -> Output {
    // Join the cgroup before entering the namespace: `ip netns exec` remounts /sys.
    let join = cgroup
        .map(|c| format!("echo $$ > {}/cgroup.procs && ", c.path().display()))
        .unwrap_or_default();
    let script = format!(
        "{join}exec ip netns exec {} bash -c 'exec 3<>/dev/tcp/{}/{} && cat <&3'",
        ns.name(),
        FRONTEND.ip(),
        FRONTEND.port()
    );
    Command::new("sh").args(["-c", &script]).output().unwrap()
}

/// A backend on the namespace's loopback that greets each connection.
fn backend(ns: &NetNs) -> SocketAddrV4 {
    let listener = ns
        .run(|| TcpListener::bind("127.0.0.1:0").unwrap())
        .unwrap();
    let std::net::SocketAddr::V4(addr) = listener.local_addr().unwrap() else {
        unreachable!()
    };
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let _ = conn.unwrap().write_all(GREETING.as_bytes());
        }
    });
    addr
}

#[test]
fn connect_to_a_service_frontend_reaches_its_backend() {
    require_root("loads eBPF programs, creates a network namespace and a cgroup");
    let ns = NetNs::new("skiff-lb").unwrap();
    let cgroup = TestCgroup::new("skiff-lb").unwrap();
    let backend = backend(&ns);
    let mut lb = SocketLb::load().expect("load eBPF programs");
    lb.attach(cgroup.path()).expect("attach to cgroup");

    // Before the frontend is programmed, the connection has nowhere to go.
    let out = connect(&ns, Some(&cgroup));
    assert!(!out.status.success(), "connected without a service entry");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Network is unreachable"),
        "{out:?}"
    );

    lb.set_service(FRONTEND, backend).unwrap();
    let out = connect(&ns, Some(&cgroup));
    assert!(out.status.success(), "{out:?}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), GREETING);

    // Processes outside the hooked cgroup are not rewritten.
    let out = connect(&ns, None);
    assert!(
        !out.status.success(),
        "a process outside the cgroup was rewritten"
    );

    // Removing the entry stops the rewrite again.
    lb.remove_service(FRONTEND).unwrap();
    lb.remove_service(FRONTEND).unwrap();
    let out = connect(&ns, Some(&cgroup));
    assert!(!out.status.success(), "still rewritten after removal");
}
