//! SMTP reply framing (RFC 5321 §4.2, §4.5.3.1.5, §2.3.8): an incremental, resumable parser.

use core::fmt;

use crate::Error;

/// Maximum octets of one reply line before its terminator: 512 including CRLF
/// (RFC 5321 §4.5.3.1.5), so 510 of code, separator and text.
pub const MAX_LINE_CONTENT: usize = 510;

/// Maximum lines in one reply. RFC 5321 sets no limit; this one bounds the memory a peer can
/// make a buffering caller hold to `MAX_REPLY_LINES * 512` octets (512 KiB). Real EHLO replies
/// have fewer than 30 lines.
pub const MAX_REPLY_LINES: u32 = 1024;

/// How line terminators are treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Mode {
    /// Only CRLF ends a line; a bare LF is an error (RFC 5321 §2.3.8). The default.
    #[default]
    Strict,
    /// A bare LF also ends a line (and is preserved byte for byte by the rewriter). For peers
    /// that are known to be broken; a bare CR is an error in both modes.
    Lenient,
}

/// Outcome of feeding bytes to an incremental parser: incomplete input is not an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status<T> {
    /// A complete item.
    Complete(T),
    /// More bytes are needed; call again with the same buffer extended by the next read.
    Partial,
}

impl<T> Status<T> {
    /// The complete item, if any.
    pub fn complete(self) -> Option<T> {
        match self {
            Self::Complete(t) => Some(t),
            Self::Partial => None,
        }
    }

    /// Whether more bytes are needed.
    pub fn is_partial(&self) -> bool {
        matches!(self, Self::Partial)
    }
}

/// A three-digit SMTP reply code (RFC 5321 §4.2): first digit 2-5, second 0-5, third 0-9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReplyCode(u16);

impl ReplyCode {
    /// `220 <domain> Service ready`.
    pub const SERVICE_READY: Self = Self(220);
    /// `250 Requested mail action okay, completed`.
    pub const OK: Self = Self(250);
    /// `354 Start mail input`.
    pub const START_MAIL_INPUT: Self = Self(354);
    /// `421 Service not available, closing transmission channel`.
    pub const SERVICE_NOT_AVAILABLE: Self = Self(421);
    /// `502 Command not implemented`.
    pub const COMMAND_NOT_IMPLEMENTED: Self = Self(502);

    /// The code for a number, if it is a valid reply code.
    pub fn new(code: u16) -> Option<Self> {
        let digits = [code / 100, (code / 10) % 10, code % 10];
        ((2..=5).contains(&digits[0]) && digits[1] <= 5 && code < 1000).then_some(Self(code))
    }

    /// The code as a number.
    pub fn as_u16(self) -> u16 {
        self.0
    }

    /// The first digit: 2 positive completion, 3 intermediate, 4 transient, 5 permanent.
    pub fn class(self) -> u8 {
        // Always 2..=5, so the narrowing is lossless.
        u8::try_from(self.0 / 100).unwrap_or(0)
    }

    /// Whether this is a positive completion reply (2yz).
    pub fn is_positive(self) -> bool {
        self.class() == 2
    }
}

impl fmt::Display for ReplyCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:03}", self.0)
    }
}

/// Which terminators the lines of a reply use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LineEnding {
    /// Every line ends with CRLF.
    Crlf,
    /// Every line ends with a bare LF (lenient mode only).
    Lf,
    /// Both occur (lenient mode only).
    Mixed,
}

impl LineEnding {
    /// `"CRLF"`, `"LF"` or `"mixed"`, as in the fixture manifests.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Crlf => "CRLF",
            Self::Lf => "LF",
            Self::Mixed => "mixed",
        }
    }
}

/// An RFC 3463 enhanced status code `class.subject.detail`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EnhancedCode {
    /// 2, 4 or 5.
    pub class: u8,
    /// 0-999.
    pub subject: u16,
    /// 0-999.
    pub detail: u16,
}

impl EnhancedCode {
    /// Parse a code at the start of `text`, followed by SP or the end of `text`
    /// (RFC 3463 §2: `class "." subject "." detail`, subject and detail of 1-3 digits).
    pub fn parse_prefix(text: &[u8]) -> Option<Self> {
        let (&class_digit, rest) = text.split_first()?;
        let class = match class_digit {
            b'2' | b'4' | b'5' => class_digit - b'0',
            _ => return None,
        };
        let rest = rest.strip_prefix(b".")?;
        let (subject, rest) = parse_1_to_3_digits(rest)?;
        let rest = rest.strip_prefix(b".")?;
        let (detail, rest) = parse_1_to_3_digits(rest)?;
        match rest.first() {
            None | Some(b' ') => Some(Self {
                class,
                subject,
                detail,
            }),
            Some(_) => None,
        }
    }
}

fn parse_1_to_3_digits(s: &[u8]) -> Option<(u16, &[u8])> {
    let n = s.iter().take(4).take_while(|b| b.is_ascii_digit()).count();
    if n == 0 || n > 3 {
        return None;
    }
    let (digits, rest) = s.split_at_checked(n)?;
    let value = digits
        .iter()
        .fold(0u16, |acc, &d| acc * 10 + u16::from(d - b'0'));
    Some((value, rest))
}

impl fmt::Display for EnhancedCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.class, self.subject, self.detail)
    }
}

/// Lines whose ends the parser records, so that iterating them needs no second search for
/// terminators (longer replies are scanned beyond this).
const RECORDED_LINES: usize = 16;

