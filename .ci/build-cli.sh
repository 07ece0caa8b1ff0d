#!/usr/bin/env bash
# Builds the postern CLI with cargo's PROFILE (debug, the default, as the tests do; or release)
# and prints the binary's path (under CARGO_TARGET_DIR, default target/). Cargo's own output
# goes to stderr. Used by the scripts that run the CLI against a reference.
#
# Usage: bash .ci/build-cli.sh [debug|release]
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
profile="${1:-debug}"
case "$profile" in
    debug) cargo build --locked -p postern-cli --manifest-path "$root/Cargo.toml" >&2 ;;
    release) cargo build --release --locked -p postern-cli --manifest-path "$root/Cargo.toml" >&2 ;;
    *) echo "build-cli: profile debug or release, not $profile" >&2; exit 2 ;;
esac
echo "${CARGO_TARGET_DIR:-$root/target}/$profile/postern"
