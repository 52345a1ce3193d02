//! Test support (feature `testing`): moto's server, started for real on a
//! loopback port, with clients pointed at it.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::aws::AwsOptions;

/// A running moto server; stopped on drop.
pub struct Moto {
    child: Child,
    /// Its endpoint, e.g. `http://127.0.0.1:5123`.
    pub endpoint: String,
}

/// The tests' Python, which has moto installed.
fn python() -> PathBuf {
    match std::env::var("FLAGEDGE_REFERENCE_PYTHON") {
        Ok(python) => PathBuf::from(python),
        Err(_) => {
            let script =
                PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/python-venv.sh");
            let output = Command::new("bash")
                .arg(script)
                .output()
                .expect("run scripts/python-venv.sh");
            assert!(
                output.status.success(),
                "python-venv.sh failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
            PathBuf::from(String::from_utf8_lossy(&output.stdout).trim())
        }
    }
}

impl Moto {
    /// Starts moto's server; panics (failing the test) when it cannot.
    pub fn start() -> Moto {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        // moto_server with each request atomic, as AWS's conditional writes are (see the script).
        let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scripts/moto-server.py");
        let child = Command::new(python())
            .arg(script)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start scripts/moto-server.py (pip package moto[server])");
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "moto_server did not start listening"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Options for SDK clients pointed at this server.
    pub fn options(&self) -> AwsOptions {
        AwsOptions {
            region: Some("us-east-1".into()),
            endpoint_url: Some(self.endpoint.clone()),
            static_credentials: Some(("testing".into(), "testing".into())),
        }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
