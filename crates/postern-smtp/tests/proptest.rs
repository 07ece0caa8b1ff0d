//! Property tests: reply round trips, split invariance, rewrite invariants, and the proxy.
//!
//! Each property checks the library against an oracle built from the generated structure, not
//! against the library's own view of the bytes.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic,
    clippy::cast_possible_truncation
)]

use postern_smtp::__fuzz::parse_stream;
use postern_smtp::{
    CapabilityFilter, Context, Ehlo, LineEnding, MAX_LINE_CONTENT, Mode, Proxy, ProxyConfig,
    ProxyState, Reply, ReplyFilter, ReplyParser, Status,
};
use proptest::prelude::*;

// ---------------------------------------------------------------------------------------------
// Generators

/// A valid reply code: first digit 2-5, second 0-5, third 0-9 (RFC 5321 §4.2).
fn reply_code() -> impl Strategy<Value = u16> {
    (2u16..=5, 0u16..=5, 0u16..=9).prop_map(|(a, b, c)| a * 100 + b * 10 + c)
}

/// Reply text: any bytes but CR and LF, up to `max` octets, often printable ASCII.
fn text(max: usize) -> impl Strategy<Value = Vec<u8>> {
    let byte = prop_oneof![
        3 => 0x20u8..0x7f,
        1 => any::<u8>().prop_map(|b| if b == b'\r' || b == b'\n' { b'x' } else { b }),
    ];
    prop_oneof![
        8 => proptest::collection::vec(byte.clone(), 0..=40),
        1 => proptest::collection::vec(byte, 0..=max),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ending {
    Crlf,
    Lf,
}

impl Ending {
    fn bytes(self) -> &'static [u8] {
        match self {
            Self::Crlf => b"\r\n",
            Self::Lf => b"\n",
        }
    }
}

/// A structured reply: code, per-line text and terminator, and whether a last line with empty
/// text is written as a bare code (`250\r\n`).
#[derive(Debug, Clone)]
struct GenReply {
    code: u16,
    lines: Vec<(Vec<u8>, Ending)>,
    bare_last: bool,
}

impl GenReply {
    fn render(&self, out: &mut Vec<u8>) {
        let code = self.code.to_string();
        let last = self.lines.len() - 1;
        for (i, (text, ending)) in self.lines.iter().enumerate() {
            out.extend_from_slice(code.as_bytes());
            if i < last {
                out.push(b'-');
                out.extend_from_slice(text);
            } else if !(self.bare_last && text.is_empty()) {
                out.push(b' ');
                out.extend_from_slice(text);
            }
            out.extend_from_slice(ending.bytes());
        }
    }

    fn rendered(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.render(&mut out);
        out
    }
}

fn gen_reply(mode: Mode) -> impl Strategy<Value = GenReply> {
    let ending = match mode {
        Mode::Strict => Just(Ending::Crlf).boxed(),
        Mode::Lenient => prop_oneof![Just(Ending::Crlf), Just(Ending::Lf)].boxed(),
    };
    // 510 content octets = 3 code digits + separator + 506 of text.
    let line = (text(MAX_LINE_CONTENT - 4), ending);
    (
        reply_code(),
        proptest::collection::vec(line, 1..8),
        any::<bool>(),
    )
        .prop_map(|(code, lines, bare_last)| GenReply {
            code,
            lines,
            bare_last,
        })
}

fn mode() -> impl Strategy<Value = Mode> {
    prop_oneof![Just(Mode::Strict), Just(Mode::Lenient)]
}

/// Bytes that look like SMTP replies more often than not: codes, separators, terminators,
/// keywords, stray CR/LF, random bytes and the odd over-long run.
fn reply_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        4 => reply_code().prop_map(|c| c.to_string().into_bytes()),
        2 => Just(b"250-".to_vec()),
        2 => Just(b"250 ".to_vec()),
        1 => Just(b"220 ".to_vec()),
        1 => Just(b"251 ".to_vec()),
        1 => prop_oneof![Just(b'-'), Just(b' '), any::<u8>()].prop_map(|b| vec![b]),
        4 => Just(b"\r\n".to_vec()),
        1 => Just(b"\n".to_vec()),
        1 => Just(b"\r".to_vec()),
        2 => Just(b"STARTTLS".to_vec()),
        1 => Just(b"AUTH=PLAIN".to_vec()),
        3 => proptest::collection::vec(0x20u8..0x7f, 0..20),
        1 => proptest::collection::vec(any::<u8>(), 0..8),
        1 => (500usize..520).prop_map(|n| vec![b'x'; n]),
    ];
    proptest::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

