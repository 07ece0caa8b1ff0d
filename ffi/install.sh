#!/usr/bin/env bash
# Build libpostern in release mode and install it with its header and pkg-config file:
#   ffi/install.sh /usr/local        (then: cc app.c $(pkg-config --cflags --libs postern))
set -euo pipefail
prefix=${1:?usage: ffi/install.sh PREFIX}
cd "$(dirname "$0")/.."
cargo build --locked --release -p postern-ffi
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
version=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "postern-ffi"))')
install -d "$prefix/lib/pkgconfig" "$prefix/include"
install -m 644 "$target_dir/release/libpostern.a" "$prefix/lib/"
install -m 755 "$target_dir/release/libpostern.so" "$prefix/lib/"
install -m 644 include/postern.h "$prefix/include/"
sed -e "s|@PREFIX@|$prefix|" -e "s|@VERSION@|$version|" ffi/postern.pc.in > "$prefix/lib/pkgconfig/postern.pc"
echo "installed libpostern $version in $prefix"
