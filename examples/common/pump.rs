//! One proxied SMTP session: both directions through one [`Proxy`], one thread each.
//!
//! All protocol work is done by [`postern_smtp::Proxy`]; this module only moves bytes. Memory
//! per session is bounded: one [`READ_SIZE`] buffer per direction, the proxy's own bounded
//! state (`postern_smtp::MAX_HELD_CLIENT_BYTES` and friends), and the bytes one read produces.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use postern_smtp::{Proxy, ProxyConfig, ProxyState};

/// Read size for both directions.
pub const READ_SIZE: usize = 16 * 1024;

/// The reply sent to a client whose bytes the proxy cannot handle (a command line too long,
/// pipelining past a STARTTLS/DATA/AUTH that awaits its reply, ...), before closing.
pub const PROTOCOL_ERROR_REPLY: &[u8] = b"421 4.7.0 Protocol error, closing connection\r\n";

/// The reply sent to the client when the upstream's replies cannot be parsed, before closing.
pub const UPSTREAM_ERROR_REPLY: &[u8] =
    b"421 4.4.2 Upstream protocol error, closing connection\r\n";

/// How a finished session went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Summary {
    /// Bytes read from the client.
    pub client_bytes: u64,
    /// Bytes read from the upstream server.
    pub server_bytes: u64,
    /// Plaintext or TLS (the upstream accepted STARTTLS) at the end.
    pub state: ProxyState,
    /// Plaintext the client injected after STARTTLS, discarded.
    pub injected_client: u64,
    /// Plaintext the server sent after its 220 to STARTTLS, discarded.
    pub injected_server: u64,
    /// What ended the session when it was not a clean close by a peer.
    pub error: Option<String>,
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match self.state {
            ProxyState::Plaintext => "plaintext",
            ProxyState::Tls => "tls",
        };
        write!(
            f,
            "client_bytes={} server_bytes={} state={state} injected_client={} injected_server={}",
            self.client_bytes, self.server_bytes, self.injected_client, self.injected_server
        )?;
        if let Some(e) = &self.error {
            write!(f, " error={e:?}")?;
        }
        Ok(())
    }
}

/// Time of the last byte in either direction, shared by the two pumps of a session so that a
/// direction that is quiet while the other one is busy (the server during DATA) is not idle.
struct Activity {
    start: Instant,
    last_ms: AtomicU64,
}

impl Activity {
    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let now = self.start.elapsed();
        now.saturating_sub(Duration::from_millis(self.last_ms.load(Ordering::Relaxed)))
    }
}

/// Relay one session between `client` and `upstream` through a [`Proxy`] with `config` until
/// the upstream closes, a side errs, or nothing moved in either direction for `idle_timeout`.
/// A client that closes its sending side is passed on as a half-close, so replies to its last
/// commands still reach it. Both sockets are shut down when it returns.
///
/// # Errors
/// Only when the sockets cannot be cloned or configured; what happens during the session is
/// in [`Summary::error`].
pub fn run(
    client: &TcpStream,
    upstream: &TcpStream,
    config: ProxyConfig,
    idle_timeout: Duration,
) -> io::Result<Summary> {
    let idle_timeout = idle_timeout.max(Duration::from_millis(1));
    client.set_read_timeout(Some(idle_timeout))?;
    upstream.set_read_timeout(Some(idle_timeout))?;
    client.set_write_timeout(Some(idle_timeout))?;
    upstream.set_write_timeout(Some(idle_timeout))?;
    let _ = client.set_nodelay(true);
    let _ = upstream.set_nodelay(true);
    let proxy = Arc::new(Mutex::new(Proxy::new(config)));
    let activity = Arc::new(Activity {
        start: Instant::now(),
        last_ms: AtomicU64::new(0),
    });

    let server_side = {
        let (proxy, activity) = (Arc::clone(&proxy), Arc::clone(&activity));
        let (upstream, client) = (upstream.try_clone()?, client.try_clone()?);
        thread::spawn(move || {
            pump(
                &upstream,
                &client,
                &proxy,
                Side::Server,
                &activity,
                idle_timeout,
            )
        })
    };
    let from_client = pump(
        client,
        upstream,
        &proxy,
        Side::Client,
        &activity,
        idle_timeout,
    );
    let from_server = server_side
        .join()
        .unwrap_or_else(|_| (0, Some("server pump panicked".to_owned())));

    let proxy = proxy.lock().unwrap_or_else(PoisonError::into_inner);
    Ok(Summary {
        client_bytes: from_client.0,
        server_bytes: from_server.0,
        state: proxy.state(),
        injected_client: proxy.injected_client_bytes(),
        injected_server: proxy.injected_server_bytes(),
        error: from_client.1.or(from_server.1),
    })
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Client,
    Server,
}

/// Copy one direction through the proxy until EOF, error or idle timeout; returns bytes read
/// and the error, if any. Outputs are written while the proxy is locked so that replies reach
/// the client in order.
fn pump(
    from: &TcpStream,
    to: &TcpStream,
    proxy: &Mutex<Proxy>,
    side: Side,
    activity: &Activity,
    idle_timeout: Duration,
) -> (u64, Option<String>) {
    let (mut from, mut to) = (from, to);
    let mut buf = vec![0u8; READ_SIZE];
    let (mut forward, mut back) = (Vec::new(), Vec::new());
    let mut total = 0u64;
    let error = loop {
        let n = match from.read(&mut buf) {
            Ok(0) if side == Side::Client => {
                // The client is done sending (perhaps a pipelined QUIT, then a half-close):
                // pass the half-close on and let the upstream's last replies come back. The
                // server side ends the session when the upstream closes.
                let _ = to.shutdown(Shutdown::Write);
                return (total, None);
            }
            Ok(0) => break None,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
                ) =>
            {
                if activity.idle_for() < idle_timeout {
                    continue;
                }
                break Some("idle timeout".to_owned());
            }
            Err(e) => break Some(e.to_string()),
        };
        activity.touch();
        total += n as u64;
        let input = buf.get(..n).unwrap_or_default();
        let mut p = proxy.lock().unwrap_or_else(PoisonError::into_inner);
        let fed = match side {
            Side::Client => p.from_client(input, &mut forward, &mut back),
            Side::Server => p.from_server(input, &mut forward, &mut back),
        };
        if let Err(e) = fed {
            // Whatever the proxy produced before the error still goes out, then a 421.
            let _ = to.write_all(&forward).and_then(|()| from.write_all(&back));
            let _ = match side {
                Side::Client => from.write_all(PROTOCOL_ERROR_REPLY),
                Side::Server => to.write_all(UPSTREAM_ERROR_REPLY),
            };
            break Some(e.to_string());
        }
        // `forward` goes on in this direction, `back` returns to the sender of these bytes.
        let written = to.write_all(&forward).and_then(|()| from.write_all(&back));
        drop(p);
        forward.clear();
        back.clear();
        if let Err(e) = written {
            break Some(e.to_string());
        }
    };
    // The upstream closing, or an error either way, ends the session.
    let _ = to.shutdown(Shutdown::Both);
    let _ = from.shutdown(Shutdown::Both);
    (total, error)
}
