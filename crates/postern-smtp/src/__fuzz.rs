//! Fuzz harness bodies, shared by the cargo-fuzz targets in `fuzz/` and by the stable replay
//! test `tests/fuzz_replay.rs`. Each asserts invariants, not only the absence of panics.
//! Not part of the public API.
// Harnesses assert, so they may panic and index: a panic is how a fuzzer reports a finding.
#![allow(
    clippy::indexing_slicing,
    clippy::missing_panics_doc,
    clippy::panic,
    clippy::unwrap_used,
    clippy::expect_used
)]

use crate::{
    Capability, CapabilityFilter, Context, Ehlo, Error, Mode, Proxy, ProxyConfig, ProxyState,
    Reply, ReplyFilter, ReplyParser, Status,
};

/// What parsing a whole stream gives: each reply's (code, lines, length), then the error that
/// ended it, if any (`Truncated` when it ended inside a reply).
type Outcome = (Vec<(u16, u32, usize)>, Option<Error>);

fn mode_of(selector: u8) -> Mode {
    if selector & 1 == 0 {
        Mode::Strict
    } else {
        Mode::Lenient
    }
}

/// Parse `input` as a stream delivered in reads of the given sizes (cycled).
pub fn parse_stream(input: &[u8], mode: Mode, read_sizes: &[usize]) -> Outcome {
    let mut parser = ReplyParser::new(mode);
    let mut replies = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    let mut fed = 0;
    let mut sizes = read_sizes.iter().copied().filter(|&n| n > 0).cycle();
    while fed < input.len() {
        let n = sizes.next().unwrap_or(input.len()).min(input.len() - fed);
        buf.extend_from_slice(&input[fed..fed + n]);
        fed += n;
        loop {
            match parser.parse(&buf) {
                Ok(Status::Complete(reply)) => {
                    let len = reply.len();
                    replies.push((reply.code().as_u16(), reply.line_count(), len));
                    buf.drain(..len);
                }
                Ok(Status::Partial) => break,
                Err(e) => return (replies, Some(e)),
            }
        }
    }
    let end = parser.finish(&buf).err();
    (replies, end)
}

/// The reply parser: results do not depend on how the input is split; every complete reply
/// re-parses alone to itself and its lines add up to it.
pub fn reply_parser(data: &[u8]) {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let mode = mode_of(selector);
    let whole = parse_stream(input, mode, &[input.len().max(1)]);
    let bytewise = parse_stream(input, mode, &[1]);
    assert_eq!(whole, bytewise, "one-byte reads differ from one read");
    let split = usize::from(selector >> 1) % (input.len() + 1);
    let two = parse_stream(input, mode, &[split.max(1), input.len().max(1)]);
    assert_eq!(whole, two, "split at {split} differs");
    let uneven = parse_stream(input, mode, &[3, 1, 7, 2, 64]);
    assert_eq!(whole, uneven, "uneven reads differ");

    let mut at = 0;
    for &(code, lines, len) in &whole.0 {
        let bytes = &input[at..at + len];
        let reply = Reply::parse(bytes, mode).unwrap().complete().unwrap();
        assert_eq!(
            (reply.code().as_u16(), reply.line_count(), reply.len()),
            (code, lines, len)
        );
        let line_bytes: usize = reply.lines().map(|l| l.raw().len()).sum();
        assert_eq!(line_bytes, len);
        assert_eq!(reply.lines().count(), lines as usize);
        assert!(reply.lines().last().unwrap().is_last());
        if let Some(ehlo) = Ehlo::new(&reply) {
            assert_eq!(ehlo.capabilities().count(), lines as usize - 1);
            let _ = (
                ehlo.max_size(),
                ehlo.limits(),
                ehlo.auth_mechanisms().count(),
            );
        }
        let _ = reply.enhanced_code();
        at += len;
    }
}

