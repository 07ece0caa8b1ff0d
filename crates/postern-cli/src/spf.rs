//! `postern spf`: run an SPF check (RFC 7208) against an offline zone or live DNS.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{ArgGroup, Args, ValueEnum};
use postern_dns::{Answer, Query};
use postern_spf::{Evaluator, Options, Outcome, Request, Step};
use serde_json::json;

/// Which identity to check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum IdentityArg {
    /// The MAIL FROM address (with an empty address, postmaster@HELO).
    Mailfrom,
    /// The HELO/EHLO name.
    Helo,
}

/// Where DNS answers come from, besides `--zone`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum DnsSource {
    /// The system's resolver configuration (`/etc/resolv.conf`), live queries.
    System,
}

/// Check whether a client may send mail for a domain (SPF, RFC 7208).
///
/// Exit status: 0 for any SPF result (including fail, temperror and permerror), 1 for bad
/// input (client IP, zone file), 2 for usage errors.
#[derive(Debug, Args)]
#[command(group(ArgGroup::new("source").required(true).args(["zone", "dns"])))]
pub(crate) struct SpfArgs {
    /// The SMTP client's IP address (IPv4 or IPv6).
    #[arg(long)]
    ip: String,
    /// The HELO/EHLO name the client gave.
    #[arg(long, allow_hyphen_values = true)]
    helo: String,
    /// The MAIL FROM address, without angle brackets; empty or absent for the null sender.
    #[arg(
        long = "mail-from",
        value_name = "ADDR",
        default_value = "",
        allow_hyphen_values = true
    )]
    mail_from: String,
    /// The identity to check.
    #[arg(long, value_enum, default_value = "mailfrom")]
    identity: IdentityArg,
    /// Offline DNS: a JSON zone file, or an RFC 1035 master file when the name ends in `.zone`.
    #[arg(long, value_name = "FILE")]
    zone: Option<PathBuf>,
    /// Live DNS: `system` queries the system's resolver.
    #[arg(long, value_enum, value_name = "SOURCE")]
    dns: Option<DnsSource>,
    /// The receiving host's name, for the `%{r}` macro and `receiver=`.
    #[arg(long, default_value = "unknown")]
    receiver: String,
    /// Print one JSON object instead of a line of text.
    #[arg(long)]
    json: bool,
}

/// Runs the step loop with `resolve` answering each query.
fn run_loop(
    request: &Request<'_>,
    options: &Options,
    mut resolve: impl FnMut(&Query) -> Answer,
) -> Result<Outcome, String> {
    let mut eval = Evaluator::new(request, options);
    loop {
        match eval.step() {
            Step::Lookup(query) => {
                let answer = resolve(&query);
                eval.supply(query.id(), answer).map_err(|e| e.to_string())?;
            }
            Step::Done(outcome) => return Ok(outcome),
        }
    }
}

pub(crate) fn run(args: &SpfArgs) -> ExitCode {
    let Ok(ip) = args.ip.trim().parse::<IpAddr>() else {
        eprintln!(
            "postern spf: bad --ip {:?}: not an IPv4 or IPv6 address",
            args.ip
        );
        return ExitCode::from(1);
    };
    let request = match args.identity {
        IdentityArg::Mailfrom => Request::mail_from(ip, &args.mail_from, &args.helo),
        IdentityArg::Helo => Request::helo(ip, &args.helo),
    };
    let timestamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let options = Options::default()
        .with_receiver(&args.receiver)
        .with_timestamp(timestamp);
    let outcome = match (&args.zone, args.dns) {
        (Some(path), _) => match crate::zone::load(path) {
            Ok(zone) => run_loop(&request, &options, |q| zone.resolve(q)),
            Err(message) => Err(message),
        },
        (None, Some(DnsSource::System)) => crate::live::Resolver::new()
            .and_then(|mut resolver| run_loop(&request, &options, |q| resolver.resolve(q))),
        (None, None) => Err("one of --zone or --dns is required".to_owned()),
    };
    match outcome {
        Ok(outcome) => {
            print_outcome(&outcome, args.json);
            ExitCode::SUCCESS
        }
        Err(message) => {
            eprintln!("postern spf: {message}");
            ExitCode::from(1)
        }
    }
}

fn print_outcome(outcome: &Outcome, as_json: bool) {
    if as_json {
        let value = json!({
            "result": outcome.verdict.as_str(),
            "explanation": outcome.explanation,
            "mechanism": outcome.mechanism().map(|m| m.to_string()),
            "dns_lookups": outcome.dns_lookups,
            "void_lookups": outcome.void_lookups,
            "received_spf": outcome.received_spf(),
            "authentication_results": outcome.authentication_results(),
        });
        println!("{value}");
        return;
    }
    let mut line = format!(
        "{} ({} identity {})",
        outcome.verdict,
        outcome.identity.as_str(),
        outcome.sender()
    );
    if let Some(m) = outcome.mechanism() {
        let _ = write!(line, " mechanism={m}");
    }
    if let Some(p) = &outcome.problem {
        let _ = write!(line, " problem={p:?}");
    }
    if let Some(e) = &outcome.explanation {
        let _ = write!(line, " explanation={e:?}");
    }
    let _ = write!(
        line,
        " dns_lookups={} void_lookups={}",
        outcome.dns_lookups, outcome.void_lookups
    );
    println!("{line}");
}
