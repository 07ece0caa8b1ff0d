//! Failure behaviour: Redis down, slow, or answering garbage gives the configured fallback
//! (fail-open: accept and count; fail-closed: 451 4.3.0), within the timeouts, never a panic;
//! the store reconnects once Redis is back.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing,
    missing_docs
)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use postern_policy::concurrency::ConcurrencyConfig;
use postern_policy::concurrency::SlotClass;
use postern_policy::greylist::GreylistConfig;
use postern_policy::tarpit::{Offence, PenaltyConfig};
use postern_policy::{Key, Quota, RateMode, Verdict};
use postern_redis::testing::RedisServer;
use postern_redis::{
    Decision, Error, FailureMode, Greylisting, LeasePool, Penalty, RateLimit, Store, StoreConfig,
};

const IO: Duration = Duration::from_millis(200);

fn config(failure: FailureMode) -> StoreConfig {
    StoreConfig {
        prefix: "fail".into(),
        failure,
        connect_timeout: IO,
        io_timeout: IO,
        reconnect_backoff: Duration::from_millis(100),
    }
}

fn limit() -> RateLimit {
    RateLimit::new("conn", Quota::new(2, 60_000).unwrap(), RateMode::Leaky).unwrap()
}

const K: Key = Key::from_u128(9);

/// The fallback of `mode`, asserted with the verdict of a connect-time rate decision.
fn assert_fallback<T: std::fmt::Debug>(d: &Decision<T>, mode: FailureMode) {
    let Decision::Failed { verdict, .. } = d else {
        panic!("expected a fallback, got {d:?}");
    };
    match mode {
        FailureMode::Open => assert_eq!(*verdict, Verdict::Accept),
        FailureMode::Closed => {
            let reply = verdict.reply().unwrap();
            assert!(matches!(verdict, Verdict::Defer { .. }));
            assert_eq!(
                (reply.code, reply.enhanced.to_string()),
                (451, "4.3.0".into())
            );
        }
    }
}

