// The machinery-free checks of `spf-floor.sh`: appended by that script to
// `crates/postern-spf/src/eval.rs` in a scratch copy of the repository (they use the module's
// private building blocks), never merged. Each does only what its bench case needs through
// the public API's types: the same request parsing, name checks, queries, canned answers,
// record scanner, macro expander and outcome, but no frames, answer cache, limits, memo or
// error paths. So they bound from below what any evaluator built on these parts costs.
// The `floor_lean_*` checks also drop the API's owned types: they bound from below what any
// design of `check_host()` on the same name check, record scanner and macro expander costs.

/// What every floor check starts from: the client, the identities (as the outcome keeps
/// them) and the checked domain's name.
struct FloorStart {
    subject: Subject,
    domain: Option<Name>,
}

impl FloorStart {
    fn new(request: &Request<'_>, options: &Options) -> Self {
        let (_, local, domain) = sender(request);
        Self {
            subject: Subject {
                ip: request.ip,
                identities: Identities::new(local, domain, request.helo, &options.receiver),
                timestamp: options.timestamp,
            },
            domain: initial_domain(domain).map(|(name, _)| name),
        }
    }

    fn outcome(
        &self,
        verdict: Verdict,
        matched: Option<MatchedDirective>,
        queries: u32,
    ) -> Outcome {
        Outcome {
            verdict,
            matched,
            explanation: None,
            problem: None,
            dns_lookups: queries.saturating_sub(1),
            void_lookups: 0,
            queries,
            identity: Identity::MailFrom,
            ip: self.subject.ip,
            identities: self.subject.identities.clone(),
        }
    }
}

/// Asks `query` as the step loop does (the caller gets a clone) and returns the answer.
fn floor_ask(query: &Query, resolve: &mut impl FnMut(&Query) -> Answer) -> Answer {
    let asked = query.clone();
    resolve(&asked)
}

/// Scans the first TXT record of `answer`: the first directive that matches locally or needs
/// DNS, if the record is well formed.
fn floor_scan(
    answer: &Answer,
    ip: IpAddr,
) -> Option<(&[u8], Qualifier, MechanismRef<(usize, usize)>)> {
    let Answer::Records(records) = answer else {
        return None;
    };
    let Some(DnsRecord::Txt(text)) = records.first() else {
        return None;
    };
    let mut first = None;
    let checked = scan_record(text, |_, term| {
        if let TermRef::Directive(qualifier, mechanism) = term
            && first.is_none()
            && local_match(ip, mechanism) != Some(false)
        {
            first = Some((qualifier, mechanism));
        }
    });
    let (qualifier, mechanism) = checked.ok().and(first)?;
    Some((text.as_slice(), qualifier, mechanism))
}

/// MEASUREMENT ONLY (never merged): the `ip4` case with nothing but its own work.
#[doc(hidden)]
pub fn floor_check(
    request: &Request<'_>,
    options: &Options,
    mut resolve: impl FnMut(&Query) -> Answer,
) -> Outcome {
    let start = FloorStart::new(request, options);
    let Some(domain) = start.domain.clone() else {
        return start.outcome(Verdict::None, None, 0);
    };
    let query = Query::new(1, domain, RecordType::Txt);
    let answer = floor_ask(&query, &mut resolve);
    match floor_scan(&answer, start.subject.ip) {
        Some((text, qualifier, mechanism))
            if local_match(start.subject.ip, mechanism).is_some() =>
        {
            let directive = directive_in(text, qualifier, mechanism.map(to_span));
            start.outcome(
                Verdict::from(qualifier),
                Some(MatchedDirective::Built(directive)),
                1,
            )
        }
        _ => start.outcome(Verdict::PermError, None, 1),
    }
}

