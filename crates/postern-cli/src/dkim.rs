//! `postern dkim verify` and `postern dkim sign`.

use std::fs::File;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::{Args, Subcommand};
use postern_dkim::{
    Canonicalization, Layout, Outcome, SignParams, Signer, SigningKey, Step, Verifier,
    VerifyOptions,
};
use postern_dns::{Answer, Query, Record};
use serde_json::{Map, Value, json};

/// Read size for streaming a message.
const CHUNK: usize = 64 * 1024;

#[derive(Debug, Subcommand)]
pub(crate) enum DkimCommand {
    /// Verify every DKIM-Signature of a message; print one JSON object
    /// `{"signatures": [{"d", "s", "result", "reason"}], "authentication_results": "..."}`.
    ///
    /// Exit status: 0 for any verdict, 1 when the message or the --dns file cannot be read.
    Verify(VerifyArgs),
    /// Sign a message and print it with its DKIM-Signature field on top.
    ///
    /// Exit status: 0 on success, 1 when the message or key cannot be read or the parameters
    /// are invalid.
    Sign(SignArgs),
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    /// JSON object: key record name -> TXT value (a string, a list of strings to concatenate,
    /// or {"error": "temperror"}); a name absent is NXDOMAIN. Without it, live DNS through
    /// the system resolver.
    #[arg(long, value_name = "FILE")]
    dns: Option<PathBuf>,
    /// Verification time in Unix seconds (for x=); default: now.
    #[arg(long, value_name = "UNIX")]
    now: Option<u64>,
    /// Accept bare LF line ends (converted to CRLF); the wire format is CRLF.
    #[arg(long)]
    lf: bool,
    /// The message (wire format); `-` or nothing for standard input.
    message: Option<PathBuf>,
}

// Command-line flags are independent booleans.
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Args)]
pub(crate) struct SignArgs {
    /// Private key: PEM (RSA PRIVATE KEY, or PRIVATE KEY with RSA or Ed25519), or an Ed25519
    /// seed in base64.
    #[arg(long, value_name = "PEM")]
    key: PathBuf,
    /// Signing domain (d=).
    #[arg(long)]
    domain: String,
    /// Selector (s=).
    #[arg(long)]
    selector: String,
    /// rsa-sha256 or ed25519-sha256; must match the key (default: the key's).
    #[arg(long)]
    algorithm: Option<String>,
    /// Header/body canonicalization (c=).
    #[arg(long, default_value = "relaxed/relaxed")]
    canonicalization: String,
    /// Header fields to sign, `:`-separated, repeats kept (default: the usual set present).
    #[arg(long, value_name = "LIST")]
    headers: Option<String>,
    /// Sign each listed header once more than it occurs, so none can be added.
    #[arg(long)]
    oversign: bool,
    /// t= (Unix seconds).
    #[arg(long, value_name = "T")]
    timestamp: Option<u64>,
    /// x= (Unix seconds).
    #[arg(long, value_name = "T")]
    expiration: Option<u64>,
    /// i= (agent or user identifier, in d= or a subdomain).
    #[arg(long, value_name = "I")]
    identity: Option<String>,
    /// Add l= with the body length.
    #[arg(long)]
    body_length: bool,
    /// Fold the field over several lines (default: one line).
    #[arg(long)]
    fold: bool,
    /// Accept bare LF line ends: the message is signed as if they were CRLF, and the field
    /// is written with LF line ends when the message's first line ends in a bare LF. Without
    /// it, such a message is refused (exit 1).
    #[arg(long)]
    lf: bool,
    /// The message (wire format); `-` or nothing for standard input.
    message: Option<PathBuf>,
}

pub(crate) fn run(cmd: &DkimCommand) -> ExitCode {
    let result = match cmd {
        DkimCommand::Verify(args) => verify(args),
        DkimCommand::Sign(args) => sign(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("postern dkim: {message}");
            ExitCode::from(1)
        }
    }
}

