//! DNS answers from C: a status, a raw response packet, or typed records added one by one.

use std::net::{Ipv4Addr, Ipv6Addr};

use postern_dns::{Answer, Name, Query, Record, RecordType};

use crate::postern_result;

/// Answer status: the name does not exist (NXDOMAIN).
pub const POSTERN_DNS_NXDOMAIN: u32 = 1;
/// Answer status: the name exists but has no record of the type asked (NOERROR, no answer).
pub const POSTERN_DNS_NODATA: u32 = 2;
/// Answer status: the lookup failed transiently (SERVFAIL, timeout).
pub const POSTERN_DNS_TEMPFAIL: u32 = 3;

/// Step status: a DNS query is pending; answer it, then step again.
pub const POSTERN_STEP_LOOKUP: u32 = 1;
/// Step status: the evaluation is over; read the outcome.
pub const POSTERN_STEP_DONE: u32 = 2;

/// Maximum typed records added to one answer (bounds the memory a caller can make a handle
/// hold; RFC 7208 §4.6.4 caps what SPF looks at far below this).
pub const POSTERN_MAX_RECORDS: usize = 256;

pub(crate) fn status_answer(status: u32) -> Result<Answer, postern_result> {
    match status {
        POSTERN_DNS_NXDOMAIN => Ok(Answer::NxDomain),
        POSTERN_DNS_NODATA => Ok(Answer::NoData),
        POSTERN_DNS_TEMPFAIL => Ok(Answer::TempFail),
        _ => Err(postern_result::InvalidArgument),
    }
}

fn name(data: &[u8]) -> Result<Name, postern_result> {
    let text = core::str::from_utf8(data).map_err(|_| postern_result::InvalidArgument)?;
    Name::new(text).map_err(|_| postern_result::InvalidArgument)
}

/// A record of the pending query's type from C data: TXT text (character-strings already
/// joined), A 4 bytes, AAAA 16 bytes (network order), MX `"PREFERENCE EXCHANGE"` text
/// (`"0 ."` for a null MX), PTR the target name.
pub(crate) fn record(query: &Query, data: &[u8]) -> Result<Record, postern_result> {
    match query.rtype() {
        RecordType::Txt => Ok(Record::Txt(data.to_vec())),
        RecordType::A => <[u8; 4]>::try_from(data)
            .map(|b| Record::A(Ipv4Addr::from(b)))
            .map_err(|_| postern_result::InvalidArgument),
        RecordType::Aaaa => <[u8; 16]>::try_from(data)
            .map(|b| Record::Aaaa(Ipv6Addr::from(b)))
            .map_err(|_| postern_result::InvalidArgument),
        RecordType::Mx => {
            let text = core::str::from_utf8(data).map_err(|_| postern_result::InvalidArgument)?;
            let (pref, exchange) = text
                .trim()
                .split_once(' ')
                .ok_or(postern_result::InvalidArgument)?;
            let preference = pref.parse().map_err(|_| postern_result::InvalidArgument)?;
            let exchange = exchange.trim();
            let exchange = if exchange == "." {
                None
            } else {
                Some(name(exchange.as_bytes())?)
            };
            Ok(Record::Mx {
                preference,
                exchange,
            })
        }
        RecordType::Ptr => name(data).map(Record::Ptr),
        // Types added to postern-dns later are refused until mapped here.
        _ => Err(postern_result::InvalidArgument),
    }
}

/// Maximum queries one handle waits on at once (DKIM asks one key per signature).
const MAX_OUTSTANDING: usize = 64;

/// The queries a handle has handed out and not yet had answered, each with the typed records
/// added so far, and the id of the one the last step handed out.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    entries: Vec<(Query, Vec<Record>)>,
    latest: Option<u32>,
}

impl Pending {
    /// Note a query a step handed out (again, for SPF, which repeats it until answered).
    pub(crate) fn handed_out(&mut self, query: Query) -> Result<(), postern_result> {
        self.latest = Some(query.id());
        if self.entries.iter().any(|(q, _)| q.id() == query.id()) {
            return Ok(());
        }
        if self.entries.len() >= MAX_OUTSTANDING {
            return Err(postern_result::TooLarge);
        }
        self.entries.push((query, Vec::new()));
        Ok(())
    }

    /// The query the last step handed out, while it is unanswered.
    pub(crate) fn latest(&self) -> Option<&Query> {
        let id = self.latest?;
        self.entries.iter().map(|(q, _)| q).find(|q| q.id() == id)
    }

    /// The outstanding query `id`.
    pub(crate) fn check(&self, id: u32) -> Result<&Query, postern_result> {
        self.entries
            .iter()
            .map(|(q, _)| q)
            .find(|q| q.id() == id)
            .ok_or(postern_result::InvalidState)
    }

    pub(crate) fn add(&mut self, id: u32, data: &[u8]) -> Result<(), postern_result> {
        let (query, records) = self
            .entries
            .iter_mut()
            .find(|(q, _)| q.id() == id)
            .ok_or(postern_result::InvalidState)?;
        let record = record(query, data)?;
        if records.len() >= POSTERN_MAX_RECORDS {
            return Err(postern_result::TooLarge);
        }
        records.push(record);
        Ok(())
    }

    /// The records added for `id` as its answer (none added: NODATA).
    pub(crate) fn records_answer(&self, id: u32) -> Result<Answer, postern_result> {
        let (_, records) = self
            .entries
            .iter()
            .find(|(q, _)| q.id() == id)
            .ok_or(postern_result::InvalidState)?;
        Ok(if records.is_empty() {
            Answer::NoData
        } else {
            Answer::Records(records.as_slice().into())
        })
    }

    /// Forget query `id`: it was answered.
    pub(crate) fn answered(&mut self, id: u32) {
        self.entries.retain(|(q, _)| q.id() != id);
    }

    pub(crate) fn clear(&mut self) {
        self.entries.clear();
        self.latest = None;
    }
}

/// The pending query's id, type and name into C out-parameters (see the `_query` functions).
pub(crate) fn write_query(
    query: &Query,
    id: crate::OutParam<'_, u32>,
    qtype: crate::OutParam<'_, u16>,
    name: &mut [u8],
    name_len: crate::OutParam<'_, usize>,
) -> Result<postern_result, postern_result> {
    match copy_out(query.name().as_str().as_bytes(), name) {
        Ok(n) => {
            id.write(query.id());
            qtype.write(query.rtype().code());
            name_len.write(n);
            Ok(postern_result::Ok)
        }
        Err(needed) => {
            name_len.write(needed);
            Err(postern_result::BufferTooSmall)
        }
    }
}

/// A text into a caller buffer and its length out-parameter; the size needed when short.
pub(crate) fn write_text(
    text: &[u8],
    out: &mut [u8],
    len: crate::OutParam<'_, usize>,
) -> Result<postern_result, postern_result> {
    match copy_out(text, out) {
        Ok(n) => {
            len.write(n);
            Ok(postern_result::Ok)
        }
        Err(needed) => {
            len.write(needed);
            Err(postern_result::BufferTooSmall)
        }
    }
}

/// Write a text into a caller buffer; on a short buffer, the size needed.
pub(crate) fn copy_out(text: &[u8], out: &mut [u8]) -> Result<usize, usize> {
    match out.get_mut(..text.len()) {
        Some(dst) => {
            dst.copy_from_slice(text);
            Ok(text.len())
        }
        None => Err(text.len()),
    }
}
