#!/usr/bin/env bash
# How fast could `check_host()` be through this API? Builds the three `spf/check_host` bench
# cases twice: through the evaluator, and through the checks of spf_floor.rs, which do only
# what these cases need (the same request parsing, name checks, queries, answers, record
# scanner, macro expander and outcome, but no frames, answer cache, limits or other evaluator
# machinery, and no error paths). Those are for measurement only and never merged: they are
# appended to the evaluator's module in a scratch copy of HEAD. A third check per case, `lean`,
# goes further: no owned query name, query, answer clone or identities copy (what an API of
# borrowed types would save), so only the name checks, the record scanner, the macro expander
# and the address match are left; the scratch copy exposes postern-dns's name check for it.
# Prints ns per check (best of 25 rounds, interleaved) and, when valgrind is installed,
# instructions per check. Not part of CI.
#
# Usage: bash benches/compare/spf-floor.sh [ROUNDS]   (default 3)
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
rounds="${1:-3}"
. "$root/benches/compare/measure.sh"
measure_scratch "$root" "$root/benches/compare/spf_floor_main.rs" spf-floor
cat "$root/benches/compare/spf_floor.rs" >> "$work/crates/postern-spf/src/eval.rs"
{
    echo 'pub use eval::{floor_chain, floor_check, floor_exists};'
    echo 'pub use eval::{floor_lean_chain, floor_lean_exists, floor_lean_ip4};'
} >> "$work/crates/postern-spf/src/lib.rs"
cat >> "$work/crates/postern-dns/src/name.rs" <<'RS'

/// MEASUREMENT ONLY (never merged): the name check without building a name; whether the
/// name has upper-case letters.
#[doc(hidden)]
pub fn floor_name_check(text: &str) -> Result<bool, Error> {
    check(text)
}
RS
echo 'pub use name::floor_name_check;' >> "$work/crates/postern-dns/src/lib.rs"
cargo build --release -q --manifest-path "$work/harness/Cargo.toml" --target-dir "$work/target"
bin="$work/target/release/spf-floor"

measure_rounds "$rounds" 200000 "$bin" real floor lean
measure_instructions "$bin" real floor lean
