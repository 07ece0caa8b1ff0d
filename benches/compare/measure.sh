# Sourced by spf-floor.sh and spf-mail-auth.sh, whose harnesses take `MODE CASE N`: print the
# best ns per check of N checks (N smaller for the chain), and with SPF_FLOOR_ONCE set run N
# checks untimed.
#
# measure_scratch ROOT MAIN NAME [DEPENDENCY...]: sets `work` to a scratch directory (removed
# on exit) holding HEAD's crates, Cargo.toml and Cargo.lock, and the harness package NAME in
# harness/: MAIN as its main.rs beside the bench cases (benches/src/spf_cases.rs), postern-dns
# and postern-spf and each DEPENDENCY line as its dependencies, fat LTO, the workspace's lock.
#
# measure_rounds ROUNDS N BIN MODE...: interleaved rounds, every mode of every case per round.
# measure_instructions BIN MODE...: instructions per check of each mode and case, from
# callgrind ((11,000 checks - 1,000 checks) / 10,000), when valgrind is installed.

measure_cases=(ip4 include_chain5 exists_macro)

measure_scratch() {
    local root="$1" main="$2" name="$3"
    shift 3
    work="$(mktemp -d)"
    trap 'rm -rf "$work"' EXIT
    git -C "$root" archive HEAD crates Cargo.toml Cargo.lock | tar -x -C "$work"
    mkdir -p "$work/harness/src"
    cp "$main" "$work/harness/src/main.rs"
    cp "$root/benches/src/spf_cases.rs" "$work/harness/src/spf_cases.rs"
    cp "$root/Cargo.lock" "$work/harness/Cargo.lock"
    cat > "$work/harness/Cargo.toml" <<TOML
[package]
name = "$name"
version = "0.0.0"
edition = "2024"
publish = false

[dependencies]
postern-dns = { path = "../crates/postern-dns" }
postern-spf = { path = "../crates/postern-spf" }
$(printf '%s\n' "$@")

[profile.release]
lto = "fat"
codegen-units = 1

[workspace]
TOML
}

measure_rounds() {
    local rounds="$1" n="$2" bin="$3" round case mode count
    shift 3
    echo "uptime before: $(uptime)"
    for round in $(seq 1 "$rounds"); do
        echo "== round $round"
        for case in "${measure_cases[@]}"; do
            count="$n"
            [ "$case" = include_chain5 ] && count=$((n / 5))
            for mode in "$@"; do
                "$bin" "$mode" "$case" "$count"
            done
        done
    done
}

measure_instructions() {
    local bin="$1" case mode a b
    shift
    command -v valgrind >/dev/null || return 0
    echo "== instructions per check (callgrind: (11,000 checks - 1,000 checks) / 10,000)"
    for case in "${measure_cases[@]}"; do
        for mode in "$@"; do
            a=$(SPF_FLOOR_ONCE=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$mode" "$case" 1000 2>&1 |
                awk '/refs/ {gsub(",", "", $4); print $4}')
            b=$(SPF_FLOOR_ONCE=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bin" "$mode" "$case" 11000 2>&1 |
                awk '/refs/ {gsub(",", "", $4); print $4}')
            echo "$mode $case: $(((b - a) / 10000)) instructions"
        done
    done
}