/// The message source: a file or standard input.
pub(crate) fn open(path: Option<&Path>) -> Result<Box<dyn Read>, String> {
    match path {
        Some(p) if p.as_os_str() != "-" => File::open(p)
            .map(|f| Box::new(f) as Box<dyn Read>)
            .map_err(|e| format!("{}: {e}", p.display())),
        _ => Ok(Box::new(io::stdin().lock())),
    }
}

/// The `--dns` file: the corpus manifests' `dns` object.
pub(crate) struct DnsFile(Map<String, Value>);

impl DnsFile {
    pub(crate) fn load(path: &Path) -> Result<Self, String> {
        let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
        match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(map)) => Ok(Self(map)),
            Ok(_) => Err(format!("{}: not a JSON object", path.display())),
            Err(e) => Err(format!("{}: {e}", path.display())),
        }
    }

    pub(crate) fn resolve(&self, query: &Query) -> Answer {
        let wanted = query.name().as_str().trim_end_matches('.');
        let entry = self
            .0
            .iter()
            .find(|(name, _)| name.trim_end_matches('.').eq_ignore_ascii_case(wanted))
            .map(|(_, v)| v);
        match entry {
            None => Answer::NxDomain,
            Some(Value::String(s)) => {
                Answer::Records(vec![Record::Txt(s.as_bytes().to_vec())].into())
            }
            Some(Value::Array(parts)) => {
                let mut txt = Vec::new();
                for part in parts {
                    match part {
                        Value::String(s) => txt.extend_from_slice(s.as_bytes()),
                        _ => return Answer::TempFail,
                    }
                }
                Answer::Records(vec![Record::Txt(txt)].into())
            }
            Some(_) => Answer::TempFail,
        }
    }
}

pub(crate) fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Stream `input` through a verifier, answering key queries with `resolve` as soon as the
/// header block is complete.
pub(crate) fn verify_stream(
    input: &mut dyn Read,
    options: VerifyOptions,
    resolve: &mut dyn FnMut(&Query) -> Answer,
) -> Result<Outcome, String> {
    let mut verifier = Verifier::new(options);
    let mut buf = vec![0u8; CHUNK];
    loop {
        match verifier.step() {
            Step::Lookup(query) => {
                let answer = resolve(&query);
                verifier
                    .supply(query.id(), answer)
                    .map_err(|e| e.to_string())?;
            }
            Step::NeedInput => {
                let n = input
                    .read(&mut buf)
                    .map_err(|e| format!("reading the message: {e}"))?;
                match buf.get(..n) {
                    Some(data) if n > 0 => verifier.update(data),
                    _ => verifier.finish(),
                }
                .map_err(|e| e.to_string())?;
            }
            Step::Waiting => return Err("internal: a key query was left unanswered".to_owned()),
            Step::Done(outcome) => return Ok(outcome),
        }
    }
}

/// The JSON report of `postern dkim verify`.
pub(crate) fn report(outcome: &Outcome) -> Value {
    let signatures: Vec<Value> = outcome
        .signatures
        .iter()
        .map(|s| {
            let mut o = json!({
                "d": s.domain,
                "s": s.selector,
                "result": s.result.as_str(),
                "reason": s.reason.as_ref().map(ToString::to_string),
            });
            if s.testing
                && let Some(map) = o.as_object_mut()
            {
                map.insert("testing".to_owned(), Value::Bool(true));
            }
            o
        })
        .collect();
    json!({
        "signatures": signatures,
        "authentication_results": outcome.authentication_results(),
    })
}

fn verify(args: &VerifyArgs) -> Result<(), String> {
    let mut options = VerifyOptions::new(args.now.unwrap_or_else(now));
    options.convert_bare_lf = args.lf;
    let mut input = open(args.message.as_deref())?;
    let outcome = if let Some(path) = &args.dns {
        let dns = DnsFile::load(path)?;
        verify_stream(&mut input, options, &mut |q| dns.resolve(q))?
    } else {
        let mut resolver = crate::live::Resolver::new()?;
        verify_stream(&mut input, options, &mut |q| resolver.resolve(q))?
    };
    let mut out = io::stdout().lock();
    writeln!(out, "{}", report(&outcome)).map_err(|e| e.to_string())
}

