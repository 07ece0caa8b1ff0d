//! Shared by the corpus tests and the dkimpy test: the manifests' `dns` values, and a verifier
//! that streams a message in chunks while answering from them.

use postern_dkim::{Outcome, Step, Verifier, VerifyOptions};
use postern_dns::{Answer, Query, Record};
use serde_json::Value;

/// A manifest `dns` value that is a TXT record: a string is one TXT record, a list is one TXT
/// record of several character-strings (joined with nothing between, RFC 6376 §3.6.2.2).
/// `None` for any other value.
fn txt_answer(value: &Value) -> Option<Answer> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(Value::as_str).collect(),
        _ => return None,
    };
    Some(Answer::Records(vec![Record::Txt(text.into_bytes())].into()))
}

/// The answer a manifest's `dns` object gives to a query: its TXT record (names compared
/// case-insensitively, without a trailing dot), temperror for `{"error": ...}`, NXDOMAIN for
/// a name that is not listed.
pub(crate) fn resolve(dns: &Value, query: &Query) -> Answer {
    let name = query
        .name()
        .as_str()
        .trim_end_matches('.')
        .to_ascii_lowercase();
    let entry = dns
        .as_object()
        .unwrap()
        .iter()
        .find(|(k, _)| k.to_ascii_lowercase() == name)
        .map(|(_, v)| v);
    match entry {
        None => Answer::NxDomain,
        Some(value @ (Value::String(_) | Value::Array(_))) => txt_answer(value).unwrap(),
        Some(Value::Object(_)) => Answer::TempFail,
        Some(other) => panic!("unexpected dns value {other}"),
    }
}

/// Verify with the message fed in `chunk`-byte pieces, answering each query from `dns` as
/// soon as it is handed out (while the body still streams).
#[allow(
    dead_code,
    reason = "not every test crate that includes this module streams"
)]
pub(crate) fn verify_streamed(message: &[u8], now: u64, dns: &Value, chunk: usize) -> Outcome {
    let mut v = Verifier::new(VerifyOptions::new(now));
    let mut pieces = message.chunks(chunk.max(1));
    loop {
        match v.step() {
            Step::Lookup(q) => v.supply(q.id(), resolve(dns, &q)).unwrap(),
            Step::NeedInput => match pieces.next() {
                Some(p) => v.update(p).unwrap(),
                None => v.finish().unwrap(),
            },
            Step::Waiting => panic!("all answers supplied"),
            Step::Done(outcome) => return outcome,
        }
    }
}
