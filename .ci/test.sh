#!/usr/bin/env bash
# The README's test command: every Rust test of the workspace. postern-redis's tests start a
# throw-away redis-server on 127.0.0.1, so the Debian package is installed first if missing.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v redis-server >/dev/null 2>&1; then
    echo "test: installing redis-server (postern-redis tests run against a real one)" >&2
    sudo_cmd=""
    if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq redis-server >/dev/null
fi
cargo test --workspace --locked
