// The machinery-free checks of `spf-floor.sh`: appended by that script to
// `crates/postern-spf/src/eval.rs` in a scratch copy of the repository (they use the module's
// private building blocks), never merged. Each does only what its bench case needs through
// the public API's types: the same request parsing, name checks, queries, canned answers,
// record scanner, macro expander and outcome, but no frames, answer cache, limits, memo or
// error paths. So they bound from below what any evaluator built on these parts can cost.
/// MEASUREMENT ONLY (never landed): the least an ip4-style check through this API must do.
#[doc(hidden)]
pub fn floor_check<F: FnMut(&Query) -> Answer>(
    request: &Request<'_>,
    options: &Options,
    mut resolve: F,
) -> Outcome {
    let ip = request.ip;
    let at = request
        .mail_from
        .bytes()
        .rposition(|b| b == b'@')
        .unwrap_or(0);
    let local = request.mail_from.get(..at).unwrap_or("postmaster");
    let domain_text = request.mail_from.get(at + 1..).unwrap_or("");
    let identities = Identities::new(local, domain_text, request.helo, &options.receiver);
    let mk = |verdict, matched| Outcome {
        verdict,
        matched,
        explanation: None,
        problem: None,
        dns_lookups: 0,
        void_lookups: 0,
        queries: 1,
        identity: Identity::MailFrom,
        ip,
        identities: identities.clone(),
    };
    let Some(domain) = initial_domain(domain_text) else {
        return mk(Verdict::None, None);
    };
    let query = Query::new(1, domain, RecordType::Txt);
    let asked = query.clone();
    let answer = resolve(&asked);
    drop(asked);
    let Answer::Records(records) = &answer else {
        return mk(Verdict::None, None);
    };
    let Some(DnsRecord::Txt(text)) = records.first() else {
        return mk(Verdict::None, None);
    };
    let mut first = None;
    let checked = scan_record(text, |_, term| {
        if let TermRef::Directive(q, m) = term
            && first.is_none()
            && local_match(ip, m) == Some(true)
        {
            first = Some((q, m));
        }
    });
    let out = match (checked, first) {
        (Ok(_), Some((q, m))) => mk(
            Verdict::from(q),
            Some(MatchedDirective::Built(directive_in(
                text,
                q,
                m.map(to_span),
            ))),
        ),
        _ => mk(Verdict::PermError, None),
    };
    drop(query);
    out
}

/// MEASUREMENT ONLY (never landed): the least an include chain of local terms must do through
/// this API (follows the first include reached; no limits, no frames, no answer cache).
#[doc(hidden)]
pub fn floor_chain<F: FnMut(&Query) -> Answer>(
    request: &Request<'_>,
    options: &Options,
    mut resolve: F,
) -> Outcome {
    let ip = request.ip;
    let at = request
        .mail_from
        .bytes()
        .rposition(|b| b == b'@')
        .unwrap_or(0);
    let local = request.mail_from.get(..at).unwrap_or("postmaster");
    let domain_text = request.mail_from.get(at + 1..).unwrap_or("");
    let identities = Identities::new(local, domain_text, request.helo, &options.receiver);
    let mk = |verdict, queries| Outcome {
        verdict,
        matched: None,
        explanation: None,
        problem: None,
        dns_lookups: queries,
        void_lookups: 0,
        queries,
        identity: Identity::MailFrom,
        ip,
        identities: identities.clone(),
    };
    let Some(mut domain) = initial_domain(domain_text) else {
        return mk(Verdict::None, 0);
    };
    let mut includes: Vec<Qualifier> = Vec::new();
    let mut answers: Vec<Answer> = Vec::new();
    let mut id = 0u32;
    loop {
        id += 1;
        let query = Query::new(id, domain, RecordType::Txt);
        let asked = query.clone();
        let answer = resolve(&asked);
        drop(asked);
        let Answer::Records(records) = &answer else {
            return mk(Verdict::PermError, id);
        };
        let Some(DnsRecord::Txt(text)) = records.first() else {
            return mk(Verdict::PermError, id);
        };
        let mut first = None;
        let checked = scan_record(text, |_, term| {
            if let TermRef::Directive(q, m) = term
                && first.is_none()
                && local_match(ip, m) != Some(false)
            {
                first = Some((q, m));
            }
        });
        let next = match (checked, first) {
            (Ok(_), Some((q, MechanismRef::Include(spec)))) => {
                let spec = core::str::from_utf8(text.get(spec.0..spec.1).unwrap_or_default())
                    .unwrap_or_default();
                includes.push(q);
                name_from_expanded(spec)
            }
            (Ok(_), Some((q, _))) => {
                let mut q = q;
                while let Some(inc) = includes.pop() {
                    if q != Qualifier::Pass {
                        break;
                    }
                    q = inc;
                }
                return mk(Verdict::from(q), id);
            }
            _ => None,
        };
        answers.push(answer);
        let Some(next) = next else {
            return mk(Verdict::PermError, id);
        };
        drop(query);
        domain = next;
    }
}

