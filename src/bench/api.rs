//! `skiff bench api`: the API server over loopback HTTPS, on the embedded store and on
//! etcd side by side; plus start-up time and idle memory of `skiff up`.

use std::io::{BufRead, BufReader};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use skiff_apiserver::Config;
use skiff_store::{AnyStore, EmbeddedOptions, EmbeddedStore, EtcdStore};
use skiff_testkit::EtcdServer;

use super::api_client::ApiClient;
use super::api_workloads as work;
use super::report::{Report, Row, median, millis, per_sec, thousands};

#[derive(Debug, clap::Args)]
pub struct Args {
    /// Small sizes, for a quick check that everything runs.
    #[arg(long)]
    quick: bool,
    /// Where to write api.json.
    #[arg(long, default_value = "target/bench")]
    out: PathBuf,
}

struct Sizes {
    creates: usize,
    load_creates: usize,
    list_objects: usize,
    watch_writes: usize,
}

const CLIENTS: usize = 64;
const WATCHERS: usize = 100;

#[derive(Default)]
struct Measured {
    creates_per_sec: Option<f64>,
    get_p99_ms: Option<f64>,
    list_p99_ms: Option<f64>,
    list_all_ms: Option<f64>,
    list_all_mb: Option<f64>,
    watch_p50_ms: Option<f64>,
    watch_p99_ms: Option<f64>,
}

pub fn run(args: Args) -> Result<()> {
    let sizes = if args.quick {
        Sizes {
            creates: 2_000,
            load_creates: 2_000,
            list_objects: 5_000,
            watch_writes: 100,
        }
    } else {
        Sizes {
            creates: 50_000,
            load_creates: 20_000,
            list_objects: 150_000,
            watch_writes: 1_000,
        }
    };
    let rt = tokio::runtime::Runtime::new()?;
    let mut report = Report::new("skiff bench api (HTTPS on loopback)", &["embedded", "etcd"]);
    let ours = rt.block_on(measure(false, &sizes))?;
    let theirs = match rt.block_on(measure(true, &sizes)) {
        Ok(m) => m,
        Err(e) => {
            report.notes.push(format!("etcd not measured: {e:#}"));
            Measured::default()
        }
    };
    let (ready_ms, rss_mb) = idle_footprint()?;
    let size = thousands(sizes.list_objects as f64);
    let rows = [
        Row::new(
            format!("creates, {CLIENTS} clients"),
            &per_sec,
            &[ours.creates_per_sec, theirs.creates_per_sec],
            ours.creates_per_sec.map(|v| (">= 20,000/s", v >= 20_000.0)),
        ),
        Row::new(
            "GET p99 under create load",
            &millis,
            &[ours.get_p99_ms, theirs.get_p99_ms],
            None,
        ),
        Row::new(
            "LIST (100 objects) p99 under create load",
            &millis,
            &[ours.list_p99_ms, theirs.list_p99_ms],
            None,
        ),
        Row::new(
            format!("LIST {size} pods"),
            &millis,
            &[ours.list_all_ms, theirs.list_all_ms],
            None,
        ),
        Row::new(
            format!("LIST {size} pods, response size"),
            &|v| format!("{v:.0} MB"),
            &[ours.list_all_mb, theirs.list_all_mb],
            None,
        ),
        Row::new(
            format!("watch delivery p50, {WATCHERS} watchers"),
            &millis,
            &[ours.watch_p50_ms, theirs.watch_p50_ms],
            None,
        ),
        Row::new(
            format!("watch delivery p99, {WATCHERS} watchers"),
            &millis,
            &[ours.watch_p99_ms, theirs.watch_p99_ms],
            None,
        ),
        Row::new(
            "skiff up: ready after start",
            &millis,
            &[Some(ready_ms), None],
            Some(("<= 1 s", ready_ms <= 1000.0)),
        ),
        Row::new(
            "skiff up: idle memory (RSS)",
            &|v| format!("{v:.1} MB"),
            &[Some(rss_mb), None],
            Some(("<= 50 MB", rss_mb <= 50.0)),
        ),
    ];
    report.rows.extend(rows);
    if args.quick {
        report
            .notes
            .push("--quick sizes: not comparable with the targets".into());
    }
    print!("{}", report.render());
    let path = report.write_json(&args.out, "api")?;
    println!("results: {}", path.display());
    Ok(())
}