/// MEASUREMENT ONLY (never merged): the `include_chain5` case: follows the first include each
/// record reaches (no limits, frames or answer cache).
#[doc(hidden)]
pub fn floor_chain(
    request: &Request<'_>,
    options: &Options,
    mut resolve: impl FnMut(&Query) -> Answer,
) -> Outcome {
    let start = FloorStart::new(request, options);
    let Some(mut domain) = start.domain.clone() else {
        return start.outcome(Verdict::None, None, 0);
    };
    let mut includes: Vec<Qualifier> = Vec::new();
    let mut answers: Vec<Answer> = Vec::new();
    let mut id = 0u32;
    loop {
        id += 1;
        let query = Query::new(id, domain, RecordType::Txt);
        let answer = floor_ask(&query, &mut resolve);
        let next = match floor_scan(&answer, start.subject.ip) {
            Some((text, qualifier, MechanismRef::Include(spec))) => {
                includes.push(qualifier);
                let spec = core::str::from_utf8(text.get(spec.0..spec.1).unwrap_or_default());
                name_from_expanded(spec.unwrap_or_default())
            }
            Some((_, mut qualifier, _)) => {
                // An included record's pass makes its include match, down to the top.
                while qualifier == Qualifier::Pass
                    && let Some(include) = includes.pop()
                {
                    qualifier = include;
                }
                return start.outcome(Verdict::from(qualifier), None, id);
            }
            None => None,
        };
        answers.push(answer);
        let Some(next) = next else {
            return start.outcome(Verdict::PermError, None, id);
        };
        domain = next;
    }
}

/// MEASUREMENT ONLY (never merged): the `exists_macro` case: one TXT, one expansion, one A
/// query (no limits, frames, answer cache or memo).
#[doc(hidden)]
pub fn floor_exists(
    request: &Request<'_>,
    options: &Options,
    mut resolve: impl FnMut(&Query) -> Answer,
) -> Outcome {
    let start = FloorStart::new(request, options);
    let Some(domain) = start.domain.clone() else {
        return start.outcome(Verdict::None, None, 0);
    };
    let query = Query::new(1, domain.clone(), RecordType::Txt);
    let answer = floor_ask(&query, &mut resolve);
    let Some((text, qualifier, MechanismRef::Exists(spec))) = floor_scan(&answer, start.subject.ip)
    else {
        return start.outcome(Verdict::PermError, None, 1);
    };
    let spec =
        core::str::from_utf8(text.get(spec.0..spec.1).unwrap_or_default()).unwrap_or_default();
    let (mut out, mut scratch) = (String::with_capacity(128), String::new());
    let ctx = start.subject.macro_context(domain.as_str(), None);
    let _ = expand_text(spec, false, &ctx, true, &mut out, &mut scratch);
    let Some(target) = name_from_expanded(&out) else {
        return start.outcome(Verdict::PermError, None, 1);
    };
    let found = floor_ask(&Query::new(2, target, RecordType::A), &mut resolve);
    let verdict = match &found {
        Answer::Records(records) if !records.is_empty() => Verdict::from(qualifier),
        _ => Verdict::Neutral,
    };
    start.outcome(verdict, None, 2)
}

/// Asks for `text` as a borrowed query name would: checked in place, lower-cased on the stack
/// only when it has upper case, never allocated. The checked domain (`initial`) must end in a
/// top label (as `initial_domain`); other names are expanded domain-specs (as
/// `name_from_expanded`). `None` for a bad name or a name with no canned answer.
fn lean_ask<'a>(
    text: &str,
    initial: bool,
    resolve: &impl Fn(&str) -> Option<&'a Answer>,
) -> Option<&'a Answer> {
    let text = if initial { text } else { shortened(text)? };
    // As `Name::new`.
    let text = text.strip_suffix('.').unwrap_or(text);
    // Set (and zeroed) only for a name with upper case.
    let mut lower: [u8; postern_dns::MAX_NAME_LEN];
    let name = match postern_dns::floor_name_check(text).ok()? {
        false => text,
        true => {
            lower = [0u8; postern_dns::MAX_NAME_LEN];
            let buf = lower.get_mut(..text.len())?;
            buf.copy_from_slice(text.as_bytes());
            buf.make_ascii_lowercase();
            core::str::from_utf8(buf).ok()?
        }
    };
    if initial && !ends_in_top_label(name) {
        return None;
    }
    resolve(name)
}