/// A fake server on a free loopback port: answers every read with `reply` (or never, when
/// `None`), until dropped. Bounded: it stops accepting after 20 s.
struct Fake {
    port: u16,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Fake {
    fn start(reply: Option<&'static [u8]>) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            let mut handlers = Vec::new();
            for _ in 0..4_000 {
                if flag.load(Ordering::Relaxed) {
                    break;
                }
                match listener.accept() {
                    Ok((conn, _)) => {
                        let flag = Arc::clone(&flag);
                        handlers.push(std::thread::spawn(move || serve(conn, reply, &flag)));
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
            for h in handlers {
                let _ = h.join();
            }
        });
        Self {
            port,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }
}

fn serve(mut conn: TcpStream, reply: Option<&[u8]>, stop: &AtomicBool) {
    conn.set_nonblocking(false).unwrap();
    conn.set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    let mut buf = [0_u8; 4096];
    for _ in 0..400 {
        if stop.load(Ordering::Relaxed) {
            return;
        }
        match conn.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                // One reply per command of the (pipelined) request: commands start with `*`.
                let data = &buf[..n];
                let commands = usize::from(data.first() == Some(&b'*'))
                    + data.windows(3).filter(|w| w == b"\r\n*").count();
                if let Some(r) = reply {
                    for _ in 0..commands.max(1) {
                        if conn.write_all(r).is_err() {
                            return;
                        }
                    }
                }
            }
            Err(_) => {}
        }
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// A decision against `url` must fall back as `mode` says, within the timeouts.
fn falls_back(url: &str, mode: FailureMode) -> Error {
    let mut store = Store::open(url, config(mode)).unwrap();
    let start = Instant::now();
    let d = store.rate(&limit(), K, 1);
    assert!(
        start.elapsed() < IO * 3 + Duration::from_millis(300),
        "{:?}",
        start.elapsed()
    );
    assert_fallback(&d, mode);
    assert_eq!(store.stats().failures, 1);
    match d {
        Decision::Failed { error, .. } => error,
        Decision::Decided(_) => unreachable!(),
    }
}

#[test]
fn redis_down_fails_open_or_closed() {
    // A port nobody listens on: bind one, then let it go.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = format!("redis://127.0.0.1:{port}/");
    for mode in [FailureMode::Open, FailureMode::Closed] {
        let e = falls_back(&url, mode);
        assert!(matches!(e, Error::Connect { .. }), "{e}");
    }
    // Within the backoff, no connection is tried: the fallback is immediate.
    let mut store = Store::open(&url, config(FailureMode::Closed)).unwrap();
    let _ = store.rate(&limit(), K, 1);
    let d = store.rate(&limit(), K, 1);
    assert!(matches!(d.error(), Some(Error::Backoff { .. })), "{d:?}");
    assert_fallback(&d, FailureMode::Closed);
    assert_eq!(store.stats().failures, 2);
    assert_eq!(store.stats().connects, 0);
}

#[test]
fn silent_server_times_out() {
    let fake = Fake::start(None);
    for mode in [FailureMode::Open, FailureMode::Closed] {
        let e = falls_back(&fake.url(), mode);
        assert!(
            matches!(e, Error::Connect { .. } | Error::Timeout { .. }),
            "{e}"
        );
    }
}

#[test]
fn garbage_replies_fall_back() {
    // Not RESP at all.
    let fake = Fake::start(Some(b"HTTP/1.1 400 Bad Request\r\n\r\n"));
    for mode in [FailureMode::Open, FailureMode::Closed] {
        let e = falls_back(&fake.url(), mode);
        assert!(
            matches!(e, Error::Connect { .. } | Error::Redis { .. }),
            "{e}"
        );
    }
    drop(fake);
    // Valid RESP, but not what the script returns.
    let fake = Fake::start(Some(b"+OK\r\n"));
    for mode in [FailureMode::Open, FailureMode::Closed] {
        let e = falls_back(&fake.url(), mode);
        assert!(matches!(e, Error::Reply { .. }), "{e}");
    }
    drop(fake);
    let fake = Fake::start(Some(b"*4\r\n$8\r\n12345678\r\n$-1\r\n:7\r\n$-1\r\n"));
    let e = falls_back(&fake.url(), FailureMode::Closed);
    assert!(
        matches!(e, Error::Diverged { .. } | Error::Reply { .. }),
        "{e}"
    );
}

#[test]
fn bad_records_in_real_redis_fall_back_and_keep_the_connection() {
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let mut store = Store::open(&server.url(), config(FailureMode::Closed)).unwrap();
    let client = redis::Client::open(server.url()).unwrap();
    let mut raw = client.get_connection().unwrap();
    let l = limit();
    // A record that does not decode.
    let key = l.redis_key("fail", K);
    let _: () = redis::cmd("SET")
        .arg(&key)
        .arg("garbage")
        .query(&mut raw)
        .unwrap();
    let d = store.rate(&l, K, 1);
    assert!(matches!(d.error(), Some(Error::State { .. })), "{d:?}");
    assert_fallback(&d, FailureMode::Closed);
    // A key of another type: the script's GET fails inside Redis.
    let _: () = redis::cmd("DEL").arg(&key).query(&mut raw).unwrap();
    let _: () = redis::cmd("LPUSH")
        .arg(&key)
        .arg("x")
        .query(&mut raw)
        .unwrap();
    let d = store.rate(&l, K, 1);
    assert!(matches!(d.error(), Some(Error::Redis { .. })), "{d:?}");
    // Every decision kind reports its bad records the same way.
    let grey = Greylisting::new("g", GreylistConfig::default()).unwrap();
    let _: () = redis::cmd("SET")
        .arg(grey.redis_key("fail", K))
        .arg("\u{1}\u{2}short")
        .query(&mut raw)
        .unwrap();
    let d = store.greylist(&grey, K, K);
    assert!(matches!(d.error(), Some(Error::State { .. })), "{d:?}");
    let pen = Penalty::new("p", PenaltyConfig::default()).unwrap();
    let _: () = redis::cmd("SET")
        .arg(pen.redis_key("fail", K))
        .arg("\u{2}\u{4}")
        .query(&mut raw)
        .unwrap();
    let d = store.penalize(&pen, K, Offence::ProtocolError);
    assert!(matches!(d.error(), Some(Error::State { .. })), "{d:?}");
    let d = store.penalty_connect(&pen, K);
    assert!(matches!(d.error(), Some(Error::State { .. })), "{d:?}");
    let pool = LeasePool::new("c", ConcurrencyConfig::default()).unwrap();
    let _: () = redis::cmd("SET")
        .arg(&pool.redis_keys("fail", K)[0])
        .arg("x")
        .query(&mut raw)
        .unwrap();
    let d = store.acquire(&pool, K, SlotClass::Normal);
    assert!(matches!(d.error(), Some(Error::Redis { .. })), "{d:?}");
    // One connection throughout: error replies do not break it.
    assert_eq!(store.stats().connects, 1);
    assert_eq!(store.stats().failures, 6);
    // Another key still decides.
    assert!(store.rate(&l, Key::from_u128(10), 1).decided().is_some());
}

#[test]
fn slow_redis_times_out_then_recovers() {
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let mut store = Store::open(&server.url(), config(FailureMode::Closed)).unwrap();
    assert!(store.rate(&limit(), K, 1).decided().is_some());
    // Redis stalls every client for 1.5 s.
    let client = redis::Client::open(server.url()).unwrap();
    let mut raw = client.get_connection().unwrap();
    let _: () = redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(1_500)
        .arg("ALL")
        .query(&mut raw)
        .unwrap();
    let start = Instant::now();
    let d = store.rate(&limit(), K, 1);
    assert!(start.elapsed() < IO * 3, "{:?}", start.elapsed());
    assert!(matches!(d.error(), Some(Error::Timeout { .. })), "{d:?}");
    assert_fallback(&d, FailureMode::Closed);
    // After the pause, the store reconnects (bounded wait).
    let mut recovered = false;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(50));
        if store
            .rate(&limit(), Key::from_u128(11), 1)
            .decided()
            .is_some()
        {
            recovered = true;
            break;
        }
    }
    assert!(recovered);
    assert!(store.stats().connects >= 2);
}

#[test]
fn reconnects_after_redis_comes_back() {
    let mut server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let mut store = Store::open(&server.url(), config(FailureMode::Open)).unwrap();
    let l = limit();
    assert!(store.rate(&l, K, 1).decided().is_some());
    assert_eq!(store.stats().script_loads, 1);
    server.stop();
    for _ in 0..3 {
        let d = store.rate(&l, K, 1);
        assert_fallback(&d, FailureMode::Open);
    }
    assert_eq!(store.stats().failures, 3);
    server.restart().unwrap_or_else(|e| panic!("{e}"));
    let mut recovered = None;
    for _ in 0..100 {
        std::thread::sleep(Duration::from_millis(20));
        if let Decision::Decided(d) = store.rate(&l, K, 1) {
            recovered = Some(d);
            break;
        }
    }
    // A fresh Redis: a fresh key, and the scripts loaded again after NOSCRIPT.
    assert_eq!(
        recovered,
        Some(postern_policy::RateDecision::Allowed { remaining: 1 })
    );
    assert_eq!(store.stats().script_loads, 2);
    assert!(store.stats().connects >= 2);
}

#[cfg(feature = "async")]
#[test]
fn async_store_decides_and_falls_back() {
    use postern_redis::AsyncStore;
    let server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let mut store = AsyncStore::open(&server.url(), config(FailureMode::Closed)).unwrap();
        let l = limit();
        assert!(store.rate(&l, K, 1).await.decided().is_some());
        assert!(store.rate(&l, K, 1).await.decided().is_some());
        let d = store.rate(&l, K, 1).await;
        assert!(!d.decided().unwrap().is_allowed());
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut down = AsyncStore::open(
            &format!("redis://127.0.0.1:{port}/"),
            config(FailureMode::Closed),
        )
        .unwrap();
        let d = down.rate(&l, K, 1).await;
        assert_fallback(&d, FailureMode::Closed);
    });
}