/// A capability line of a generated EHLO reply: leading blanks, keyword, separator after it,
/// params, trailing blanks. The keyword is `(ALPHA/DIGIT/"-")+`, so the oracle for "which
/// keyword does this line carry" is the generated keyword itself.
#[derive(Debug, Clone)]
struct GenCapability {
    lead: &'static [u8],
    keyword: Vec<u8>,
    /// `=` for the legacy form, else a blank; only written when there are params.
    legacy: bool,
    params: Vec<u8>,
    trail: &'static [u8],
    ending: Ending,
}

const KEYWORDS: &[&str] = &[
    "STARTTLS",
    "starttls",
    "StartTLS",
    "AUTH",
    "auth",
    "CHUNKING",
    "SIZE",
    "8BITMIME",
    "PIPELINING",
    "DSN",
    "SMTPUTF8",
    "REQUIRETLS",
    "LIMITS",
    "X-EXPS",
    "STARTTLSX",
    "START",
];

fn blanks() -> impl Strategy<Value = &'static [u8]> {
    prop_oneof![
        6 => Just(&b""[..]),
        1 => Just(&b" "[..]),
        1 => Just(&b"\t"[..]),
        1 => Just(&b" \t "[..]),
    ]
}

fn keyword() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        4 => proptest::sample::select(KEYWORDS).prop_map(|k| k.as_bytes().to_vec()),
        1 => "[A-Za-z0-9][A-Za-z0-9-]{0,12}".prop_map(String::into_bytes),
    ]
}

fn gen_capability(mode: Mode) -> impl Strategy<Value = GenCapability> {
    let ending = match mode {
        Mode::Strict => Just(Ending::Crlf).boxed(),
        Mode::Lenient => prop_oneof![3 => Just(Ending::Crlf), 1 => Just(Ending::Lf)].boxed(),
    };
    (
        blanks(),
        keyword(),
        any::<bool>(),
        prop_oneof![Just(String::new()), "[A-Za-z0-9=. -]{0,30}"],
        blanks(),
        ending,
    )
        .prop_map(
            |(lead, keyword, legacy, params, trail, ending)| GenCapability {
                lead,
                keyword,
                legacy,
                params: params.into_bytes(),
                trail,
                ending,
            },
        )
}

#[derive(Debug, Clone)]
struct GenEhlo {
    greeting: Vec<u8>,
    greeting_ending: Ending,
    capabilities: Vec<GenCapability>,
}

impl GenEhlo {
    /// The raw lines, terminators included.
    fn raw_lines(&self) -> Vec<Vec<u8>> {
        let last = self.capabilities.len();
        let sep = |i: usize| if i == last { b' ' } else { b'-' };
        let mut lines = Vec::new();
        let mut first = vec![b'2', b'5', b'0', sep(0)];
        first.extend_from_slice(&self.greeting);
        first.extend_from_slice(self.greeting_ending.bytes());
        lines.push(first);
        for (i, c) in self.capabilities.iter().enumerate() {
            let mut line = vec![b'2', b'5', b'0', sep(i + 1)];
            line.extend_from_slice(c.lead);
            line.extend_from_slice(&c.keyword);
            if !c.params.is_empty() {
                line.push(if c.legacy { b'=' } else { b' ' });
                line.extend_from_slice(&c.params);
            }
            line.extend_from_slice(c.trail);
            line.extend_from_slice(c.ending.bytes());
            lines.push(line);
        }
        lines
    }
}

fn gen_ehlo(mode: Mode) -> impl Strategy<Value = GenEhlo> {
    let greeting_ending = match mode {
        Mode::Strict => Just(Ending::Crlf).boxed(),
        Mode::Lenient => prop_oneof![Just(Ending::Crlf), Just(Ending::Lf)].boxed(),
    };
    (
        "[a-z0-9.-]{1,20}( [ -~]{0,30})?".prop_map(String::into_bytes),
        greeting_ending,
        proptest::collection::vec(gen_capability(mode), 0..12),
    )
        .prop_map(|(greeting, greeting_ending, capabilities)| GenEhlo {
            greeting,
            greeting_ending,
            capabilities,
        })
}

