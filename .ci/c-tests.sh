#!/usr/bin/env bash
# Build libpostern and run the C tests and examples: compiled with -Werror as C11 (the header
# also as C++), run under ASan+UBSan and under valgrind, and the EHLO fixture suite driven
# through the C ABI. Needs gcc, g++, valgrind and python3 (installed here if missing).
set -euo pipefail
cd "$(dirname "$0")/.."
testdata=${POSTERN_TESTDATA:-../shared/testdata}

need=()
command -v gcc >/dev/null || need+=(gcc)
command -v g++ >/dev/null || need+=(g++)
command -v valgrind >/dev/null || need+=(valgrind)
command -v python3 >/dev/null || need+=(python3)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq && apt-get install -y -qq "${need[@]}"
fi

cargo build --locked -p postern-ffi
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')
lib="$target_dir/debug/libpostern.a"
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

cflags=(-std=c11 -Wall -Wextra -Wpedantic -Werror -g -Iinclude)
libs=("$lib" -lpthread -ldl -lm)

echo "--- header compiles as C11 and as C++"
printf '#include <postern.h>\nint main(void) { return 0; }\n' > "$out/h.c"
gcc "${cflags[@]}" "$out/h.c" -o "$out/h"
g++ -std=c++17 -Wall -Wextra -Wpedantic -Werror -Iinclude -x c++ -fsyntax-only "$out/h.c"

progs=(ffi/tests/c/test_smtp.c ffi/tests/c/test_spf.c ffi/tests/c/test_dkim.c ffi/tests/c/test_policy.c ffi/tests/c/spf_suite.c ffi/tests/c/dkim_corpus.c examples/c/ehlo_strip.c examples/c/proxy_buffers.c)
for src in "${progs[@]}"; do
  name=$(basename "$src" .c)
  gcc "${cflags[@]}" -fsanitize=address,undefined -fno-omit-frame-pointer "$src" "${libs[@]}" -o "$out/$name.asan"
  gcc "${cflags[@]}" "$src" "${libs[@]}" -o "$out/$name"
done

# The examples that can resolve live with res_query() link libresolv too.
for src in examples/c/spf_check.c examples/c/dkim_verify.c; do
  name=$(basename "$src" .c)
  gcc "${cflags[@]}" -fsanitize=address,undefined -fno-omit-frame-pointer "$src" "${libs[@]}" -lresolv -o "$out/$name.asan"
  gcc "${cflags[@]}" "$src" "${libs[@]}" -lresolv -o "$out/$name"
done

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
vg=(valgrind --error-exitcode=1 --leak-check=full --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect -q)

echo "--- C unit tests (ASan+UBSan, then valgrind)"
keys="$testdata/dkim/generated/keys"
for t in test_smtp test_spf test_dkim test_policy; do
  args=()
  if [ "$t" = test_dkim ]; then args=("$keys/ed25519.pkcs8.pem" "$keys/ed25519.pub.b64"); fi
  "$out/$t.asan" "${args[@]}"
  "${vg[@]}" "$out/$t" "${args[@]}"
done
echo "--- proxy_buffers example"
"$out/proxy_buffers.asan" >/dev/null
"${vg[@]}" "$out/proxy_buffers" >/dev/null

echo "--- spf_check and dkim_verify examples (offline tables)"
for run in "$out/spf_check.asan" "${vg[*]} $out/spf_check"; do
  $run 192.0.2.25 mx.example.com alice@example.com | grep -q '^pass (1 DNS lookups)'
  $run 198.51.100.7 mx.example.com alice@example.com | grep -q '^pass'
  $run 203.0.113.9 mx.example.com alice@example.com | grep -q '^fail'
done
python3 - examples/data/dkim-zone.json > "$out/keys.txt" <<'PY'
import json, sys
for name, entries in json.load(open(sys.argv[1])).items():
    for e in entries:
        if "._domainkey." in name and e["type"] == "TXT":
            v = e["value"]
            print(name, "".join(v) if isinstance(v, list) else v)
PY
for run in "$out/dkim_verify.asan" "${vg[*]} $out/dkim_verify"; do
  test "$($run examples/data/dkim-sample.eml "$out/keys.txt" | grep -o 'dkim=pass' | wc -l)" -eq 2
done

