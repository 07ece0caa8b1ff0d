//! Shared by the corpus tests: the manifests' `dns` values.

use postern_dns::{Answer, Record};
use serde_json::Value;

/// A manifest `dns` value that is a TXT record: a string is one TXT record, a list is one TXT
/// record of several character-strings (joined with nothing between, RFC 6376 §3.6.2.2).
/// `None` for any other value.
pub(crate) fn txt_answer(value: &Value) -> Option<Answer> {
    let text = match value {
        Value::String(s) => s.clone(),
        Value::Array(parts) => parts.iter().filter_map(Value::as_str).collect(),
        _ => return None,
    };
    Some(Answer::Records(vec![Record::Txt(text.into_bytes())].into()))
}
