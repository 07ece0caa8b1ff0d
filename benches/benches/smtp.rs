//! postern-smtp benchmarks.
//!
//! - `smtp/parse/gmail8`: the 8-line Gmail EHLO reply into `Reply` + `Ehlo`, walking every
//!   capability's keyword and params.
//! - `smtp/parse_strip/gmail8`: the same parse, then `CapabilityFilter::starttls().rewrite`
//!   into a reused `Vec`.
//! - `smtp/stream/1MiB`: a `ReplyFilter` fed 1 MiB of pipelined replies of whole SMTP
//!   sessions (banner, EHLO, MAIL, RCPT, DATA, ...) in 16 KiB reads, contexts queued as a
//!   proxy would.
//! - `smtp/parse/byte_at_a_time`: the Gmail reply fed one byte at a time to a resumable
//!   `ReplyParser`.
//!
//! Run: `cargo bench -p postern-benches --bench smtp`; compare with `-- --save-baseline NAME`
//! and `-- --baseline NAME`.

// A benchmark stops on a broken invariant: panicking on bad fixture data is the point.
#![allow(clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use postern_smtp::{
    CapabilityFilter, Context, Ehlo, Mode, Reply, ReplyFilter, ReplyParser, Status,
};

/// The 8-line Gmail MX reply to EHLO (166 octets).
const GMAIL: &[u8] = include_bytes!("../../examples/data/gmail-ehlo.smtp");

const STREAM_BYTES: usize = 1 << 20;
const READ_SIZE: usize = 16 * 1024;
/// Contexts kept queued ahead of the server's replies (below `MAX_PENDING_COMMANDS`).
const QUEUE_AHEAD: usize = 1000;

fn parse_gmail(input: &[u8]) -> usize {
    let reply = Reply::parse(input, Mode::Strict)
        .expect("valid reply")
        .complete()
        .expect("complete reply");
    let ehlo = Ehlo::new(&reply).expect("250 reply");
    let mut params = 0;
    for capability in ehlo.capabilities() {
        black_box(capability.keyword());
        for param in capability.params() {
            black_box(param);
            params += 1;
        }
    }
    params
}

fn parse(c: &mut Criterion) {
    let mut group = c.benchmark_group("smtp/parse");
    group.throughput(Throughput::Bytes(GMAIL.len() as u64));
    group.bench_function("gmail8", |b| b.iter(|| parse_gmail(black_box(GMAIL))));
    // The same reply through smtp-proto's (lossy) EHLO parser, measured on the same machine.
    group.bench_function("gmail8_smtp_proto_peer", |b| {
        b.iter(|| {
            smtp_proto::EhloResponse::<String>::parse(&mut black_box(GMAIL).iter())
                .expect("smtp-proto parses the Gmail reply")
                .capabilities
        });
    });
    group.bench_function("byte_at_a_time", |b| {
        b.iter(|| {
            let input = black_box(GMAIL);
            let mut parser = ReplyParser::new(Mode::Strict);
            for end in 1..=input.len() {
                if let Status::Complete(reply) = parser.parse(&input[..end]).expect("valid") {
                    return reply.line_count();
                }
            }
            unreachable!("the Gmail reply is complete")
        });
    });
    group.finish();
}

fn parse_strip(c: &mut Criterion) {
    let filter = CapabilityFilter::starttls();
    let mut out = Vec::with_capacity(GMAIL.len());
    let mut group = c.benchmark_group("smtp/parse_strip");
    group.throughput(Throughput::Bytes(GMAIL.len() as u64));
    group.bench_function("gmail8", |b| {
        b.iter(|| {
            let reply = Reply::parse(black_box(GMAIL), Mode::Strict)
                .expect("valid reply")
                .complete()
                .expect("complete reply");
            out.clear();
            let removed = filter.rewrite(&reply, &mut out);
            black_box(&out);
            removed
        });
    });
    group.finish();
}

/// About 1 MiB of whole sessions as a server sends them, and the context of each reply.
fn session_stream() -> (Vec<u8>, Vec<Context>) {
    let session: &[(&[u8], Context)] = &[
        (b"220 mx.google.com ESMTP a1-20020a05600c000100b00000000000000si0000000wmq.0 - gsmtp\r\n", Context::Greeting),
        (GMAIL, Context::Ehlo),
        (b"250 2.1.0 OK a1-20020a05600c000100b00000000000000si0000000wmq.0 - gsmtp\r\n", Context::Other),
        (b"250 2.1.5 OK a1-20020a05600c000100b00000000000000si0000000wmq.0 - gsmtp\r\n", Context::Other),
        (b"250 2.1.5 OK a1-20020a05600c000100b00000000000000si0000000wmq.0 - gsmtp\r\n", Context::Other),
        (b"550-5.1.1 The email account that you tried to reach does not exist. Please try\r\n550-5.1.1 double-checking the recipient's email address for typos or\r\n550-5.1.1 unnecessary spaces. For more information, go to\r\n550 5.1.1  https://support.google.com/mail/?p=NoSuchUser a1-20020a05600c0001si0.0 - gsmtp\r\n", Context::Other),
        (b"354  Go ahead a1-20020a05600c000100b00000000000000si0000000wmq.0 - gsmtp\r\n", Context::Data),
        (b"250 2.0.0 OK  1700000000 a1-20020a05600c000100b00000000000000si0000000wmq.0 - gsmtp\r\n", Context::Other),
        (b"250 2.1.5 Flushed a1-20020a05600c000100b00000000000000si0000000wmq.0 - gsmtp\r\n", Context::Other),
        (b"250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n250-ENHANCEDSTATUSCODES\r\n250 8BITMIME\r\n", Context::Ehlo),
        (b"221 2.0.0 closing connection a1-20020a05600c000100b00000000000000si0000000wmq.0 - gsmtp\r\n", Context::Other),
    ];
    let mut bytes = Vec::with_capacity(STREAM_BYTES);
    let mut contexts = Vec::new();
    'fill: loop {
        for &(reply, context) in session {
            if bytes.len() + reply.len() > STREAM_BYTES {
                break 'fill;
            }
            bytes.extend_from_slice(reply);
            contexts.push(context);
        }
    }
    (bytes, contexts)
}

fn stream(c: &mut Criterion) {
    let (input, contexts) = session_stream();
    let filter = CapabilityFilter::starttls();
    let mut out = Vec::with_capacity(READ_SIZE);
    let mut group = c.benchmark_group("smtp/stream");
    group.throughput(Throughput::Bytes(input.len() as u64));
    group.bench_function("1MiB", |b| {
        b.iter(|| {
            let mut replies = ReplyFilter::new(filter.clone(), Mode::Strict);
            let mut queued = contexts.iter();
            let mut forwarded = 0usize;
            for read in black_box(&input).chunks(READ_SIZE) {
                // The client side queues what its commands expect, ahead of the replies.
                while replies.pending() < QUEUE_AHEAD {
                    let Some(&context) = queued.next() else { break };
                    replies.expect(context).expect("queue has room");
                }
                out.clear();
                replies
                    .feed(read, &mut out, |_| forwarded += 1)
                    .expect("valid stream");
                black_box(&out);
            }
            replies.finish().expect("whole replies");
            forwarded
        });
    });
    group.finish();
}

criterion_group!(benches, parse, parse_strip, stream);
criterion_main!(benches);
