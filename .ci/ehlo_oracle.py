#!/usr/bin/env python3
"""Differential test of `postern ehlo parse|strip` against an independent reference.

What it checks
  The reference below implements the EHLO reply contract of
  ../shared/testdata/ehlo/README.md (manifest schema `smtp-ehlo-fixtures/1`), written from the
  README's words only (not from postern's Rust code). A seeded generator builds reply streams
  the contract fully determines; each one is given to the reference and to the CLI:
      postern ehlo parse [--lenient] --context C1,C2,...   (one JSON object, exit 0 / 1)
      postern ehlo strip [--lenient] --context C1,C2,...   (bytes on stdout, exit 0 / 1)
  in strict and lenient mode, and every disagreement is reported with a reduced reproducer.
  Before that, the reference is checked against every case of the visible manifest.

Compared fields (the normative ones, mapped as in crates/postern-cli/tests/ehlo_cli.rs)
  parse ok:        exit 0, outcome "ok", error null, and per reply: context, code, lines,
                   consumed, line_ending (only when every line of the reply ends the same way),
                   enhanced_code, ehlo (domain, greeting_text, domain_hex / greeting_text_hex
                   and their absence, has_starttls, capabilities[] with keyword, params, valid,
                   legacy_equals (missing = false)), ehlo_rejected (missing = false).
  parse error:     exit 1, outcome "error", error.kind, error.reply_index, error.at_line
                   (at_line not for `truncated`: the manifest gives only at_eof and
                   complete_replies there). offset is not normative and is not compared.
  strip:           exit 0 and the exact stdout bytes; or exit 1, empty stdout and the error
                   kind (`truncated` for an incomplete reply) named on stderr.
  Split invariance (rule 7) is not checked: the CLI reads the whole input at once and has no
  way to feed chunks.

Rules implemented (README numbering)
  1  lines CODE SEP TEXT CRLF; CODE digits 2-5 / 0-5 / 0-9 else bad_code; SEP '-' or SP, a line
     that is exactly CODE CRLF is a last line with empty text; other SEP -> bad_separator.
  2  every line of a reply has line 1's code, else code_mismatch (an invalid digit is bad_code
     even where it also differs, as the CLI test `25x` pins).
  3  strict: only CRLF ends a line, LF alone -> bare_lf; lenient: LF alone ends a line. CR not
     followed by LF -> bare_cr; CR as the last byte -> wait (truncated at EOF).
  4  content <= 510 octets; line_too_long as soon as the 511th content octet is buffered.
     The README sets no limit on the number of lines of a reply, so neither does the
     reference (directed cases of 15-2000 lines). postern bounds a reply at 1024 lines
     (`too_many_lines`, a documented limit of its own): cases past it are tagged
     `over_line_limit` and skipped unless EHLO_ORACLE_AMBIGUOUS=1.
  5  the first offending byte in stream order decides the error (kind, reply, line).
  6  TEXT is opaque bytes.
  7  replies follow each other; a stream ending inside a reply is `truncated` (reply_index =
     complete replies); a stream ending between replies is ok (the CLI test pins a lone
     banner with context `<greeting>,EHLO` as complete; the empty input is the same case).
  8  contexts pair with replies in order (none beyond the list); EHLO/LHLO + 250 = EHLO reply,
     EHLO/LHLO + other code = ehlo null, ehlo_rejected true.
  enhanced_code: every reply but a 250 reply to EHLO/LHLO, when line 1's text starts with
     class "." 1*3digit "." 1*3digit (RFC 3463), class = the code's first digit, then SP or
     the end of the text; reported as written.
  9  line 1 of a 250 EHLO reply is the greeting: domain = bytes before the first SP,
     greeting_text = bytes after it ("" if none); non-UTF-8 greeting_text -> null + hex;
     *_hex (lower-case) whenever non-ASCII, absent otherwise.
  10 capability lines: strip SP/HT at both ends, split on runs of SP/HT; token 1 = keyword,
     upper-cased ASCII only; a '=' in token 1 ends the keyword and the rest is the first param
     (legacy_equals true); valid = (ALPHA/DIGIT) *(ALPHA/DIGIT/"-"); has_starttls.
  11-14 strip: in complete 250 EHLO/LHLO replies drop lines 2.. whose keyword is STARTTLS
     (any case, whatever follows); if the last line went, the new last line's '-' becomes SP;
     every other byte kept; other replies pass unchanged; nothing on error or truncation.

Ambiguities (the README does not decide them; the reference tags a case that reaches one and
the runner skips it unless EHLO_ORACLE_AMBIGUOUS=1, then it uses the reading noted here):
  cr_at_sep        CR at the separator position followed by a non-LF byte (bare_cr vs
                   bad_separator). Reading: bare_cr.
  bare_cr_at_511   510 content octets then CR + non-LF (bare_cr vs line_too_long). Reading:
                   bare_cr.
  mismatch_then_bad a digit that differs from line 1's code, followed inside the same code by
                   an invalid digit, CR, LF or EOF (code_mismatch at the digit vs judging the
                   code as a whole). Reading: code_mismatch.
  greeting_ws      line 1 text starting with SP, or HT/VT/FF before its first SP ("first
                   token" vs "rest after the first SP"). Reading: split at the first SP.
  non_utf8_domain  domain not UTF-8 (the README gives null + hex for greeting_text only).
                   Reading: null + domain_hex.
  non_utf8_capability capability line not UTF-8 (no JSON form is given). Reading: replaced.
  empty_capability capability line that is blank after stripping (no token 1). Reading:
                   keyword "", params [], valid false.
Readings the README's words decide, checked (postern followed them from this oracle on):
  CR and LF at a code-digit position follow rule 3 as anywhere else ("only CR and LF are
  structural", rule 6): in strict mode a LF is bare_lf; a CR before anything but LF is
  bare_cr; a CR as the last byte waits (truncated at EOF); a CRLF there ends a line too short
  for its code (bad_code); in lenient mode a LF there does the same (bad_code).
  token 1 ending in '=': "the remainder is the first param", so `AUTH=` has the param "".
  an enhanced code with leading zeros (RFC 3463 allows 1*3digit) is reported as written,
  "5.01.001".
  mixed line endings in one reply (lenient): line_ending is not compared (counted only).

Run
  .ci/ehlo-oracle.sh                 (builds the CLI, then runs this file)
  python3 .ci/ehlo_oracle.py [--postern PATH] [--seed N] [--cases N] [--fixtures DIR]
Knobs (argv wins over env): EHLO_ORACLE_SEED (default 20261124), EHLO_ORACLE_CASES (random
cases per seed, default 1500; the ~1470 directed edge cases are added once, to the first
seed), EHLO_ORACLE_SEEDS (e.g. "1-20": run several seeds), EHLO_ORACLE_AMBIGUOUS=1 (also run tagged cases),
POSTERN (binary), POSTERN_TESTDATA (folder holding ehlo/), EHLO_ORACLE_MAX_REPORTS (detailed
reports, one per disagreement class, default 5), EHLO_ORACLE_REPRO_DIR (where the reduced
inputs are written; default a new temporary directory).
Exit status: 0 when all agree, 1 on any disagreement (or a reference/fixture mismatch), 2 on
usage errors.
"""
import concurrent.futures
import hashlib
import json
import os
import random
import re
import subprocess
import sys
import tempfile
import time

