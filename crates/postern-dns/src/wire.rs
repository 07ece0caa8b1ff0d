//! Conversion between [`Query`]/[`Answer`] and raw DNS packets, with hickory-proto.

use hickory_proto::op::{self, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::{self, DNSClass, RData};

use crate::error::Error;
use crate::name::Name;
use crate::query::{Answer, Query, Record, RecordType};

/// Most CNAME hops followed inside one response packet before the answer is treated as a
/// temporary failure. Recursive resolvers use similar bounds (BIND: 16; the `OpenSPF` zone
/// convention: 10).
pub const MAX_CNAME_HOPS: usize = 10;

fn hickory_type(rtype: RecordType) -> rr::RecordType {
    match rtype {
        RecordType::Txt => rr::RecordType::TXT,
        RecordType::A => rr::RecordType::A,
        RecordType::Aaaa => rr::RecordType::AAAA,
        RecordType::Mx => rr::RecordType::MX,
        RecordType::Ptr => rr::RecordType::PTR,
    }
}

/// Converts a wire name to ours; `None` when it is not a valid [`Name`] (root, or a label
/// holding a dot or invalid UTF-8).
fn our_name(name: &rr::Name) -> Option<Name> {
    let mut text = String::with_capacity(64);
    for label in name {
        let label = core::str::from_utf8(label).ok()?;
        if label.contains('.') {
            return None;
        }
        if !text.is_empty() {
            text.push('.');
        }
        text.push_str(label);
    }
    Name::new(&text).ok()
}

fn convert(data: &RData, rtype: RecordType) -> Option<Record> {
    match (data, rtype) {
        (RData::A(a), RecordType::A) => Some(Record::A(a.0)),
        (RData::AAAA(a), RecordType::Aaaa) => Some(Record::Aaaa(a.0)),
        (RData::MX(mx), RecordType::Mx) => Some(Record::Mx {
            preference: mx.preference,
            exchange: if mx.exchange.is_root() {
                None
            } else {
                Some(our_name(&mx.exchange)?)
            },
        }),
        (RData::PTR(ptr), RecordType::Ptr) => Some(Record::Ptr(our_name(&ptr.0)?)),
        // RFC 7208 §3.3: the character-strings of one TXT RR are joined with no separator.
        (RData::TXT(txt), RecordType::Txt) => Some(Record::Txt(txt.txt_data.concat())),
        _ => None,
    }
}

impl Answer {
    /// Reads the answer to `query` from a raw DNS response packet, as returned by
    /// `res_query()`, c-ares, unbound or any stub resolver.
    ///
    /// The question section must hold exactly `query`'s name (case-insensitively), type and
    /// class IN. CNAME chains inside the answer section are followed (at most
    /// [`MAX_CNAME_HOPS`]); records of other owners, types or classes are ignored. RCODE
    /// NXDOMAIN gives [`Answer::NxDomain`], NOERROR without a matching record
    /// [`Answer::NoData`], SERVFAIL and every other RCODE [`Answer::TempFail`], and so does a
    /// CNAME chain longer than the bound.
    ///
    /// # Errors
    /// [`Error::MalformedPacket`] when the packet does not decode, [`Error::NotAResponse`],
    /// [`Error::Truncated`] when the TC bit is set (retry over TCP), and
    /// [`Error::QuestionMismatch`].
    ///
    /// # Examples
    /// ```
    /// use postern_dns::{Answer, Name, Query, RecordType};
    /// let query = Query::new(1, Name::new("example.com")?, RecordType::Txt);
    /// // A query packet is not an answer.
    /// let packet = query.to_wire(0x1234)?;
    /// assert!(Answer::from_wire(&query, &packet).is_err());
    /// # Ok::<(), postern_dns::Error>(())
    /// ```
    pub fn from_wire(query: &Query, packet: &[u8]) -> Result<Self, Error> {
        let message = Message::from_vec(packet).map_err(|e| Error::MalformedPacket {
            len: packet.len(),
            detail: e.to_string(),
        })?;
        if message.metadata.message_type != MessageType::Response {
            return Err(Error::NotAResponse);
        }
        if message.metadata.truncation {
            return Err(Error::Truncated);
        }
        let wanted = hickory_type(query.rtype());
        match message.queries.as_slice() {
            [q] if q.query_type == wanted
                && q.query_class == DNSClass::IN
                && our_name(&q.name).as_ref() == Some(query.name()) => {}
            [q] => {
                return Err(Error::QuestionMismatch {
                    found: format!("{}/{}/{}", q.name, q.query_type, q.query_class),
                });
            }
            _ => {
                return Err(Error::QuestionMismatch {
                    found: format!("{} questions", message.queries.len()),
                });
            }
        }
        match message.metadata.response_code {
            ResponseCode::NoError => {}
            ResponseCode::NXDomain => return Ok(Self::NxDomain),
            _ => return Ok(Self::TempFail),
        }
        let mut current = query.name().clone();
        for _ in 0..=MAX_CNAME_HOPS {
            let mut records = Vec::new();
            let mut cname = None;
            for rr in &message.answers {
                if rr.dns_class != DNSClass::IN {
                    continue;
                }
                let Some(owner) = our_name(&rr.name) else {
                    continue;
                };
                if owner != current {
                    continue;
                }
                if let RData::CNAME(target) = &rr.data {
                    cname = cname.or_else(|| our_name(&target.0));
                } else if let Some(record) = convert(&rr.data, query.rtype()) {
                    records.push(record);
                }
            }
            if !records.is_empty() {
                return Ok(Self::Records(records.into()));
            }
            match cname {
                Some(target) => current = target,
                None => return Ok(Self::NoData),
            }
        }
        Ok(Self::TempFail)
    }
}

impl Query {
    /// Encodes this question as a DNS query packet (class IN, RD set) with transaction id
    /// `txid`, for callers that send queries themselves.
    ///
    /// # Errors
    /// [`Error::Encode`] if the name cannot be encoded (cannot happen for names that are
    /// valid [`Name`]s, but the encoder's error is passed on rather than hidden).
    pub fn to_wire(&self, txid: u16) -> Result<Vec<u8>, Error> {
        let encode_err = |detail: String| Error::Encode {
            name: self.name().to_string(),
            detail,
        };
        let name = rr::Name::from_labels(self.name().labels().map(str::as_bytes))
            .map_err(|e| encode_err(e.to_string()))?;
        let mut message = Message::new(txid, MessageType::Query, OpCode::Query);
        message.metadata.recursion_desired = true;
        message.add_query(op::Query::query(name, hickory_type(self.rtype())));
        message.to_vec().map_err(|e| encode_err(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use hickory_proto::rr::rdata::{A, CNAME, MX, TXT};

    use super::*;

    fn hname(s: &str) -> rr::Name {
        rr::Name::from_ascii(s).unwrap()
    }

    fn response(query: &Query, rcode: ResponseCode, answers: Vec<rr::Record>) -> Vec<u8> {
        let mut m = Message::response(7, OpCode::Query);
        m.metadata.response_code = rcode;
        m.add_query(op::Query::query(
            hname(&format!("{}.", query.name().as_str().to_uppercase())),
            hickory_type(query.rtype()),
        ));
        m.answers = answers;
        m.to_vec().unwrap()
    }

    fn q(name: &str, t: RecordType) -> Query {
        Query::new(1, Name::new(name).unwrap(), t)
    }

    #[test]
    fn txt_strings_are_joined() {
        let query = q("example.com", RecordType::Txt);
        let rec = rr::Record::from_rdata(
            hname("example.com."),
            60,
            RData::TXT(TXT::new(vec!["v=spf1 ".into(), "-all".into()])),
        );
        let packet = response(&query, ResponseCode::NoError, vec![rec]);
        assert_eq!(
            Answer::from_wire(&query, &packet),
            Ok(Answer::Records(
                vec![Record::Txt(b"v=spf1 -all".to_vec())].into()
            ))
        );
    }

    #[test]
    fn cname_chain_is_followed() {
        let query = q("www.example.com", RecordType::A);
        let answers = vec![
            rr::Record::from_rdata(
                hname("www.example.com."),
                60,
                RData::CNAME(CNAME(hname("a.example.net."))),
            ),
            rr::Record::from_rdata(
                hname("other.example.net."),
                60,
                RData::A(A(Ipv4Addr::new(9, 9, 9, 9))),
            ),
            rr::Record::from_rdata(
                hname("A.example.NET."),
                60,
                RData::A(A(Ipv4Addr::new(192, 0, 2, 1))),
            ),
        ];
        let packet = response(&query, ResponseCode::NoError, answers);
        assert_eq!(
            Answer::from_wire(&query, &packet),
            Ok(Answer::Records(
                vec![Record::A(Ipv4Addr::new(192, 0, 2, 1))].into()
            ))
        );
    }

    #[test]
    fn records_of_other_classes_are_ignored() {
        let query = q("example.com", RecordType::A);
        let record = |class: DNSClass, ip: Ipv4Addr| {
            let mut rec = rr::Record::from_rdata(hname("example.com."), 60, RData::A(A(ip)));
            rec.dns_class = class;
            rec
        };
        let chaos = record(DNSClass::CH, Ipv4Addr::new(9, 9, 9, 9));
        let packet = response(&query, ResponseCode::NoError, vec![chaos.clone()]);
        assert_eq!(Answer::from_wire(&query, &packet), Ok(Answer::NoData));
        let both = vec![chaos, record(DNSClass::IN, Ipv4Addr::new(192, 0, 2, 1))];
        let packet = response(&query, ResponseCode::NoError, both);
        assert_eq!(
            Answer::from_wire(&query, &packet),
            Ok(Answer::Records(
                vec![Record::A(Ipv4Addr::new(192, 0, 2, 1))].into()
            ))
        );
    }

    fn unhex(text: &str) -> Vec<u8> {
        text.as_bytes()
            .chunks(2)
            .map(|pair| u8::from_str_radix(core::str::from_utf8(pair).unwrap(), 16).unwrap())
            .collect()
    }

    /// Responses as validating resolvers and modern zones send them, built with dnspython
    /// 2.9 (`dns.message.make_response`, id 0x1234) for a TXT query of `example.com`: records
    /// this crate does not read (RRSIG, NSEC, NSEC3, DNSKEY, HTTPS, CAA, a private type, an
    /// EDNS OPT with the DO bit, an owner with a label of raw octets) are skipped, and never
    /// fail the packet, whatever hickory-proto's features model.
    #[test]
    fn dnssec_edns_and_unknown_records_are_skipped() {
        let query = q("example.com", RecordType::Txt);
        // TXT + RRSIG over it, OPT with DO.
        let signed = unhex(concat!(
            "123481000001000200000001076578616d706c6503636f6d0000100001c00c001000010000003c000c0b763d",
            "73706631202d616c6cc00c002e00010000003c002200100d020000003c6955b900677485803039076578616d",
            "706c6503636f6d000000000000292000000000000000"
        ));
        assert_eq!(
            Answer::from_wire(&query, &signed),
            Ok(Answer::Records(
                vec![Record::Txt(b"v=spf1 -all".to_vec())].into()
            ))
        );
        // NOERROR without answers: NSEC, NSEC3 and SOA in the authority section, OPT with DO.
        let denial = unhex(concat!(
            "123481000001000000030001076578616d706c6503636f6d0000100001c00c002f00010000003c0017016107",
            "6578616d706c6503636f6d00000640000000000303616263c00c003200010000003c00260101000c04aabbcc",
            "dd14174eb2409fe28bcb4887a1836f957f0a8425e27b0006400000000002c00c000600010000003c001e026e",
            "730004686f73740000000001000000020000000300000004000000050000292000000000000000"
        ));
        assert_eq!(Answer::from_wire(&query, &denial), Ok(Answer::NoData));
        // TXT beside CAA, TYPE65534, DNSKEY, HTTPS, and a TXT at `\255\000.example.com`.
        let mixed = unhex(concat!(
            "123481000001000600000000076578616d706c6503636f6d0000100001c00c001000010000003c00020178c0",
            "0c010100010000003c00110005697373756563612e6578616d706c65c00cfffe00010000003c000401020304",
            "c00c003000010000003c00070101030d000000c00c004100010000003c000a0001000001000302683202ff00",
            "c00c001000010000003c00020179"
        ));
        assert_eq!(
            Answer::from_wire(&query, &mixed),
            Ok(Answer::Records(vec![Record::Txt(b"x".to_vec())].into()))
        );
    }

    #[test]
    fn cname_loop_is_bounded() {
        let query = q("a.example", RecordType::A);
        let answers = vec![
            rr::Record::from_rdata(
                hname("a.example."),
                60,
                RData::CNAME(CNAME(hname("b.example."))),
            ),
            rr::Record::from_rdata(
                hname("b.example."),
                60,
                RData::CNAME(CNAME(hname("a.example."))),
            ),
        ];
        let packet = response(&query, ResponseCode::NoError, answers);
        assert_eq!(Answer::from_wire(&query, &packet), Ok(Answer::TempFail));
    }

    #[test]
    fn rcodes_map() {
        let query = q("example.com", RecordType::Mx);
        for (rcode, want) in [
            (ResponseCode::NXDomain, Answer::NxDomain),
            (ResponseCode::NoError, Answer::NoData),
            (ResponseCode::ServFail, Answer::TempFail),
            (ResponseCode::Refused, Answer::TempFail),
        ] {
            let packet = response(&query, rcode, vec![]);
            assert_eq!(Answer::from_wire(&query, &packet), Ok(want));
        }
        let mx = rr::Record::from_rdata(
            hname("example.com."),
            60,
            RData::MX(MX::new(10, hname("Mx.Example.com."))),
        );
        let packet = response(&query, ResponseCode::NoError, vec![mx]);
        assert_eq!(
            Answer::from_wire(&query, &packet),
            Ok(Answer::Records(
                vec![Record::Mx {
                    preference: 10,
                    exchange: Some(Name::new("mx.example.com").unwrap())
                }]
                .into()
            ))
        );
    }

    #[test]
    fn rejects_wrong_question_truncation_and_garbage() {
        let query = q("example.com", RecordType::Txt);
        let other = q("example.org", RecordType::Txt);
        let packet = response(&other, ResponseCode::NoError, vec![]);
        assert!(matches!(
            Answer::from_wire(&query, &packet),
            Err(Error::QuestionMismatch { .. })
        ));
        let wrong_type = q("example.com", RecordType::A);
        let packet = response(&wrong_type, ResponseCode::NoError, vec![]);
        assert!(matches!(
            Answer::from_wire(&query, &packet),
            Err(Error::QuestionMismatch { .. })
        ));

        let mut packet = response(&query, ResponseCode::NoError, vec![]);
        packet[2] |= 0x02; // TC
        assert_eq!(Answer::from_wire(&query, &packet), Err(Error::Truncated));

        let mut m = Message::response(7, OpCode::Query);
        let mut chaos = op::Query::query(hname("example.com."), rr::RecordType::TXT);
        chaos.query_class = DNSClass::CH;
        m.add_query(chaos);
        let err = Answer::from_wire(&query, &m.to_vec().unwrap()).unwrap_err();
        assert!(
            matches!(&err, Error::QuestionMismatch { found } if found.ends_with("/CH")),
            "{err:?}"
        );

        let packet = query.to_wire(99).unwrap();
        assert_eq!(Answer::from_wire(&query, &packet), Err(Error::NotAResponse));
        assert!(matches!(
            Answer::from_wire(&query, &[0, 1, 2]),
            Err(Error::MalformedPacket { len: 3, .. })
        ));
    }

    #[test]
    fn to_wire_round_trips() {
        let query = q("_spf.Example.com", RecordType::Txt);
        let packet = query.to_wire(0xbeef).unwrap();
        let m = Message::from_vec(&packet).unwrap();
        assert_eq!(m.metadata.id, 0xbeef);
        assert!(m.metadata.recursion_desired);
        assert_eq!(m.queries.len(), 1);
        assert_eq!(m.queries[0].query_type, rr::RecordType::TXT);
        assert_eq!(
            our_name(&m.queries[0].name),
            Some(Name::new("_spf.example.com").unwrap())
        );
    }
}
