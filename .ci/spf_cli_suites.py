#!/usr/bin/env python3
"""The OpenSPF suites through the `postern spf` command line, in both zone-file formats.

The library's conformance tests (crates/postern-spf/tests/openspf.rs) load the suites' YAML
zones directly. Acceptance cases of the same kind reach postern through its CLI instead, as
a JSON zone file (../shared/testdata/spf/zone-format.md) or an RFC 1035 master file, with
the CLI's own argument handling and output. This runs every suite test that way:

1. `spf_oracle.py --suite-json SUITE` (../shared/tools) gives each scenario's zone in the JSON
   zone format, with the suites' conventions applied (SPF records served as TXT, `TXT: NONE`,
   `TIMEOUT`), and each query's acceptable results and explanation.
2. Each scenario's zone is written as a JSON zone file, and as a master file (`.zone`) when it
   has no TIMEOUT/SERVFAIL marker (a master file cannot say "this query times out"). Owner
   names and TXT strings use master-file escapes (`\\DDD`, `\\"`), and TXT values longer than
   255 octets are split into several character-strings (RFC 1035 §3.3.14), which SPF joins
   with no separator (RFC 7208 §3.3).
3. Every query runs as `postern spf --ip --helo --mail-from --zone FILE --json` against each
   file. The result must be the suite's first (preferred) result for rfc7208-tests.yml, and
   one of the listed results for rfc4408-tests.yml (where RFC 7208 changed the answer). A
   master file whose zone has a record written twice may give any listed result: it loads as
   a server loads it, serving the record once (RFC 2181 §5), and the suite lists the answer
   for that too ("cannot be reliably reproduced with live DNS", multispf1). A fail's
   explanation must be the suite's (`DEFAULT`: no `exp=` text, so none is printed).
4. A query with an empty MAIL FROM (the HELO identity) also runs without `--mail-from` and
   with `--identity helo`: the JSON must be the same. The text output's first word is the
   JSON's result. The exit status is 0 for every SPF result.

Usage: spf_cli_suites.py --postern BIN --python PY [--testdata DIR] [--tools DIR]
Exits 1 on any disagreement, after listing them all.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile


def master_escape(data, keep):
    """Bytes in master-file form (RFC 1035 §5.1): those for which `keep` holds as they are,
    `"` and `\\` escaped with a backslash, the others as `\\DDD`."""
    out = []
    for byte in data:
        if keep(byte):
            out.append(chr(byte))
        elif byte in (0x22, 0x5C):
            out.append("\\" + chr(byte))
        else:
            out.append("\\%03d" % byte)
    return "".join(out)


def master_escape_name(name):
    """An owner or target name, absolute: letters, digits and `-_.*%` as they are."""
    plain = lambda byte: byte < 0x80 and (chr(byte).isalnum() or chr(byte) in "-_.*%")
    return master_escape(name.rstrip(".").encode("utf-8"), plain) + "."


def master_quote(data):
    """One character-string (bytes), quoted: printable ASCII as it is."""
    printable = lambda byte: 0x20 <= byte < 0x7F and byte not in (0x22, 0x5C)
    return '"' + master_escape(data, printable) + '"'


def master_txt(value):
    """TXT RDATA: the value's strings, each split into character-strings of at most 255 octets."""
    parts = value if isinstance(value, list) else [value]
    strings = []
    for part in parts:
        data = part.encode("utf-8")
        if not data:
            strings.append(b"")
        for start in range(0, len(data), 255):
            strings.append(data[start : start + 255])
    return " ".join(master_quote(s) for s in strings)


def master_file(zone):
    """The zone as master-file text, or None when it has a TIMEOUT/SERVFAIL marker."""
    lines = ["$TTL 300"]
    for name, entries in zone.items():
        owner = master_escape_name(name)
        for entry in entries:
            rtype, value = entry["type"], entry.get("value")
            if rtype in ("TIMEOUT", "SERVFAIL"):
                return None
            if rtype in ("TXT", "SPF"):
                rdata = master_txt(value)
            elif rtype == "MX":
                rdata = "%d %s" % (value[0], master_escape_name(value[1]))
            elif rtype in ("PTR", "CNAME"):
                rdata = master_escape_name(value)
            else:
                rdata = value
            lines.append("%s 300 IN %s %s" % (owner, rtype, rdata))
    return "\n".join(lines) + "\n"


