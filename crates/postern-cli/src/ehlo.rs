//! `postern ehlo parse` and `postern ehlo strip`.

use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use postern_smtp::{
    CapabilityFilter, Context, Ehlo, Error, Mode, Reply, ReplyCode, ReplyParser, Status,
};
use serde_json::{Map, Value, json};

#[derive(Debug, Subcommand)]
pub(crate) enum EhloCommand {
    /// Parse server replies and print them as one JSON object.
    ///
    /// Exit status: 0 when every reply is valid and complete, 1 on a framing error or a reply
    /// left incomplete (kind `truncated`), 2 on usage errors.
    Parse(Input),
    /// Rewrite EHLO replies without the withheld capabilities; write the bytes to stdout.
    ///
    /// On invalid or incomplete input nothing is written to stdout; the error goes to stderr
    /// and the exit status is 1.
    Strip {
        /// Capability keyword to withhold (repeatable, up to 32 distinct keywords; default
        /// STARTTLS).
        #[arg(long = "remove", value_name = "KEYWORD")]
        remove: Vec<String>,
        #[command(flatten)]
        input: Input,
    },
}

#[derive(Debug, Args)]
pub(crate) struct Input {
    /// Accept a bare LF as a line terminator (RFC 5321 requires CRLF).
    #[arg(long)]
    lenient: bool,
    /// The commands the replies answer, in order (`<greeting>`, `EHLO`, `LHLO`, `RSET`, ...).
    #[arg(long, value_delimiter = ',', default_value = "EHLO")]
    context: Vec<String>,
    /// File of raw reply bytes; `-` or nothing for standard input.
    file: Option<PathBuf>,
}

impl Input {
    fn mode(&self) -> Mode {
        if self.lenient {
            Mode::Lenient
        } else {
            Mode::Strict
        }
    }

    fn read(&self) -> io::Result<Vec<u8>> {
        match &self.file {
            Some(path) if path.as_os_str() != "-" => std::fs::read(path),
            _ => {
                let mut buf = Vec::new();
                io::stdin().read_to_end(&mut buf)?;
                Ok(buf)
            }
        }
    }

    fn context(&self, index: usize) -> Option<&str> {
        self.context.get(index).map(String::as_str)
    }
}

/// The replies of a whole input, with the error that ended it.
struct Parsed<'a> {
    replies: Vec<Reply<'a>>,
    error: Option<(usize, Error)>,
}

fn parse_all(input: &[u8], mode: Mode) -> Parsed<'_> {
    let mut parser = ReplyParser::new(mode);
    let mut replies = Vec::new();
    let mut rest = input;
    let error = loop {
        match parser.parse(rest) {
            Ok(Status::Complete(reply)) => {
                rest = rest.get(reply.len()..).unwrap_or_default();
                replies.push(reply);
            }
            Ok(Status::Partial) => break parser.finish(rest).err(),
            Err(e) => break Some(e),
        }
    };
    let index = replies.len();
    Parsed {
        replies,
        error: error.map(|e| (index, e)),
    }
}

pub(crate) fn run(cmd: &EhloCommand) -> ExitCode {
    let input = match cmd {
        EhloCommand::Parse(input) | EhloCommand::Strip { input, .. } => input,
    };
    let bytes = match input.read() {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("postern: cannot read input: {e}");
            return ExitCode::from(2);
        }
    };
    let parsed = parse_all(&bytes, input.mode());
    match cmd {
        EhloCommand::Parse(input) => parse(input, &parsed),
        EhloCommand::Strip { remove, input } => strip(remove, input, &parsed),
    }
}

