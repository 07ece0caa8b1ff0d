//! Property tests: records round-trip through their canonical text, and macro expansion keeps
//! its invariants (RFC 7208 §7.3).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use postern_spf::{MacroContext, MacroString, Record};
use proptest::prelude::*;

fn qualifier() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec!["", "+", "-", "~", "?"])
}

fn label() -> impl Strategy<Value = String> {
    "[a-z0-9_][a-z0-9-]{0,10}"
}

fn macro_expand() -> impl Strategy<Value = String> {
    (
        prop::sample::select(vec![
            's', 'l', 'o', 'd', 'i', 'p', 'v', 'h', 'S', 'L', 'D', 'I',
        ]),
        prop::option::of(1u8..20),
        any::<bool>(),
        "[.+,/_=-]{0,3}",
    )
        .prop_map(|(letter, digits, reverse, delims)| {
            format!(
                "%{{{letter}{}{}{delims}}}",
                digits.map(|d| d.to_string()).unwrap_or_default(),
                if reverse { "r" } else { "" }
            )
        })
}

/// A domain-spec: labels and macros, ending in a macro or a valid top label.
fn domain_spec() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(
            prop_oneof![
                label(),
                macro_expand(),
                Just("%%".to_owned()),
                Just("%_".to_owned()),
                Just("%-".to_owned())
            ],
            0..4,
        ),
        prop_oneof![
            macro_expand(),
            "[a-z][a-z0-9]{1,6}".prop_map(|t| format!("example.{t}"))
        ],
    )
        .prop_map(|(parts, end)| {
            let mut s = parts.join(".");
            if !s.is_empty() {
                s.push('.');
            }
            s.push_str(&end);
            s
        })
}

fn cidr4() -> impl Strategy<Value = String> {
    prop::option::of(0u8..=32).prop_map(|c| c.map(|c| format!("/{c}")).unwrap_or_default())
}

fn cidr6() -> impl Strategy<Value = String> {
    prop::option::of(0u8..=128).prop_map(|c| c.map(|c| format!("//{c}")).unwrap_or_default())
}

fn term() -> impl Strategy<Value = String> {
    prop_oneof![
        qualifier().prop_map(|q| format!("{q}all")),
        (qualifier(), domain_spec()).prop_map(|(q, d)| format!("{q}include:{d}")),
        (
            qualifier(),
            prop::option::of(domain_spec()),
            cidr4(),
            cidr6()
        )
            .prop_map(|(q, d, c4, c6)| format!(
                "{q}a{}{c4}{c6}",
                d.map(|d| format!(":{d}")).unwrap_or_default()
            )),
        (
            qualifier(),
            prop::option::of(domain_spec()),
            cidr4(),
            cidr6()
        )
            .prop_map(|(q, d, c4, c6)| format!(
                "{q}MX{}{c4}{c6}",
                d.map(|d| format!(":{d}")).unwrap_or_default()
            )),
        (qualifier(), prop::option::of(domain_spec()))
            .prop_map(|(q, d)| format!("{q}ptr{}", d.map(|d| format!(":{d}")).unwrap_or_default())),
        (qualifier(), any::<u32>(), cidr4())
            .prop_map(|(q, ip, c)| format!("{q}ip4:{}{c}", Ipv4Addr::from(ip))),
        (qualifier(), any::<u128>(), prop::option::of(0u8..=128)).prop_map(|(q, ip, c)| format!(
            "{q}ip6:{}{}",
            Ipv6Addr::from(ip),
            c.map(|c| format!("/{c}")).unwrap_or_default()
        )),
        (qualifier(), domain_spec()).prop_map(|(q, d)| format!("{q}exists:{d}")),
        (
            "[a-z][a-z0-9._-]{0,8}",
            prop::collection::vec(prop_oneof![label(), macro_expand()], 0..3)
        )
            .prop_filter("not a known modifier", |(n, _)| n != "redirect"
                && n != "exp")
            .prop_map(|(n, v)| format!("{n}={}", v.join("."))),
    ]
}

fn record_text() -> impl Strategy<Value = String> {
    (
        prop::collection::vec(term(), 0..8),
        prop::option::of(domain_spec()),
        prop::option::of(domain_spec()),
        prop::sample::select(vec![" ", "  "]),
    )
        .prop_map(|(terms, redirect, exp, sep)| {
            let mut all = vec!["v=spf1".to_owned()];
            // A modifier name may appear once (duplicates are permerror).
            let mut names = Vec::new();
            for term in terms {
                if let Some((name, _)) = term.split_once('=') {
                    if names.contains(&name.to_owned()) {
                        continue;
                    }
                    names.push(name.to_owned());
                }
                all.push(term);
            }
            if let Some(r) = redirect {
                all.push(format!("redirect={r}"));
            }
            if let Some(e) = exp {
                all.push(format!("exp={e}"));
            }
            all.join(sep)
        })
}

fn context_strings() -> impl Strategy<Value = (String, String, String, String)> {
    (
        "[a-zA-Z0-9.+_=-]{1,20}",
        "([a-z0-9-]{1,8}\\.){1,4}[a-z]{2,5}",
        "([a-z0-9-]{1,8}\\.){1,4}[a-z]{2,5}",
        "[ -~]{0,20}",
    )
}