/// Where each of the first [`RECORDED_LINES`] lines ends, and, when the one-pass parse saw it,
/// where its first token ends; 0 where not recorded.
///
/// A recorded line `i` ends within `(i + 1) * 512` octets, so 16 bits hold it.
#[derive(Debug, Clone, Copy, Default)]
struct LineEnds {
    /// Offset just after the line's LF.
    ends: [u16; RECORDED_LINES],
    /// Offset in the line of the first SP, HT, `=` or CR after a non-empty run of other
    /// octets that starts right after the separator (see [`Lines::next_with_stop`]); 0 when
    /// unknown. A cache the resumable path does not fill, so it takes no part in equality.
    stops: [u16; RECORDED_LINES],
}

impl PartialEq for LineEnds {
    fn eq(&self, other: &Self) -> bool {
        self.ends == other.ends
    }
}

impl Eq for LineEnds {}

impl LineEnds {
    fn record(&mut self, index: u32, end: usize) {
        if let (Some(slot), Ok(end)) = (self.ends.get_mut(index as usize), u16::try_from(end)) {
            *slot = end;
        }
    }

    fn record_stop(&mut self, index: u32, stop: usize) {
        if let (Some(slot), Ok(stop)) = (self.stops.get_mut(index as usize), u16::try_from(stop)) {
            *slot = stop;
        }
    }
}

/// One complete, validated reply, borrowed from the parsed buffer.
///
/// `as_bytes()` is exactly the octets the reply took on the wire (its `consumed` count), so a
/// proxy can forward it unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reply<'a> {
    bytes: &'a [u8],
    code: ReplyCode,
    lines: u32,
    ending: LineEnding,
    ends: LineEnds,
}

impl<'a> Reply<'a> {
    /// Parse one complete reply at the start of `buf` in one call.
    ///
    /// # Errors
    /// A framing error of the reply; see [`ReplyParser::parse`].
    ///
    /// # Examples
    /// ```
    /// use postern_smtp::{Mode, Reply, Status};
    /// let Status::Complete(reply) = Reply::parse(b"250 OK\r\nmore", Mode::Strict)? else {
    ///     unreachable!()
    /// };
    /// assert_eq!((reply.code().as_u16(), reply.len()), (250, 8));
    /// # Ok::<(), postern_smtp::Error>(())
    /// ```
    pub fn parse(buf: &'a [u8], mode: Mode) -> Result<Status<Reply<'a>>, Error> {
        ReplyParser::new(mode).parse(buf)
    }

    /// The reply code shared by all lines.
    pub fn code(&self) -> ReplyCode {
        self.code
    }

    /// The number of lines.
    pub fn line_count(&self) -> u32 {
        self.lines
    }

    /// The octets of the reply, terminators included.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.bytes
    }

    /// The number of octets the reply took (bytes consumed from the buffer).
    #[allow(clippy::len_without_is_empty)] // a reply is never empty
    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    /// Which terminators the lines use.
    pub fn line_ending(&self) -> LineEnding {
        self.ending
    }

    /// The lines, in order.
    pub fn lines(&self) -> Lines<'a> {
        Lines {
            bytes: self.bytes,
            pos: 0,
            index: 0,
            ends: self.ends,
        }
    }

    /// The text of the first line (after code and separator, without terminator).
    pub fn first_text(&self) -> &'a [u8] {
        self.lines().next().map_or(&[][..], |l| l.text())
    }

    /// The RFC 3463 enhanced status code at the start of the first line's text, when its class
    /// equals the reply code's class. Callers interpreting a 250 EHLO reply should not ask: its
    /// lines hold capabilities ([`Ehlo`](crate::Ehlo) never does).
    pub fn enhanced_code(&self) -> Option<EnhancedCode> {
        EnhancedCode::parse_prefix(self.first_text()).filter(|e| e.class == self.code.class())
    }

    /// Copy the reply into an owned value, for keeping it beyond the read buffer.
    pub fn to_owned_reply(&self) -> OwnedReply {
        OwnedReply {
            bytes: self.bytes.to_vec(),
            code: self.code,
            lines: self.lines,
            ending: self.ending,
            ends: self.ends,
        }
    }

    /// Build a reply from parts already validated by the parser.
    fn from_parts(
        bytes: &'a [u8],
        code: ReplyCode,
        lines: u32,
        ending: LineEnding,
        ends: LineEnds,
    ) -> Self {
        Self {
            bytes,
            code,
            lines,
            ending,
            ends,
        }
    }
}

/// An owned copy of a [`Reply`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedReply {
    bytes: Vec<u8>,
    code: ReplyCode,
    lines: u32,
    ending: LineEnding,
    ends: LineEnds,
}

impl OwnedReply {
    /// Borrow it as a [`Reply`].
    pub fn as_reply(&self) -> Reply<'_> {
        Reply::from_parts(&self.bytes, self.code, self.lines, self.ending, self.ends)
    }
}

/// One line of a reply.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Line<'a> {
    raw: &'a [u8],
}

impl<'a> Line<'a> {
    /// The line's octets, code and terminator included.
    pub fn raw(&self) -> &'a [u8] {
        self.raw
    }

    /// The line without its terminator (CRLF or LF).
    pub fn content(&self) -> &'a [u8] {
        let without_lf = self.raw.strip_suffix(b"\n").unwrap_or(self.raw);
        without_lf.strip_suffix(b"\r").unwrap_or(without_lf)
    }

    /// The text after code and separator (empty for a bare `250` line).
    pub fn text(&self) -> &'a [u8] {
        self.content().get(4..).unwrap_or(&[])
    }

    /// Whether this is the last line of its reply (separator SP, or a bare code).
    pub fn is_last(&self) -> bool {
        self.content().get(3) != Some(&b'-')
    }
}

/// Iterator over the lines of a [`Reply`].
#[derive(Debug, Clone)]
pub struct Lines<'a> {
    bytes: &'a [u8],
    /// Offset of the next line.
    pos: usize,
    /// Index of the next line.
    index: usize,
    ends: LineEnds,
}

