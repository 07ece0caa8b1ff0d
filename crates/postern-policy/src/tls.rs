//! TLS policy: (a) whether to offer STARTTLS to a client (RFC 3207), and (b) whether an
//! outbound delivery may go in clear, given REQUIRETLS and `TLS-Required: No` (RFC 8689),
//! DANE (RFC 7672), MTA-STS (RFC 8461), a local forced-TLS list and what was learned about the
//! MX before.

use crate::mta_sts::{StsMode, StsPolicy};
use crate::verdict::{REPLY_REQUIRETLS, REPLY_STARTTLS_WITHHELD, REPLY_TLS_POLICY_DEFER, Reply};

/// The EHLO keywords withheld together when STARTTLS is not offered (for postern-smtp's
/// capability filter): without STARTTLS, REQUIRETLS (RFC 8689 §4.1) cannot be honoured.
pub const WITHHELD_KEYWORDS: &[&str] = &["STARTTLS", "REQUIRETLS"];

/// What a listener is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ListenerRole {
    /// Port 25: mail from other MTAs.
    #[default]
    Mx,
    /// Port 587: message submission by users (RFC 6409), who must be able to protect their
    /// credentials (RFC 8314).
    Submission,
}

/// The client's reputation class, from whatever scoring the caller uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub enum Reputation {
    /// Known bad (listed, abusive).
    Bad,
    /// Suspicious.
    Poor,
    /// Unknown.
    #[default]
    Neutral,
    /// Known good.
    Good,
}

/// A per-network override configured by the operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsOverride {
    /// Always offer STARTTLS to this network.
    Offer,
    /// Never offer it (unless that would make enforced-TLS mail fail).
    Withhold,
}

/// The facts for the STARTTLS decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct StartTlsFacts {
    /// The listener.
    pub role: ListenerRole,
    /// TLS is already active on this connection.
    pub tls_active: bool,
    /// The client's reputation.
    pub reputation: Reputation,
    /// An override for the client's network, if one matches.
    pub override_for_network: Option<TlsOverride>,
    /// A protected domain served here publishes MTA-STS `enforce` or DANE TLSA records.
    pub domain_enforces_tls: bool,
    /// The sending domain or client is known to enforce TLS (it queued when TLS was missing).
    pub sender_enforces_tls: bool,
}

/// Options of the STARTTLS decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StartTlsOptions {
    /// Withhold STARTTLS from clients whose reputation is at or below this class; `None`
    /// never withholds by reputation.
    pub withhold_at_or_below: Option<Reputation>,
}

impl Default for StartTlsOptions {
    fn default() -> Self {
        Self {
            withhold_at_or_below: Some(Reputation::Bad),
        }
    }
}

/// Whether to offer STARTTLS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StartTlsDecision {
    /// Advertise STARTTLS (and REQUIRETLS if supported).
    Offer,
    /// TLS is already active: STARTTLS must not be advertised again (RFC 3207 §4.2).
    AlreadyActive,
    /// Do not advertise: remove `keywords` from the EHLO reply and answer a STARTTLS command
    /// with `reply`.
    Withhold {
        /// Keywords to remove ([`WITHHELD_KEYWORDS`]).
        keywords: &'static [&'static str],
        /// The reply to a STARTTLS command anyway (502 5.5.1).
        reply: Reply,
    },
}

/// Decide whether to offer STARTTLS. STARTTLS is never withheld where that would make
/// enforced-TLS mail queue and bounce: for domains publishing MTA-STS `enforce` or DANE, for
/// senders known to enforce TLS, and on submission listeners.
pub fn starttls(facts: &StartTlsFacts, options: &StartTlsOptions) -> StartTlsDecision {
    let withhold = StartTlsDecision::Withhold {
        keywords: WITHHELD_KEYWORDS,
        reply: REPLY_STARTTLS_WITHHELD,
    };
    if facts.tls_active {
        return StartTlsDecision::AlreadyActive;
    }
    if facts.domain_enforces_tls
        || facts.sender_enforces_tls
        || facts.role == ListenerRole::Submission
    {
        return StartTlsDecision::Offer;
    }
    match facts.override_for_network {
        Some(TlsOverride::Offer) => return StartTlsDecision::Offer,
        Some(TlsOverride::Withhold) => return withhold,
        None => {}
    }
    if options
        .withhold_at_or_below
        .is_some_and(|limit| facts.reputation <= limit)
    {
        return withhold;
    }
    StartTlsDecision::Offer
}

