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

/// The query a handle is waiting on, and the typed records added so far.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    pub(crate) query: Option<Query>,
    pub(crate) records: Vec<Record>,
}

impl Pending {
    pub(crate) fn set(&mut self, query: Query) {
        self.query = Some(query);
        self.records.clear();
    }

    /// The pending query if `id` names it.
    pub(crate) fn check(&self, id: u32) -> Result<&Query, postern_result> {
        match &self.query {
            Some(q) if q.id() == id => Ok(q),
            _ => Err(postern_result::InvalidState),
        }
    }

    pub(crate) fn add(&mut self, id: u32, data: &[u8]) -> Result<(), postern_result> {
        let record = record(self.check(id)?, data)?;
        if self.records.len() >= POSTERN_MAX_RECORDS {
            return Err(postern_result::TooLarge);
        }
        self.records.push(record);
        Ok(())
    }

    /// Take the records added so far as the answer (NODATA when none were added).
    pub(crate) fn take_records(&mut self, id: u32) -> Result<Answer, postern_result> {
        self.check(id)?;
        let records = core::mem::take(&mut self.records);
        Ok(if records.is_empty() {
            Answer::NoData
        } else {
            Answer::Records(records)
        })
    }

    pub(crate) fn clear(&mut self) {
        self.query = None;
        self.records.clear();
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