fn ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<u32>().prop_map(|i| IpAddr::V4(i.into())),
        any::<u128>().prop_map(|i| IpAddr::V6(i.into()))
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    /// parse(print(parse(text))) == parse(text), and printing is a fixed point.
    #[test]
    fn record_round_trip(text in record_text()) {
        let record = Record::parse(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        let printed = record.to_string();
        let again = Record::parse(&printed).unwrap();
        prop_assert_eq!(&again, &record);
        prop_assert_eq!(again.to_string(), printed);
    }

    /// Any printable text either fails to parse or round-trips.
    #[test]
    fn arbitrary_text_round_trips_or_fails(text in "v=spf1( [ -~]{0,12}){0,6}") {
        postern_spf::__fuzz::spf_record(text.as_bytes());
        postern_spf::__fuzz::spf_macro(text.as_bytes());
    }

    /// Transformers: at most `digits` parts, `r` reverses the parts, and an upper-case letter
    /// gives the URL-escaped form of the lower-case one.
    #[test]
    fn macro_transformers((local, sender_domain, domain, helo) in context_strings(), client in ip(),
                          letter in prop::sample::select(vec!['s', 'l', 'o', 'd', 'i', 'v', 'h']),
                          digits in 1u8..8, delims in "[.+,/_=-]{0,3}") {
        let ctx = MacroContext {
            local_part: &local, sender_domain: &sender_domain, domain: &domain, ip: client,
            validated: None, helo: &helo, receiver: "r.example", timestamp: 0,
        };
        let expand = |text: &str| MacroString::parse(text, false).unwrap().expand(&ctx);
        let raw = expand(&format!("%{{{letter}}}"));
        let plain = expand(&format!("%{{{letter}{delims}}}"));
        // RFC 7208 §7.3: split on the delimiters (default "."), rejoin with ".".
        let is_delim = |c: char| if delims.is_empty() { c == '.' } else { delims.contains(c) };
        let parts: Vec<&str> = raw.split(is_delim).collect();
        prop_assert_eq!(&plain, &parts.join("."));
        // Keeping the right-hand `digits` parts.
        let kept = expand(&format!("%{{{letter}{digits}{delims}}}"));
        let want: Vec<&str> = parts[parts.len().saturating_sub(usize::from(digits))..].to_vec();
        prop_assert_eq!(kept, want.join("."));
        // Reversal.
        let reversed = expand(&format!("%{{{letter}r{delims}}}"));
        let mut rev_parts = parts.clone();
        rev_parts.reverse();
        prop_assert_eq!(reversed, rev_parts.join("."));
        // URL escaping: only unreserved characters and %XX remain, and unescaping gives back
        // the plain expansion.
        let upper = expand(&format!("%{{{}{delims}}}", letter.to_ascii_uppercase()));
        let bytes = upper.as_bytes();
        let mut decoded = Vec::new();
        let mut i = 0;
        while i < bytes.len() {
            if bytes[i] == b'%' {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3]).unwrap();
                prop_assert!(hex.bytes().all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b)));
                decoded.push(u8::from_str_radix(hex, 16).unwrap());
                i += 3;
            } else {
                prop_assert!(bytes[i].is_ascii_alphanumeric() || b"-._~".contains(&bytes[i]));
                decoded.push(bytes[i]);
                i += 1;
            }
        }
        prop_assert_eq!(String::from_utf8(decoded).unwrap(), plain);
    }

    /// `ip6:` networks parse exactly as the standard library parses IPv6 text: formatted
    /// addresses (compressed, full, with a dotted quad) and arbitrary hex/colon/dot strings.
    #[test]
    fn ip6_networks_like_std(addr in any::<u128>(), junk in "[0-9a-fA-F:.]{0,45}", form in 0u8..4) {
        let ip = Ipv6Addr::from(addr);
        let segments = ip.segments();
        let text = match form {
            0 => ip.to_string(),
            1 => segments.iter().map(|g| format!("{g:x}")).collect::<Vec<_>>().join(":"),
            2 => {
                let o = ip.octets();
                format!("{}:{}.{}.{}.{}", segments[..6].iter().map(|g| format!("{g:X}")).collect::<Vec<_>>().join(":"), o[12], o[13], o[14], o[15])
            }
            _ => junk,
        };
        let ours = Record::parse(&format!("v=spf1 ip6:{text}"));
        match text.parse::<Ipv6Addr>() {
            Ok(want) => {
                let record = ours.map_err(|e| TestCaseError::fail(format!("{text}: {e}")))?;
                let got = match &record.directives().next().unwrap().mechanism {
                    postern_spf::Mechanism::Ip6 { network, .. } => *network,
                    other => panic!("{other:?}"),
                };
                prop_assert_eq!(got, want);
            }
            Err(_) => prop_assert!(ours.is_err(), "{} accepted", text),
        }
    }

    /// Literal text expands to itself; `%%`, `%_` and `%-` to `%`, a space and `%20`.
    #[test]
    fn literals_and_escapes(text in "[!-$&-~]{0,30}", client in ip()) {
        let ctx = MacroContext {
            local_part: "l", sender_domain: "o.example", domain: "d.example", ip: client,
            validated: None, helo: "h.example", receiver: "r.example", timestamp: 0,
        };
        let m = MacroString::parse(&text, false).unwrap();
        prop_assert_eq!(m.expand(&ctx), text.clone());
        let escaped = MacroString::parse(&format!("{text}%%%_%-"), false).unwrap();
        prop_assert_eq!(escaped.expand(&ctx), format!("{text}% %20"));
    }
}
