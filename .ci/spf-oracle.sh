#!/usr/bin/env bash
# Differential test of postern-spf against pyspf 2.0.14, the reference implementation of
# RFC 7208, through ../shared/tools/spf_oracle.py (crates/postern-spf/tests/oracle.rs).
#
# Creates the Python venv on first use (PyPI: pyspf, dnspython, pyyaml), then runs the test
# with POSTERN_SPF_ORACLE pointing at its interpreter. Tunables:
#   SPF_ORACLE_VENV            venv directory (default: /work/venv-spf, or $HOME/.cache/postern/venv-spf)
#   POSTERN_SPF_ORACLE_CASES   random zones per run (default 1000 in the test; 3 queries each)
#   POSTERN_SPF_ORACLE_SEED    generator seed (default fixed, so runs are reproducible)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
python="$(bash "$root/.ci/spf-venv.sh")"

oracle="$root/../shared/tools/spf_oracle.py"
if [ ! -f "$oracle" ]; then
    echo "spf-oracle: $oracle is missing (clone the shared repository beside this one)" >&2
    exit 1
fi

cd "$root"
POSTERN_SPF_ORACLE="$python" cargo test --locked -p postern-spf --test oracle -- --nocapture
