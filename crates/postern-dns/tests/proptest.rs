//! Property tests: names are case-insensitive and stable, and every query packet we encode
//! decodes back to the same question.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use postern_dns::Name;
#[cfg(feature = "wire")]
use postern_dns::{Answer, Query, RecordType};
use proptest::prelude::*;

fn name_text() -> impl Strategy<Value = String> {
    prop::collection::vec("[A-Za-z0-9_+=-]{1,20}", 1..6).prop_map(|labels| labels.join("."))
}

#[cfg(feature = "wire")]
fn rtype() -> impl Strategy<Value = RecordType> {
    prop::sample::select(vec![
        RecordType::Txt,
        RecordType::A,
        RecordType::Aaaa,
        RecordType::Mx,
        RecordType::Ptr,
    ])
}

proptest! {
    #[test]
    fn names_are_case_insensitive_and_stable(text in name_text(), dot in any::<bool>()) {
        let with_dot = if dot { format!("{text}.") } else { text.clone() };
        let name = Name::new(&with_dot).unwrap();
        prop_assert_eq!(&Name::new(name.as_str()).unwrap(), &name);
        prop_assert_eq!(&Name::new(&text.to_uppercase()).unwrap(), &name);
        prop_assert_eq!(&Name::from_string(text.clone()).unwrap(), &name);
        prop_assert_eq!(name.as_str(), text.to_ascii_lowercase());
    }

    /// A query packet with the QR bit set is an empty answer to the same question: NODATA.
    #[cfg(feature = "wire")]
    #[test]
    fn query_packets_round_trip(text in name_text(), t in rtype(), txid in any::<u16>()) {
        let query = Query::new(1, Name::new(&text).unwrap(), t);
        let mut packet = query.to_wire(txid).unwrap();
        prop_assert_eq!(u16::from_be_bytes([packet[0], packet[1]]), txid);
        packet[2] |= 0x80;
        prop_assert_eq!(Answer::from_wire(&query, &packet), Ok(Answer::NoData));
    }

    /// Arbitrary bytes never panic the packet reader, and records always have the asked type.
    #[test]
    fn arbitrary_packets(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        postern_dns::__fuzz::dns_wire(&bytes);
    }
}
