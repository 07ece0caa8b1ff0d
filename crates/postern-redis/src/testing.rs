//! A throw-away `redis-server` for tests and benchmarks (feature `testing`).
//!
//! [`RedisServer::start`] runs `redis-server` (from `PATH`, Debian package `redis-server`) on a
//! free port of 127.0.0.1 with a fresh temporary directory and no persistence, waits until it
//! answers `PING`, and stops it by PID when dropped. A missing `redis-server` is an error with
//! instructions, so that tests fail instead of silently skipping.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// How long [`RedisServer::start`] waits for the server to answer: 10 s.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// Why the test server could not start.
pub type StartError = String;

/// A running `redis-server`, stopped (by PID) and its directory removed on drop.
#[derive(Debug)]
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
    dir: PathBuf,
}

static SERIAL: AtomicU32 = AtomicU32::new(0);

impl RedisServer {
    /// Start a server on a free loopback port.
    ///
    /// # Errors
    /// A message saying what failed: `redis-server` missing (install it with
    /// `apt-get install -y redis-server`), or not answering within [`START_TIMEOUT`].
    pub fn start() -> Result<Self, StartError> {
        // Port 0 picks a free port; it is released just before redis-server binds it (a race
        // with other programs binding ports at that instant is possible but rare; start()
        // then fails and says so).
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map_err(|e| format!("no free loopback port: {e}"))?
            .port();
        let dir = std::env::temp_dir().join(format!(
            "postern-redis-{}-{}-{port}",
            std::process::id(),
            SERIAL.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        let mut server = Self {
            child: None,
            port,
            dir,
        };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> Result<(), StartError> {
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port"])
            .arg(self.port.to_string())
            .arg("--dir")
            .arg(&self.dir)
            .args([
                "--save",
                "",
                "--appendonly",
                "no",
                "--protected-mode",
                "yes",
                "--daemonize",
                "no",
                "--loglevel",
                "warning",
            ])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| {
                format!(
                    "cannot run redis-server ({e}): the postern-redis tests need a real Redis; \
                     install it with `apt-get install -y redis-server` (or run .ci/redis.sh)"
                )
            })?;
        self.child = Some(child);
        self.wait_ready()
    }

    fn wait_ready(&mut self) -> Result<(), StartError> {
        let client = redis::Client::open(self.url()).map_err(|e| e.to_string())?;
        let step = Duration::from_millis(20);
        let tries = START_TIMEOUT.as_millis() / step.as_millis();
        for _ in 0..tries {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                return Err(format!(
                    "redis-server exited at start ({status}); port {} taken?",
                    self.port
                ));
            }
            if let Ok(mut c) = client.get_connection_with_timeout(Duration::from_millis(200))
                && redis::cmd("PING").query::<String>(&mut c).is_ok()
            {
                return Ok(());
            }
            std::thread::sleep(step);
        }
        Err(format!(
            "redis-server on port {} did not answer within {START_TIMEOUT:?}",
            self.port
        ))
    }

    /// `redis://127.0.0.1:PORT/`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The port.
    pub const fn port(&self) -> u16 {
        self.port
    }

    /// The server's process id, while it runs.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Stop the server (SIGKILL by PID, then reap it): Redis is "down".
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Start the server again on the same port (an empty Redis: no scripts, no keys).
    ///
    /// # Errors
    /// As [`start`](Self::start).
    pub fn restart(&mut self) -> Result<(), StartError> {
        self.stop();
        self.spawn()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