/// The DANE status of the MX (RFC 7672).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum DaneStatus {
    /// No DNSSEC-validated TLSA records: DANE does not apply.
    #[default]
    None,
    /// Validated, usable TLSA records: TLS authenticated by DANE is required (§2.2).
    Usable,
    /// Validated TLSA records, none usable: TLS is required, unauthenticated (§2.2).
    Unusable,
    /// The TLSA lookup failed or was bogus: do not deliver to this MX now (§2.2).
    Indeterminate,
}

/// How the server's certificate must be authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsAuth {
    /// Encryption only, any certificate.
    Unauthenticated,
    /// PKIX validation with the MX host name (MTA-STS, RFC 8461 §4.2).
    Pkix,
    /// DANE TLSA matching (RFC 7672 §3).
    Dane,
}

/// The facts for one outbound delivery attempt to one MX host, after its EHLO reply.
// Each flag is an independent fact of the delivery (message parameters, MX capabilities).
#[allow(clippy::struct_excessive_bools)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OutboundFacts<'a> {
    /// The message was submitted with `REQUIRETLS` (RFC 8689 §4).
    pub requiretls: bool,
    /// The message carries `TLS-Required: No` (RFC 8689 §5).
    pub tls_required_no: bool,
    /// DANE status of this MX.
    pub dane: DaneStatus,
    /// The cached MTA-STS policy of the recipient domain, if any.
    pub mta_sts: Option<&'a StsPolicy>,
    /// The MX host name.
    pub mx_host: &'a str,
    /// The recipient domain is on the local forced-TLS list, with this authentication.
    pub forced_tls: Option<TlsAuth>,
    /// This MX offered STARTTLS on an earlier connection.
    pub learned_tls: bool,
    /// This MX offers STARTTLS now.
    pub offers_starttls: bool,
    /// This MX offers REQUIRETLS now.
    pub offers_requiretls: bool,
    /// Other MX hosts remain to be tried.
    pub more_mx: bool,
}

/// Why a delivery cannot go to this MX now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TlsFailure {
    /// The MX does not offer STARTTLS but TLS is required.
    NoStartTls,
    /// The message requires REQUIRETLS and the MX does not offer it.
    NoRequireTls,
    /// The MX host does not match the MTA-STS policy.
    MxMismatch,
    /// The DANE lookup failed.
    DaneIndeterminate,
}

/// What to do with the delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OutboundDecision {
    /// Use TLS if offered, else plaintext is allowed.
    Opportunistic,
    /// Use TLS with this authentication; do not fall back to plaintext.
    RequireTls {
        /// The certificate check.
        auth: TlsAuth,
    },
    /// Do not use this MX; try the next one.
    TryNextMx {
        /// Why.
        failure: TlsFailure,
    },
    /// No usable MX now: keep the message queued (451 4.7.5).
    Defer {
        /// Why.
        failure: TlsFailure,
        /// The reply for logs and DSNs.
        reply: Reply,
    },
    /// The message cannot be delivered as required: bounce it with 5.7.30 (RFC 8689 §5).
    Bounce {
        /// Why.
        failure: TlsFailure,
        /// The reply for the DSN.
        reply: Reply,
    },
}

/// The decision and whether a STARTTLS downgrade is suspected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OutboundVerdict {
    /// What to do.
    pub decision: OutboundDecision,
    /// The MX offered STARTTLS before and does not now: someone may strip it.
    pub downgrade_suspected: bool,
}

/// Options of the outbound decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct OutboundOptions {
    /// When a downgrade is suspected and nothing else requires TLS, try the next MX or defer
    /// instead of sending in clear.
    pub refuse_suspected_downgrade: bool,
}

fn unavailable(facts: &OutboundFacts<'_>, failure: TlsFailure) -> OutboundDecision {
    if facts.more_mx {
        OutboundDecision::TryNextMx { failure }
    } else {
        OutboundDecision::Defer {
            failure,
            reply: REPLY_TLS_POLICY_DEFER,
        }
    }
}