CR, LF, SP, HT, DASH = 13, 10, 32, 9, 45
DIGIT_RANGES = ((ord("2"), ord("5")), (ord("0"), ord("5")), (ord("0"), ord("9")))
ENHANCED = re.compile(rb"([245])\.([0-9]{1,3})\.([0-9]{1,3})(?: |$)")
KEYWORD_OK = re.compile(rb"[A-Za-z0-9][A-Za-z0-9-]*")
# postern's own bound on the lines of one reply (crates/postern-smtp MAX_REPLY_LINES, error
# `too_many_lines`, documented in its README): the shared contract has none, so a reply that
# reaches line 1025 is tagged and skipped like an ambiguity.
MAX_REPLY_LINES = 1024


# --------------------------------------------------------------------------------------------
# Reference
# --------------------------------------------------------------------------------------------


def _digit_ok(pos, b):
    lo, hi = DIGIT_RANGES[pos]
    return lo <= b <= hi


def _read_line(data, i, lenient, code1, tags):
    """One line from data[i:]: ('line', content_end, next_start) | ('error', kind) | ('eof',)."""
    n = len(data)
    j = i
    while True:
        if j >= n:
            return ("eof",)
        b = data[j]
        p = j - i  # content octets before this byte
        if b == CR:
            if j + 1 >= n:
                return ("eof",)  # rule 3: a CR as the last byte waits
            if data[j + 1] == LF:
                if p < 3:
                    return ("error", "bad_code")  # "\r\n" where a digit belongs
                return ("line", j, j + 2)
            if p == 3:
                tags.add("cr_at_sep")
            if p == 510:
                tags.add("bare_cr_at_511")
            return ("error", "bare_cr")
        if b == LF:
            if not lenient:
                return ("error", "bare_lf")
            if p < 3:
                return ("error", "bad_code")
            return ("line", j, j + 1)
        if p < 3:
            if not _digit_ok(p, b):
                return ("error", "bad_code")
            if code1 is not None and b != code1[p]:
                for q in range(p + 1, 3):
                    k = j + (q - p)
                    if k >= n or not _digit_ok(q, data[k]):
                        tags.add("mismatch_then_bad")
                        break
                return ("error", "code_mismatch")
        elif p == 3 and b not in (SP, DASH):
            return ("error", "bad_separator")
        if p + 1 >= 511:
            return ("error", "line_too_long")
        j += 1


def frame(data, lenient):
    """Split the stream into replies. Returns (replies, error, tags).

    replies: [{"start", "end", "lines": [(start, content_end, next_start)]}]
    error: None or {"kind", "reply_index", "at_line"}.
    """
    tags = set()
    replies = []
    i = 0
    n = len(data)
    while i < n:
        start = i
        lines = []
        code1 = None
        while True:
            if len(lines) >= MAX_REPLY_LINES:
                tags.add("over_line_limit")
            r = _read_line(data, i, lenient, code1, tags)
            if r[0] != "line":
                kind = "truncated" if r[0] == "eof" else r[1]
                return replies, {"kind": kind, "reply_index": len(replies),
                                 "at_line": len(lines) + 1}, tags
            _, cend, nxt = r
            lines.append((i, cend, nxt))
            if code1 is None:
                code1 = data[i:i + 3]
            last = cend - i == 3 or data[i + 3] == SP
            i = nxt
            if last:
                break
        replies.append({"start": start, "end": i, "lines": lines})
    return replies, None, tags


def _text(data, line):
    s, cend, _ = line
    return data[s + 4:cend] if cend - s > 3 else b""


def _u(b):
    try:
        return b.decode("utf-8")
    except UnicodeDecodeError:
        return None


def capability(text, tags):
    s = text.strip(b" \t")
    toks = re.split(rb"[ \t]+", s) if s else []
    if not toks:
        tags.add("empty_capability")
        toks = [b""]
    kw, params = toks[0], toks[1:]
    entry = {}
    if b"=" in kw:
        kw, rest = kw.split(b"=", 1)
        params = [rest] + params
        entry["legacy_equals"] = True
    for t in [kw] + params:
        if _u(t) is None:
            tags.add("non_utf8_capability")
    entry["keyword"] = kw.upper().decode("utf-8", "replace")
    entry["params"] = [p.decode("utf-8", "replace") for p in params]
    entry["valid"] = KEYWORD_OK.fullmatch(kw) is not None
    entry["_starttls"] = kw.upper() == b"STARTTLS"
    return entry


def interpret(data, rep, context, tags):
    lines = rep["lines"]
    code = int(data[lines[0][0]:lines[0][0] + 3])
    endings = {data[l[1]:l[2]] for l in lines}
    out = {
        "context": context,
        "code": code,
        "lines": len(lines),
        "consumed": rep["end"] - rep["start"],
        "line_ending": ("CRLF" if endings == {b"\r\n"} else "LF" if endings == {b"\n"}
                        else None),  # None: mixed, not compared
        "enhanced_code": None,
        "ehlo": None,
        "ehlo_rejected": False,
    }
    is_ehlo = context in ("EHLO", "LHLO")
    first = _text(data, lines[0])
    if not (is_ehlo and code == 250):
        m = ENHANCED.match(first)
        if m and int(m.group(1)) == code // 100:
            out["enhanced_code"] = b".".join(m.groups()).decode("ascii")
    if is_ehlo and code != 250:
        out["ehlo_rejected"] = True
    elif is_ehlo:
        if first.startswith(b" ") or re.search(rb"[\t\x0b\x0c]", first.partition(b" ")[0]):
            tags.add("greeting_ws")
        domain, _, greeting = first.partition(b" ")
        e = {}
        for name, val in (("domain", domain), ("greeting_text", greeting)):
            s = _u(val)
            if s is None and name == "domain":
                tags.add("non_utf8_domain")
            e[name] = s
            e[name + "_hex"] = val.hex() if any(c >= 128 for c in val) else None
        caps = [capability(_text(data, l), tags) for l in lines[1:]]
        e["has_starttls"] = any(c["_starttls"] for c in caps)
        e["capabilities"] = caps
        out["ehlo"] = e
    return out


