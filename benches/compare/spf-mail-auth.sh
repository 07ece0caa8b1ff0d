#!/usr/bin/env bash
# The three `spf/check_host` bench cases through postern and through mail-auth 0.15.1
# (crates.io), the fastest reference the SPF timing targets name, in interleaved rounds on
# this machine: ns per check (best of 25 runs, as spf-floor.sh measures) and, when valgrind is
# installed, instructions per check. Builds mail_auth_main.rs, with the cases of
# benches/src/spf_cases.rs, in a scratch copy of HEAD (needs crates.io); mail-parser, which
# mail-auth needs, asks for a newer Rust than it needs, hence --ignore-rust-version. Not part
# of CI.
#
# Usage: bash benches/compare/spf-mail-auth.sh [ROUNDS]   (default 3)
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
rounds="${1:-3}"
. "$root/benches/compare/measure.sh"
# rust-crypto rather than the default aws-lc-rs (a C build): only DKIM and ARC use it.
# test: mail-auth's mock resolver, so that no lookup can reach the network.
measure_scratch "$root" "$root/benches/compare/mail_auth_main.rs" mail-auth-spf \
    'mail-auth = { version = "=0.15.1", default-features = false, features = ["dns-hickory", "rust-crypto", "test"] }'
cargo build --release -q --ignore-rust-version --manifest-path "$work/harness/Cargo.toml" --target-dir "$work/target"
bin="$work/target/release/mail-auth-spf"

measure_rounds "$rounds" 100000 "$bin" postern mail-auth
measure_instructions "$bin" postern mail-auth
