#!/usr/bin/env bash
# The OpenSPF RFC 7208 and RFC 4408 suites through `postern spf`, with every scenario's zone as
# a JSON zone file and (when it has no TIMEOUT marker) as an RFC 1035 master file: results,
# explanations, text output and the HELO-identity forms (see .ci/spf_cli_suites.py).
#
# Builds the CLI (debug, as the tests do; SPF_CLI_SUITES_PROFILE=release for a faster build of
# a faster binary) and uses the pyspf venv of .ci/spf-venv.sh only for pyyaml, through
# ../shared/tools/spf_oracle.py --suite-json. About 5 s with a debug CLI, after its build.
#   POSTERN_TESTDATA   folder holding spf/ (default ../shared/testdata)
#   CARGO_TARGET_DIR   where the CLI is built (default target/)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
python="$(bash "$root/.ci/spf-venv.sh")"
postern="$(bash "$root/.ci/build-cli.sh" "${SPF_CLI_SUITES_PROFILE:-debug}")"
exec python3 "$root/.ci/spf_cli_suites.py" --postern "$postern" --python "$python" "$@"
