//! Clean shutdown for the example servers, without unsafe code: a thread waits for SIGTERM or
//! SIGINT (signal-hook), raises a flag and wakes the blocking `accept()` with a connection to
//! the server's own listener. The accept loop then stops; running sessions get a grace period
//! and are closed after it ([`Sessions::drain`]).

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, Shutdown as SocketShutdown, SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

/// Bind a server's listener and its stop flag (stopped by SIGTERM/SIGINT), and log where it
/// listens; on failure, print why and exit 1. `program` prefixes the messages.
pub fn listen(program: &str, addr: &str) -> (std::net::TcpListener, Arc<Stop>) {
    let listener = std::net::TcpListener::bind(addr).unwrap_or_else(|e| {
        eprintln!("{program}: cannot listen on {addr}: {e}");
        std::process::exit(1);
    });
    let Ok(local) = listener.local_addr() else {
        std::process::exit(1);
    };
    let stop = Stop::new(local);
    if let Err(e) = stop.on_signals() {
        eprintln!("{program}: cannot handle signals: {e}");
        std::process::exit(1);
    }
    crate::log!("listening on {local}");
    (listener, stop)
}

/// The stop flag of a server and how to wake its accept loop.
#[derive(Debug)]
pub struct Stop {
    flag: AtomicBool,
    wake: SocketAddr,
}

impl Stop {
    /// A flag for a server listening on `listening`.
    pub fn new(listening: SocketAddr) -> Arc<Self> {
        // A listener on the unspecified address is woken through loopback.
        let mut wake = listening;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
        }
        Arc::new(Self {
            flag: AtomicBool::new(false),
            wake,
        })
    }

    /// Stop on SIGTERM or SIGINT: spawns the thread that waits for them.
    ///
    /// # Errors
    /// When the signal handlers cannot be registered.
    pub fn on_signals(self: &Arc<Self>) -> io::Result<()> {
        let mut signals = Signals::new([SIGTERM, SIGINT])?;
        let stop = Arc::clone(self);
        thread::spawn(move || {
            if let Some(signal) = signals.forever().next() {
                eprintln!("signal {signal}: shutting down");
                stop.trigger();
            }
        });
        Ok(())
    }

    /// Whether a stop was requested.
    pub fn requested(&self) -> bool {
        self.flag.load(Ordering::SeqCst)
    }

    /// Request a stop and wake the accept loop.
    pub fn trigger(&self) {
        self.flag.store(true, Ordering::SeqCst);
        // The accept loop sees the flag when this connection arrives; it closes it at once.
        let _ = TcpStream::connect_timeout(&self.wake, Duration::from_secs(1));
    }
}

/// The sessions a server runs, so that a shutdown can wait for them and close the stragglers.
#[derive(Debug, Default)]
pub struct Sessions {
    inner: Mutex<Registry>,
    changed: Condvar,
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    live: HashMap<u64, TcpStream>,
}

/// Held by a session thread; unregisters the session when dropped.
#[derive(Debug)]
pub struct SessionGuard {
    sessions: Arc<Sessions>,
    id: u64,
}

impl Drop for SessionGuard {
    fn drop(&mut self) {
        let mut inner = self
            .sessions
            .inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        inner.live.remove(&self.id);
        drop(inner);
        self.sessions.changed.notify_all();
    }
}

impl Sessions {
    /// An empty registry.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Register a session by its client socket (a clone is kept to close it at shutdown).
    ///
    /// # Errors
    /// When the socket cannot be cloned.
    pub fn register(self: &Arc<Self>, client: &TcpStream) -> io::Result<SessionGuard> {
        let clone = client.try_clone()?;
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        let id = inner.next_id;
        inner.next_id = inner.next_id.wrapping_add(1);
        inner.live.insert(id, clone);
        Ok(SessionGuard {
            sessions: Arc::clone(self),
            id,
        })
    }

    /// Sessions running now.
    pub fn live(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .live
            .len()
    }

    /// Wait until every session ended or `grace` passed; then shut down the sockets of those
    /// still running and wait up to one more second for their threads. Returns how many
    /// sessions had to be closed.
    pub fn drain(&self, grace: Duration) -> usize {
        let deadline = Instant::now() + grace;
        let mut inner = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        while !inner.live.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            inner = self
                .changed
                .wait_timeout(inner, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        let closed = inner.live.len();
        for stream in inner.live.values() {
            let _ = stream.shutdown(SocketShutdown::Both);
        }
        let deadline = Instant::now() + Duration::from_secs(1);
        while !inner.live.is_empty() {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                break;
            }
            inner = self
                .changed
                .wait_timeout(inner, left)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
        closed
    }
}