fn parse(input: &Input, parsed: &Parsed<'_>) -> ExitCode {
    let replies: Vec<Value> = parsed
        .replies
        .iter()
        .enumerate()
        .map(|(i, reply)| reply_json(reply, input.context(i)))
        .collect();
    let error = parsed.error.map_or(Value::Null, |(index, e)| {
        json!({
            "kind": e.kind().as_str(),
            "reply_index": index,
            "at_line": e.line(),
            "offset": e.offset(),
            "message": e.to_string(),
        })
    });
    let outcome = if parsed.error.is_some() {
        "error"
    } else {
        "ok"
    };
    let doc = json!({ "outcome": outcome, "replies": replies, "error": error });
    let mut stdout = io::stdout().lock();
    if writeln!(stdout, "{doc}").is_err() {
        return ExitCode::from(2);
    }
    if parsed.error.is_some() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn strip(remove: &[String], input: &Input, parsed: &Parsed<'_>) -> ExitCode {
    let filter = if remove.is_empty() {
        CapabilityFilter::starttls()
    } else {
        match remove
            .iter()
            .try_fold(CapabilityFilter::new(), CapabilityFilter::try_withhold)
        {
            Ok(filter) => filter,
            Err(e) => {
                eprintln!("postern: --remove: {e}");
                return ExitCode::from(2);
            }
        }
    };
    if let Some((index, e)) = parsed.error {
        eprintln!(
            "postern: {kind} in reply {index}, line {line}: {e}",
            kind = e.kind(),
            line = e.line().unwrap_or(0),
        );
        return ExitCode::from(1);
    }
    let mut out = Vec::new();
    for (i, reply) in parsed.replies.iter().enumerate() {
        if input.context(i).map(Context::from_name) == Some(Context::Ehlo) {
            filter.rewrite(reply, &mut out);
        } else {
            out.extend_from_slice(reply.as_bytes());
        }
    }
    let mut stdout = io::stdout().lock();
    if stdout
        .write_all(&out)
        .and_then(|()| stdout.flush())
        .is_err()
    {
        return ExitCode::from(2);
    }
    ExitCode::SUCCESS
}

/// A text field as JSON: the string (or null when not UTF-8), plus `<name>_hex` when not ASCII.
fn put_text(obj: &mut Map<String, Value>, name: &str, bytes: &[u8]) {
    let text = std::str::from_utf8(bytes).map_or(Value::Null, Value::from);
    obj.insert(name.to_owned(), text);
    if !bytes.is_ascii() {
        obj.insert(format!("{name}_hex"), Value::from(hex(bytes)));
    }
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut s, b| {
            let _ = write!(s, "{b:02x}");
            s
        })
}

fn lossy(bytes: &[u8]) -> Value {
    Value::from(String::from_utf8_lossy(bytes).into_owned())
}

fn reply_json(reply: &Reply<'_>, context: Option<&str>) -> Value {
    let is_ehlo = context.map(Context::from_name) == Some(Context::Ehlo);
    let mut obj = Map::new();
    obj.insert("context".into(), context.map_or(Value::Null, Value::from));
    obj.insert("code".into(), Value::from(reply.code().as_u16()));
    obj.insert("lines".into(), Value::from(reply.line_count()));
    obj.insert("consumed".into(), Value::from(reply.len()));
    obj.insert(
        "line_ending".into(),
        Value::from(reply.line_ending().as_str()),
    );
    // RFC 3463 codes are not looked for on the lines of a 250 EHLO reply: they hold capabilities.
    let enhanced = if is_ehlo && reply.code() == ReplyCode::OK {
        None
    } else {
        reply.enhanced_code()
    };
    // As written (`5.01.001` stays so; RFC 3463 allows leading zeros): the code runs from the
    // start of the first line's text to the SP or end that `enhanced_code` found after it.
    let written = |_| {
        let text = reply.first_text();
        let end = text.iter().position(|&b| b == b' ').unwrap_or(text.len());
        lossy(text.get(..end).unwrap_or_default())
    };
    obj.insert(
        "enhanced_code".into(),
        enhanced.map_or(Value::Null, written),
    );
    let ehlo = if is_ehlo { Ehlo::new(reply) } else { None };
    obj.insert("ehlo".into(), ehlo.map_or(Value::Null, |e| ehlo_json(&e)));
    if is_ehlo && ehlo.is_none() {
        obj.insert("ehlo_rejected".into(), Value::Bool(true));
    }
    Value::Object(obj)
}

fn ehlo_json(ehlo: &Ehlo<'_>) -> Value {
    let mut obj = Map::new();
    put_text(&mut obj, "domain", ehlo.domain());
    put_text(&mut obj, "greeting_text", ehlo.greeting_text());
    let caps: Vec<Value> = ehlo
        .capabilities()
        .map(|c| {
            let mut cap = Map::new();
            cap.insert("keyword".into(), lossy(&c.keyword_upper()));
            cap.insert("params".into(), c.params().map(lossy).collect());
            cap.insert("valid".into(), Value::Bool(c.is_valid()));
            if c.legacy_equals() {
                cap.insert("legacy_equals".into(), Value::Bool(true));
            }
            if !c.line().content().is_ascii() {
                cap.insert("line_hex".into(), Value::from(hex(c.line().content())));
            }
            Value::Object(cap)
        })
        .collect();
    obj.insert("capabilities".into(), Value::Array(caps));
    obj.insert("has_starttls".into(), Value::Bool(ehlo.has_starttls()));
    Value::Object(obj)
}
