//! # flagedge-testkit
//!
//! Real servers for integration tests, started on loopback and stopped when the
//! test process ends (each runs under a small shell watchdog that kills it once
//! its parent is gone, so a crashed test leaves nothing behind):
//!
//! - [`Postgres`]: `initdb` into a temporary directory and a `postgres` server on
//!   a free port, once per test process; [`Postgres::database`] gives each test
//!   a fresh database. Runs as the `postgres` OS user when started as root
//!   (PostgreSQL refuses to run as root).
//! - [`Influx`]: InfluxDB 1.x's `influxd` with its directories in a temporary
//!   directory and HTTP on a free port.
//!
//! Failing to start is a panic: a test that needs a server fails, never skips.
//! Only dev-dependencies may depend on this crate.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free loopback port")
        .port()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "flagedge-{name}-{}-{}",
        std::process::id(),
        free_port()
    ));
    std::fs::create_dir_all(&dir).expect("temporary directory");
    dir
}

fn wait_for_port(port: u16, what: &str, child: &mut Child) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening ({status})");
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not start listening on port {port}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs `program args` as `user` when we are root, else as ourselves, under a
/// watchdog that kills it when this process exits.
/// Starts `program` under a watchdog shell that stops it once the test
/// process is gone and then removes `scratch` (its data: tens of MB a
/// server, and every test process starts its own; the log stays).
fn spawn_watched(
    user: Option<&str>,
    program: &Path,
    args: &[String],
    log: &Path,
    scratch: &[PathBuf],
) -> Child {
    let quoted: Vec<String> = std::iter::once(program.display().to_string())
        .chain(args.iter().cloned())
        .map(|a| format!("'{}'", a.replace('\'', "'\\''")))
        .collect();
    let inner = quoted.join(" ");
    let run = match user {
        Some(user) => format!("runuser -u {user} -- {inner}"),
        None => inner,
    };
    let scratch: Vec<String> = scratch
        .iter()
        .map(|p| format!("'{}'", p.display().to_string().replace('\'', "'\\''")))
        .collect();
    // `$1` is the test process: when it is gone, stop the server.
    let script = format!(
        "{run} >'{}' 2>&1 & server=$!; while kill -0 \"$1\" 2>/dev/null && kill -0 $server 2>/dev/null; do sleep 0.5; done; kill $server 2>/dev/null; wait $server; rm -rf {}",
        log.display(),
        scratch.join(" ")
    );
    Command::new("sh")
        .args(["-c", &script, "watchdog", &std::process::id().to_string()])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start the watchdog shell")
}

/// A PostgreSQL server for this test process.
pub struct Postgres {
    port: u16,
    databases: AtomicU32,
}

fn postgres_bin(name: &str) -> PathBuf {
    if let Ok(dir) = std::env::var("FLAGEDGE_PG_BIN") {
        return PathBuf::from(dir).join(name);
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.path().join("bin"))
                .filter(|p| p.join(name).exists())
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions
        .pop()
        .map(|dir| dir.join(name))
        .unwrap_or_else(|| PathBuf::from(name))
}

