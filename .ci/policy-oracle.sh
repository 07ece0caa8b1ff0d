#!/usr/bin/env bash
# Differential test of `postern policy simulate` against .ci/policy_oracle.py, an independent
# Python reference of the contract in ../shared/testdata/policy/README.md (GCRA, concurrency,
# greylisting, refusal codes, precedence, case-insensitive keys, IPv4/IPv6 prefix aggregation).
#
# Builds the CLI (debug, as the tests do; POLICY_ORACLE_PROFILE=release for a faster run), checks the reference and postern on the visible fixtures, then
# replays seeded random configs + traces through both and fails on any difference, printing a
# reduced reproducer. Python 3.11 stdlib only. Tunables (see the script's docstring):
#   POLICY_ORACLE_SEED       generator seed (default fixed: 20261124, so runs are reproducible)
#   POLICY_ORACLE_CASES      random config + trace pairs per run (default 3000, ~20 s on 2 cores)
#   POLICY_ORACLE_JOBS       postern processes run at once (default 2)
#   POLICY_ORACLE_AMBIGUOUS  1: also generate past the README's ambiguous events (reported, not failed)
#   POLICY_ORACLE_MAX_T0     largest trace origin in ms (default 2^63: the README's "any origin")
#   CARGO_TARGET_DIR         where the CLI is built (default target/)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
postern="$(bash "$root/.ci/build-cli.sh" "${POLICY_ORACLE_PROFILE:-debug}")"
python3 "$root/.ci/policy_oracle.py" --bin "$postern" "$@"