/// MEASUREMENT ONLY (never landed): the least an `exists:` with macros check must do through
/// this API (one TXT, one expansion, one A query; no limits, frames or answer cache).
#[doc(hidden)]
pub fn floor_exists<F: FnMut(&Query) -> Answer>(
    request: &Request<'_>,
    options: &Options,
    mut resolve: F,
) -> Outcome {
    let ip = request.ip;
    let at = request
        .mail_from
        .bytes()
        .rposition(|b| b == b'@')
        .unwrap_or(0);
    let local = request.mail_from.get(..at).unwrap_or("postmaster");
    let domain_text = request.mail_from.get(at + 1..).unwrap_or("");
    let subject = Subject {
        ip,
        identities: Identities::new(local, domain_text, request.helo, &options.receiver),
        timestamp: options.timestamp,
    };
    let mk = |verdict, queries| Outcome {
        verdict,
        matched: None,
        explanation: None,
        problem: None,
        dns_lookups: 1,
        void_lookups: 0,
        queries,
        identity: Identity::MailFrom,
        ip,
        identities: subject.identities.clone(),
    };
    let Some(domain) = initial_domain(domain_text) else {
        return mk(Verdict::None, 0);
    };
    let query = Query::new(1, domain.clone(), RecordType::Txt);
    let asked = query.clone();
    let answer = resolve(&asked);
    drop(asked);
    let Answer::Records(records) = &answer else {
        return mk(Verdict::PermError, 1);
    };
    let Some(DnsRecord::Txt(text)) = records.first() else {
        return mk(Verdict::PermError, 1);
    };
    let mut first = None;
    let checked = scan_record(text, |_, term| {
        if let TermRef::Directive(q, m) = term
            && first.is_none()
            && local_match(ip, m) != Some(false)
        {
            first = Some((q, m));
        }
    });
    let (Ok(_), Some((q, MechanismRef::Exists(spec)))) = (checked, first) else {
        return mk(Verdict::PermError, 1);
    };
    let spec =
        core::str::from_utf8(text.get(spec.0..spec.1).unwrap_or_default()).unwrap_or_default();
    let mut out = String::with_capacity(128);
    let mut scratch = String::new();
    let ctx = subject.macro_context(domain.as_str(), None);
    let _ = expand_text(spec, false, &ctx, true, &mut out, &mut scratch);
    let Some(target) = name_from_expanded(&out) else {
        return mk(Verdict::PermError, 1);
    };
    let q2 = Query::new(2, target, RecordType::A);
    let asked = q2.clone();
    let a2 = resolve(&asked);
    drop(asked);
    let verdict = if matches!(&a2, Answer::Records(r) if !r.is_empty()) {
        Verdict::from(q)
    } else {
        Verdict::Neutral
    };
    mk(verdict, 2)
}
