#!/usr/bin/env bash
# Ensure the Python venv with pyspf 2.0.14 (the RFC 7208 reference implementation), dnspython
# and pyyaml that ../shared/tools/spf_oracle.py needs, and print its interpreter's path.
#   SPF_ORACLE_VENV   venv directory (default: /work/venv-spf, or $HOME/.cache/postern/venv-spf)
set -euo pipefail
if [ -z "${SPF_ORACLE_VENV:-}" ]; then
    if [ -d /work ] && [ -w /work ]; then
        SPF_ORACLE_VENV=/work/venv-spf
    else
        SPF_ORACLE_VENV="${HOME}/.cache/postern/venv-spf"
    fi
fi
python="$SPF_ORACLE_VENV/bin/python"
if ! "$python" -c 'import spf, dns, yaml' >/dev/null 2>&1; then
    echo "spf-venv: creating $SPF_ORACLE_VENV" >&2
    python3 -m venv "$SPF_ORACLE_VENV" >&2
    "$SPF_ORACLE_VENV/bin/pip" install --quiet pyspf==2.0.14 dnspython pyyaml >&2
fi
echo "$python"
