#!/usr/bin/env bash
# Ensure the Python venv with dkimpy 1.1.8 (RFC 6376 reference implementation), PyNaCl
# (Ed25519, RFC 8463) and cryptography that .ci/dkim_oracle.py needs, and print its
# interpreter's path.
#   DKIM_ORACLE_VENV   venv directory (default: /work/venv-dkim, or $HOME/.cache/postern/venv-dkim)
set -euo pipefail
exec bash "$(dirname "$0")/venv.sh" dkim "${DKIM_ORACLE_VENV:-}" \
    'import dkim, nacl, cryptography, importlib.metadata as m; assert m.version("dkimpy") == "1.1.8"' \
    dkimpy==1.1.8 pynacl cryptography