fn require(facts: &OutboundFacts<'_>, auth: TlsAuth) -> OutboundDecision {
    if facts.offers_starttls {
        OutboundDecision::RequireTls { auth }
    } else {
        unavailable(facts, TlsFailure::NoStartTls)
    }
}

/// Decide whether this delivery may go in clear. In order:
///
/// 1. `REQUIRETLS`: the MX must offer STARTTLS and REQUIRETLS, else the next MX, and when none
///    is left the message bounces with 5.7.30 (RFC 8689 §5); authentication by DANE when
///    usable, else PKIX. `TLS-Required: No` is then ignored (RFC 8689 §5).
/// 2. `TLS-Required: No`: recipient policies are ignored, plaintext allowed (RFC 8689 §5).
/// 3. DANE: usable → TLS authenticated by DANE; unusable → TLS unauthenticated;
///    indeterminate → next MX or defer (RFC 7672 §2.2). DANE comes before MTA-STS (RFC 8461
///    §2).
/// 4. MTA-STS `enforce`: the MX must match a policy pattern, else next MX or defer; then TLS
///    with PKIX (RFC 8461 §5). `testing` and `none` change nothing.
/// 5. The local forced-TLS list: TLS with the listed authentication.
/// 6. Otherwise opportunistic, unless a suspected downgrade is to be refused.
///
/// Wherever TLS is required and the MX does not offer STARTTLS, the next MX is tried, or the
/// message deferred when none is left.
pub fn outbound(facts: &OutboundFacts<'_>, options: &OutboundOptions) -> OutboundVerdict {
    let downgrade_suspected = facts.learned_tls && !facts.offers_starttls;
    let decision = outbound_decision(facts, *options, downgrade_suspected);
    OutboundVerdict {
        decision,
        downgrade_suspected,
    }
}

fn outbound_decision(
    facts: &OutboundFacts<'_>,
    options: OutboundOptions,
    downgrade_suspected: bool,
) -> OutboundDecision {
    if facts.requiretls {
        let failure = if !facts.offers_starttls {
            Some(TlsFailure::NoStartTls)
        } else if !facts.offers_requiretls {
            Some(TlsFailure::NoRequireTls)
        } else if facts.dane == DaneStatus::Indeterminate {
            Some(TlsFailure::DaneIndeterminate)
        } else {
            None
        };
        return match failure {
            Some(failure) if facts.more_mx => OutboundDecision::TryNextMx { failure },
            Some(failure) => OutboundDecision::Bounce {
                failure,
                reply: REPLY_REQUIRETLS,
            },
            None if facts.dane == DaneStatus::Usable => OutboundDecision::RequireTls {
                auth: TlsAuth::Dane,
            },
            None => OutboundDecision::RequireTls {
                auth: TlsAuth::Pkix,
            },
        };
    }
    if facts.tls_required_no {
        return OutboundDecision::Opportunistic;
    }
    match facts.dane {
        DaneStatus::Usable => return require(facts, TlsAuth::Dane),
        DaneStatus::Unusable => return require(facts, TlsAuth::Unauthenticated),
        DaneStatus::Indeterminate => return unavailable(facts, TlsFailure::DaneIndeterminate),
        DaneStatus::None => {}
    }
    if let Some(policy) = facts.mta_sts
        && policy.mode == StsMode::Enforce
    {
        if !policy.mx_matches(facts.mx_host) {
            return unavailable(facts, TlsFailure::MxMismatch);
        }
        return require(facts, TlsAuth::Pkix);
    }
    if let Some(auth) = facts.forced_tls {
        return require(facts, auth);
    }
    if downgrade_suspected && options.refuse_suspected_downgrade {
        return unavailable(facts, TlsFailure::NoStartTls);
    }
    OutboundDecision::Opportunistic
}

#[cfg(test)]
mod tests {
    use super::*;

    fn withheld() -> StartTlsDecision {
        StartTlsDecision::Withhold {
            keywords: WITHHELD_KEYWORDS,
            reply: REPLY_STARTTLS_WITHHELD,
        }
    }