/// MEASUREMENT ONLY (never merged): the `ip4` case as the leanest API on these building blocks
/// could run it: the sender's domain checked in place (no `Name`, no allocation), asked by
/// its text, the answer borrowed from the resolver (no `Query`, no clone), and no identities
/// copied (an outcome that borrows the request). Only the name check, the record scanner and
/// the address match are left: what no design of `check_host()` on them can avoid.
#[doc(hidden)]
pub fn floor_lean_ip4<'a>(
    request: &Request<'_>,
    resolve: impl Fn(&str) -> Option<&'a Answer>,
) -> Verdict {
    let Some(answer) = lean_ask(sender(request).2, true, &resolve) else {
        return Verdict::None;
    };
    match floor_scan(answer, request.ip) {
        Some((_, qualifier, mechanism)) if local_match(request.ip, mechanism).is_some() => {
            // The matched directive, as a borrowed outcome would hold it.
            let matched: Stored = (qualifier, mechanism.map(to_span));
            core::hint::black_box(matched);
            Verdict::from(qualifier)
        }
        _ => Verdict::PermError,
    }
}

/// MEASUREMENT ONLY (never merged): the `include_chain5` case as [`floor_lean_ip4`] would run
/// it: each include's target asked in place, the includes' qualifiers on the stack.
#[doc(hidden)]
pub fn floor_lean_chain<'a>(
    request: &Request<'_>,
    resolve: impl Fn(&str) -> Option<&'a Answer>,
) -> Verdict {
    let Some(mut answer) = lean_ask(sender(request).2, true, &resolve) else {
        return Verdict::None;
    };
    let mut includes = [Qualifier::Pass; 10];
    let mut depth = 0usize;
    loop {
        match floor_scan(answer, request.ip) {
            Some((text, qualifier, MechanismRef::Include(spec))) => {
                let Some(slot) = includes.get_mut(depth) else {
                    return Verdict::PermError;
                };
                *slot = qualifier;
                depth += 1;
                let spec = text.get(spec.0..spec.1).unwrap_or_default();
                let spec = core::str::from_utf8(spec).unwrap_or_default();
                let Some(next) = lean_ask(spec, false, &resolve) else {
                    return Verdict::PermError;
                };
                answer = next;
            }
            Some((_, mut qualifier, _)) => {
                // An included record's pass makes its include match, down to the top.
                while qualifier == Qualifier::Pass && depth > 0 {
                    depth -= 1;
                    qualifier = includes.get(depth).copied().unwrap_or(Qualifier::Pass);
                }
                return Verdict::from(qualifier);
            }
            None => return Verdict::PermError,
        }
    }
}

/// MEASUREMENT ONLY (never merged): the `exists_macro` case as [`floor_lean_ip4`] would run
/// it: the macro context borrows the request, and the expansion goes to buffers the caller
/// keeps from check to check.
#[doc(hidden)]
pub fn floor_lean_exists<'a>(
    request: &Request<'_>,
    options: &Options,
    (out, scratch): (&mut String, &mut String),
    resolve: impl Fn(&str) -> Option<&'a Answer>,
) -> Verdict {
    let (_, local_part, domain) = sender(request);
    let Some(answer) = lean_ask(domain, true, &resolve) else {
        return Verdict::None;
    };
    let Some((text, qualifier, MechanismRef::Exists(spec))) = floor_scan(answer, request.ip) else {
        return Verdict::PermError;
    };
    let spec = core::str::from_utf8(text.get(spec.0..spec.1).unwrap_or_default());
    let ctx = MacroContext {
        local_part,
        sender_domain: domain,
        domain,
        ip: request.ip,
        validated: None,
        helo: request.helo,
        receiver: &options.receiver,
        timestamp: options.timestamp,
    };
    out.clear();
    let _ = expand_text(spec.unwrap_or_default(), false, &ctx, true, out, scratch);
    match lean_ask(out, false, &resolve) {
        Some(Answer::Records(records)) if !records.is_empty() => Verdict::from(qualifier),
        _ => Verdict::Neutral,
    }
}
