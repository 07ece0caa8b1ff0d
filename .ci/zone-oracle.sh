#!/usr/bin/env bash
# Differential test of postern-dns's RFC 1035 master-file loader against dnspython's zone
# reader (crates/postern-dns/tests/zone_oracles.rs, with .ci/zone_oracle.py generating the
# files). Reuses the SPF oracle's venv, which has dnspython. Tunables:
#   SPF_ORACLE_VENV             venv directory (see .ci/spf-venv.sh)
#   POSTERN_ZONE_ORACLE_CASES   random master files per run (default 2000 in the test)
#   POSTERN_ZONE_ORACLE_SEED    generator seed (default fixed, so runs are reproducible)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
python="$(bash "$root/.ci/spf-venv.sh")"

cd "$root"
POSTERN_ZONE_ORACLE="$python" cargo test --locked -p postern-dns --test zone_oracles master_files_load_as_dnspython -- --nocapture