    #[test]
    fn starttls_offered_by_default_and_withheld_from_bad_clients() {
        let opts = StartTlsOptions::default();
        assert_eq!(
            starttls(&StartTlsFacts::default(), &opts),
            StartTlsDecision::Offer
        );
        let bad = StartTlsFacts {
            reputation: Reputation::Bad,
            ..StartTlsFacts::default()
        };
        assert_eq!(starttls(&bad, &opts), withheld());
        let poor = StartTlsFacts {
            reputation: Reputation::Poor,
            ..StartTlsFacts::default()
        };
        assert_eq!(starttls(&poor, &opts), StartTlsDecision::Offer);
        let strict = StartTlsOptions {
            withhold_at_or_below: Some(Reputation::Poor),
        };
        assert_eq!(starttls(&poor, &strict), withheld());
        assert_eq!(
            starttls(
                &bad,
                &StartTlsOptions {
                    withhold_at_or_below: None
                }
            ),
            StartTlsDecision::Offer
        );
    }

    #[test]
    fn starttls_never_withheld_where_tls_is_enforced() {
        let opts = StartTlsOptions::default();
        let base = StartTlsFacts {
            reputation: Reputation::Bad,
            override_for_network: Some(TlsOverride::Withhold),
            ..StartTlsFacts::default()
        };
        for facts in [
            StartTlsFacts {
                domain_enforces_tls: true,
                ..base
            },
            StartTlsFacts {
                sender_enforces_tls: true,
                ..base
            },
            StartTlsFacts {
                role: ListenerRole::Submission,
                ..base
            },
        ] {
            assert_eq!(
                starttls(&facts, &opts),
                StartTlsDecision::Offer,
                "{facts:?}"
            );
        }
        assert_eq!(starttls(&base, &opts), withheld());
        let active = StartTlsFacts {
            tls_active: true,
            ..base
        };
        assert_eq!(starttls(&active, &opts), StartTlsDecision::AlreadyActive);
    }

    #[test]
    fn starttls_overrides() {
        let opts = StartTlsOptions::default();
        let offer = StartTlsFacts {
            reputation: Reputation::Bad,
            override_for_network: Some(TlsOverride::Offer),
            ..StartTlsFacts::default()
        };
        assert_eq!(starttls(&offer, &opts), StartTlsDecision::Offer);
        let hold = StartTlsFacts {
            reputation: Reputation::Good,
            override_for_network: Some(TlsOverride::Withhold),
            ..StartTlsFacts::default()
        };
        let StartTlsDecision::Withhold { keywords, reply } = starttls(&hold, &opts) else {
            panic!("expected withhold");
        };
        assert_eq!(keywords, &["STARTTLS", "REQUIRETLS"]);
        assert_eq!(
            (reply.code, reply.enhanced.to_string()),
            (502, "5.5.1".to_string())
        );
    }

