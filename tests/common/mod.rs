//! Shared test support: real servers started per test suite (redis-server, tansu), with a
//! deadline on every wait. A missing server fails the test with how to install it.
#![allow(dead_code)]

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// Wait for `cond` with a deadline; panic with `what` if it never holds.
pub fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Async flavour of [`wait_for`].
pub async fn wait_until<F: std::future::Future<Output = bool>>(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> F,
) {
    let deadline = Instant::now() + timeout;
    while !cond().await {
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn require(binary: &str, install: &str) -> PathBuf {
    let found = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|p| p.join(binary))
            .find(|p| p.is_file())
    });
    let home_cargo =
        std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cargo/bin").join(binary));
    found
        .or_else(|| home_cargo.filter(|p| p.is_file()))
        .unwrap_or_else(|| panic!("`{binary}` is not installed; the tests need it. Install it with: {install} (or run scripts/test.sh, which does)"))
}

/// A real `redis-server` on a free port, killed on drop. `persistent` turns on the append-only
/// file in a private directory, so a restart keeps the data (as production Redis would).
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
    dir: PathBuf,
    persistent: bool,
    cluster: bool,
    extra: Vec<String>,
}

impl RedisServer {
    pub fn start(persistent: bool) -> RedisServer {
        Self::start_with(persistent, false)
    }

    /// A node with cluster support on (and no slots): for `CLUSTER KEYSLOT` questions.
    pub fn start_cluster_node() -> RedisServer {
        Self::start_with(false, true)
    }

    /// A node with extra `redis-server` arguments (TLS ports, ...).
    pub fn start_with_args(extra: Vec<String>) -> RedisServer {
        let mut s = Self::new(false, false);
        s.extra = extra;
        s.spawn();
        s
    }

    fn start_with(persistent: bool, cluster: bool) -> RedisServer {
        let mut s = Self::new(persistent, cluster);
        s.spawn();
        s
    }

    fn new(persistent: bool, cluster: bool) -> RedisServer {
        let dir =
            std::env::temp_dir().join(format!("outcry-redis-{}", outcry::kafka::unique_suffix()));
        std::fs::create_dir_all(&dir).expect("redis dir");
        RedisServer {
            port: free_port(),
            child: None,
            dir,
            persistent,
            cluster,
            extra: Vec::new(),
        }
    }

    /// A scratch directory that lives as long as the server.
    pub fn dir(&self) -> &std::path::Path {
        &self.dir
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    fn spawn(&mut self) {
        let bin = require("redis-server", "sudo apt-get install -y redis-server");
        let mut cmd = Command::new(bin);
        cmd.arg("--port")
            .arg(self.port.to_string())
            .arg("--bind")
            .arg("127.0.0.1")
            .arg("--dir")
            .arg(&self.dir)
            .arg("--save")
            .arg("")
            .arg("--appendonly")
            .arg(if self.persistent { "yes" } else { "no" })
            .arg("--appendfsync")
            .arg("always")
            .arg("--cluster-enabled")
            .arg(if self.cluster { "yes" } else { "no" })
            .args(&self.extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null());
        self.child = Some(cmd.spawn().expect("start redis-server"));
        let port = self.port;
        wait_for(
            "redis-server to answer PING",
            Duration::from_secs(10),
            || {
                redis::Client::open(format!("redis://127.0.0.1:{port}/"))
                    .and_then(|c| c.get_connection())
                    .and_then(|mut c| redis::cmd("PING").query::<String>(&mut c))
                    .is_ok()
            },
        );
    }

    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Start again on the same port (and, if persistent, with the same data).
    pub fn restart(&mut self) {
        self.stop();
        self.spawn();
    }
}

/// A real Redis Cluster: three masters on free ports, joined with
/// `redis-cli --cluster create`, each owning a third of the slots. Killed on drop.
pub struct RedisCluster {
    pub nodes: Vec<RedisServer>,
}

impl RedisCluster {
    pub fn start() -> RedisCluster {
        let nodes: Vec<RedisServer> = (0..3).map(|_| RedisServer::start_cluster_node()).collect();
        let cli = require("redis-cli", "sudo apt-get install -y redis-tools");
        let addrs: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new(cli)
            .arg("--cluster")
            .arg("create")
            .args(&addrs)
            .args(["--cluster-replicas", "0", "--cluster-yes"])
            .output()
            .expect("run redis-cli --cluster create");
        assert!(
            out.status.success(),
            "redis-cli --cluster create failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        for n in &nodes {
            let url = n.url();
            wait_for(
                "the cluster to be ok on every node",
                Duration::from_secs(20),
                || {
                    redis::Client::open(url.as_str())
                        .and_then(|c| c.get_connection())
                        .and_then(|mut c| redis::cmd("CLUSTER").arg("INFO").query::<String>(&mut c))
                        .is_ok_and(|info| info.contains("cluster_state:ok"))
                },
            );
        }
        RedisCluster { nodes }
    }

    pub fn urls(&self) -> Vec<String> {
        self.nodes.iter().map(RedisServer::url).collect()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A standalone Kafka-compatible broker (tansu, memory storage), killed on drop.
pub struct Tansu {
    pub port: u16,
    child: Child,
    log: PathBuf,
}

impl Tansu {
    pub fn start() -> Tansu {
        let bin = require(
            "tansu",
            "bash scripts/install-test-deps.sh (it builds tansu 0.6.0 with the fixes of scripts/tansu/)",
        );
        let port = free_port();
        let url = format!("tcp://127.0.0.1:{port}");
        // Its log goes to a file named in the test output (shown when a test fails).
        let log = std::env::temp_dir().join(format!("outcry-tansu-{port}.log"));
        eprintln!("tansu on {url}, log in {}", log.display());
        let out = std::fs::File::create(&log).expect("tansu log file");
        let child = Command::new(bin)
            .args([
                "broker",
                "--listener-url",
                &url,
                "--advertised-listener-url",
                &url,
            ])
            .args(["--storage-engine", "memory://tansu/"])
            .env(
                "RUST_LOG",
                std::env::var("TANSU_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(out.try_clone().expect("tansu log file"))
            .stderr(out)
            .spawn()
            .expect("start tansu");
        wait_for("tansu to listen", Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        Tansu { port, child, log }
    }

    pub fn bootstrap(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

impl Drop for Tansu {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            let log = std::fs::read_to_string(&self.log).unwrap_or_default();
            eprintln!("---- tansu log ({}) ----\n{log}", self.log.display());
        }
    }
}

/// Worker logs in test output (shown for failing tests); `RUST_LOG` filters, default `info`.
pub fn logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init();
}

/// Every fixture under tests/fixtures/ (sorted by path, so runs agree) and every line of the
/// bundled sample feed: real payloads of every shape outcry reads, and some garbage.
pub fn fixtures() -> Vec<(String, Vec<u8>)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<(String, Vec<u8>)>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "json") {
                out.push((p.display().to_string(), std::fs::read(&p).unwrap()));
            }
        }
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut out = Vec::new();
    walk(&root.join("tests/fixtures"), &mut out);
    out.sort();
    let feed = std::fs::read_to_string(root.join("config/sample/feed.jsonl")).unwrap();
    out.extend(
        feed.lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(i, l)| (format!("feed.jsonl:{}", i + 1), l.as_bytes().to_vec())),
    );
    out
}