fn canonicalization(text: &str) -> Result<(Canonicalization, Canonicalization), String> {
    let parse = |half: &str| {
        Canonicalization::from_name(half.as_bytes())
            .ok_or_else(|| format!("--canonicalization: unknown algorithm {half:?}"))
    };
    match text.split_once('/') {
        Some((h, b)) => Ok((parse(h)?, parse(b)?)),
        None => Ok((parse(text)?, Canonicalization::Simple)),
    }
}

fn load_key(path: &Path) -> Result<SigningKey, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    SigningKey::from_text(&text).map_err(|e| format!("{}: {e}", path.display()))
}

/// How the first line of a message read in chunks ends.
#[derive(Debug, Default)]
struct FirstLineEnding {
    /// `Some(true)` for a bare LF, `Some(false)` for CRLF; `None` before the first LF.
    bare_lf: Option<bool>,
    /// The last byte of the chunks so far.
    last: Option<u8>,
}

impl FirstLineEnding {
    fn update(&mut self, data: &[u8]) {
        if self.bare_lf.is_none()
            && let Some(at) = data.iter().position(|&b| b == b'\n')
        {
            let before = at.checked_sub(1).and_then(|i| data.get(i)).copied();
            self.bare_lf = Some(before.or(self.last) != Some(b'\r'));
        }
        if let Some(&b) = data.last() {
            self.last = Some(b);
        }
    }
}

fn sign(args: &SignArgs) -> Result<(), String> {
    let key = load_key(&args.key)?;
    if let Some(a) = &args.algorithm
        && !a.eq_ignore_ascii_case(key.algorithm().as_str())
    {
        return Err(format!(
            "--algorithm {a} does not match the key, which signs {}",
            key.algorithm()
        ));
    }
    let (hc, bc) = canonicalization(&args.canonicalization)?;
    let mut params = SignParams::new(&args.domain, &args.selector);
    params.header_canonicalization = hc;
    params.body_canonicalization = bc;
    if let Some(list) = &args.headers {
        params.headers = list
            .split(':')
            .map(|h| h.trim().to_owned())
            .filter(|h| !h.is_empty())
            .collect();
    }
    params.oversign = args.oversign;
    params.timestamp = args.timestamp;
    params.expiration = args.expiration;
    params.identity.clone_from(&args.identity);
    params.body_length = args.body_length;
    params.layout = if args.fold {
        Layout::Folded
    } else {
        Layout::OneLine
    };
    params.convert_bare_lf = args.lf;
    let mut signer = Signer::new(key, params).map_err(|e| e.to_string())?;

    // A file is read twice (sign, then copy) so that memory stays bounded; standard input is
    // held in memory.
    let from_file = args.message.as_deref().filter(|p| p.as_os_str() != "-");
    let mut held = Vec::new();
    let mut input = open(args.message.as_deref())?;
    let mut buf = vec![0u8; CHUNK];
    let mut ending = FirstLineEnding::default();
    loop {
        let n = input
            .read(&mut buf)
            .map_err(|e| format!("reading the message: {e}"))?;
        let Some(data) = buf.get(..n).filter(|_| n > 0) else {
            break;
        };
        ending.update(data);
        if ending.bare_lf == Some(true) && !args.lf {
            return Err(
                "the message's lines end in a bare LF, not CRLF as on the wire: \
                        give --lf to sign it as CRLF"
                    .to_owned(),
            );
        }
        signer.update(data).map_err(|e| e.to_string())?;
        if from_file.is_none() {
            held.extend_from_slice(data);
        }
    }
    let mut field = signer.finish().map_err(|e| e.to_string())?;
    // The field goes on top of the message as it is: with its line ends.
    if ending.bare_lf == Some(true) {
        field = field.replace("\r\n", "\n");
    }
    let mut out = io::stdout().lock();
    let write_err = |e: io::Error| format!("writing: {e}");
    out.write_all(field.as_bytes()).map_err(write_err)?;
    if let Some(path) = from_file {
        let mut again = File::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
        io::copy(&mut again, &mut out).map_err(write_err)?;
    } else {
        out.write_all(&held).map_err(write_err)?;
    }
    out.flush().map_err(write_err)
}
