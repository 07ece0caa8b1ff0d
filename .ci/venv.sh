#!/usr/bin/env bash
# Ensure a Python venv with the given packages, and print its interpreter's path: the one
# piece behind .ci/spf-venv.sh and .ci/dkim-venv.sh.
#
# Usage: bash .ci/venv.sh NAME DIR CHECK PACKAGE...
#   NAME     short name of the venv (spf, dkim)
#   DIR      venv directory; empty for the default: /work/venv-NAME when /work is writable,
#            else $HOME/.cache/postern/venv-NAME
#   CHECK    Python code that runs without error once the venv is ready
#   PACKAGE  pip requirements installed when CHECK fails
set -euo pipefail
name="$1"
dir="$2"
check="$3"
shift 3
if [ -z "$dir" ]; then
    if [ -d /work ] && [ -w /work ]; then
        dir="/work/venv-$name"
    else
        dir="${HOME}/.cache/postern/venv-$name"
    fi
fi
python="$dir/bin/python"
if ! "$python" -c "$check" >/dev/null 2>&1; then
    echo "$name-venv: creating $dir" >&2
    mkdir -p "$(dirname "$dir")"
    python3 -m venv "$dir" >&2
    "$dir/bin/pip" install --quiet "$@" >&2
fi
echo "$python"
