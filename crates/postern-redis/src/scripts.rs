//! The Lua scripts, one per decision kind, each prefixed by the shared helpers.
//!
//! Redis keeps scripts by SHA1: a store sends `EVALSHA` and loads the scripts with
//! `SCRIPT LOAD` only when Redis answers `NOSCRIPT` (first use, restart, `SCRIPT FLUSH`).

use std::sync::LazyLock;

use redis::Script;

/// The decision kinds, one script each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Gcra,
    GcraAll,
    Greylist,
    Penalty,
    Lease,
}

impl Kind {
    pub(crate) const ALL: [Self; 5] = [
        Self::Gcra,
        Self::GcraAll,
        Self::Greylist,
        Self::Penalty,
        Self::Lease,
    ];

    pub(crate) const fn name(self) -> &'static str {
        match self {
            Self::Gcra => "gcra",
            Self::GcraAll => "gcra_all",
            Self::Greylist => "greylist",
            Self::Penalty => "penalty",
            Self::Lease => "lease",
        }
    }

    const fn body(self) -> &'static str {
        match self {
            Self::Gcra => include_str!("lua/gcra.lua"),
            Self::GcraAll => include_str!("lua/gcra_all.lua"),
            Self::Greylist => include_str!("lua/greylist.lua"),
            Self::Penalty => include_str!("lua/penalty.lua"),
            Self::Lease => include_str!("lua/lease.lua"),
        }
    }

    /// The script (source and SHA1), built once per process.
    pub(crate) fn script(self) -> &'static Script {
        static SCRIPTS: LazyLock<[Script; 5]> = LazyLock::new(|| Kind::ALL.map(build));
        let [gcra, gcra_all, greylist, penalty, lease] = &*SCRIPTS;
        match self {
            Self::Gcra => gcra,
            Self::GcraAll => gcra_all,
            Self::Greylist => greylist,
            Self::Penalty => penalty,
            Self::Lease => lease,
        }
    }
}

fn build(kind: Kind) -> Script {
    // The rate scripts run on every decision: their own allocation-free locals instead of the
    // general u64 helpers.
    let prelude = match kind {
        Kind::Gcra | Kind::GcraAll => include_str!("lua/rate_prelude.lua"),
        Kind::Greylist | Kind::Penalty | Kind::Lease => include_str!("lua/prelude.lua"),
    };
    let source = format!(
        "-- postern-redis {} script\nlocal STATE_VERSION = {}\n{}\n{}",
        kind.name(),
        postern_policy::STATE_VERSION,
        prelude,
        inline_fragments(kind.body())
    );
    Script::new(&source)
}

/// The shared pieces of the rate scripts, inlined where a script names them on a line of its
/// own (`--@now`): straight-line code costs Redis less than a helper function, which Lua
/// would make anew as a closure on every run.
const FRAGMENTS: [(&str, &str); 3] = [
    ("--@now", include_str!("lua/now.lua")),
    ("--@step", include_str!("lua/step.lua")),
    ("--@store", include_str!("lua/store.lua")),
];

fn inline_fragments(body: &str) -> String {
    let mut out = String::with_capacity(body.len() + 4096);
    for line in body.lines() {
        let marker = line.trim();
        if let Some((_, fragment)) = FRAGMENTS.iter().find(|(name, _)| *name == marker) {
            out.push_str(fragment);
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_scripts_inline_every_fragment_they_name() {
        for kind in [Kind::Gcra, Kind::GcraAll] {
            let source = inline_fragments(kind.body());
            assert!(!source.contains("--@"), "{} keeps a marker", kind.name());
            assert!(source.contains("redis.call('TIME')") && source.contains("'PX'"));
        }
    }

    #[test]
    fn scripts_are_distinct() {
        let hashes: Vec<&str> = Kind::ALL.iter().map(|k| k.script().get_hash()).collect();
        for (i, a) in hashes.iter().enumerate() {
            assert_eq!(a.len(), 40);
            for b in hashes.iter().skip(i + 1) {
                assert_ne!(a, b);
            }
        }
    }
}
