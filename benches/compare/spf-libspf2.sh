#!/usr/bin/env bash
# Runs postern's `spf/check_host` criterion bench and the same three cases through libspf2
# (libspf2_spf.c), interleaved in rounds, so that both are measured on this machine in the
# same minutes: a reference point for the absolute figures of the SPF benches. Not part of CI.
#
# Usage: bash benches/compare/spf-libspf2.sh [ROUNDS]   (default 3; installs libspf2-dev if
# missing, which needs root and Debian's packages).
set -euo pipefail

root="$(cd "$(dirname "$0")/../.." && pwd)"
rounds="${1:-3}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

if [ ! -f /usr/include/spf2/spf.h ]; then
    apt-get update -qq && apt-get install -y -qq libspf2-dev >/dev/null
fi
gcc -O2 -Wall -o "$work/libspf2_spf" "$root/benches/compare/libspf2_spf.c" -lspf2

cd "$root"
echo "uptime before: $(uptime)"
for round in $(seq 1 "$rounds"); do
    echo "== round $round"
    for case in ip4 include_chain5 exists_macro; do
        n=100000
        [ "$case" = include_chain5 ] && n=20000
        "$work/libspf2_spf" "$case" "$n"
    done
    cargo bench --locked -q -p postern-benches --bench spf -- --warm-up-time 1 --measurement-time 3 2>/dev/null |
        awk '/^spf\/check_host\// {name=$1} /time:/ {sub(/.*time: +\[/, ""); sub(/\].*/, ""); print "postern " name ": [" $0 "]"}'
done
echo "uptime after: $(uptime)"