echo "--- EHLO fixture suite through the C ABI (strict and lenient, whole and 1-byte reads)"
python3 - "$testdata/ehlo" "$out" <<'PY'
import json, os, subprocess, sys
root, out = sys.argv[1], sys.argv[2]
manifest = json.load(open(os.path.join(root, "manifest.json")))
vg = ["valgrind", "--error-exitcode=99", "--leak-check=full", "-q"]
runs = failed = 0
for case in manifest["cases"]:
    inp = case["input"]
    files = [inp["file"]] if "file" in inp else inp["chunks"]
    data = b"".join(open(os.path.join(root, f), "rb").read() for f in files)
    path = os.path.join(out, "input.smtp")
    open(path, "wb").write(data)
    ctx = ",".join(case.get("context", ["EHLO"]))
    for lenient in (False, True):
        want = case.get("strip_starttls_lenient") if lenient and "strip_starttls_lenient" in case else case["strip_starttls"]
        expected = None if want["outcome"] == "no_output" else open(os.path.join(root, want["file"]), "rb").read()
        for chunk, runner in (("0", [os.path.join(out, "ehlo_strip.asan")]), ("1", vg + [os.path.join(out, "ehlo_strip")])):
            args = runner + ["--context", ctx, "--chunk", chunk] + (["--lenient"] if lenient else []) + [path]
            p = subprocess.run(args, capture_output=True)
            runs += 1
            ok = (p.returncode == 0 and p.stdout == expected) if expected is not None else (p.returncode == 1 and p.stdout == b"")
            if not ok:
                failed += 1
                print(f"FAIL {case['id']} lenient={lenient} chunk={chunk}: rc={p.returncode} {p.stderr.decode(errors='replace')}")
print(f"ehlo fixtures via C: {runs - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
PY

echo "--- OpenSPF RFC 7208 suite through the C ABI (typed answers; ASan+UBSan, then valgrind)"
python=$(bash .ci/spf-venv.sh)
"$python" ../shared/tools/spf_oracle.py --suite-json "$testdata/spf/rfc7208-tests.yml" > "$out/suite.json"
python3 - "$out/suite.json" > "$out/spf7208.txt" <<'PY'
import json, sys
hx = lambda s: s.encode("utf-8").hex() if s else "-"
for scenario in json.load(open(sys.argv[1])):
    print("S")
    for name, entries in scenario["zone"].items():
        for e in entries:
            t = e["type"]
            if t == "TIMEOUT":
                print("Z", hx(name), "TIMEOUT", "-")
                continue
            v = e["value"]
            v = f"{v[0]} {v[1]}" if t == "MX" else "".join(v) if isinstance(v, list) else str(v)
            print("Z", hx(name), t, hx(v))
    for q in scenario["queries"]:
        exp = q.get("expect_explanation")
        print("Q", q["id"], q["ip"], hx(q["helo"]), hx(q["mailfrom"]), ",".join(q["expect"]), hx(exp) if exp is not None else "-")
PY
"$out/spf_suite.asan" "$out/spf7208.txt"
"${vg[@]}" "$out/spf_suite" "$out/spf7208.txt"

echo "--- DKIM corpora (generated and public) through the C ABI, streamed in 61-byte chunks"
python3 - "$testdata/dkim/generated" "$testdata/dkim/public" > "$out/dkim.txt" <<'PY'
import json, os, sys
for root in sys.argv[1:]:
    for case in json.load(open(os.path.join(root, "manifest.json"))):
        print("M", os.path.join(root, case["file"]), case["now"])
        for name, value in case.get("dns", {}).items():
            if isinstance(value, dict):
                print("K", name.encode().hex(), "TEMPFAIL")
            else:
                text = "".join(value) if isinstance(value, list) else value
                print("K", name.encode().hex(), text.encode().hex() or "-")
        for e in case["expected"]:
            print("E", ",".join([e["result"]] + e.get("acceptable", [])))
        print("X")
PY
"$out/dkim_corpus.asan" "$out/dkim.txt"
"${vg[@]}" "$out/dkim_corpus" "$out/dkim.txt"

echo "--- install with pkg-config metadata, then build an example against it"
command -v pkg-config >/dev/null || { apt-get update -qq && apt-get install -y -qq pkg-config; }
bash ffi/install.sh "$out/prefix" >/dev/null
export PKG_CONFIG_PATH="$out/prefix/lib/pkgconfig"
test "$(pkg-config --modversion postern)" = "$(grep -m1 '^version' Cargo.toml | cut -d'"' -f2)"
# shellcheck disable=SC2046 # word splitting of pkg-config output is intended
gcc "${cflags[@]}" examples/c/proxy_buffers.c $(pkg-config --cflags postern) "$out/prefix/lib/libpostern.a" $(pkg-config --libs-only-l --static postern | sed 's/-lpostern//') -o "$out/pc_static"
"$out/pc_static" >/dev/null
# shellcheck disable=SC2046
gcc "${cflags[@]}" examples/c/proxy_buffers.c $(pkg-config --cflags --libs postern) -Wl,-rpath,"$out/prefix/lib" -o "$out/pc_shared"
"$out/pc_shared" >/dev/null
echo "C ABI checks passed"