/// An API server on a fresh store of the chosen kind, in this process.
pub(super) async fn serve(
    etcd: bool,
) -> Result<(
    skiff_apiserver::Running,
    tempfile::TempDir,
    Option<EtcdServer>,
)> {
    let dir = tempfile::Builder::new()
        .prefix("skiff-bench-api-")
        .tempdir()?;
    let (store, server) = if etcd {
        let server = tokio::task::spawn_blocking(EtcdServer::start).await??;
        let store = EtcdStore::connect(&[server.endpoint().to_owned()]).await?;
        (AnyStore::Etcd(store), Some(server))
    } else {
        let store = EmbeddedStore::open(dir.path().join("store"), EmbeddedOptions::default())?;
        (AnyStore::Embedded(store), None)
    };
    let mut config = Config::new(dir.path().to_owned());
    config.listen = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
    let running = skiff_apiserver::start(config, store).await?;
    Ok((running, dir, server))
}

async fn measure(etcd: bool, sizes: &Sizes) -> Result<Measured> {
    let name = if etcd { "etcd" } else { "embedded" };
    let mut m = Measured::default();
    let ms = |us: u64| us as f64 / 1000.0;

    eprintln!("{name}: {} creates from {CLIENTS} clients", sizes.creates);
    let (running, dir, _etcd) = serve(etcd).await?;
    let client = ApiClient::for_data_dir(&running.url, dir.path())?;
    work::namespace(&client, "bench").await?;
    let d = work::create_pods(&client, "bench", "p", CLIENTS, sizes.creates).await?;
    m.creates_per_sec = Some(sizes.creates as f64 / d.as_secs_f64());
    running.shutdown().await?;

    eprintln!("{name}: GET and LIST latency while {CLIENTS} clients create");
    let (running, dir, _etcd) = serve(etcd).await?;
    let client = ApiClient::for_data_dir(&running.url, dir.path())?;
    let (gets, lists) = work::reads_under_load(&client, CLIENTS, sizes.load_creates).await?;
    m.get_p99_ms = Some(ms(gets.value_at_quantile(0.99)));
    m.list_p99_ms = Some(ms(lists.value_at_quantile(0.99)));
    running.shutdown().await?;

    eprintln!("{name}: LIST of {} pods", sizes.list_objects);
    let (running, dir, _etcd) = serve(etcd).await?;
    let client = ApiClient::for_data_dir(&running.url, dir.path())?;
    work::namespace(&client, "bench-list").await?;
    work::create_pods(&client, "bench-list", "l", CLIENTS, sizes.list_objects).await?;
    let mut samples = Vec::new();
    for _ in 0..3 {
        let (d, items, bytes) = work::list(&client, "bench-list").await?;
        anyhow::ensure!(items == sizes.list_objects, "LIST returned {items} pods");
        samples.push(d.as_secs_f64() * 1000.0);
        m.list_all_mb = Some(bytes as f64 / 1e6);
    }
    m.list_all_ms = Some(median(&mut samples));
    running.shutdown().await?;

    eprintln!("{name}: watch delivery to {WATCHERS} watchers");
    let (running, dir, _etcd) = serve(etcd).await?;
    let client = ApiClient::for_data_dir(&running.url, dir.path())?;
    let hist = work::watch_fanout(&client, WATCHERS, sizes.watch_writes).await?;
    m.watch_p50_ms = Some(ms(hist.value_at_quantile(0.5)));
    m.watch_p99_ms = Some(ms(hist.value_at_quantile(0.99)));
    running.shutdown().await?;
    Ok(m)
}

/// Starts `skiff up` as users do; returns (ms until it answers /readyz, idle RSS in MB).
fn idle_footprint() -> Result<(f64, f64)> {
    eprintln!("skiff up: start-up time and idle memory");
    let dir = tempfile::Builder::new()
        .prefix("skiff-bench-up-")
        .tempdir()?;
    let start = Instant::now();
    let mut child = Command::new(std::env::current_exe()?)
        .arg("up")
        .arg("--data-dir")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .context("starting skiff up")?;
    let stdout = child.stdout.take().context("stdout")?;
    let (tx, rx) = std::sync::mpsc::channel();
    // Keep reading so the server never writes to a closed pipe.
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(rest) = line.strip_prefix("skiff is running at ") {
                let _ = tx.send(
                    rest.split_whitespace()
                        .next()
                        .unwrap_or_default()
                        .to_owned(),
                );
            }
        }
    });
    let url = rx
        .recv_timeout(Duration::from_secs(30))
        .context("skiff up did not start")?;
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let client = ApiClient::for_data_dir(&url, dir.path())?;
    rt.block_on(async {
        while !matches!(client.get("/readyz").await, Ok((200, _))) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    });
    let ready = start.elapsed().as_secs_f64() * 1000.0;
    std::thread::sleep(Duration::from_secs(3));
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id()))?;
    let rss_kb: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .context("reading VmRSS")?;
    let _ = child.kill();
    let _ = child.wait();
    Ok((ready, rss_kb / 1024.0))
}