impl Postgres {
    /// The server, started on first use.
    pub fn shared() -> &'static Postgres {
        static SERVER: OnceLock<Postgres> = OnceLock::new();
        SERVER.get_or_init(Postgres::start)
    }

    fn start() -> Postgres {
        let dir = temp_dir("postgres");
        let data = dir.join("data");
        let user = is_root().then_some("postgres");
        if let Some(user) = user {
            let status = Command::new("chown")
                .args(["-R", &format!("{user}:{user}"), &dir.display().to_string()])
                .status();
            assert!(
                status.is_ok_and(|s| s.success()),
                "chown the postgres directory"
            );
        }
        let initdb = postgres_bin("initdb");
        let mut init = match user {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(&initdb);
                c
            }
            None => Command::new(&initdb),
        };
        let output = init
            .args([
                "-D",
                &data.display().to_string(),
                "-U",
                "postgres",
                "--auth=trust",
                "--no-sync",
                "-E",
                "UTF8",
                "--locale=C",
            ])
            .output()
            .expect("run initdb (PostgreSQL server binaries)");
        assert!(
            output.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let port = free_port();
        let args: Vec<String> = [
            "-D",
            &data.display().to_string(),
            "-p",
            &port.to_string(),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            &format!("unix_socket_directories={}", dir.display()),
            "-c",
            "fsync=off",
            "-c",
            "synchronous_commit=off",
            "-c",
            "full_page_writes=off",
            "-c",
            "max_connections=200",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let mut child = spawn_watched(
            user,
            &postgres_bin("postgres"),
            &args,
            &dir.join("postgres.log"),
            std::slice::from_ref(&data),
        );
        wait_for_port(port, "postgres", &mut child);
        // Let the server finish starting (it listens slightly before accepting logins).
        std::thread::sleep(Duration::from_millis(300));
        std::mem::forget(child);
        Postgres {
            port,
            databases: AtomicU32::new(0),
        }
    }

    /// The URL of the server's `postgres` database.
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Creates a fresh, empty database and returns its URL.
    pub fn database(&self) -> String {
        let name = format!(
            "test_{}_{}",
            std::process::id(),
            self.databases.fetch_add(1, Ordering::Relaxed)
        );
        let psql = postgres_bin("psql");
        let output = Command::new(&psql)
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-U",
                "postgres",
                "-d",
                "postgres",
                "-v",
                "ON_ERROR_STOP=1",
                "-c",
            ])
            .arg(format!("CREATE DATABASE {name}"))
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "CREATE DATABASE failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Runs SQL (for fixtures) against a database URL made by [`Postgres::database`].
    pub fn execute(&self, url: &str, sql: &str) {
        self.psql(url, &["-v", "ON_ERROR_STOP=1", "-c", sql]);
    }

    /// Runs a query and returns its single value as text.
    pub fn query_value(&self, url: &str, sql: &str) -> String {
        self.psql(url, &["-At", "-c", sql])
    }

    /// psql's output with `args`, on the database of `url`; panics with its
    /// errors when it fails.
    fn psql(&self, url: &str, args: &[&str]) -> String {
        let database = url.rsplit('/').next().unwrap_or("postgres");
        let port = self.port.to_string();
        let output = Command::new(postgres_bin("psql"))
            .args([
                "-h",
                "127.0.0.1",
                "-p",
                &port,
                "-U",
                "postgres",
                "-d",
                database,
            ])
            .args(args)
            .output()
            .expect("run psql");
        assert!(
            output.status.success(),
            "psql {args:?} failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).trim().to_string()
    }
}

/// An InfluxDB 1.x server.
pub struct Influx {
    /// Its HTTP API, e.g. `http://127.0.0.1:8123`.
    pub url: String,
}

impl Influx {
    /// Starts `influxd` (Debian package `influxdb`).
    pub fn start() -> Influx {
        let dir = temp_dir("influx");
        let port = free_port();
        let config = format!(
            "reporting-disabled = true\nbind-address = \"127.0.0.1:{}\"\n[meta]\n  dir = \"{d}/meta\"\n[data]\n  dir = \"{d}/data\"\n  wal-dir = \"{d}/wal\"\n  query-log-enabled = false\n[http]\n  bind-address = \"127.0.0.1:{port}\"\n  log-enabled = false\n[monitor]\n  store-enabled = false\n[subscriber]\n  enabled = false\n[continuous_queries]\n  enabled = false\n",
            free_port(),
            d = dir.display()
        );
        std::fs::write(dir.join("influxdb.conf"), config).expect("write influxdb.conf");
        let influxd = std::env::var("FLAGEDGE_INFLUXD")
            .map(PathBuf::from)
            .unwrap_or_else(|_| PathBuf::from("/usr/bin/influxd"));
        let args = vec![
            "-config".to_string(),
            dir.join("influxdb.conf").display().to_string(),
        ];
        let scratch = ["meta", "data", "wal"].map(|d| dir.join(d));
        let mut child = spawn_watched(None, &influxd, &args, &dir.join("influxd.log"), &scratch);
        wait_for_port(port, "influxd", &mut child);
        std::mem::forget(child);
        Influx {
            url: format!("http://127.0.0.1:{port}"),
        }
    }
}
