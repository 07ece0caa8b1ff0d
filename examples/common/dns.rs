//! DNS answers for the SPF evaluator: an offline zone file, or live queries to DNS servers.
//!
//! The live resolver is a minimal stub over `std::net`: each query is encoded with
//! [`Query::to_wire`], sent over UDP (retried over TCP when the answer is truncated) with a
//! timeout, and decoded with [`Answer::from_wire`]. Anything that goes wrong is a temporary
//! failure (`temperror`), never a wrong answer. Servers come from `/etc/resolv.conf`
//! (`--dns system`) or the command line (`--dns 127.0.0.1:5353`).

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream, UdpSocket};
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use postern_dns::{Answer, Query, Zone};
use postern_spf::{Options, Outcome, Request, evaluate_with};

/// Timeout of one query to one server.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(2);
/// The largest answer read over UDP (EDNS is not used, but some servers send more than 512).
pub const MAX_UDP_ANSWER: usize = 4096;

/// Where answers come from.
#[derive(Debug)]
pub enum Resolver {
    /// An offline zone (JSON zone format, or an RFC 1035 master file named `*.zone`).
    Zone(Zone),
    /// Live queries to these servers, in order.
    Servers(Vec<SocketAddr>),
}

static NEXT_TXID: AtomicU16 = AtomicU16::new(0);

fn txid() -> u16 {
    // Not a security measure (use a real resolver for that): ids only tell answers apart.
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let low = u16::try_from(nanos & 0xffff).unwrap_or(0);
    low ^ NEXT_TXID.fetch_add(0x9e37, Ordering::Relaxed)
}

impl Resolver {
    /// Load a zone file.
    ///
    /// # Errors
    /// When the file cannot be read or parsed.
    pub fn zone_file(path: &str) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
        let is_master = std::path::Path::new(path)
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("zone"));
        let zone = if is_master {
            Zone::from_master_file(&text, None)
        } else {
            Zone::from_json(&text)
        };
        zone.map(Self::Zone).map_err(|e| format!("{path}: {e}"))
    }

    /// `system` (the nameservers of `/etc/resolv.conf`) or `ADDR[:PORT]` (port 53 by default).
    ///
    /// # Errors
    /// When the address does not parse or resolv.conf names no server.
    pub fn servers(spec: &str) -> Result<Self, String> {
        if spec == "system" {
            let text = std::fs::read_to_string("/etc/resolv.conf")
                .map_err(|e| format!("/etc/resolv.conf: {e}"))?;
            let servers: Vec<SocketAddr> = text
                .lines()
                .filter_map(|l| l.trim().strip_prefix("nameserver"))
                .filter_map(|rest| rest.trim().parse::<IpAddr>().ok())
                .map(|ip| SocketAddr::new(ip, 53))
                .collect();
            if servers.is_empty() {
                return Err("/etc/resolv.conf names no nameserver".to_owned());
            }
            return Ok(Self::Servers(servers));
        }
        let addr = spec
            .parse::<SocketAddr>()
            .or_else(|_| spec.parse::<IpAddr>().map(|ip| SocketAddr::new(ip, 53)))
            .map_err(|_| format!("--dns: {spec:?} is not `system` or ADDR[:PORT]"))?;
        Ok(Self::Servers(vec![addr]))
    }

    /// Answer one query.
    pub fn resolve(&self, query: &Query) -> Answer {
        match self {
            Self::Zone(zone) => zone.resolve(query),
            Self::Servers(servers) => servers
                .iter()
                .find_map(|server| ask(*server, query))
                .unwrap_or(Answer::TempFail),
        }
    }

    /// Run `check_host()` for `request`, answering its queries here.
    pub fn check_spf(&self, request: &Request<'_>, options: &Options) -> Outcome {
        evaluate_with(request, options, |query| self.resolve(query))
    }
}

/// Ask one server; `None` when it gave no usable answer.
fn ask(server: SocketAddr, query: &Query) -> Option<Answer> {
    let id = txid();
    let packet = query.to_wire(id).ok()?;
    match ask_udp(server, query, id, &packet) {
        Some(Ok(answer)) => Some(answer),
        // Truncated (or undecodable over UDP): try TCP (RFC 7766).
        Some(Err(())) => ask_tcp(server, query, id, &packet),
        None => None,
    }
}

fn ask_udp(
    server: SocketAddr,
    query: &Query,
    id: u16,
    packet: &[u8],
) -> Option<Result<Answer, ()>> {
    let bind: SocketAddr = if server.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let socket = UdpSocket::bind(bind).ok()?;
    socket.connect(server).ok()?;
    socket.set_read_timeout(Some(QUERY_TIMEOUT)).ok()?;
    socket.send(packet).ok()?;
    let mut buf = vec![0u8; MAX_UDP_ANSWER];
    // A few stray datagrams (late answers to earlier ids) are skipped, not trusted.
    for _ in 0..4 {
        let n = socket.recv(&mut buf).ok()?;
        let answer = buf.get(..n)?;
        if answer.get(..2) != Some(&id.to_be_bytes()[..]) {
            continue;
        }
        return Some(Answer::from_wire(query, answer).map_err(|_| ()));
    }
    None
}

fn ask_tcp(server: SocketAddr, query: &Query, id: u16, packet: &[u8]) -> Option<Answer> {
    let mut stream = TcpStream::connect_timeout(&server, QUERY_TIMEOUT).ok()?;
    stream.set_read_timeout(Some(QUERY_TIMEOUT)).ok()?;
    stream.set_write_timeout(Some(QUERY_TIMEOUT)).ok()?;
    let len = u16::try_from(packet.len()).ok()?;
    let mut framed = len.to_be_bytes().to_vec();
    framed.extend_from_slice(packet);
    stream.write_all(&framed).ok()?;
    let mut len = [0u8; 2];
    stream.read_exact(&mut len).ok()?;
    let mut answer = vec![0u8; usize::from(u16::from_be_bytes(len))];
    stream.read_exact(&mut answer).ok()?;
    if answer.get(..2) != Some(&id.to_be_bytes()[..]) {
        return None;
    }
    Answer::from_wire(query, &answer).ok()
}