impl<'a> Lines<'a> {
    /// The next line and, when the parser recorded it, the offset in the line where its first
    /// token ends: `Some(stop)` with `stop > 4` means octets `4..stop` hold no SP, HT, `=`,
    /// CR, LF nor other octet below 0x21, and octet `stop` is SP, HT, `=` or CR.
    // Measured: left to itself, LLVM keeps this out of line in the benches (about 10% slower).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    pub(crate) fn next_with_stop(&mut self) -> Option<(Line<'a>, usize)> {
        let rest = self.bytes.get(self.pos..).filter(|r| !r.is_empty())?;
        let (end, stop) = match (
            self.ends.ends.get(self.index),
            self.ends.stops.get(self.index),
        ) {
            (Some(&end), Some(&stop)) if usize::from(end) > self.pos => {
                (usize::from(end), usize::from(stop))
            }
            // Validated replies end every line with LF, and CR/LF appear nowhere else.
            _ => (
                self.pos + find_byte(rest, b'\n').map_or(rest.len(), |p| p + 1),
                0,
            ),
        };
        let raw = self.bytes.get(self.pos..end)?;
        self.pos = end;
        self.index += 1;
        Some((Line { raw }, stop))
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = Line<'a>;

    // Measured: left to itself, LLVM keeps this out of line in the benches (about 10% slower).
    #[allow(clippy::inline_always)]
    #[inline(always)]
    fn next(&mut self) -> Option<Line<'a>> {
        self.next_with_stop().map(|(line, _)| line)
    }
}

/// What [`ReplyParser::line_fast`] did.
enum Fast {
    /// Nothing: the byte-wise path takes this line.
    Slow,
    /// Took bytes up to this offset; go on from there.
    Advanced(usize),
    /// The reply ended before this offset.
    Done(usize),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Expecting code digit 0, 1 or 2.
    Code(u8),
    /// Expecting `-`, SP, or the line terminator.
    Separator,
    /// Inside the text.
    Text,
    /// After a CR: only LF may follow.
    Cr,
}

/// Incremental, resumable parser of one reply at a time.
///
/// Feed it a buffer that starts at the first byte of a reply; when it returns
/// [`Status::Partial`], extend the same buffer with the next read and call again: it resumes
/// where it stopped, so each byte is examined once whatever the read sizes (a peer that sends
/// one byte at a time costs no more than one that sends whole replies). When it returns a
/// reply, drop `reply.len()` bytes from the front of the buffer before parsing the next one.
/// The result never depends on how the input was split.
///
/// Memory is bounded by the caller's buffer, which a valid reply keeps under
/// [`MAX_REPLY_LINES`] lines of at most 512 octets.
///
/// # Examples
/// ```
/// use postern_smtp::{Mode, ReplyParser, Status};
/// let mut parser = ReplyParser::new(Mode::Strict);
/// let mut buf = Vec::new();
/// buf.extend_from_slice(b"250-mx.example.net\r\n250-STARTT");
/// assert!(parser.parse(&buf)?.is_partial());
/// buf.extend_from_slice(b"LS\r\n250 8BITMIME\r\n");
/// let reply = parser.parse(&buf)?.complete().unwrap();
/// assert_eq!(reply.line_count(), 3);
/// # Ok::<(), postern_smtp::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ReplyParser {
    mode: Mode,
    /// Bytes of the buffer already examined.
    pos: usize,
    /// Offset of the current line's first byte.
    line_start: usize,
    /// 1-based number of the current line.
    line: u32,
    /// Digits of line 1's code, as ASCII.
    code: [u8; 3],
    phase: Phase,
    /// The current line is the last one of the reply.
    last: bool,
    seen_crlf: bool,
    seen_lf: bool,
    /// Where the lines read so far end.
    ends: LineEnds,
}

impl ReplyParser {
    /// A parser in the given mode, at the start of a reply.
    pub fn new(mode: Mode) -> Self {
        Self {
            mode,
            pos: 0,
            line_start: 0,
            line: 1,
            code: [0; 3],
            phase: Phase::Code(0),
            last: false,
            seen_crlf: false,
            seen_lf: false,
            ends: LineEnds::default(),
        }
    }

    /// The mode this parser was made with.
    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Forget any partial reply: the next call starts a new one.
    pub fn reset(&mut self) {
        *self = Self::new(self.mode);
    }