/// Feed `input` to a [`ReplyFilter`] expecting EHLO replies, in reads of the given sizes.
fn stream_rewrite(filter: &CapabilityFilter, mode: Mode, input: &[u8], sizes: &[usize]) -> Vec<u8> {
    let mut stream = ReplyFilter::new(filter.clone(), mode);
    stream.expect(Context::Ehlo).unwrap();
    let mut out = Vec::new();
    let mut at = 0;
    for &n in sizes.iter().cycle() {
        if at >= input.len() {
            break;
        }
        let end = (at + n.max(1)).min(input.len());
        stream.feed(&input[at..end], &mut out, |_| {}).unwrap();
        at = end;
    }
    stream.finish().unwrap();
    out
}

// ---------------------------------------------------------------------------------------------
// (a) Round trip

proptest! {
    #[test]
    fn rendered_replies_parse_back_to_the_same_structure(
        (mode, reply) in mode().prop_flat_map(|m| (Just(m), gen_reply(m)))
    ) {
        let bytes = reply.rendered();
        let parsed = Reply::parse(&bytes, mode).unwrap().complete().expect("complete reply");
        prop_assert_eq!(parsed.len(), bytes.len());
        prop_assert_eq!(parsed.code().as_u16(), reply.code);
        prop_assert_eq!(parsed.line_count() as usize, reply.lines.len());
        let texts: Vec<&[u8]> = parsed.lines().map(|l| l.text()).collect();
        let expected: Vec<&[u8]> = reply.lines.iter().map(|(t, _)| t.as_slice()).collect();
        prop_assert_eq!(texts, expected);
        let (crlf, lf) = (
            reply.lines.iter().any(|(_, e)| *e == Ending::Crlf),
            reply.lines.iter().any(|(_, e)| *e == Ending::Lf),
        );
        let ending = match (crlf, lf) {
            (_, false) => LineEnding::Crlf,
            (false, true) => LineEnding::Lf,
            (true, true) => LineEnding::Mixed,
        };
        prop_assert_eq!(parsed.line_ending(), ending);
        if let Some(ehlo) = Ehlo::new(&parsed) {
            prop_assert_eq!(ehlo.capabilities().count(), reply.lines.len() - 1);
        }
        // Resumed one byte at a time, the same reply.
        let mut parser = ReplyParser::new(mode);
        for end in 0..bytes.len() {
            prop_assert!(parser.parse(&bytes[..end]).unwrap().is_partial());
        }
        prop_assert_eq!(parser.parse(&bytes).unwrap(), Status::Complete(parsed));
    }

    #[test]
    fn a_rendered_stream_parses_back_reply_by_reply_under_any_split(
        (mode, replies, sizes) in mode().prop_flat_map(|m| (
            Just(m),
            proptest::collection::vec(gen_reply(m), 1..6),
            proptest::collection::vec(1usize..64, 1..8),
        ))
    ) {
        let mut bytes = Vec::new();
        for r in &replies {
            r.render(&mut bytes);
        }
        let (parsed, error) = parse_stream(&bytes, mode, &sizes);
        prop_assert_eq!(error, None);
        let expected: Vec<(u16, u32, usize)> = replies
            .iter()
            .map(|r| (r.code, r.lines.len() as u32, r.rendered().len()))
            .collect();
        prop_assert_eq!(parsed, expected);
    }

    #[test]
    fn a_line_of_511_content_octets_is_refused_in_both_modes(
        (mode, code, prefix) in (mode(), reply_code(), proptest::collection::vec(gen_reply(Mode::Strict), 0..2))
    ) {
        // Replies before it are fine; the long line fails before its terminator arrives.
        let mut bytes = Vec::new();
        for r in &prefix {
            r.render(&mut bytes);
        }
        let start = bytes.len();
        bytes.extend_from_slice(code.to_string().as_bytes());
        bytes.push(b' ');
        bytes.resize(start + MAX_LINE_CONTENT + 1, b'x');
        let (_, error) = parse_stream(&bytes, mode, &[7]);
        prop_assert_eq!(error.map(|e| e.kind().as_str()), Some("line_too_long"));
        let (_, error) = parse_stream(&bytes[..bytes.len() - 1], mode, &[7]);
        prop_assert_eq!(error.map(|e| e.kind().as_str()), Some("truncated"));
    }
}

