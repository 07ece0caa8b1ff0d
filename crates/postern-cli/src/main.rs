//! `postern`: check EHLO replies, SPF, DKIM, whole received messages and policy decisions
//! from the command line. The only postern crate that does I/O.

mod check;
mod dkim;
mod ehlo;
mod live;
mod policy;
mod spf;
mod zone;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Guard the gate of a mail server: inspect and rewrite SMTP traffic.
#[derive(Debug, Parser)]
#[command(name = "postern", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Parse EHLO replies or withhold capabilities from them.
    #[command(subcommand)]
    Ehlo(ehlo::EhloCommand),
    /// Replay SMTP events through rate limits, concurrency, tarpit and greylisting; decide
    /// whether a delivery failure may bounce.
    #[command(subcommand)]
    Policy(policy::PolicyCommand),
    /// Check whether a client may send mail for a domain (SPF, RFC 7208).
    Spf(spf::SpfArgs),
    /// Verify and sign DKIM signatures (RFC 6376, 8301, 8463).
    #[command(subcommand)]
    Dkim(dkim::DkimCommand),
    /// Check a received message (SPF and DKIM) and print its Authentication-Results field.
    Check(check::CheckArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Ehlo(cmd) => ehlo::run(&cmd),
        Command::Policy(cmd) => policy::run(&cmd),
        Command::Spf(args) => spf::run(&args),
        Command::Dkim(cmd) => dkim::run(&cmd),
        Command::Check(args) => check::run(&args),
    }
}
