#!/usr/bin/env bash
# Differential test of postern-dns's master-file zone answers (wildcards, empty non-terminals,
# CNAME chains) against NSD serving the same zones on loopback
# (crates/postern-dns/tests/zone_oracles.rs, with .ci/wildcard_oracle.py). Installs nsd if
# missing (needs root and Debian's packages) and reuses the SPF oracle's venv (dnspython).
# Tunables:
#   POSTERN_WILDCARD_ORACLE_ZONES     zones per run (default 200 in the test)
#   POSTERN_WILDCARD_ORACLE_QUERIES   questions per zone (default 50)
#   POSTERN_WILDCARD_ORACLE_SEED      generator seed (default fixed, so runs are reproducible)
#   POSTERN_NSD_PORT                  loopback port NSD listens on (default: a free one)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
if ! command -v nsd >/dev/null; then
    timeout 300 apt-get update -qq
    DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq nsd >/dev/null
fi
# The package may start its own service (port 53); the test runs its own instance.
python="$(bash "$root/.ci/spf-venv.sh")"

cd "$root"
POSTERN_WILDCARD_ORACLE="$python" cargo test --locked -p postern-dns --test zone_oracles master_file_zones_answer_as_nsd -- --nocapture