// ---------------------------------------------------------------------------------------------
// (b) Split invariance

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn parsing_does_not_depend_on_how_the_input_is_split(
        input in reply_like_bytes(),
        mode in mode(),
        sizes in proptest::collection::vec(1usize..40, 1..10),
        split in any::<prop::sample::Index>(),
    ) {
        let whole = parse_stream(&input, mode, &[input.len().max(1)]);
        prop_assert_eq!(&parse_stream(&input, mode, &sizes), &whole, "reads {:?}", sizes);
        prop_assert_eq!(&parse_stream(&input, mode, &[1]), &whole, "one byte at a time");
        let at = split.index(input.len() + 1).max(1);
        prop_assert_eq!(
            &parse_stream(&input, mode, &[at, input.len().max(1)]),
            &whole,
            "split at {}", at
        );
        // The replies found tile the input's prefix, and each parses alone to itself.
        let mut offset = 0;
        for &(code, lines, len) in &whole.0 {
            let reply = Reply::parse(&input[offset..], mode).unwrap().complete().unwrap();
            prop_assert_eq!((reply.code().as_u16(), reply.line_count(), reply.len()), (code, lines, len));
            offset += len;
        }
        if whole.1.is_none() {
            prop_assert_eq!(offset, input.len());
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// A whole reply in one buffer takes the one-pass path; fed byte by byte it takes the
    /// resumable one. Both must give the same reply (code, lines, bytes, line index) or error.
    #[test]
    fn one_pass_parse_of_a_whole_reply_equals_the_resumable_parse(
        input in reply_like_bytes(),
        mode in mode(),
    ) {
        let whole = Reply::parse(&input, mode);
        let mut parser = ReplyParser::new(mode);
        let mut resumed = Ok(Status::Partial);
        for end in 1..=input.len() {
            resumed = parser.parse(&input[..end]);
            if !matches!(resumed, Ok(Status::Partial)) {
                break;
            }
        }
        prop_assert_eq!(&whole, &resumed);
        if let Ok(Status::Complete(reply)) = whole {
            let ehlo_lines: Vec<_> = reply.lines().map(|l| l.raw()).collect();
            let split: Vec<_> = reply.as_bytes().split_inclusive(|&b| b == b'\n').collect();
            prop_assert_eq!(ehlo_lines, split);
        }
    }
}

/// EHLO-like replies whose lines hold the octets that end a keyword (SP, HT, `=`, CR, LF)
/// and other controls, in any order.
fn ehlo_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        2 => Just(b"STARTTLS".to_vec()),
        2 => Just(b"AUTH".to_vec()),
        1 => Just(b"starttls".to_vec()),
        1 => Just(b"PLAIN".to_vec()),
        2 => Just(b" ".to_vec()),
        1 => Just(b"\t".to_vec()),
        1 => Just(b"=".to_vec()),
        1 => (0u8..0x21).prop_map(|b| vec![b]),
        1 => proptest::collection::vec(0x21u8..0x7f, 1..12),
    ];
    let text = proptest::collection::vec(piece, 0..5).prop_map(|v| v.concat());
    let ending = prop_oneof![8 => Just(&b"\r\n"[..]), 1 => Just(&b"\n"[..])];
    (
        prop_oneof![4 => Just(250u16), 1 => reply_code()],
        proptest::collection::vec((text, ending), 1..8),
    )
        .prop_map(|(code, lines)| {
            let mut out = Vec::new();
            let last = lines.len() - 1;
            for (i, (text, ending)) in lines.iter().enumerate() {
                let sep = if i == last { ' ' } else { '-' };
                out.extend_from_slice(format!("{code}{sep}").as_bytes());
                out.extend_from_slice(text);
                out.extend_from_slice(ending);
            }
            out
        })
}

/// A capability as the model gives it: line, keyword, params, legacy form.
type CapabilityView = (Vec<u8>, Vec<u8>, Vec<Vec<u8>>, bool);