def strip_reply(data, rep):
    lines = rep["lines"]
    raw = [bytearray(data[s:nxt]) for s, _, nxt in lines]
    drop = [k >= 1 and capability(_text(data, l), set())["_starttls"]
            for k, l in enumerate(lines)]
    keep = [r for r, d in zip(raw, drop) if not d]
    if drop[-1]:  # rule 12: the new last line (a '-' line) ends the reply
        assert keep[-1][3] == DASH
        keep[-1][3] = SP
    return b"".join(bytes(k) for k in keep)


def reference(data, lenient, contexts):
    """{"parse": ("ok", [reply...]) | ("error", err), "strip": bytes | ("no_output", reason),
    "tags": set}."""
    replies, err, tags = frame(data, lenient)
    if err is not None:
        reason = err["kind"]
        return {"parse": ("error", err), "strip": ("no_output", reason), "tags": tags}
    out = []
    stripped = []
    for k, rep in enumerate(replies):
        ctx = contexts[k] if k < len(contexts) else None
        r = interpret(data, rep, ctx, tags)
        out.append(r)
        if r["ehlo"] is not None:
            stripped.append(strip_reply(data, rep))
        else:
            stripped.append(data[rep["start"]:rep["end"]])
    return {"parse": ("ok", out), "strip": b"".join(stripped), "tags": tags}


# --------------------------------------------------------------------------------------------
# Comparison with the CLI
# --------------------------------------------------------------------------------------------


