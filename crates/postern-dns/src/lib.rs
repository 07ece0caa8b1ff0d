//! DNS questions and answers for sans-I/O mail authentication (SPF, DKIM).
//!
//! The evaluators of postern never do I/O: they hand a [`Query`] to the caller and take an
//! [`Answer`] back. This crate holds those types and the ways to produce answers:
//!
//! - [`Answer::from_wire`] reads a raw DNS response packet (from `res_query()`, c-ares, unbound
//!   or any resolver): it checks that the question matches, follows CNAME chains inside the
//!   packet, maps RCODEs (NXDOMAIN, empty NOERROR = NODATA, SERVFAIL and others = temporary
//!   failure), rejects truncated packets and joins TXT character-strings with no separator
//!   (RFC 7208 §3.3). [`Query::to_wire`] encodes a question for callers that send it themselves.
//! - [`Zone`] is an offline zone for tests, examples and the command-line tool, loaded from the
//!   JSON zone format, from the `OpenSPF` test suites' `zonedata`, or from an RFC 1035 master file.
//!
//! Names are validated [`Name`]s: case-insensitive, at most [`MAX_NAME_LEN`] octets, labels of
//! 1 to [`MAX_LABEL_LEN`] octets.
//!
//! # Example
//! ```
//! use postern_dns::{Answer, Name, Query, Record, RecordType, Zone};
//!
//! let zone = Zone::from_json(r#"{
//!     "example.com":    [{"type": "MX", "value": [10, "mx.example.com"]}],
//!     "mx.example.com": [{"type": "A", "value": "192.0.2.10"}]
//! }"#)?;
//! let query = Query::new(1, Name::new("Example.COM")?, RecordType::Mx);
//! let Answer::Records(records) = zone.resolve(&query) else { panic!() };
//! assert_eq!(*records, [Record::Mx { preference: 10, exchange: Some(Name::new("mx.example.com")?) }]);
//! # Ok::<(), postern_dns::Error>(())
//! ```
//!
//! # Features
//! - `wire` (default): [`Answer::from_wire`] and [`Query::to_wire`], with hickory-proto
//!   (no networking features).
#![forbid(unsafe_code)]

mod error;
mod master;
mod name;
mod query;
#[cfg(feature = "wire")]
mod wire;
mod zone;

#[doc(hidden)]
pub mod __fuzz;

pub use error::{Error, NameProblem};
pub use master::{MAX_CHARACTER_STRING, MAX_INCLUDE_DEPTH, MAX_INCLUDED_FILES};
pub use name::{MAX_LABEL_LEN, MAX_NAME_LEN, Name};
pub use query::{Answer, Query, Record, RecordType};
#[cfg(feature = "wire")]
pub use wire::MAX_CNAME_HOPS;
pub use zone::{Entry, MAX_ZONE_CNAME_HOPS, Zone};
