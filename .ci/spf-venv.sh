#!/usr/bin/env bash
# Ensure the Python venv with pyspf 2.0.14 (the RFC 7208 reference implementation), dnspython
# and pyyaml that ../shared/tools/spf_oracle.py needs, and print its interpreter's path.
#   SPF_ORACLE_VENV   venv directory (default: /work/venv-spf, or $HOME/.cache/postern/venv-spf)
set -euo pipefail
exec bash "$(dirname "$0")/venv.sh" spf "${SPF_ORACLE_VENV:-}" 'import spf, dns, yaml' \
    pyspf==2.0.14 dnspython pyyaml