#[cfg(feature = "async")]
#[test]
fn async_store_reconnects_after_redis_comes_back() {
    use postern_redis::AsyncStore;
    let mut server = RedisServer::start().unwrap_or_else(|e| panic!("{e}"));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut store = AsyncStore::open(&server.url(), config(FailureMode::Open)).unwrap();
    let l = limit();
    rt.block_on(async {
        assert!(store.rate(&l, K, 1).await.decided().is_some());
    });
    server.stop();
    rt.block_on(async {
        let start = Instant::now();
        let d = store.rate(&l, K, 1).await;
        assert!(start.elapsed() < IO * 3, "{:?}", start.elapsed());
        assert_fallback(&d, FailureMode::Open);
    });
    server.restart().unwrap_or_else(|e| panic!("{e}"));
    rt.block_on(async {
        let mut recovered = None;
        for _ in 0..100 {
            tokio::time::sleep(Duration::from_millis(20)).await;
            if let Decision::Decided(d) = store.rate(&l, K, 1).await {
                recovered = Some(d);
                break;
            }
        }
        assert_eq!(
            recovered,
            Some(postern_policy::RateDecision::Allowed { remaining: 1 })
        );
    });
    assert_eq!(store.stats().script_loads, 2);
    assert!(store.stats().failures >= 1);
}
