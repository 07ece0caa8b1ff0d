//! SPF, the Sender Policy Framework (RFC 7208): record parser, macro expander and a
//! `check_host()` evaluator that does no I/O.
//!
//! - [`Record`] parses the whole RFC 7208 grammar (a single-pass scanner): every mechanism
//!   with qualifiers and dual CIDR lengths, `redirect=`, `exp=` and unknown modifiers, macros
//!   with every letter and transformer. Syntax errors carry the byte offset. Records print
//!   back to canonical text. The evaluator runs the same scanner on each fetched TXT record
//!   without allocating: it keeps the directives with their domain-specs as ranges of the
//!   text.
//! - [`MacroString`] parses and expands macros (RFC 7208 §7).
//! - [`Evaluator`] runs `check_host()` as a state machine: [`Evaluator::step`] returns
//!   [`Step::Lookup`] with a DNS [`Query`](postern_dns::Query) to answer, or [`Step::Done`]
//!   with the [`Outcome`]. Answers come back as [`Answer`](postern_dns::Answer)s
//!   ([`Evaluator::supply`]) or raw DNS packets ([`Evaluator::supply_wire`]).
//!   [`evaluate_with`] is the blocking helper for callers with a resolver function.
//! - [`Outcome::received_spf`] and [`Outcome::authentication_results`] render the result
//!   for `Received-SPF:` (RFC 7208 §9.1) and `Authentication-Results:` (RFC 8601), quoting
//!   values so that a hostile HELO or MAIL FROM cannot inject header content.
//!
//! # The step loop
//! ```
//! use postern_dns::{Answer, Zone};
//! use postern_spf::{Evaluator, Options, Request, Step, Verdict};
//!
//! let zone = Zone::from_json(r#"{
//!     "example.com":      [{"type": "TXT", "value": "v=spf1 include:_spf.example.com ~all"}],
//!     "_spf.example.com": [{"type": "TXT", "value": "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 -all"}]
//! }"#)?;
//! // An IPv4-mapped IPv6 client is checked as IPv4.
//! let request = Request::mail_from("::ffff:192.0.2.55".parse()?, "alice@example.com", "mail.example.com");
//! let mut eval = Evaluator::new(&request, &Options::default().with_receiver("mx.example.net"));
//! let outcome = loop {
//!     match eval.step() {
//!         // Resolve however you like: blocking, async, or a raw packet via supply_wire().
//!         Step::Lookup(query) => eval.supply(query.id(), zone.resolve(&query))?,
//!         Step::Done(outcome) => break outcome,
//!     }
//! };
//! assert_eq!(outcome.verdict, Verdict::Pass);
//! assert_eq!(outcome.mechanism().unwrap().to_string(), "include:_spf.example.com");
//! assert_eq!(outcome.dns_lookups, 1);
//! assert_eq!(outcome.authentication_results(), "spf=pass smtp.mailfrom=alice@example.com");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # The blocking helper
//! ```
//! use postern_dns::Zone;
//! use postern_spf::{evaluate_with, Options, Request, Verdict};
//!
//! let zone = Zone::from_json(r#"{"example.org": [{"type": "TXT", "value": "v=spf1 -all"}]}"#)?;
//! let request = Request::helo("198.51.100.1".parse()?, "example.org");
//! let outcome = evaluate_with(&request, &Options::default(), |query| zone.resolve(query));
//! assert_eq!(outcome.verdict, Verdict::Fail);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Limits
//! The evaluator enforces RFC 7208 §4.6.4 itself, whatever the caller caches:
//! [`MAX_DNS_TERMS`] DNS-querying terms, [`DEFAULT_MAX_VOID_LOOKUPS`] void lookups
//! (configurable in [`Options`]), [`MAX_MX_NAMES`] MX names per `mx`, [`MAX_PTR_NAMES`] PTR
//! names per `ptr` or `%{p}`, and [`MAX_EXPANDED_DOMAIN`] octets per expanded name (§7.3).
//! The number of DNS queries one check can ask is therefore bounded.
//!
//! # Conformance
//! All 203 tests of the `OpenSPF` RFC 7208 suite pass, and all 191 of the RFC 4408 suite (10
//! of them with the RFC 7208 answer that the suite also accepts). Where RFC 7208 leaves room,
//! the evaluator does what pyspf, the reference implementation, does, and a differential test
//! checks it against pyspf on thousands of generated zones:
//! - DNS errors during PTR validation (`ptr`, `%{p}`) give temperror, as everywhere else;
//! - a record that `include`s its own domain is permerror before anything is evaluated;
//! - a `redirect=` counts against [`MAX_DNS_TERMS`] when its record is loaded;
//! - MX hosts are looked up in preference order, all before matching;
//! - a modifier name given twice is permerror; `%{i}` writes IPv6 nibbles in upper case.
//!
//! It follows the RFC where pyspf does not: `%{s}` is `postmaster@domain` for an empty
//! local-part (§4.3), `exists` always needs a domain-spec, and `exp=` is only looked at (and
//! its macros expanded) when the result is fail (§6.2).
//!
//! # Features
//! - `wire` (default): [`Evaluator::supply_wire`], with postern-dns's `wire` feature.
#![forbid(unsafe_code)]

mod error;
mod eval;
mod macros;
mod outcome;
mod record;
#[cfg(test)]
mod reference;

#[doc(hidden)]
pub mod __fuzz;

pub use error::{Error, SyntaxProblem};
pub use eval::{
    DEFAULT_MAX_VOID_LOOKUPS, Evaluator, MAX_DNS_TERMS, MAX_EXPANDED_DOMAIN, MAX_MX_NAMES,
    MAX_PTR_NAMES, Options, Request, Step, evaluate_with,
};
pub use macros::{Delimiters, Macro, MacroContext, MacroLetter, MacroString, MacroToken};
pub use outcome::{Identity, Outcome, Verdict};
pub use record::{
    Directive, DualCidr, Mechanism, Modifier, Qualifier, Record, Term, is_spf_record,
};