    fn facts() -> OutboundFacts<'static> {
        OutboundFacts {
            mx_host: "mx1.example.net",
            offers_starttls: true,
            ..OutboundFacts::default()
        }
    }

    fn decide(f: &OutboundFacts<'_>) -> OutboundDecision {
        outbound(f, &OutboundOptions::default()).decision
    }

    #[test]
    fn opportunistic_by_default() {
        assert_eq!(decide(&facts()), OutboundDecision::Opportunistic);
        let plain = OutboundFacts {
            offers_starttls: false,
            ..facts()
        };
        assert_eq!(decide(&plain), OutboundDecision::Opportunistic);
    }

    #[test]
    fn requiretls_bounces_with_5_7_30_when_no_mx_supports_it() {
        let f = OutboundFacts {
            requiretls: true,
            tls_required_no: true,
            ..facts()
        };
        assert_eq!(
            decide(&OutboundFacts { more_mx: true, ..f }),
            OutboundDecision::TryNextMx {
                failure: TlsFailure::NoRequireTls
            }
        );
        let OutboundDecision::Bounce { failure, reply } = decide(&f) else {
            panic!("expected a bounce");
        };
        assert_eq!(failure, TlsFailure::NoRequireTls);
        assert_eq!(reply.enhanced.to_string(), "5.7.30");
        let ok = OutboundFacts {
            offers_requiretls: true,
            ..f
        };
        assert_eq!(
            decide(&ok),
            OutboundDecision::RequireTls {
                auth: TlsAuth::Pkix
            }
        );
        let dane = OutboundFacts {
            dane: DaneStatus::Usable,
            ..ok
        };
        assert_eq!(
            decide(&dane),
            OutboundDecision::RequireTls {
                auth: TlsAuth::Dane
            }
        );
        let no_tls = OutboundFacts {
            offers_starttls: false,
            ..ok
        };
        assert!(matches!(
            decide(&no_tls),
            OutboundDecision::Bounce {
                failure: TlsFailure::NoStartTls,
                ..
            }
        ));
    }

    #[test]
    fn tls_required_no_ignores_recipient_policies() {
        let policy =
            StsPolicy::parse("version: STSv1\nmode: enforce\nmx: other.example\nmax_age: 1\n")
                .unwrap();
        let f = OutboundFacts {
            tls_required_no: true,
            dane: DaneStatus::Usable,
            mta_sts: Some(&policy),
            offers_starttls: false,
            ..facts()
        };
        assert_eq!(decide(&f), OutboundDecision::Opportunistic);
    }

    #[test]
    fn dane_requires_tls() {
        assert_eq!(
            decide(&OutboundFacts {
                dane: DaneStatus::Usable,
                ..facts()
            }),
            OutboundDecision::RequireTls {
                auth: TlsAuth::Dane
            }
        );
        assert_eq!(
            decide(&OutboundFacts {
                dane: DaneStatus::Unusable,
                ..facts()
            }),
            OutboundDecision::RequireTls {
                auth: TlsAuth::Unauthenticated
            }
        );
        assert!(matches!(
            decide(&OutboundFacts {
                dane: DaneStatus::Indeterminate,
                ..facts()
            }),
            OutboundDecision::Defer {
                failure: TlsFailure::DaneIndeterminate,
                ..
            }
        ));
        assert_eq!(
            decide(&OutboundFacts {
                dane: DaneStatus::Usable,
                offers_starttls: false,
                more_mx: true,
                ..facts()
            }),
            OutboundDecision::TryNextMx {
                failure: TlsFailure::NoStartTls
            }
        );
    }

    #[test]
    fn mta_sts_enforce_and_testing() {
        let enforce =
            StsPolicy::parse("version: STSv1\nmode: enforce\nmx: *.example.net\nmax_age: 1\n")
                .unwrap();
        let f = OutboundFacts {
            mta_sts: Some(&enforce),
            ..facts()
        };
        assert_eq!(
            decide(&f),
            OutboundDecision::RequireTls {
                auth: TlsAuth::Pkix
            }
        );
        let wrong = OutboundFacts {
            mx_host: "mx.evil.example",
            more_mx: true,
            ..f
        };
        assert_eq!(
            decide(&wrong),
            OutboundDecision::TryNextMx {
                failure: TlsFailure::MxMismatch
            }
        );
        let stripped = OutboundFacts {
            offers_starttls: false,
            learned_tls: true,
            ..f
        };
        let v = outbound(&stripped, &OutboundOptions::default());
        assert!(
            matches!(v.decision, OutboundDecision::Defer { failure: TlsFailure::NoStartTls, reply } if reply.code == 451)
        );
        assert!(v.downgrade_suspected);
        let testing =
            StsPolicy::parse("version: STSv1\nmode: testing\nmx: *.example.net\nmax_age: 1\n")
                .unwrap();
        let t = OutboundFacts {
            mta_sts: Some(&testing),
            offers_starttls: false,
            ..facts()
        };
        assert_eq!(decide(&t), OutboundDecision::Opportunistic);
    }

    #[test]
    fn forced_list_and_downgrade() {
        let forced = OutboundFacts {
            forced_tls: Some(TlsAuth::Unauthenticated),
            ..facts()
        };
        assert_eq!(
            decide(&forced),
            OutboundDecision::RequireTls {
                auth: TlsAuth::Unauthenticated
            }
        );
        let down = OutboundFacts {
            learned_tls: true,
            offers_starttls: false,
            ..facts()
        };
        let v = outbound(&down, &OutboundOptions::default());
        assert_eq!(
            (v.decision, v.downgrade_suspected),
            (OutboundDecision::Opportunistic, true)
        );
        let v = outbound(
            &down,
            &OutboundOptions {
                refuse_suspected_downgrade: true,
            },
        );
        assert!(matches!(v.decision, OutboundDecision::Defer { .. }));
        let fine = outbound(
            &OutboundFacts {
                learned_tls: true,
                ..facts()
            },
            &OutboundOptions::default(),
        );
        assert!(!fine.downgrade_suspected);
    }
}