    /// Parse the reply at the start of `buf`.
    ///
    /// Returns [`Status::Partial`] when `buf` holds no complete reply yet (call again with
    /// `buf` extended), or the complete reply; bytes after it are not examined. After a
    /// complete reply or an error the parser is ready for the next reply.
    ///
    /// `buf` must extend the buffer of the previous call that returned `Partial`. A shorter
    /// buffer makes the parser start over from its first byte.
    ///
    /// # Errors
    /// The first framing error in stream order (RFC 5321 §4.2): [`Error::BadCode`],
    /// [`Error::BadSeparator`], [`Error::CodeMismatch`], [`Error::BareLf`] (strict mode),
    /// [`Error::BareCr`], [`Error::LineTooLong`], [`Error::TooManyLines`].
    pub fn parse<'a>(&mut self, buf: &'a [u8]) -> Result<Status<Reply<'a>>, Error> {
        if buf.len() < self.pos {
            self.reset();
        }
        // A fresh start with the whole reply already in the buffer, as most reads bring it:
        // one tight pass. Anything else (a partial reply, LF endings, any error) takes the
        // resumable byte-exact path from the start, which gives the same result.
        if self.pos == 0 {
            return self.parse_fresh(buf);
        }
        self.parse_resumable(buf)
    }

    /// [`parse`](Self::parse) at the start of a reply. Out of line, so that a resumed parse
    /// (often of a few new octets) pays no set-up for the registers of the one-pass path.
    #[inline(never)]
    fn parse_fresh<'a>(&mut self, buf: &'a [u8]) -> Result<Status<Reply<'a>>, Error> {
        match whole_crlf_reply(buf) {
            Some(reply) => Ok(Status::Complete(reply)),
            None => self.parse_resumable(buf),
        }
    }

    /// [`parse`](Self::parse) without the one-pass attempt.
    #[inline]
    fn parse_resumable<'a>(&mut self, buf: &'a [u8]) -> Result<Status<Reply<'a>>, Error> {
        match self.run(buf) {
            Ok(Some(end)) => {
                let (bytes, _) = buf.split_at_checked(end).unwrap_or((buf, &[]));
                let reply =
                    Reply::from_parts(bytes, self.code(), self.line, self.ending(), self.ends);
                self.reset();
                Ok(Status::Complete(reply))
            }
            Ok(None) => Ok(Status::Partial),
            Err(e) => {
                self.reset();
                Err(e)
            }
        }
    }

    /// Report the end of the stream with `buf` holding what is left unparsed.
    ///
    /// # Errors
    /// [`Error::Truncated`] when `buf` holds part of a reply; the framing error when the bytes
    /// are invalid.
    pub fn finish(&mut self, buf: &[u8]) -> Result<(), Error> {
        if buf.is_empty() {
            return Ok(());
        }
        match self.parse(buf)? {
            Status::Complete(_) => Ok(()),
            Status::Partial => {
                let line = self.line;
                self.reset();
                Err(Error::Truncated {
                    offset: buf.len(),
                    line,
                })
            }
        }
    }

    fn code(&self) -> ReplyCode {
        let [a, b, c] = self.code.map(|d| u16::from(d.wrapping_sub(b'0')));
        ReplyCode(a * 100 + b * 10 + c)
    }

    fn ending(&self) -> LineEnding {
        match (self.seen_crlf, self.seen_lf) {
            (_, false) => LineEnding::Crlf,
            (false, true) => LineEnding::Lf,
            (true, true) => LineEnding::Mixed,
        }
    }

    /// Examine bytes from `self.pos`; `Some(end)` when the reply ends before offset `end`.
    fn run(&mut self, buf: &[u8]) -> Result<Option<usize>, Error> {
        let mut i = self.pos;
        while let Some(&byte) = buf.get(i) {
            // Fast path: a line start whose code and separator are all here and valid. Anything
            // else (a short buffer, any error) takes the byte-wise path below, which reports it.
            if self.phase == Phase::Code(0) {
                match self.line_fast(buf, i) {
                    Fast::Slow => {}
                    Fast::Advanced(next) => {
                        i = next;
                        continue;
                    }
                    Fast::Done(end) => return Ok(Some(end)),
                }
            }
            match self.phase {
                Phase::Code(k) => {
                    if !self.line_ending_in_code(buf, i)? {
                        break;
                    }
                    self.code_digit(k, byte, i)?;
                    self.phase = if k >= 2 {
                        Phase::Separator
                    } else {
                        Phase::Code(k + 1)
                    };
                    i += 1;
                }
                Phase::Separator => {
                    i += 1;
                    match byte {
                        b'-' => self.phase = Phase::Text,
                        b' ' => {
                            self.last = true;
                            self.phase = Phase::Text;
                        }
                        // `CODE CRLF`: a last line with empty text (RFC 5321 §4.2).
                        b'\r' => {
                            self.last = true;
                            self.phase = Phase::Cr;
                        }
                        b'\n' => {
                            self.last = true;
                            if let Some(end) = self.bare_lf(i - 1)? {
                                return Ok(Some(end));
                            }
                        }
                        _ => {
                            return Err(Error::BadSeparator {
                                byte,
                                offset: i - 1,
                                line: self.line,
                            });
                        }
                    }
                }
                Phase::Text => {
                    // One tight scan up to the terminator or the 511th content octet.
                    let limit = self.line_start + MAX_LINE_CONTENT + 1;
                    let window = buf.get(i..limit.min(buf.len())).unwrap_or(&[]);
                    if let Some(p) = find_cr_or_lf(window) {
                        let at = i + p;
                        i = at + 1;
                        if buf.get(at) == Some(&b'\r') {
                            // CRLF, the common case, without a trip through `Phase::Cr`.
                            if buf.get(i) == Some(&b'\n') {
                                i += 1;
                                self.seen_crlf = true;
                                if let Some(end) = self.end_line(i) {
                                    return Ok(Some(end));
                                }
                            } else {
                                self.phase = Phase::Cr;
                            }
                        } else if let Some(end) = self.bare_lf(at)? {
                            return Ok(Some(end));
                        }
                    } else {
                        i += window.len();
                        if i >= limit {
                            return Err(Error::LineTooLong {
                                offset: self.line_start,
                                line: self.line,
                                limit: MAX_LINE_CONTENT,
                            });
                        }
                    }
                }
                Phase::Cr => {
                    if byte != b'\n' {
                        return Err(Error::BareCr {
                            offset: i - 1,
                            line: self.line,
                        });
                    }
                    i += 1;
                    self.seen_crlf = true;
                    if let Some(end) = self.end_line(i) {
                        return Ok(Some(end));
                    }
                }
            }
        }
        self.pos = i;
        Ok(None)
    }

    /// At a line start at `i`: if the code and separator are in `buf` and valid, take them
    /// (as `code_digit` and `Phase::Separator` would), then the text and CRLF if they are here
    /// too (as `Phase::Text` would). Anything else is left to the byte-wise path.
    fn line_fast(&mut self, buf: &[u8], i: usize) -> Fast {
        let Some(&[a, b, c, sep]) = buf.get(i..i + 4) else {
            return Fast::Slow;
        };
        let code_ok = if self.line == 1 {
            matches!(a, b'2'..=b'5') && matches!(b, b'0'..=b'5') && c.is_ascii_digit()
        } else {
            self.line <= MAX_REPLY_LINES && [a, b, c] == self.code
        };
        if !code_ok || (sep != b'-' && sep != b' ') {
            return Fast::Slow;
        }
        self.code = [a, b, c];
        self.last = sep == b' ';
        self.phase = Phase::Text;
        let text = i + 4;
        let limit = self.line_start + MAX_LINE_CONTENT + 1;
        let window = buf.get(text..limit.min(buf.len())).unwrap_or(&[]);
        if let Some(p) = find_cr_or_lf(window)
            && buf.get(text + p..text + p + 2) == Some(b"\r\n")
        {
            self.seen_crlf = true;
            let next = text + p + 2;
            return self.end_line(next).map_or(Fast::Advanced(next), Fast::Done);
        }
        Fast::Advanced(text)
    }

    /// The line-ending rules of `Phase::Text` and `Phase::Cr` for the byte at `i`, where a
    /// code digit belongs (CR and LF are structural wherever they come): a bare LF in strict
    /// mode, a CR before anything but LF. `Ok(false)` for a CR that is the last byte so far
    /// (wait for the next); `Ok(true)` otherwise, when the byte is judged as a digit (a CRLF
    /// or, in lenient mode, a LF here ends a line too short for its code: bad code).
    fn line_ending_in_code(&self, buf: &[u8], i: usize) -> Result<bool, Error> {
        match buf.get(i) {
            Some(b'\n') if self.mode == Mode::Strict => Err(Error::BareLf {
                offset: i,
                line: self.line,
            }),
            Some(b'\r') => match buf.get(i + 1) {
                None => Ok(false),
                Some(b'\n') => Ok(true),
                Some(_) => Err(Error::BareCr {
                    offset: i,
                    line: self.line,
                }),
            },
            _ => Ok(true),
        }
    }

    fn code_digit(&mut self, k: u8, byte: u8, offset: usize) -> Result<(), Error> {
        if k == 0 && self.line > MAX_REPLY_LINES {
            return Err(Error::TooManyLines {
                offset,
                line: self.line,
                limit: MAX_REPLY_LINES,
            });
        }
        let range = match k {
            0 => b'2'..=b'5',
            1 => b'0'..=b'5',
            _ => b'0'..=b'9',
        };
        if !range.contains(&byte) {
            return Err(Error::BadCode {
                byte,
                offset,
                line: self.line,
            });
        }
        let slot = usize::from(k.min(2));
        if self.line == 1 {
            if let Some(d) = self.code.get_mut(slot) {
                *d = byte;
            }
        } else if self.code.get(slot) != Some(&byte) {
            return Err(Error::CodeMismatch {
                expected: self.code().as_u16(),
                offset,
                line: self.line,
            });
        }
        Ok(())
    }

    /// A LF at `at` with no CR before it.
    fn bare_lf(&mut self, at: usize) -> Result<Option<usize>, Error> {
        match self.mode {
            Mode::Strict => Err(Error::BareLf {
                offset: at,
                line: self.line,
            }),
            Mode::Lenient => {
                self.seen_lf = true;
                Ok(self.end_line(at + 1))
            }
        }
    }

    /// The current line ended just before `next`; `Some(next)` when it was the reply's last.
    fn end_line(&mut self, next: usize) -> Option<usize> {
        self.ends.record(self.line - 1, next);
        if self.last {
            return Some(next);
        }
        self.line += 1;
        self.line_start = next;
        self.phase = Phase::Code(0);
        None
    }
}