fn capability_views(reply: &Reply<'_>) -> Option<Vec<CapabilityView>> {
    Ehlo::new(reply).map(|ehlo| {
        ehlo.capabilities()
            .map(|c| {
                (
                    c.line().raw().to_vec(),
                    c.keyword().to_vec(),
                    c.params().map(<[u8]>::to_vec).collect(),
                    c.legacy_equals(),
                )
            })
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// The one-pass parse records where keywords end, for `Ehlo` and the rewriter; the
    /// resumable parse does not. Both must give the same capabilities and the same rewrite.
    #[test]
    fn capabilities_and_rewrites_of_a_one_pass_parse_equal_those_of_a_resumed_parse(
        input in ehlo_like_bytes(),
        mode in mode(),
    ) {
        let whole = Reply::parse(&input, mode);
        let mut parser = ReplyParser::new(mode);
        let mut resumed = Ok(Status::Partial);
        for end in 1..=input.len() {
            resumed = parser.parse(&input[..end]);
            if !matches!(resumed, Ok(Status::Partial)) {
                break;
            }
        }
        prop_assert_eq!(&whole, &resumed);
        if let (Ok(Status::Complete(one_pass)), Ok(Status::Complete(resumed))) = (whole, resumed) {
            prop_assert_eq!(capability_views(&one_pass), capability_views(&resumed));
            let filter = CapabilityFilter::starttls().withhold("auth");
            let (mut a, mut b) = (Vec::new(), Vec::new());
            let removed = filter.rewrite(&one_pass, &mut a);
            prop_assert_eq!(removed, filter.rewrite(&resumed, &mut b));
            prop_assert_eq!(a, b);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (c) Rewrite invariants

fn withheld_set() -> impl Strategy<Value = Vec<&'static str>> {
    proptest::sample::subsequence(
        &[
            "STARTTLS",
            "AUTH",
            "CHUNKING",
            "SIZE",
            "8BITMIME",
            "PIPELINING",
            "REQUIRETLS",
            "X-EXPS",
        ][..],
        0..=4,
    )
}

proptest! {
    #[test]
    fn rewriting_removes_exactly_the_withheld_lines_and_keeps_every_other_byte(
        (mode, ehlo, withheld, sizes) in mode().prop_flat_map(|m| (
            Just(m),
            gen_ehlo(m),
            withheld_set(),
            proptest::collection::vec(1usize..50, 1..6),
        ))
    ) {
        let filter = withheld
            .iter()
            .fold(CapabilityFilter::new(), CapabilityFilter::withhold);
        let lines = ehlo.raw_lines();
        let input = lines.concat();
        let reply = Reply::parse(&input, mode).unwrap().complete().expect("complete reply");
        prop_assert_eq!(reply.len(), input.len());

        // Oracle: which lines go, from the generated keywords.
        let keep: Vec<bool> = std::iter::once(true)
            .chain(ehlo.capabilities.iter().map(|c| {
                !withheld.iter().any(|w| w.as_bytes().eq_ignore_ascii_case(&c.keyword))
            }))
            .collect();
        let mut expected: Vec<Vec<u8>> = lines
            .iter()
            .zip(&keep)
            .filter(|&(_, k)| *k)
            .map(|(l, _)| l.clone())
            .collect();
        if !keep[keep.len() - 1] {
            // The final line went: the new final line's separator turns into SP.
            let last = expected.len() - 1;
            expected[last][3] = b' ';
        }
        let expected = expected.concat();
        let removed_expected = keep.iter().filter(|k| !**k).count();

        let mut out = vec![b'#'];
        let removed = filter.rewrite(&reply, &mut out);
        prop_assert_eq!(out.remove(0), b'#', "rewrite appends");
        prop_assert_eq!(removed, removed_expected);
        prop_assert_eq!(&out, &expected);

        // It re-parses as one reply with the same code and the kept lines.
        let again = Reply::parse(&out, mode).unwrap().complete().expect("rewritten reply is complete");
        prop_assert_eq!(again.len(), out.len());
        prop_assert_eq!(again.code(), reply.code());
        prop_assert_eq!(again.line_count() as usize, lines.len() - removed_expected);

        // Into a caller buffer: the same bytes; a short buffer says what it needs.
        let mut buf = vec![0u8; input.len()];
        let (n, removed2) = filter.rewrite_to_slice(&reply, &mut buf).unwrap();
        prop_assert_eq!((&buf[..n], removed2), (&expected[..], removed_expected));
        if n > 0 {
            let mut short = vec![0u8; n - 1];
            prop_assert_eq!(
                filter.rewrite_to_slice(&reply, &mut short).map_err(|e| e.kind().as_str()),
                Err("buffer_too_small")
            );
        }

        // Streaming, in arbitrary reads: the same bytes.
        prop_assert_eq!(stream_rewrite(&filter, mode, &input, &sizes), expected);
    }

    #[test]
    fn replies_other_than_250_pass_through_unchanged(
        (mode, reply) in mode().prop_flat_map(|m| (Just(m), gen_reply(m)))
    ) {
        prop_assume!(reply.code != 250);
        let bytes = reply.rendered();
        let parsed = Reply::parse(&bytes, mode).unwrap().complete().unwrap();
        let mut out = Vec::new();
        let filter = CapabilityFilter::starttls().withhold("AUTH");
        prop_assert_eq!(filter.rewrite(&parsed, &mut out), 0);
        prop_assert_eq!(out, bytes);
    }
}

/// Octets around the ASCII letter ranges, so that case variants and near misses are common.
fn keyword_octets(len: std::ops::Range<usize>) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(
        proptest::sample::select(
            &[
                b'a', b'A', b's', b'S', b'z', b'Z', b'@', b'[', b'`', b'{', b'-', b'0', 0xc1, 0xe1,
            ][..],
        ),
        len,
    )
}

proptest! {
    /// The filter compares keywords eight octets at a time; it must agree with
    /// `eq_ignore_ascii_case` on any octets.
    #[test]
    fn withholding_matches_keywords_exactly_as_ascii_case_insensitive_equality(
        withheld in proptest::collection::vec(keyword_octets(0..20), 1..4),
        other in keyword_octets(0..20),
        flips in proptest::collection::vec(any::<bool>(), 20),
    ) {
        let filter = withheld.iter().fold(CapabilityFilter::new(), CapabilityFilter::withhold);
        // A case variant of a withheld keyword, and an unrelated one.
        let variant: Vec<u8> = withheld[0]
            .iter()
            .zip(&flips)
            .map(|(&b, &flip)| if flip { b ^ 0x20 } else { b })
            .collect();
        for keyword in [variant, other] {
            let expected = withheld.iter().any(|k| k.eq_ignore_ascii_case(&keyword));
            prop_assert_eq!(filter.withholds(&keyword), expected, "{:?}", keyword);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// (d) Proxy

/// One client command and the server's answer(s), both well formed.
fn exchange() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
    let ok = |c: &[u8]| (c.to_vec(), b"250 2.0.0 Ok\r\n".to_vec());
    prop_oneof![
        3 => gen_ehlo(Mode::Strict).prop_map(|e| (b"EHLO client.example\r\n".to_vec(), e.raw_lines().concat())),
        1 => gen_reply(Mode::Strict).prop_map(|r| (b"EHLO client.example\r\n".to_vec(), r.rendered())),
        2 => Just(ok(b"MAIL FROM:<a@example.org>\r\n")),
        2 => Just(ok(b"RCPT TO:<b@example.net>\r\n")),
        1 => Just(ok(b"RSET\r\n")),
        1 => Just(ok(b"NOOP\r\n")),
        2 => (text(200), any::<bool>()).prop_map(|(body, accept)| {
            if accept {
                let mut client = b"DATA\r\n".to_vec();
                client.extend_from_slice(&body);
                client.extend_from_slice(b"\r\n.\r\n");
                (client, b"354 go ahead\r\n250 2.0.0 queued\r\n".to_vec())
            } else {
                (b"DATA\r\n".to_vec(), b"554 5.5.1 no valid recipients\r\n".to_vec())
            }
        }),
        1 => (proptest::collection::vec(any::<u8>(), 0..40), any::<bool>()).prop_map(|(chunk, last)| {
            let mut client = format!("BDAT {}{}\r\n", chunk.len(), if last { " LAST" } else { "" }).into_bytes();
            client.extend_from_slice(&chunk);
            (client, b"250 2.0.0 chunk ok\r\n".to_vec())
        }),
        1 => prop_oneof![Just(b"220 2.0.0 Ready\r\n".to_vec()), Just(b"454 4.7.0 TLS not available\r\n".to_vec())]
            .prop_map(|r| (b"STARTTLS\r\n".to_vec(), r)),
        1 => Just((b"AUTH LOGIN\r\n".to_vec(), b"334 VXNlcm5hbWU6\r\n".to_vec())),
        1 => Just((b"dXNlcg==\r\n".to_vec(), b"235 2.7.0 ok\r\n".to_vec())),
        1 => text(60).prop_map(|t| {
            let mut client = t;
            client.extend_from_slice(b"\r\n");
            (client, b"500 5.5.2 what?\r\n".to_vec())
        }),
    ]
}

fn filter() -> impl Strategy<Value = CapabilityFilter> {
    prop_oneof![
        Just(CapabilityFilter::starttls()),
        Just(CapabilityFilter::new()),
        Just(
            CapabilityFilter::starttls()
                .withhold("AUTH")
                .withhold("CHUNKING")
        ),
        Just(
            CapabilityFilter::new()
                .withhold("SIZE")
                .withhold("PIPELINING")
        ),
    ]
}

/// Cut `bytes` into pieces of the given sizes (cycled).
fn cut(bytes: &[u8], sizes: &[usize]) -> Vec<Vec<u8>> {
    let mut pieces = Vec::new();
    let mut at = 0;
    for &n in sizes.iter().cycle() {
        if at >= bytes.len() {
            break;
        }
        let end = (at + n.max(1)).min(bytes.len());
        pieces.push(bytes[at..end].to_vec());
        at = end;
    }
    pieces
}

proptest! {
    #[test]
    fn proxy_never_panics_on_arbitrary_chunks(
        filter in filter(),
        chunks in proptest::collection::vec(
            (any::<bool>(), prop_oneof![reply_like_bytes(), proptest::collection::vec(any::<u8>(), 0..64)]),
            0..24,
        ),
    ) {
        let mut proxy = Proxy::new(ProxyConfig { filter, ..ProxyConfig::default() });
        let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
        for (from_client, bytes) in &chunks {
            let result = if *from_client {
                proxy.from_client(bytes, &mut to_server, &mut to_client)
            } else {
                proxy.from_server(bytes, &mut to_client, &mut to_server)
            };
            if result.is_err() {
                break;
            }
        }
    }

    #[test]
    fn proxy_sends_the_client_a_valid_reply_stream_when_the_server_does(
        filter in filter(),
        exchanges in proptest::collection::vec(exchange(), 0..10),
        client_sizes in proptest::collection::vec(1usize..40, 1..6),
        server_sizes in proptest::collection::vec(1usize..40, 1..6),
        order in proptest::collection::vec(any::<bool>(), 0..64),
    ) {
        let mut client = Vec::new();
        let mut server = b"220 mx.example.net ESMTP\r\n".to_vec();
        for (c, s) in &exchanges {
            client.extend_from_slice(c);
            server.extend_from_slice(s);
        }
        let mut client_pieces = cut(&client, &client_sizes).into_iter();
        let mut server_pieces = cut(&server, &server_sizes).into_iter();
        let mut proxy = Proxy::new(ProxyConfig { filter, ..ProxyConfig::default() });
        let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
        // Until the session turns to TLS, what reaches the client is plaintext SMTP replies.
        let mut plaintext_end = None;
        let mut turns = order.into_iter().chain(std::iter::repeat(false));
        loop {
            let client_turn = turns.next().unwrap_or(false);
            let mut from_client = || client_pieces.next().map(|p| (p, true));
            let mut from_server = || server_pieces.next().map(|p| (p, false));
            let next = if client_turn {
                from_client().or_else(from_server)
            } else {
                from_server().or_else(from_client)
            };
            let Some((piece, from_client)) = next else { break };
            let result = if from_client {
                proxy.from_client(&piece, &mut to_server, &mut to_client)
            } else {
                proxy.from_server(&piece, &mut to_client, &mut to_server)
            };
            if proxy.state() == ProxyState::Tls && plaintext_end.is_none() {
                plaintext_end = Some(to_client.len());
            }
            // A client that misbehaves may be cut off; what was sent must still be valid.
            if result.is_err() {
                break;
            }
        }
        let plaintext = &to_client[..plaintext_end.unwrap_or(to_client.len())];
        let (replies, error) = parse_stream(plaintext, Mode::Strict, &[plaintext.len().max(1)]);
        prop_assert_eq!(error, None, "client-bound bytes {:?}", String::from_utf8_lossy(plaintext));
        prop_assert!(!replies.is_empty() || plaintext.is_empty());
    }
}
