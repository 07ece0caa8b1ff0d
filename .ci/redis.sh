#!/usr/bin/env bash
# postern-redis against a real Redis: installs the Debian package redis-server if it is
# missing (the tests start their own throw-away server on a free 127.0.0.1 port and stop it
# by PID; they fail, not skip, without redis-server), then runs the crate's tests with every
# feature (async included; the workspace runs do not switch it on, so clippy checks it here
# too), the CLI's `policy simulate --redis` tests, and the redis bench once as a test.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v redis-server >/dev/null 2>&1; then
    echo "redis: installing redis-server" >&2
    sudo_cmd=""
    if [ "$(id -u)" -ne 0 ]; then sudo_cmd="sudo"; fi
    $sudo_cmd apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_cmd apt-get install -y -qq redis-server >/dev/null
    # The package starts a system instance on 6379; the tests do not use it.
fi
redis-server --version

cargo clippy --locked -p postern-redis --all-features --all-targets -- -D warnings
cargo test --locked -p postern-redis --all-features
cargo test --locked -p postern-cli --test policy_redis_cli
cargo test --locked -p postern-benches --bench redis