/// The rewriter: a rewritten EHLO reply re-parses as one reply with the same code, loses
/// exactly the withheld lines and keeps the others byte for byte (but for the one separator
/// that may turn into SP); the streaming filter agrees with the one-shot rewrite under any split.
pub fn rewrite(data: &[u8]) {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    let mode = mode_of(selector);
    let mut filter = CapabilityFilter::starttls();
    if selector & 2 != 0 {
        filter = filter.withhold("AUTH").withhold("CHUNKING");
    }
    if selector & 4 != 0 {
        filter = filter
            .withhold("SIZE")
            .withhold("8BITMIME")
            .withhold("PIPELINING");
    }

    // One shot: every reply treated as an EHLO reply.
    let (replies, error) = parse_stream(input, mode, &[input.len().max(1)]);
    let mut expected = Vec::new();
    let mut at = 0;
    for &(_, _, len) in &replies {
        let reply = Reply::parse(&input[at..at + len], mode)
            .unwrap()
            .complete()
            .unwrap();
        let before = expected.len();
        let removed = filter.rewrite(&reply, &mut expected);
        check_rewrite(&filter, &reply, &expected[before..], removed, mode);
        at += len;
    }

    // Streaming, in reads split by the selector.
    let chunk = usize::from(selector >> 3).max(1);
    let mut stream = ReplyFilter::new(filter, mode);
    for _ in 0..=replies.len() {
        stream.expect(Context::Ehlo).unwrap();
    }
    let mut out = Vec::new();
    let mut streamed_error = None;
    for piece in input.chunks(chunk) {
        if let Err(e) = stream.feed(piece, &mut out, |_| {}) {
            streamed_error = Some(e);
            break;
        }
    }
    if streamed_error.is_none() {
        streamed_error = stream.finish().err();
    }
    assert_eq!(
        out, expected,
        "streaming rewrite differs from one-shot rewrite"
    );
    assert_eq!(streamed_error.map(|e| e.kind()), error.map(|e| e.kind()));
}

fn check_rewrite(
    filter: &CapabilityFilter,
    reply: &Reply<'_>,
    out: &[u8],
    removed: usize,
    mode: Mode,
) {
    let again = Reply::parse(out, mode)
        .unwrap()
        .complete()
        .expect("rewritten reply is complete");
    assert_eq!(again.len(), out.len());
    assert_eq!(again.code(), reply.code());
    assert_eq!(
        again.line_count() as usize,
        reply.line_count() as usize - removed
    );
    let kept: Vec<&[u8]> = reply
        .lines()
        .enumerate()
        .filter(|(i, l)| {
            *i == 0 || removed == 0 || !filter.withholds(Capability::from_line(*l).keyword())
        })
        .map(|(_, l)| l.content())
        .collect();
    let got: Vec<&[u8]> = again.lines().map(|l| l.content()).collect();
    assert_eq!(kept.len(), got.len());
    for (k, g) in kept.iter().zip(&got) {
        // Only the separator (offset 3) may differ, and only from '-' to SP.
        assert_eq!(k.len(), g.len());
        for (i, (a, b)) in k.iter().zip(g.iter()).enumerate() {
            assert!(
                a == b || (i == 3 && *a == b'-' && *b == b' '),
                "byte {i} changed"
            );
        }
    }
}

/// The proxy: arbitrary client and server bytes never panic, and what it forwards to the
/// client before TLS starts is a valid reply stream when the server's was.
pub fn proxy(data: &[u8]) {
    let Some((&selector, input)) = data.split_first() else {
        return;
    };
    // Bit 1 lets STARTTLS through, so that the switch to TLS (and the discarding of plaintext
    // injected before it) is reached too.
    let mut filter = if selector & 2 == 0 {
        CapabilityFilter::starttls()
    } else {
        CapabilityFilter::new()
    };
    if selector & 1 != 0 {
        filter = filter.withhold("CHUNKING").withhold("AUTH");
    }
    let mut proxy = Proxy::new(ProxyConfig {
        filter,
        ..ProxyConfig::default()
    });
    let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
    // Server bytes fed in plaintext, and how much went to the client before TLS started.
    let mut server = Vec::new();
    let mut plaintext_end = None;
    // Records: a direction byte, a length byte, then that many bytes.
    let mut rest = input;
    while let [dir, len, tail @ ..] = rest {
        let n = usize::from(*len).min(tail.len());
        let (piece, after) = tail.split_at(n);
        let result = if dir & 1 == 0 {
            proxy.from_client(piece, &mut to_server, &mut to_client)
        } else {
            if plaintext_end.is_none() {
                server.extend_from_slice(piece);
            }
            proxy.from_server(piece, &mut to_client, &mut to_server)
        };
        if plaintext_end.is_none() && proxy.state() == ProxyState::Tls {
            plaintext_end = Some(to_client.len());
        }
        if result.is_err() {
            break;
        }
        rest = after;
    }
    let (_, server_error) = parse_stream(&server, Mode::Strict, &[server.len().max(1)]);
    if matches!(server_error, None | Some(Error::Truncated { .. })) {
        let plaintext = &to_client[..plaintext_end.unwrap_or(to_client.len())];
        let (_, error) = parse_stream(plaintext, Mode::Strict, &[plaintext.len().max(1)]);
        assert_eq!(error, None, "the client got an invalid reply stream");
    }
}
