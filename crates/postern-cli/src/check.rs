//! `postern check`: SPF (RFC 7208) and DKIM (RFC 6376) for one message, printed as the
//! `Authentication-Results:` header field (RFC 8601) a receiving server would add.

use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Args, ValueEnum};
use postern_dkim::VerifyOptions;
use postern_dns::{Answer, Query, Zone};
use postern_spf::{Evaluator, Options, Request, Step};
use serde_json::json;

use crate::dkim;

/// Where DNS answers come from, besides `--zone`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DnsSource {
    /// The system's resolver configuration, live queries.
    System,
}

/// Check a received message: SPF for the client and MAIL FROM, DKIM for every signature.
///
/// Exit status: 0 for any verdict, 1 for unreadable input (message, zone, client IP).
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["zone", "dns"])))]
pub(crate) struct CheckArgs {
    /// The SMTP client's IP address.
    #[arg(long)]
    ip: String,
    /// The HELO/EHLO name the client gave.
    #[arg(long, allow_hyphen_values = true)]
    helo: String,
    /// The MAIL FROM address, without angle brackets; empty for the null sender.
    #[arg(
        long = "mail-from",
        value_name = "ADDR",
        default_value = "",
        allow_hyphen_values = true
    )]
    mail_from: String,
    /// Offline DNS: a JSON zone file (SPF and DKIM key records), or an RFC 1035 master file
    /// when the name ends in `.zone`.
    #[arg(long, value_name = "FILE")]
    zone: Option<PathBuf>,
    /// Live DNS: `system` queries the system's resolver.
    #[arg(long, value_enum, value_name = "SOURCE")]
    dns: Option<DnsSource>,
    /// Verification time in Unix seconds (DKIM x=, SPF %{t}); default: now.
    #[arg(long, value_name = "UNIX")]
    now: Option<u64>,
    /// The authserv-id of the Authentication-Results field (this host's name).
    #[arg(long, default_value = "localhost")]
    authserv_id: String,
    /// Print one JSON object (SPF and DKIM details) instead of the header field.
    #[arg(long)]
    json: bool,
    /// The message (wire format); `-` or nothing for standard input.
    message: Option<PathBuf>,
}

enum Source {
    Zone(Zone),
    Live(Box<crate::live::Resolver>),
}

impl Source {
    fn resolve(&mut self, query: &Query) -> Answer {
        match self {
            Self::Zone(zone) => zone.resolve(query),
            Self::Live(resolver) => resolver.resolve(query),
        }
    }
}

pub(crate) fn run(args: &CheckArgs) -> ExitCode {
    match check(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("postern check: {message}");
            ExitCode::from(1)
        }
    }
}

fn check(args: &CheckArgs) -> Result<(), String> {
    let ip: IpAddr = args
        .ip
        .trim()
        .parse()
        .map_err(|_| format!("bad --ip {:?}: not an IPv4 or IPv6 address", args.ip))?;
    if args.authserv_id.is_empty()
        || !args
            .authserv_id
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b";\"\\()".contains(&b))
    {
        return Err(format!(
            "bad --authserv-id {:?}: use a host name",
            args.authserv_id
        ));
    }
    let now = args.now.unwrap_or_else(dkim::now);
    let mut source = match (&args.zone, args.dns) {
        (Some(path), _) => Source::Zone(crate::zone::load(path)?),
        (None, Some(DnsSource::System)) => Source::Live(Box::new(crate::live::Resolver::new()?)),
        (None, None) => return Err("one of --zone or --dns is required".to_owned()),
    };
    // The message first: an unreadable one is an error before any DNS traffic for SPF.
    let mut input = dkim::open(args.message.as_deref())?;
    let dkim_outcome = dkim::verify_stream(&mut input, VerifyOptions::new(now), &mut |q| {
        source.resolve(q)
    })?;

    let request = Request::mail_from(ip, &args.mail_from, &args.helo);
    let options = Options::default()
        .with_receiver(&args.authserv_id)
        .with_timestamp(now);
    let mut spf = Evaluator::new(&request, &options);
    let spf_outcome = loop {
        match spf.step() {
            Step::Lookup(query) => {
                let answer = source.resolve(&query);
                spf.supply(query.id(), answer).map_err(|e| e.to_string())?;
            }
            Step::Done(outcome) => break outcome,
        }
    };

    let mut header = format!(
        "Authentication-Results: {};\r\n\t{}",
        args.authserv_id,
        spf_outcome.authentication_results()
    );
    for part in dkim_outcome.method_results() {
        header.push_str(";\r\n\t");
        header.push_str(&part);
    }
    let mut out = std::io::stdout().lock();
    let text = if args.json {
        json!({
            "spf": {
                "result": spf_outcome.verdict.as_str(),
                "authentication_results": spf_outcome.authentication_results(),
            },
            "dkim": dkim::report(&dkim_outcome),
            "authentication_results": header,
        })
        .to_string()
    } else {
        header.replace("\r\n", "\n")
    };
    writeln!(out, "{text}").map_err(|e| e.to_string())
}