/// The complete reply at the start of `buf` when it is valid, all its lines end with CRLF
/// and it fits the limits; `None` in every other case (partial, bare LF, errors, long
/// replies), left to [`ReplyParser::run`]. Local state only, one scan of each line.
fn whole_crlf_reply(buf: &[u8]) -> Option<Reply<'_>> {
    let head = u32::from_le_bytes(<[u8; 4]>::try_from(buf.get(..4)?).ok()?);
    let [a, b, c, _] = head.to_le_bytes();
    if !(matches!(a, b'2'..=b'5') && matches!(b, b'0'..=b'5') && c.is_ascii_digit()) {
        return None;
    }
    let code =
        ReplyCode(u16::from(a - b'0') * 100 + u16::from(b - b'0') * 10 + u16::from(c - b'0'));
    // The code and separator of a line that continues the reply, and of its last line.
    let more = (head & 0x00ff_ffff) | (u32::from(b'-') << 24);
    let last = (head & 0x00ff_ffff) | (u32::from(b' ') << 24);
    let mut ends = LineEnds::default();
    let mut start = 0usize;
    let mut lines = 0u32;
    loop {
        let word = u32::from_le_bytes(<[u8; 4]>::try_from(buf.get(start..start + 4)?).ok()?);
        if (word != more && word != last) || lines >= MAX_REPLY_LINES {
            return None;
        }
        let text = start + 4;
        // The CR of a line of MAX_LINE_CONTENT content octets.
        let limit = start + MAX_LINE_CONTENT;
        let at = if lines == 0 {
            cr_or_lf(buf, text, limit)?
        } else {
            // A line that may be a capability: find where its first token ends in the same
            // scan, for `Ehlo` and the rewriter.
            let q = scan(buf, text, limit, maybe_stops, is_maybe_stop)?;
            match buf.get(q) {
                Some(b'\r') => {
                    ends.record_stop(lines, q - start);
                    q
                }
                Some(b' ' | b'\t' | b'=') => {
                    ends.record_stop(lines, q - start);
                    cr_or_lf(buf, q + 1, limit)?
                }
                // LF (refused below) or another control octet (part of the token).
                _ => cr_or_lf(buf, q, limit)?,
            }
        };
        if at > limit || buf.get(at..at + 2) != Some(b"\r\n") {
            return None;
        }
        let end = at + 2;
        ends.record(lines, end);
        lines += 1;
        if word == last {
            let bytes = buf.get(..end)?;
            return Some(Reply::from_parts(
                bytes,
                code,
                lines,
                LineEnding::Crlf,
                ends,
            ));
        }
        start = end;
    }
}

