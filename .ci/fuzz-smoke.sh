#!/usr/bin/env bash
# Fuzz smoke run: every target `cargo fuzz list` shows in fuzz/, for FUZZ_SECONDS (default 20)
# each, starting from the committed seeds (fuzz/seeds/<target>/) and regressions; fails on
# any crash, leak or timeout. Installs cargo-fuzz if missing. Uses the nightly toolchain when
# there is one, else stable with RUSTC_BOOTSTRAP=1 (as rustls' CI does).
set -euo pipefail

cd "$(dirname "$0")/../fuzz"
seconds="${FUZZ_SECONDS:-20}"

if ! cargo fuzz --version >/dev/null 2>&1; then
    cargo install --locked cargo-fuzz
fi

if rustup run nightly rustc --version >/dev/null 2>&1; then
    fuzz=(cargo +nightly fuzz)
else
    echo "fuzz-smoke: no nightly toolchain, using stable with RUSTC_BOOTSTRAP=1"
    export RUSTC_BOOTSTRAP=1
    fuzz=(cargo fuzz)
fi

list="$(cargo fuzz list)"
mapfile -t targets <<<"$list"
if [ -z "$list" ] || [ "${#targets[@]}" -eq 0 ]; then
    echo "fuzz-smoke: no fuzz targets found" >&2
    exit 1
fi

"${fuzz[@]}" build
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
for target in "${targets[@]}"; do
    corpora=("$scratch/$target")
    mkdir -p "$scratch/$target"
    for dir in "seeds/$target" "regressions/$target"; do
        if [ -d "$dir" ]; then corpora+=("$dir"); fi
    done
    dict=()
    if [ -f dict/smtp.dict ] && [[ "$target" == smtp_* ]]; then dict=(-dict=dict/smtp.dict); fi
    echo "fuzz-smoke: $target for ${seconds}s"
    log="$scratch/$target.log"
    # The scratch corpus comes first: libFuzzer writes new inputs there, not into seeds/.
    # -timeout: one input running 25 s is a hang, reported like a crash.
    if ! "${fuzz[@]}" run "$target" "${corpora[@]}" -- \
        -max_total_time="$seconds" -timeout=25 "${dict[@]}" -print_final_stats=1 \
        >"$log" 2>&1; then
        tail -n 120 "$log"
        echo "fuzz-smoke: $target FAILED; the input is in fuzz/artifacts/$target/ (see fuzz/README.md)" >&2
        exit 1
    fi
    grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' "$log" || tail -n 5 "$log"
done
echo "fuzz-smoke: ${#targets[@]} targets passed"
