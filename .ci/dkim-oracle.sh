#!/usr/bin/env bash
# Differential test of postern-dkim against dkimpy 1.1.8 (RFC 6376 canonicalization, header
# selection and RSA) and PyNaCl (Ed25519, RFC 8463), through .ci/dkim_oracle.py
# (crates/postern-dkim/tests/dkimpy.rs).
#
# Creates the Python venv on first use (PyPI: dkimpy==1.1.8, pynacl, cryptography), then runs
# the test with POSTERN_DKIM_ORACLE pointing at its interpreter. Tunables:
#   DKIM_ORACLE_VENV            venv directory (default: /work/venv-dkim, or $HOME/.cache/postern/venv-dkim)
#   POSTERN_DKIM_ORACLE_CASES   random messages per run (default 300 in the test; each is signed
#                               by dkimpy and by postern, and verified with up to 9 variants)
#   POSTERN_DKIM_ORACLE_SEED    generator seed (default fixed, so runs are reproducible)
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
python="$(bash "$root/.ci/dkim-venv.sh")"

cd "$root"
POSTERN_DKIM_ORACLE="$python" cargo test --locked -p postern-dkim --test dkimpy -- --nocapture