/// Index of the first octet of `buf` at or after `from` that `flags` flags (and `matches`
/// accepts), eight octets at a time; `None` when there is none up to `limit` (a match after
/// `limit` may be returned) or before the end of `buf`.
// Measured: the one-pass parse is slower with this out of line.
#[allow(clippy::inline_always)]
#[inline(always)]
fn scan(
    buf: &[u8],
    from: usize,
    limit: usize,
    flags: impl Fn(u64) -> u64,
    matches: impl Fn(u8) -> bool,
) -> Option<usize> {
    let word_of = |w: &[u8]| u64::from_le_bytes(<[u8; 8]>::try_from(w).unwrap_or_default());
    let mut at = from;
    // Two words per step while both are in `buf` (most lines end within sixteen octets).
    while at <= limit
        && let Some(pair) = buf.get(at..at + 16)
    {
        let (first, second) = pair.split_at(8);
        let found = flags(word_of(first));
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        let found = flags(word_of(second));
        if found != 0 {
            return Some(at + 8 + (found.trailing_zeros() / 8) as usize);
        }
        at += 16;
    }
    while at <= limit {
        let Some(word) = buf.get(at..at + 8) else {
            // Fewer than eight octets left: the last eight overlap some already searched
            // (which hold no match, so no borrow runs from them); ignore their flags.
            let Some(last) = buf.len().checked_sub(8) else {
                let tail = buf.get(at..)?;
                return tail.iter().position(|&b| matches(b)).map(|p| at + p);
            };
            let word = u64::from_le_bytes(<[u8; 8]>::try_from(buf.get(last..)?).ok()?);
            // `at - last` is 1 to 8 (8 when `at` is the end of `buf`).
            let seen = u32::try_from((at - last) * 8).unwrap_or(u32::MAX);
            let found = flags(word) & u64::MAX.checked_shl(seen).unwrap_or(0);
            return (found != 0).then(|| last + (found.trailing_zeros() / 8) as usize);
        };
        let found = flags(u64::from_le_bytes(
            <[u8; 8]>::try_from(word).unwrap_or_default(),
        ));
        if found != 0 {
            return Some(at + (found.trailing_zeros() / 8) as usize);
        }
        at += 8;
    }
    None
}

/// The index of the first CR or LF in `buf` at or after `from`; `None` when there is none up
/// to `limit` (one after `limit` may be returned) or before the end of `buf`.
#[allow(clippy::inline_always)]
#[inline(always)]
fn cr_or_lf(buf: &[u8], from: usize, limit: usize) -> Option<usize> {
    let mut at = from;
    loop {
        // Flags CR, LF, and the rarer HT and other controls below 0x0e, which are skipped.
        let p = scan(buf, at, limit, below_0e, |b| b < 0x0e)?;
        if matches!(buf.get(p), Some(b'\r' | b'\n')) {
            return Some(p);
        }
        at = p + 1;
    }
}

/// High bit set in each octet of `word` below 0x0e (CR, LF, HT and other controls): fewer
/// operations than testing for CR and LF; the lowest flagged octet is exact.
fn below_0e(word: u64) -> u64 {
    word.wrapping_sub(ONES * 0x0e) & !word & HIGHS
}

fn is_maybe_stop(b: u8) -> bool {
    b < 0x21 || b == b'='
}

