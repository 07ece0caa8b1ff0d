#!/usr/bin/env bash
# Ensure the Python venv with dkimpy 1.1.8 (RFC 6376 reference implementation), PyNaCl
# (Ed25519, RFC 8463) and cryptography that .ci/dkim_oracle.py needs, and print its
# interpreter's path.
#   DKIM_ORACLE_VENV   venv directory (default: /work/venv-dkim, or $HOME/.cache/postern/venv-dkim)
set -euo pipefail
if [ -z "${DKIM_ORACLE_VENV:-}" ]; then
    if [ -d /work ] && [ -w /work ]; then
        DKIM_ORACLE_VENV=/work/venv-dkim
    else
        DKIM_ORACLE_VENV="${HOME}/.cache/postern/venv-dkim"
    fi
fi
python="$DKIM_ORACLE_VENV/bin/python"
if ! "$python" -c 'import dkim, nacl, cryptography, importlib.metadata as m; assert m.version("dkimpy") == "1.1.8"' >/dev/null 2>&1; then
    echo "dkim-venv: creating $DKIM_ORACLE_VENV" >&2
    mkdir -p "$(dirname "$DKIM_ORACLE_VENV")"
    python3 -m venv "$DKIM_ORACLE_VENV" >&2
    "$DKIM_ORACLE_VENV/bin/pip" install --quiet dkimpy==1.1.8 pynacl cryptography >&2
fi
echo "$python"
