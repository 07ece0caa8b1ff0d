//! Live DNS for the CLI: every query postern asks (SPF's A/AAAA/MX/PTR/TXT, DKIM's key
//! TXT records) answered through hickory-resolver with the system's configuration, behind
//! the default `system-dns` feature. Used by `postern spf`, `postern dkim verify` and
//! `postern check` with `--dns system`.

#[cfg(feature = "system-dns")]
mod system {

    use hickory_resolver::TokioResolver;
    use hickory_resolver::net::{DnsError, NetError};
    use hickory_resolver::proto::op::ResponseCode;
    use hickory_resolver::proto::rr::{self, RData};
    use postern_dns::{Answer, Name, Query, Record, RecordType};

    pub(crate) struct Resolver {
        runtime: tokio::runtime::Runtime,
        resolver: TokioResolver,
    }

    fn rtype(t: RecordType) -> rr::RecordType {
        match t {
            RecordType::A => rr::RecordType::A,
            RecordType::Aaaa => rr::RecordType::AAAA,
            RecordType::Mx => rr::RecordType::MX,
            RecordType::Ptr => rr::RecordType::PTR,
            _ => rr::RecordType::TXT,
        }
    }

    fn our_name(name: &rr::Name) -> Option<Name> {
        let labels: Option<Vec<&str>> = name.iter().map(|l| core::str::from_utf8(l).ok()).collect();
        Name::new(&labels?.join(".")).ok()
    }

    fn convert(data: &RData, t: RecordType) -> Option<Record> {
        match (data, t) {
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
            (RData::PTR(p), RecordType::Ptr) => Some(Record::Ptr(our_name(&p.0)?)),
            (RData::TXT(txt), RecordType::Txt) => Some(Record::Txt(txt.txt_data.concat())),
            _ => None,
        }
    }

    impl Resolver {
        pub(crate) fn new() -> Result<Self, String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| format!("cannot start the DNS runtime: {e}"))?;
            let resolver = TokioResolver::builder_tokio()
                .and_then(hickory_resolver::ResolverBuilder::build)
                .map_err(|e| format!("cannot configure the system resolver: {e}"))?;
            Ok(Self { runtime, resolver })
        }

        /// Answer `query` (any type postern asks for) from live DNS.
        pub(crate) fn resolve(&mut self, query: &Query) -> Answer {
            let Ok(name) = rr::Name::from_labels(query.name().labels().map(str::as_bytes)) else {
                return Answer::TempFail;
            };
            let lookup = self
                .runtime
                .block_on(self.resolver.lookup(name, rtype(query.rtype())));
            match lookup {
                Ok(lookup) => {
                    let records: Vec<Record> = lookup
                        .answers()
                        .iter()
                        .filter_map(|r| convert(&r.data, query.rtype()))
                        .collect();
                    if records.is_empty() {
                        Answer::NoData
                    } else {
                        Answer::Records(records.into())
                    }
                }
                Err(NetError::Dns(DnsError::NoRecordsFound(none)))
                    if none.response_code == ResponseCode::NXDomain =>
                {
                    Answer::NxDomain
                }
                Err(NetError::Dns(DnsError::NoRecordsFound(_))) => Answer::NoData,
                Err(_) => Answer::TempFail,
            }
        }
    }
}

#[cfg(feature = "system-dns")]
pub(crate) use system::Resolver;

#[cfg(not(feature = "system-dns"))]
mod unavailable {
    use postern_dns::{Answer, Query};

    pub(crate) struct Resolver;

    impl Resolver {
        pub(crate) fn new() -> Result<Self, String> {
            Err("live DNS needs postern built with the `system-dns` feature".to_owned())
        }

        pub(crate) fn resolve(&mut self, _query: &Query) -> Answer {
            Answer::TempFail
        }
    }
}

#[cfg(not(feature = "system-dns"))]
pub(crate) use unavailable::Resolver;