def run(postern, args):
    return subprocess.run([postern, "spf", *args], capture_output=True, check=False)


def has_duplicates(zone):
    """Whether some owner has the same record twice."""
    for entries in zone.values():
        seen = [json.dumps(entry, sort_keys=True) for entry in entries]
        if len(set(seen)) != len(seen):
            return True
    return False


def check_query(postern, suite, query, zone_file, problems, any_listed=False):
    where = "%s %s (%s)" % (suite, query["id"], os.path.basename(zone_file))
    base = ["--ip", query["ip"], "--helo", query["helo"], "--zone", zone_file]
    proc = run(postern, base + ["--mail-from", query["mailfrom"], "--json"])
    if proc.returncode != 0:
        problems.append("%s: exit %d: %s" % (where, proc.returncode, proc.stderr.decode(errors="replace").strip()))
        return
    out = json.loads(proc.stdout)
    expect = query["expect"]
    preferred_only = suite.startswith("rfc7208") and not any_listed
    if out["result"] not in (expect[:1] if preferred_only else expect):
        problems.append("%s: result %s, want %s" % (where, out["result"], " or ".join(expect)))
    wanted = query.get("expect_explanation")
    if wanted is not None and out["result"] == "fail":
        got = out.get("explanation")
        if (got not in (None, "")) if wanted == "DEFAULT" else got != wanted:
            problems.append("%s: explanation %r, want %r" % (where, got, wanted))
    text = run(postern, base + ["--mail-from", query["mailfrom"]])
    first = text.stdout.decode(errors="replace").split(" ", 1)[0]
    if text.returncode != 0 or first != out["result"]:
        problems.append("%s: text output %r (exit %d), JSON result %s" % (where, first, text.returncode, out["result"]))
    if query["mailfrom"] == "":
        for extra in (["--json"], ["--identity", "helo", "--json"]):
            other = run(postern, base + extra)
            if other.returncode != 0 or json.loads(other.stdout) != out:
                problems.append("%s: %s gives %s, not the same JSON as --mail-from ''" % (where, " ".join(extra), other.stdout.decode(errors="replace").strip()))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--postern", required=True)
    parser.add_argument("--python", required=True, help="a Python with pyyaml, for spf_oracle.py")
    here = os.path.dirname(os.path.abspath(__file__))
    parser.add_argument("--testdata", default=os.environ.get("POSTERN_TESTDATA", os.path.join(here, "..", "..", "shared", "testdata")))
    parser.add_argument("--tools", default=os.path.join(here, "..", "..", "shared", "tools"))
    args = parser.parse_args()

    problems = []
    counts = {"json": 0, "master": 0, "no master file (marker)": 0}
    with tempfile.TemporaryDirectory(prefix="postern-spf-suites-") as tmp:
        for suite in ("rfc7208-tests.yml", "rfc4408-tests.yml"):
            converted = subprocess.run(
                [args.python, os.path.join(args.tools, "spf_oracle.py"), "--suite-json", os.path.join(args.testdata, "spf", suite)],
                capture_output=True,
                check=True,
            )
            for index, scenario in enumerate(json.loads(converted.stdout)):
                stem = os.path.join(tmp, "%s-%02d" % (suite.split("-")[0], index))
                files = []
                with open(stem + ".json", "w", encoding="utf-8") as f:
                    json.dump(scenario["zone"], f)
                files.append(("json", stem + ".json"))
                text = master_file(scenario["zone"])
                if text is None:
                    counts["no master file (marker)"] += len(scenario["queries"])
                else:
                    with open(stem + ".zone", "w", encoding="ascii") as f:
                        f.write(text)
                    files.append(("master", stem + ".zone"))
                duplicates = has_duplicates(scenario["zone"])
                for query in scenario["queries"]:
                    for kind, path in files:
                        counts[kind] += 1
                        any_listed = kind == "master" and duplicates
                        check_query(args.postern, suite, query, path, problems, any_listed)
    print("spf-cli-suites: %s" % ", ".join("%d %s" % (n, k) for k, n in counts.items()))
    for problem in problems:
        print("  " + problem)
    if problems:
        print("spf-cli-suites: %d disagreement(s)" % len(problems))
        return 1
    print("spf-cli-suites: every suite test agrees through the CLI")
    return 0


if __name__ == "__main__":
    sys.exit(main())