def run_cli(postern, op, data, lenient, contexts):
    args = [postern, "ehlo", op, "--context", ",".join(contexts)]
    if lenient:
        args.append("--lenient")
    p = subprocess.run(args, input=data, capture_output=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def norm_reply(r):
    """The CLI's (or reference's) reply reduced to the compared fields."""
    e = r.get("ehlo")
    if e is not None:
        e = {
            "domain": e.get("domain"),
            "domain_hex": e.get("domain_hex"),
            "greeting_text": e.get("greeting_text"),
            "greeting_text_hex": e.get("greeting_text_hex"),
            "has_starttls": e.get("has_starttls"),
            "capabilities": [
                {"keyword": c.get("keyword"), "params": c.get("params"), "valid": c.get("valid"),
                 "legacy_equals": bool(c.get("legacy_equals", False))}
                for c in e.get("capabilities") or []
            ],
        }
    return {
        "context": r.get("context"),
        "code": r.get("code"),
        "lines": r.get("lines"),
        "consumed": r.get("consumed"),
        "line_ending": r.get("line_ending"),
        "enhanced_code": r.get("enhanced_code"),
        "ehlo": e,
        "ehlo_rejected": bool(r.get("ehlo_rejected", False)),
    }


def compare_parse(ref, rc, stdout):
    """List of differences (empty = agree) between the reference's parse and the CLI's."""
    try:
        doc = json.loads(stdout)
    except ValueError as exc:
        return [f"CLI output is not JSON ({exc}), exit {rc}"]
    kind, val = ref
    diffs = []
    if kind == "ok":
        if rc != 0 or doc.get("outcome") != "ok" or doc.get("error") is not None:
            return [f"reference ok, CLI exit {rc} outcome {doc.get('outcome')} "
                    f"error {json.dumps(doc.get('error'))}"]
        got = doc.get("replies") or []
        if len(got) != len(val):
            return [f"reply count: reference {len(val)}, CLI {len(got)}"]
        for k, (w, g) in enumerate(zip(val, got)):
            w = norm_reply(w)
            g = norm_reply(g)
            if w["line_ending"] is None:
                g["line_ending"] = None
            for f in w:
                if w[f] != g[f]:
                    diffs.append(f"replies[{k}].{f}: reference {json.dumps(w[f])}, "
                                 f"CLI {json.dumps(g[f])}")
        return diffs
    e = doc.get("error") or {}
    if rc != 1 or doc.get("outcome") != "error":
        return [f"reference error {json.dumps(val)}, CLI exit {rc} outcome {doc.get('outcome')}"]
    fields = ["kind", "reply_index"] + ([] if val["kind"] == "truncated" else ["at_line"])
    for f in fields:
        if e.get(f) != val[f]:
            diffs.append(f"error.{f}: reference {json.dumps(val[f])}, CLI {json.dumps(e.get(f))}")
    return diffs


def compare_strip(ref, rc, stdout, stderr):
    if isinstance(ref, tuple):
        reason = ref[1]
        d = []
        if rc != 1:
            d.append(f"reference no_output ({reason}), CLI exit {rc}")
        if stdout:
            d.append(f"reference no_output ({reason}), CLI wrote {show(stdout)}")
        if reason.encode() not in stderr:
            d.append(f"stderr does not name {reason}: {stderr!r}")
        return d
    if rc != 0:
        return [f"reference output {show(ref)}, CLI exit {rc}, stderr {stderr!r}"]
    if stdout != ref:
        return [f"bytes: reference {show(ref)}, CLI {show(stdout)}"]
    return []


def check(postern, data, contexts, lenient, op, ref=None):
    if ref is None:
        ref = reference(data, lenient, contexts)
    rc, out, err = run_cli(postern, op, data, lenient, contexts)
    if op == "parse":
        return compare_parse(ref["parse"], rc, out), (rc, out, err)
    return compare_strip(ref["strip"], rc, out, err), (rc, out, err)


# --------------------------------------------------------------------------------------------
# Fixtures: the reference must reproduce every visible expectation
# --------------------------------------------------------------------------------------------


def subset(want, got, path, diffs):
    if isinstance(want, dict):
        if not isinstance(got, dict):
            diffs.append(f"{path}: {got!r} is not an object")
            return
        for k, v in want.items():
            if k not in got:
                diffs.append(f"{path}.{k}: missing")
            else:
                subset(v, got[k], f"{path}.{k}", diffs)
    elif isinstance(want, list):
        if not isinstance(got, list) or len(got) != len(want):
            diffs.append(f"{path}: length {len(want)} vs {got!r}")
            return
        for i, (w, g) in enumerate(zip(want, got)):
            subset(w, g, f"{path}[{i}]", diffs)
    elif want != got:
        diffs.append(f"{path}: want {want!r}, reference {got!r}")


def fixture_cases(folder):
    with open(os.path.join(folder, "manifest.json"), encoding="utf-8") as f:
        manifest = json.load(f)
    for case in manifest["cases"]:
        inp = case["input"]
        files = [inp["file"]] if "file" in inp else inp["chunks"]
        parts = [open(os.path.join(folder, p), "rb").read() for p in files]
        data = b"".join(parts)
        yield case, data, parts, case.get("context") or ["EHLO"]


def check_fixtures(folder):
    bad = 0
    count = 0
    for case, data, parts, contexts in fixture_cases(folder):
        count += 1
        assert len(data) == case["input"]["length"]
        assert hashlib.sha256(data).hexdigest() == case["input"]["sha256"]
        for lenient in (False, True):
            want = case.get("expect_lenient") if lenient and "expect_lenient" in case \
                else case["expect"]
            wstrip = case.get("strip_starttls_lenient") if lenient and \
                "strip_starttls_lenient" in case else case["strip_starttls"]
            ref = reference(data, lenient, contexts)
            diffs = []
            kind, val = ref["parse"]
            if want["outcome"] == "ok":
                if kind != "ok":
                    diffs.append(f"want ok, reference {val}")
                else:
                    got = [{k: v for k, v in r.items() if v is not None or k == "ehlo"}
                           for r in val]
                    for r in got:
                        if not r["ehlo_rejected"]:
                            del r["ehlo_rejected"]
                        if r["ehlo"]:
                            r["ehlo"] = {k: v for k, v in r["ehlo"].items() if
                                         not k.endswith("_hex") or v is not None}
                            for c in r["ehlo"]["capabilities"]:
                                c.pop("_starttls")
                    subset(want["replies"], got, "replies", diffs)
            elif want["outcome"] == "incomplete":
                if kind != "error" or val["kind"] != want["at_eof"] or \
                        val["reply_index"] != want["complete_replies"]:
                    diffs.append(f"want incomplete, reference {ref['parse']}")
            else:
                if kind != "error" or (val["kind"], val["at_line"], val["reply_index"]) != \
                        (want["error"], want["at_line"], want["reply_index"]):
                    diffs.append(f"want {want}, reference {ref['parse']}")
            s = ref["strip"]
            if wstrip["outcome"] == "no_output":
                reason = {"incomplete": "truncated"}.get(wstrip["reason"], wstrip["reason"])
                if s != ("no_output", reason):
                    diffs.append(f"strip: want no_output {reason}, reference {s!r}")
            else:
                exp = open(os.path.join(folder, wstrip["file"]), "rb").read()
                if s != exp:
                    diffs.append(f"strip: want {exp!r}, reference {s!r}")
                if (wstrip["outcome"] == "unchanged") != (s == data):
                    diffs.append(f"strip: outcome {wstrip['outcome']}")
            # Chunk statuses: a prefix parses ok or is incomplete.
            for k, st in enumerate(inp_status(case)):
                pref = b"".join(parts[:k + 1])
                r = reference(pref, lenient, contexts)["parse"]
                got = "ok" if r[0] == "ok" else ("incomplete" if r[1]["kind"] == "truncated"
                                                 else "error")
                if got != st:
                    diffs.append(f"chunk {k}: want {st}, reference {got}")
            if ref["tags"]:
                diffs.append(f"fixture reaches an ambiguity the reference tagged: {ref['tags']}")
            if diffs:
                bad += 1
                print(f"FIXTURE {case['id']} lenient={lenient}: " + "; ".join(diffs))
    return count, bad


def inp_status(case):
    return case["input"].get("status_after_each_chunk") or []


# --------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------

DOMAINS = [b"mx.example.net", b"mx.google.com", b"smtp.example.com", b"[192.0.2.10]",
           b"m\xc3\xbcnchen.example", b"STARTTLS", b"x", b"", b"mx.example.org",
           b"EX-FE01.example.local", b"250-mx"]
GREETINGS = [b"", b"Hello", b"at your service, [192.0.2.10]", b"ESMTP Postfix",
             b"Hello client.example.net [192.0.2.10]", b"  two  spaces ", b"tab\there",
             b"\xe3\x81\x93\xe3\x82\x93\xe3\x81\xab\xe3\x81\xa1\xe3\x81\xaf [192.0.2.10]",
             b"Gr\xfc\xdf", b"\xff\xfe", b"caf\xc3\xa9 \xff", b"STARTTLS", b"250 x", b" ",
             b"\x00\x7f ctl", b"5.7.1 not an enhanced code here", b"trailing \t"]
CAPS = [b"SIZE 35882577", b"8BITMIME", b"PIPELINING", b"ENHANCEDSTATUSCODES", b"CHUNKING",
        b"SMTPUTF8", b"DSN", b"AUTH PLAIN LOGIN", b"AUTH=PLAIN LOGIN", b"AUTH=LOGIN",
        b"HELP", b"ETRN", b"X-EXPS GSSAPI NTLM", b"XCLIENT NAME ADDR", b"DELIVERBY 300",
        b"BINARYMIME", b"SIZE", b"REQUIRETLS", b"MT-PRIORITY MIXER", b"X-LINK2STATE",
        b"XXXXXXXA", b"8 BITMIME", b"VRFY", b"auth login", b"size 1000", b"Pipelining",
        b"8bitmime", b"2.0.0 SIZE", b"AUTH GSSAPI\tNTLM", b"X-ANONYMOUSTLS"]
STARTTLS_FORMS = [b"STARTTLS", b"starttls", b"StartTLS", b"sTaRtTlS", b"STARTTLS  ",
                  b" STARTTLS", b"\tSTARTTLS\t", b"STARTTLS REQUIRED x", b"STARTTLS=x",
                  b"starttls\tfoo", b"  \t STARTTLS \t ", b"STARTTLS=a=b", b"STARTTLS==",
                  b"Starttls \t param"]
LOOKALIKES = [b"STARTTLSX", b"X STARTTLS", b"START TLS", b"STARTTL", b"STARTTLS\x0b",
              b"\x0cSTARTTLS", b"STARTTLS.", b"-STARTTLS", b"S TARTTLS", b"STARTTLS\x00",
              b"XSTARTTLS", b"STARTTLS_", b"STARTT\xc5\x81S", b"=STARTTLS", b"STARTTLSS",
              b"ST\xc3\xa4RTTLS"]
ODD_KWS = [b"X_FOO", b"-X", b"A.B", b"\xc3\xa9t\xc3\xa9 param", b"\xc3\x9f", b"FOO!", b"*",
           b"=x", b"X=Y=Z", b"AUTH =PLAIN", b"AUTH==LOGIN", b"a-b-", b"9", b"x\x7fy",
           b"\xc3\xa4bc-d", b"Z\x01"]
NON_EHLO_TEXT = [b"2.0.0 Ok", b"5.5.2 Error: command not recognized", b"4.7.1 Try later",
                 b"5.7.1", b"4.7.1\tx", b"5.7.1234 x", b"5.01.001 z", b"5.1", b"5..1 x",
                 b"x5.1.1", b"5.1.1.", b"3.0.0 go", b"2.0.0-x", b" 2.0.0", b"2.999.999 y",
                 b"2.1000.1", b"4.4.4 ", b"5.7.1 \xff\xfe", b"", b"mx.example.net ESMTP",
                 b"2.0.0", b"5.0.0\x0b", b"4.0", b"2.0.0 \r", b"\xc3\xa9 4.7.1"]
CODES_OK = [b"200", b"209", b"250", b"220", b"221", b"259", b"300", b"354", b"421", b"450",
            b"451", b"452", b"500", b"501", b"502", b"503", b"504", b"550", b"554", b"559",
            b"530", b"555", b"400", b"409"]
CONTEXTS = ["EHLO", "LHLO", "RSET", "<greeting>", "HELO", "MAIL", "RCPT", "DATA", "STARTTLS",
            "QUIT", "NOOP"]
CODE_CHARS = b"/0125689:a -\t\x00\xff"
SEP_CHARS = b"\t_x0+=\x00\xff.:;,\x0b\x0c"


def blanks(rng):
    return bytes(rng.choice(b" \t") for _ in range(rng.choice((1, 1, 1, 2, 3))))


def rand_cap(rng):
    r = rng.random()
    if r < 0.35:
        c = rng.choice(CAPS)
    elif r < 0.55:
        c = rng.choice(STARTTLS_FORMS)
    elif r < 0.68:
        c = rng.choice(LOOKALIKES)
    elif r < 0.8:
        c = rng.choice(ODD_KWS)
    else:  # synthesized: keyword of mixed characters, params, blank runs
        alpha = b"ABCXYZabcxyz0189-_.=" + bytes([rng.choice(b"\x0c\x0b!\x00")])
        kw = bytes(rng.choice(alpha) for _ in range(rng.randint(1, 10)))
        params = [bytes(rng.choice(b"abcXYZ012=-.") for _ in range(rng.randint(1, 6)))
                  for _ in range(rng.randint(0, 3))]
        sep = [blanks(rng) for _ in params]
        c = kw + b"".join(s + p for s, p in zip(sep, params))
    if rng.random() < 0.2:
        c = blanks(rng) + c
    if rng.random() < 0.2:
        c = c + blanks(rng)
    if rng.random() < 0.1:
        c = re.sub(rb" ", lambda m: blanks(rng), c)
    return c


def rand_greeting(rng):
    d = rng.choice(DOMAINS)
    if rng.random() < 0.5:
        return d
    return d + b" " + rng.choice(GREETINGS)


def rand_reply(rng, context):
    """(code, [text...]) for a reply answering `context`."""
    if context in ("EHLO", "LHLO") and rng.random() < 0.75:
        ncaps = rng.choice((0, 1, 2, 3, 4, 5, 8)) if rng.random() < 0.93 else rng.randint(12, 40)
        caps = [rand_cap(rng) for _ in range(ncaps)]
        if rng.random() < 0.4:  # STARTTLS at a chosen position (first/middle/last/only/twice)
            for _ in range(rng.choice((1, 1, 2))):
                caps.insert(rng.randint(0, len(caps)), rng.choice(STARTTLS_FORMS))
        code = b"250" if rng.random() < 0.93 else rng.choice(CODES_OK)
        return code, [rand_greeting(rng)] + caps
    if context == "<greeting>":
        code = b"220" if rng.random() < 0.8 else rng.choice(CODES_OK)
    elif context in ("EHLO", "LHLO"):
        code = rng.choice([b"502", b"500", b"501", b"421", b"451", b"550", b"554", b"252"])
    else:
        code = rng.choice(CODES_OK)
    texts = []
    for _ in range(rng.choice((1, 1, 1, 2, 3))):
        r = rng.random()
        if r < 0.5:
            t = rng.choice(NON_EHLO_TEXT)
        elif r < 0.7:
            t = code[:1] + b"." + str(rng.choice((0, 1, 7, 99, 999, 1000))).encode() + b"." + \
                str(rng.choice((0, 1, 2, 999, 1000))).encode() + rng.choice((b"", b" x", b"\tx"))
        else:
            t = rand_greeting(rng)
        texts.append(t.replace(b"\r", b""))
    return code, texts


def render(replies, ending, rng, bare_last=0.05):
    """Render [(code, [text])] with line endings: 'crlf', 'lf' or 'mixed'."""
    out = bytearray()
    for code, texts in replies:
        for k, t in enumerate(texts):
            last = k == len(texts) - 1
            if last and t == b"" and rng.random() < bare_last * 4:
                out += code  # exactly CODE CRLF
            else:
                out += code + (b" " if last else b"-") + t
            e = ending if ending != "mixed" else rng.choice(("crlf", "lf"))
            out += b"\r\n" if e == "crlf" else b"\n"
    return bytes(out)


def line_starts(data):
    """Start offsets of the lines (split after each LF)."""
    starts = [0]
    for i, b in enumerate(data):
        if b == LF and i + 1 < len(data):
            starts.append(i + 1)
    return starts


def mutate(rng, data):
    starts = line_starts(data)
    s = rng.choice(starts)
    m = rng.randrange(12)
    if m == 0:  # truncate anywhere, or at a structural point
        cut = rng.choice([rng.randint(0, len(data)), s, s + 1, s + 2, s + 3, s + 4,
                          data.find(b"\r", s) + 1])
        return data[:max(0, min(cut, len(data)))]
    if m == 1:  # a code digit
        k = s + rng.randrange(3)
        return data[:k] + bytes([rng.choice(CODE_CHARS)]) + data[k + 1:]
    if m == 2:  # the separator
        k = s + 3
        return data[:k] + bytes([rng.choice(SEP_CHARS + b" -")]) + data[k + 1:]
    if m == 3:  # bare CR / LF / CR CR / CR at the end, in the text
        k = rng.randint(min(s + 4, len(data)), len(data))
        ins = rng.choice([b"\r", b"\n", b"\rx", b"\r\r", b"\r\r\n", b"\n\r", b"\r "])
        out = data[:k] + ins + data[k:]
        return out if rng.random() < 0.8 else data[:k] + b"\r"
    if m == 4:  # CRLF -> LF or LF -> CRLF for one line
        e = data.find(b"\n", s)
        if e > 0 and data[e - 1] == CR:
            return data[:e - 1] + data[e:]
        if e >= 0:
            return data[:e] + b"\r" + data[e:]
        return data
    if m == 5:  # another code on a later line (mismatch at one digit)
        if s == 0:
            return data
        k = s + rng.randrange(3)
        if k >= len(data):
            return data
        d = data[k]
        lo, hi = DIGIT_RANGES[k - s]
        alt = rng.choice([c for c in range(lo, hi + 1) if c != d] or [d])
        return data[:k] + bytes([alt]) + data[k + 1:]
    if m == 6:  # pad a line to a length edge
        e = data.find(b"\n", s)
        if e < 0:
            e = len(data)
        ce = e - 1 if e > 0 and e - 1 >= s and data[e - 1] == CR else e
        target = rng.choice((509, 510, 511, 512, 513, 600))
        if ce - s >= target or ce - s < 4:
            return data
        fill = bytes(rng.choice(b"ax \t\xc3") for _ in range(target - (ce - s)))
        return data[:ce] + fill + data[ce:]
    if m == 7:  # the last line of a reply becomes a continuation (replies merge / truncation)
        k = s + 3
        if k < len(data) and data[k] == SP:
            return data[:k] + b"-" + data[k + 1:]
        return data
    if m == 8:  # drop a line
        e = data.find(b"\n", s)
        return data[:s] + (data[e + 1:] if e >= 0 else b"")
    if m == 9:  # duplicate a line
        e = data.find(b"\n", s)
        line = data[s:e + 1] if e >= 0 else data[s:]
        return data[:s] + line + data[s:]
    if m == 10:  # insert random bytes anywhere
        k = rng.randint(0, len(data))
        return data[:k] + bytes(rng.choice(b"\r\n -25\t\x00\xffa") for _ in
                                range(rng.randint(1, 3))) + data[k:]
    # m == 11: empty the text of a line
    e = data.find(b"\n", s)
    if e < 0:
        return data
    ce = e - 1 if data[e - 1] == CR else e
    if ce - s > 4:
        return data[:s + 4] + data[ce:]
    return data


def random_case(rng):
    nrep = rng.choice((1, 1, 1, 2, 2, 3, 4))
    contexts = []
    for k in range(nrep):
        if k == 0 and nrep > 1 and rng.random() < 0.4:
            contexts.append("<greeting>")
        else:
            contexts.append(rng.choice(["EHLO"] * 5 + ["LHLO"] + CONTEXTS))
    replies = [rand_reply(rng, c) for c in contexts]
    ending = rng.choice(("crlf",) * 6 + ("lf", "lf", "mixed"))
    data = render(replies, ending, rng)
    if rng.random() < 0.55:
        for _ in range(rng.choice((1, 1, 2, 3))):
            data = mutate(rng, data)
    r = rng.random()
    if r < 0.15 and len(contexts) > 1:
        contexts = contexts[:rng.randint(1, len(contexts) - 1)]  # replies beyond the list
    elif r < 0.25:
        contexts = contexts + [rng.choice(CONTEXTS)]
    return data, contexts


def directed_cases():
    """Edge cases, built deterministically: (data, contexts)."""
    cases = []
    base = b"250-a\r\n250-b\r\n250 c\r\n"

    def line(content, end):
        body = b"250 " + b"x" * (content - 4)
        return body + end

    ends = [b"\r\n", b"\n", b"", b"\r", b"\rx", b"\r\r\n", b"x\r\n"]
    for n in (509, 510, 511, 512, 600):
        for e in ends:
            cases.append((line(n, e), ["EHLO"]))
            cases.append((line(n, e), ["RSET"]))
            # on line 2 of the 2nd reply, after a banner
            body = b"220 mx\r\n250-mx\r\n250 " + b"y" * (n - 4) + e
            cases.append((body, ["<greeting>", "EHLO"]))
            cases.append((b"250-" + b"g" * (n - 4) + e + b"250 SIZE\r\n", ["EHLO"]))
    # every byte of a small stream: cut there, insert CR / LF / CR+x / CRLF, replace it
    for src, ctx in ((base, ["EHLO"]), (b"220 mx\r\n250-mx\r\n250 STARTTLS\r\n",
                                          ["<greeting>", "EHLO"])):
        for k in range(len(src) + 1):
            cases.append((src[:k], ctx))
            for ins in (b"\r", b"\n", b"\rx", b"\r\n", b"\r\r"):
                cases.append((src[:k] + ins + src[k:], ctx))
            if k < len(src):
                for rep in (b"\r", b"\n", b"x", b" ", b"-", b"\t", b"9", b"1", b"6", b"\xff"):
                    cases.append((src[:k] + rep + src[k + 1:], ctx))
    # each digit range edge on line 1 and line 2
    for pos in range(3):
        for ch in b"/01234569:":
            for first in (True, False):
                code = bytearray(b"250")
                code[pos] = ch
                if first:
                    d = bytes(code) + b"-a\r\n" + bytes(code) + b" b\r\n"
                else:
                    d = b"250-a\r\n" + bytes(code) + b" b\r\n"
                cases.append((d, ["EHLO"]))
                cases.append((d, ["RSET"]))
    # separators
    for ch in SEP_CHARS + b" -":
        cases.append((b"250" + bytes([ch]) + b"a\r\n", ["EHLO"]))
        cases.append((b"250-a\r\n250" + bytes([ch]) + b"b\r\n", ["EHLO"]))
    # empty texts and CODE CRLF lines
    for d in (b"250\r\n", b"250 \r\n", b"250-\r\n250 \r\n", b"250-\r\n250\r\n",
              b"250-\r\n250 STARTTLS\r\n", b"250-mx\r\n250-\r\n250 SIZE\r\n", b"220\r\n",
              b"502\r\n", b"250\n", b"250-mx\n250\n", b"250-\r\n250-\r\n"):
        for ctx in (["EHLO"], ["RSET"], ["<greeting>"]):
            cases.append((d, ctx))
    # STARTTLS in every position and form, duplicates
    others = [b"SIZE 1000", b"PIPELINING", b"8BITMIME"]
    for form in STARTTLS_FORMS + LOOKALIKES:
        for pos in range(len(others) + 1):
            caps = others[:pos] + [form] + others[pos:]
            cases.append((render([(b"250", [b"mx.example.net Hi"] + caps)], "crlf",
                                 random.Random(0), 0), ["EHLO"]))
        cases.append((render([(b"250", [b"mx", form])], "crlf", random.Random(0), 0), ["EHLO"]))
        cases.append((render([(b"250", [b"mx", form, form.lower()])], "lf", random.Random(0), 0),
                      ["LHLO"]))
        cases.append((render([(b"250", [b"mx", form, b"SIZE", form])], "crlf",
                             random.Random(0), 0), ["EHLO"]))
    # refusals and other contexts around an EHLO reply
    ehlo = b"250-mx\r\n250-STARTTLS\r\n250 SIZE\r\n"
    for code in (b"502", b"500", b"421", b"451", b"550", b"554", b"252", b"220"):
        refusal = code + b"-5.5.2 mx\r\n" + code + b"-STARTTLS\r\n" + code + b" STARTTLS\r\n"
        d = b"220 mx\r\n" + refusal + b"250 2.0.0 Ok\r\n" + ehlo
        cases.append((d, ["<greeting>", "EHLO", "RSET", "EHLO"]))
        cases.append((d, ["<greeting>", "LHLO"]))
    for ctx in CONTEXTS:
        cases.append((ehlo, [ctx]))
        cases.append((b"250 2.0.0 x\r\n", [ctx]))
        cases.append((b"550 5.7.1 no\r\n", [ctx]))
    cases.append((b"", ["EHLO"]))
    cases.append((b"", ["<greeting>", "EHLO"]))
    # many lines in one reply (the README sets no limit on the number of lines)
    for n in (15, 16, 17, 18, 33, 1023, 1024, 1025, 1026, 2000):
        caps = [b"X-CAP%d" % k for k in range(n - 2)] + [b"STARTTLS"]
        d = render([(b"250", [b"mx"] + caps)], "crlf", random.Random(0), 0)
        cases.append((d, ["EHLO"]))
        cases.append((d.replace(b"\r\n", b"\n"), ["EHLO"]))
        cases.append((d, ["RSET"]))
        cases.append((b"220 mx\r\n" + d, ["<greeting>", "EHLO"]))
        cases.append((d[:-3], ["EHLO"]))  # cut inside the last line
        cases.append((d[:-len(b"250 STARTTLS\r\n")] + b"251 x\r\n", ["EHLO"]))
    return cases


# --------------------------------------------------------------------------------------------
# Runner
# --------------------------------------------------------------------------------------------


def dclass(op, ref, diffs, cli):
    """A disagreement's class: the operation, both outcomes and the differing fields."""
    rk = ref["parse"][1]["kind"] if ref["parse"][0] == "error" else "ok"
    rc, out, err = cli
    ck = "ok" if rc == 0 else f"exit {rc}"
    if rc == 1:
        if op == "parse":
            try:
                ck = json.loads(out)["error"]["kind"]
            except (ValueError, KeyError, TypeError):
                pass
        else:
            m = re.search(rb"postern: ([a-z_]+)", err)
            ck = m.group(1).decode() if m else ck
    fields = set()
    for d in diffs:
        m = re.match(r"([\w.\[\]]+):", d)
        fields.add(re.sub(r"\[\d+\]", "[]", m.group(1)) if m else " ".join(d.split()[:2]))
    fields = sorted(fields)
    return f"{op}: reference {rk}, postern {ck}; {' | '.join(fields)}"


def shrink(postern, data, contexts, lenient, op, klass, budget=400, seconds=3.0):
    """Greedy reduction (whole lines, then byte runs) keeping the same disagreement class and
    no ambiguity tag."""

    def fails(d, c):
        ref = reference(d, lenient, c)
        if ref["tags"]:
            return False
        diffs, cli = check(postern, d, c, lenient, op, ref)
        return bool(diffs) and dclass(op, ref, diffs, cli) == klass

    calls = 0
    stop = time.time() + seconds

    def ddmin(data, units):
        """Drop runs of units (line starts or byte offsets), halving the run length."""
        nonlocal calls
        chunk = max(1, len(units(data)) // 2)
        while chunk >= 1 and calls < budget and time.time() < stop:
            i = 0
            progress = False
            while calls < budget and time.time() < stop:
                u = units(data) + [len(data)]
                if i >= len(u) - 1:
                    break
                cand = data[:u[i]] + data[u[min(i + chunk, len(u) - 1)]:]
                calls += 1
                if fails(cand, contexts):
                    data = cand
                    progress = True
                else:
                    i += chunk
            if not progress:
                chunk //= 2
        return data

    data = ddmin(data, line_starts)
    if len(data) <= 4096:
        data = ddmin(data, lambda d: list(range(len(d))))
    while len(contexts) > 1 and calls < budget:
        calls += 1
        if fails(data, contexts[:-1]):
            contexts = contexts[:-1]
        else:
            break
    return data, contexts


def show(data):
    """The bytes as a Python expression, runs of 8+ equal bytes written as b"x" * n."""
    parts = []
    i = 0
    lit = bytearray()
    while i < len(data):
        j = i
        while j < len(data) and data[j] == data[i]:
            j += 1
        if j - i >= 8:
            if lit:
                parts.append(repr(bytes(lit)))
                lit = bytearray()
            parts.append(f"{bytes([data[i]])!r} * {j - i}")
        else:
            lit += data[i:j]
        i = j
    if lit or not parts:
        parts.append(repr(bytes(lit)))
    text = " + ".join(parts)
    if len(text) > 1200:
        text = text[:600] + " ... " + text[-400:]
    return text + f"  ({len(data)} bytes)"


def run_seed(postern, seed, ncases, ambiguous, pool, reports, max_reports, amb_examples,
             repro_dir, seen, with_directed=True):
    rng = random.Random(seed)
    cases = (directed_cases() if with_directed else []) + \
        [random_case(rng) for _ in range(ncases)]
    jobs = []
    stats = {"cases": len(cases), "checks": 0, "skipped": 0, "disagreements": 0,
             "mixed_endings": 0, "outcomes": {}, "tags": {}, "amb_disagreements": {},
             "classes": {}}
    for data, contexts in cases:
        for lenient in (False, True):
            ref = reference(data, lenient, contexts)
            for t in ref["tags"]:
                stats["tags"][t] = stats["tags"].get(t, 0) + 1
            if ref["tags"] and not ambiguous:
                stats["skipped"] += 1
                continue
            p = ref["parse"]
            key = ("lenient " if lenient else "strict ") + \
                (p[1]["kind"] if p[0] == "error" else "ok")
            stats["outcomes"][key] = stats["outcomes"].get(key, 0) + 1
            if p[0] == "ok" and any(r["line_ending"] is None for r in p[1]):
                stats["mixed_endings"] += 1
            for op in ("parse", "strip"):
                jobs.append((data, contexts, lenient, op, ref,
                             pool.submit(check, postern, data, contexts, lenient, op, ref)))
    for data, contexts, lenient, op, ref, fut in jobs:
        stats["checks"] += 1
        diffs, cli = fut.result()
        if not diffs:
            continue
        if ref["tags"]:  # a reading the README leaves open: count, keep one short example
            key = ",".join(sorted(ref["tags"]))
            stats["amb_disagreements"][key] = stats["amb_disagreements"].get(key, 0) + 1
            amb_examples.setdefault(key, (
                f"  e.g. postern ehlo {op} --context {','.join(contexts)}"
                f"{' --lenient' if lenient else ''} < {show(data)[:300]}\n    " +
                "\n    ".join(d[:400] for d in diffs[:2])))
            continue
        stats["disagreements"] += 1
        klass = dclass(op, ref, diffs, cli)
        stats["classes"][klass] = stats["classes"].get(klass, 0) + 1
        if klass in seen or len(reports) >= max_reports:
            continue
        seen.add(klass)
        small, sctx = shrink(postern, data, contexts, lenient, op, klass)
        sdiffs, scli = check(postern, small, sctx, lenient, op)
        path = os.path.join(repro_dir, f"seed{seed}-{len(reports) + 1}.smtp")
        with open(path, "wb") as f:
            f.write(small)
        reports.append(
            f"--- disagreement [{klass}] (seed {seed}, {'lenient' if lenient else 'strict'})\n"
            f"original input {show(data)}\n  context {','.join(contexts)}\n"
            f"  " + "\n  ".join(d[:600] for d in diffs[:4]) + "\n"
            f"reduced input {show(small)}\n"
            f"  command: postern ehlo {op} --context {','.join(sctx)}"
            f"{' --lenient' if lenient else ''} {path}\n"
            f"  reference: {fmt_ref(reference(small, lenient, sctx), op)[:1500]}\n"
            f"  postern:   exit {scli[0]} stdout "
            f"{show(scli[1]) if op == 'strip' else scli[1].decode('utf-8', 'replace').strip()[:1500]}"
            f" stderr {scli[2].decode('utf-8', 'replace').strip()[:300]!r}\n"
            f"  " + "\n  ".join(d[:600] for d in sdiffs[:4]))
    return stats


def fmt_ref(ref, op):
    if op == "strip":
        return repr(ref["strip"])
    p = ref["parse"]
    if p[0] == "error":
        return json.dumps({"outcome": "error", "error": p[1]})
    reps = []
    for r in p[1]:
        r = dict(r)
        if r["ehlo"]:
            r["ehlo"] = dict(r["ehlo"])
            r["ehlo"]["capabilities"] = [{k: v for k, v in c.items() if k != "_starttls"}
                                         for c in r["ehlo"]["capabilities"]]
        reps.append(r)
    return json.dumps({"outcome": "ok", "replies": reps})


def parse_seeds(spec):
    out = []
    for part in spec.split(","):
        if "-" in part:
            a, b = part.split("-")
            out.extend(range(int(a), int(b) + 1))
        elif part:
            out.append(int(part))
    return out


def main(argv):
    env = os.environ
    opts = {"postern": env.get("POSTERN"), "seed": env.get("EHLO_ORACLE_SEED", "20261124"),
            "cases": env.get("EHLO_ORACLE_CASES", "1500"),
            "seeds": env.get("EHLO_ORACLE_SEEDS"),
            "fixtures": os.path.join(env["POSTERN_TESTDATA"], "ehlo")
            if env.get("POSTERN_TESTDATA") else None}
    args = list(argv)
    while args:
        a = args.pop(0)
        if a in ("--postern", "--seed", "--cases", "--seeds", "--fixtures") and args:
            opts[a[2:]] = args.pop(0)
        elif a == "--ambiguous":
            env = dict(env, EHLO_ORACLE_AMBIGUOUS="1")
        else:
            print(__doc__)
            return 2
    here = os.path.dirname(os.path.abspath(__file__))
    fixtures = opts["fixtures"] or os.path.join(here, "..", "..", "shared", "testdata", "ehlo")
    if not os.path.isdir(fixtures):
        fixtures = "/work/shared/testdata/ehlo"
    postern = opts["postern"]
    if not postern:
        target = env.get("CARGO_TARGET_DIR") or os.path.join(here, "..", "target")
        postern = os.path.join(target, "release", "postern")
    ambiguous = env.get("EHLO_ORACLE_AMBIGUOUS") == "1"
    max_reports = int(env.get("EHLO_ORACLE_MAX_REPORTS", "5"))
    seeds = parse_seeds(opts["seeds"]) if opts["seeds"] else [int(opts["seed"])]
    ncases = int(opts["cases"])

    t0 = time.time()
    count, bad = check_fixtures(fixtures)
    print(f"ehlo-oracle: reference vs {count} visible fixtures x 2 modes: {bad} mismatches")
    if bad:
        return 1
    reports = []
    total = {"cases": 0, "checks": 0, "skipped": 0, "disagreements": 0, "mixed_endings": 0}
    outcomes = {}
    tags = {}
    amb = {}
    amb_examples = {}
    classes = {}
    seen = set()
    repro_dir = env.get("EHLO_ORACLE_REPRO_DIR") or tempfile.mkdtemp(prefix="ehlo-oracle-")
    os.makedirs(repro_dir, exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        for seed in seeds:
            st = run_seed(postern, seed, ncases, ambiguous, pool, reports, max_reports,
                          amb_examples, repro_dir, seen, with_directed=seed == seeds[0])
            for k in total:
                total[k] += st[k]
            for k, v in st["outcomes"].items():
                outcomes[k] = outcomes.get(k, 0) + v
            for k, v in st["tags"].items():
                tags[k] = tags.get(k, 0) + v
            for k, v in st["classes"].items():
                classes[k] = classes.get(k, 0) + v
            for k, v in st["amb_disagreements"].items():
                amb[k] = amb.get(k, 0) + v
            print(f"ehlo-oracle: seed {seed}: {st['cases']} inputs, {st['checks']} CLI checks, "
                  f"{st['skipped']} (input, mode) pairs skipped as ambiguous, "
                  f"{st['disagreements']} disagreements")
    for r in reports:
        print(r)
    if classes:
        print("ehlo-oracle: disagreements by class (checks):")
        for k, v in sorted(classes.items(), key=lambda kv: -kv[1]):
            print(f"  {v:6d}  {k}")
        print(f"ehlo-oracle: reduced inputs written to {repro_dir}")
    print(f"ehlo-oracle: total {total['cases']} inputs x 2 modes, {total['checks']} CLI checks "
          f"(parse + strip), {total['skipped']} skipped as ambiguous"
          f"{' (none: ambiguous readings on)' if ambiguous else ''}, "
          f"{total['mixed_endings']} with mixed endings (line_ending not compared), "
          f"{total['disagreements']} disagreements, {time.time() - t0:.1f} s")
    print("ehlo-oracle: reference outcomes: " +
          ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items())))
    print("ehlo-oracle: ambiguity tags reached: " +
          (", ".join(f"{k} {v}" for k, v in sorted(tags.items())) or "none"))
    if ambiguous:
        print("ehlo-oracle: checks on ambiguous inputs where postern's reading differs from "
              "the reference's (informational, not failures):")
        for k, v in sorted(amb.items()):
            print(f"  [{k}] {v} checks\n{amb_examples[k]}")
        if not amb:
            print("  none")
    return 1 if total["disagreements"] else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
