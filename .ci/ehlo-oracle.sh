#!/usr/bin/env bash
# Differential test of `postern ehlo parse|strip` against .ci/ehlo_oracle.py, an independent
# Python reference (stdlib only) of the EHLO reply contract in ../shared/testdata/ehlo/README.md.
#
# Builds the CLI (debug, as the tests do; EHLO_ORACLE_PROFILE=release for a faster run), checks the reference against every visible fixture, then feeds
# the directed edge cases and seeded random reply streams to both and exits 1 on any
# disagreement, printing a reduced reproducer. No venv: Python 3.11 standard library only.
# Tunables (see the docstring of .ci/ehlo_oracle.py):
#   EHLO_ORACLE_SEED        generator seed (default fixed: 20261124, so runs are reproducible)
#   EHLO_ORACLE_SEEDS       several seeds, e.g. "1-20" (overrides EHLO_ORACLE_SEED)
#   EHLO_ORACLE_CASES       random inputs per seed (default 1500; ~1400 directed ones are added)
#   EHLO_ORACLE_AMBIGUOUS=1 also run inputs whose outcome the README leaves open (reported,
#                           not failures)
#   POSTERN_TESTDATA        folder holding ehlo/ (default ../shared/testdata)
#   CARGO_TARGET_DIR        where the CLI is built (default target/)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
postern="$(bash "$root/.ci/build-cli.sh" "${EHLO_ORACLE_PROFILE:-debug}")"
exec python3 "$root/.ci/ehlo_oracle.py" --postern "$postern" "$@"