const ONES: u64 = u64::from_ne_bytes([1; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// High bit set in each byte of `word` equal to `byte`; the lowest flagged byte is exact (a
/// borrow may flag bytes after it, never before).
fn bytes_equal(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    x.wrapping_sub(ONES) & !x & HIGHS
}

/// Index of the first byte of `s` matching `flags`, eight bytes at a time.
fn find_by_word(
    s: &[u8],
    flags: impl Fn(u64) -> u64,
    matches: impl Fn(u8) -> bool,
) -> Option<usize> {
    let mut words = s.chunks_exact(8);
    let mut base = 0;
    for word in &mut words {
        let word = u64::from_le_bytes(<[u8; 8]>::try_from(word).unwrap_or_default());
        let found = flags(word);
        if found != 0 {
            return Some(base + (found.trailing_zeros() / 8) as usize);
        }
        base += 8;
    }
    let tail = words.remainder();
    if tail.is_empty() {
        return None;
    }
    // The last word overlaps bytes already searched when `s` is long enough: read it whole
    // and ignore their flags (they have no match, so no borrow runs from them).
    let Some(last) = s.len().checked_sub(8) else {
        return tail.iter().position(|&b| matches(b)).map(|p| base + p);
    };
    let word =
        u64::from_le_bytes(<[u8; 8]>::try_from(s.get(last..).unwrap_or(&[])).unwrap_or_default());
    let found = flags(word) & (u64::MAX << ((base - last) * 8));
    (found != 0).then(|| last + (found.trailing_zeros() / 8) as usize)
}

/// High bit set in each octet of `word` below 0x21 (SP, HT, CR, LF and other controls) or
/// equal to `=`; the lowest flagged octet is exact.
pub(crate) fn maybe_stops(word: u64) -> u64 {
    let below_bang = word.wrapping_sub(ONES * 0x21) & !word;
    let x = word ^ (ONES * u64::from(b'='));
    (below_bang | (x.wrapping_sub(ONES) & !x)) & HIGHS
}

/// Index of the first CR or LF in `s`.
fn find_cr_or_lf(s: &[u8]) -> Option<usize> {
    find_by_word(
        s,
        |w| bytes_equal(w, b'\r') | bytes_equal(w, b'\n'),
        |b| b == b'\r' || b == b'\n',
    )
}

/// Index of the first `byte` in `s`.
pub(crate) fn find_byte(s: &[u8], byte: u8) -> Option<usize> {
    find_by_word(s, |w| bytes_equal(w, byte), |b| b == byte)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn word_search_finds_the_first_match_at_every_position() {
        for len in 0..40 {
            for at in 0..len {
                for other in [None, Some(at + 1), Some(len - 1)] {
                    let mut s = vec![b'a'; len];
                    // Bytes next to the target values, to catch a wrong borrow.
                    s.iter_mut().step_by(3).for_each(|b| *b = 0x0b);
                    s[at] = b'\r';
                    if let Some(o) = other.filter(|&o| o > at && o < len) {
                        s[o] = b'\n';
                    }
                    assert_eq!(find_cr_or_lf(&s), Some(at), "{s:?}");
                    s[at] = b'\n';
                    assert_eq!(find_byte(&s, b'\n'), Some(at), "{s:?}");
                }
            }
            let s: Vec<u8> = (0..len)
                .map(|i| [0x0c, 0x0e, 0x09, 0x8d, 0x8a][i % 5])
                .collect();
            assert_eq!(find_cr_or_lf(&s), None);
            assert_eq!(find_byte(&s, b'\n'), None);
        }
    }

    fn parse_all(input: &[u8], mode: Mode) -> Result<Status<(u16, u32, usize)>, Error> {
        Ok(match Reply::parse(input, mode)? {
            Status::Complete(r) => Status::Complete((r.code().as_u16(), r.line_count(), r.len())),
            Status::Partial => Status::Partial,
        })
    }

    #[test]
    fn single_line_reply_is_complete_and_leaves_the_rest() {
        assert_eq!(
            parse_all(b"250 OK\r\n354", Mode::Strict),
            Ok(Status::Complete((250, 1, 8)))
        );
    }

    #[test]
    fn bare_code_line_is_a_last_line_with_empty_text() {
        let reply = Reply::parse(b"250\r\n", Mode::Strict)
            .unwrap()
            .complete()
            .unwrap();
        assert_eq!(reply.first_text(), b"");
        assert!(reply.lines().next().unwrap().is_last());
    }

    #[test]
    fn code_digits_out_of_range_are_bad_code() {
        for (input, offset) in [(&b"150 x\r\n"[..], 0), (b"260 x\r\n", 1), (b"25x x\r\n", 2)] {
            assert!(
                matches!(Reply::parse(input, Mode::Strict), Err(Error::BadCode { offset: o, line: 1, .. }) if o == offset),
                "{input:?}"
            );
        }
    }

    #[test]
    fn short_line_is_bad_code() {
        assert!(matches!(
            Reply::parse(b"25\r\n", Mode::Strict),
            Err(Error::BadCode { byte: b'\r', .. })
        ));
    }

    #[test]
    fn separator_other_than_dash_or_space_is_bad_separator() {
        assert!(matches!(
            Reply::parse(b"250+x\r\n", Mode::Strict),
            Err(Error::BadSeparator {
                byte: b'+',
                offset: 3,
                line: 1
            })
        ));
    }

    #[test]
    fn different_code_on_a_later_line_is_code_mismatch() {
        let err = Reply::parse(b"250-a\r\n251 b\r\n", Mode::Strict).unwrap_err();
        assert_eq!(
            err,
            Error::CodeMismatch {
                expected: 250,
                offset: 9,
                line: 2
            }
        );
    }

    #[test]
    fn bare_lf_is_an_error_in_strict_mode_and_a_terminator_in_lenient_mode() {
        assert_eq!(
            Reply::parse(b"250-a\n250 b\n", Mode::Strict),
            Err(Error::BareLf { offset: 5, line: 1 })
        );
        let reply = Reply::parse(b"250-a\n250 b\r\n", Mode::Lenient)
            .unwrap()
            .complete()
            .unwrap();
        assert_eq!(
            (reply.line_count(), reply.line_ending()),
            (2, LineEnding::Mixed)
        );
        assert_eq!(
            Reply::parse(b"250\n", Mode::Strict),
            Err(Error::BareLf { offset: 3, line: 1 })
        );
    }

    #[test]
    fn bare_cr_is_an_error_in_both_modes_but_a_final_cr_waits() {
        for mode in [Mode::Strict, Mode::Lenient] {
            assert_eq!(
                Reply::parse(b"250 a\rb\r\n", mode),
                Err(Error::BareCr { offset: 5, line: 1 })
            );
            assert_eq!(Reply::parse(b"250 a\r", mode), Ok(Status::Partial));
            assert_eq!(
                Reply::parse(b"250\r\r\n", mode),
                Err(Error::BareCr { offset: 3, line: 1 })
            );
        }
    }

    #[test]
    fn cr_and_lf_where_a_code_digit_belongs_follow_the_line_ending_rules() {
        // A stray LF after a complete line, and a LF cutting a code short.
        assert_eq!(
            Reply::parse(b"250-mx\r\n\n", Mode::Strict),
            Err(Error::BareLf { offset: 8, line: 2 })
        );
        assert_eq!(
            Reply::parse(b"25\n", Mode::Strict),
            Err(Error::BareLf { offset: 2, line: 1 })
        );
        // In lenient mode that LF ends a line too short for its code.
        assert!(matches!(
            Reply::parse(b"25\n", Mode::Lenient),
            Err(Error::BadCode {
                byte: b'\n',
                offset: 2,
                line: 1
            })
        ));
        for mode in [Mode::Strict, Mode::Lenient] {
            assert_eq!(
                Reply::parse(b"25\rX", mode),
                Err(Error::BareCr { offset: 2, line: 1 })
            );
            // A final CR waits for the next byte, then decides.
            let mut parser = ReplyParser::new(mode);
            assert_eq!(parser.parse(b"250-mx\r\n2\r"), Ok(Status::Partial));
            assert!(matches!(
                parser.parse(b"250-mx\r\n2\r\n"),
                Err(Error::BadCode {
                    byte: b'\r',
                    offset: 9,
                    line: 2
                })
            ));
            assert_eq!(
                ReplyParser::new(mode).finish(b"\r"),
                Err(Error::Truncated { offset: 1, line: 1 })
            );
        }
    }

    #[test]
    fn line_of_510_content_octets_passes_and_511_fails_before_the_terminator() {
        let mut ok = b"250 ".to_vec();
        ok.resize(MAX_LINE_CONTENT, b'x');
        ok.extend_from_slice(b"\r\n");
        assert_eq!(
            parse_all(&ok, Mode::Strict),
            Ok(Status::Complete((250, 1, 512)))
        );

        let mut long = b"250-a\r\n250 ".to_vec();
        long.resize(7 + MAX_LINE_CONTENT + 1, b'x');
        assert_eq!(
            Reply::parse(&long, Mode::Strict),
            Err(Error::LineTooLong {
                offset: 7,
                line: 2,
                limit: MAX_LINE_CONTENT
            })
        );
        // One octet fewer is still only partial.
        assert_eq!(
            Reply::parse(&long[..long.len() - 1], Mode::Strict),
            Ok(Status::Partial)
        );
    }

    #[test]
    fn reply_over_the_line_limit_is_refused_when_the_next_line_starts() {
        let mut input = b"250-x\r\n".repeat(MAX_REPLY_LINES as usize);
        assert_eq!(Reply::parse(&input, Mode::Strict), Ok(Status::Partial));
        input.extend_from_slice(b"250 y\r\n");
        assert!(matches!(
            Reply::parse(&input, Mode::Strict),
            Err(Error::TooManyLines { line, .. }) if line == MAX_REPLY_LINES + 1
        ));
        let mut max = b"250-x\r\n".repeat(MAX_REPLY_LINES as usize - 1);
        max.extend_from_slice(b"250 y\r\n");
        assert!(
            Reply::parse(&max, Mode::Strict)
                .unwrap()
                .complete()
                .is_some()
        );
    }

    #[test]
    fn resumed_parse_examines_only_new_bytes_and_agrees_with_one_shot() {
        let input = b"250-mx.example.net\r\n250-PIPELINING\r\n250 8BITMIME\r\n";
        let mut parser = ReplyParser::new(Mode::Strict);
        for end in 0..input.len() {
            assert_eq!(
                parser.parse(&input[..end]),
                Ok(Status::Partial),
                "prefix {end}"
            );
        }
        let reply = parser.parse(input).unwrap().complete().unwrap();
        assert_eq!(reply.as_bytes(), input);
    }

    #[test]
    fn lines_past_the_recorded_ends_are_found_by_scanning() {
        for count in [
            1,
            RECORDED_LINES - 1,
            RECORDED_LINES,
            RECORDED_LINES + 1,
            40,
        ] {
            let mut input = Vec::new();
            for i in 1..count {
                input.extend_from_slice(format!("250-line {i}\r\n").as_bytes());
            }
            input.extend_from_slice(b"250 last\n");
            let reply = Reply::parse(&input, Mode::Lenient)
                .unwrap()
                .complete()
                .unwrap();
            for r in [reply, reply.to_owned_reply().as_reply()] {
                let lines: Vec<&[u8]> = r.lines().map(|l| l.raw()).collect();
                assert_eq!(lines.len(), count, "{count} lines");
                assert_eq!(lines.concat(), input);
                assert_eq!(lines.last().copied(), Some(&b"250 last\n"[..]));
            }
        }
    }

    #[test]
    fn finish_reports_truncation_with_the_awaited_line() {
        let mut parser = ReplyParser::new(Mode::Strict);
        assert_eq!(parser.finish(b""), Ok(()));
        assert_eq!(
            parser.finish(b"250-a\r\n250"),
            Err(Error::Truncated {
                offset: 10,
                line: 2
            })
        );
        assert_eq!(
            parser.finish(b"250-a\r\n"),
            Err(Error::Truncated { offset: 7, line: 2 })
        );
    }

    #[test]
    fn enhanced_code_needs_the_reply_class_and_a_space_or_end() {
        let code = |s: &[u8]| {
            Reply::parse(s, Mode::Strict)
                .unwrap()
                .complete()
                .unwrap()
                .enhanced_code()
        };
        assert_eq!(
            code(b"502 5.5.2 Error\r\n"),
            Some(EnhancedCode {
                class: 5,
                subject: 5,
                detail: 2
            })
        );
        assert_eq!(
            code(b"250 2.0.0\r\n").map(|c| c.to_string()),
            Some("2.0.0".into())
        );
        assert_eq!(code(b"550 4.7.1 mismatch\r\n"), None);
        assert_eq!(code(b"550 5.7.1234 x\r\n"), None);
        assert_eq!(code(b"550 5.7.1x\r\n"), None);
        assert_eq!(code(b"550 5..1 x\r\n"), None);
    }

    #[test]
    fn reply_code_constructor_accepts_only_rfc_ranges() {
        assert_eq!(ReplyCode::new(250).map(ReplyCode::as_u16), Some(250));
        for bad in [199, 260, 600, 1000, 0] {
            assert_eq!(ReplyCode::new(bad), None, "{bad}");
        }
    }
}
