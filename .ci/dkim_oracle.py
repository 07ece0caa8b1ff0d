#!/usr/bin/env python3
"""DKIM oracle for the differential test crates/postern-dkim/tests/dkimpy.rs.

Drives dkimpy 1.1.8 (RFC 6376 canonicalization, header selection and RSA code) and PyNaCl
(Ed25519, RFC 8463). Reads one JSON request on stdin, prints one JSON answer on stdout.
Messages travel as base64 of their exact bytes.

Jobs:
  {"job": "keys"}
      -> {"rsa": {"pem": PKCS#1 PEM, "p": SPKI base64}, "ed25519": {"seed": b64, "p": b64}}
      (a fresh RSA 2048 key and Ed25519 key)
  {"job": "sign", "keys": <as above>, "cases": [{"message": b64, "a": "rsa-sha256" |
   "ed25519-sha256", "d": ..., "s": ..., "c": "relaxed/simple" | null (no c= tag),
   "h": [names as written in h=, repeats kept], "h_sep": " : ", "l": int | "all" | "half" | null,
   "i": str | null, "q": bool, "t": int | null, "x": int | null, "now": int,
   "tag_order": null | [tag names], with it "tag_sep" (default "; "), "tag_eq" (default
   "="), "trailing_semicolon", and "l_zeros" (leading zeros of l=)}]}
      -> {"results": [{"signed": b64, "gap": null | str} | {"error": str}]}
      "gap" names a known dkimpy flaw in the field it wrote (see fold_gap).
      The DKIM-Signature field is built with dkimpy's own DKIM.gen_header (its tag-list
      text, folding, header selection, canonicalization and signing code): DKIM.sign itself
      cannot write x=, a chosen t=, an l= other than the whole body, or omit i= and q=.
  {"job": "verify", "dns": {"sel._domainkey.dom": "v=DKIM1; ..."},
   "cases": [{"message": b64, "now": int}]}
      -> {"results": [{"verdicts": [true | false, ...], "errors": [str | null, ...]}]}
      One verdict per DKIM-Signature field, top first:
      dkim.DKIM(message).verify(idx=i, dnsfunc=...), with time.time() fixed to "now".
"""
import base64
import json
import re
import sys
import time

import dkim
import nacl.encoding
import nacl.signing
from dkim.canonicalization import CanonicalizationPolicy


def fixed_clock(now):
    # dkimpy reads time.time() for t= (signing) and for the t=/x= checks (verifying).
    dkim.time.time = lambda: float(now)


def job_keys():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.TraditionalOpenSSL,
        serialization.NoEncryption(),
    ).decode("ascii")
    spki = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    ed = nacl.signing.SigningKey.generate()
    return {
        "rsa": {"pem": pem, "p": base64.b64encode(spki).decode("ascii")},
        "ed25519": {
            "seed": base64.b64encode(bytes(ed)).decode("ascii"),
            "p": base64.b64encode(bytes(ed.verify_key)).decode("ascii"),
        },
    }


def sign_one(keys, case):
    message = base64.b64decode(case["message"])
    fixed_clock(case.get("now") or 1700000000)
    alg = case["a"].encode("ascii")
    d = dkim.DKIM(message, signature_algorithm=alg)
    d.signature_algorithm = alg
    if alg == b"ed25519-sha256":
        pk = nacl.signing.SigningKey(
            keys["ed25519"]["seed"].encode("ascii"), encoder=nacl.encoding.Base64Encoder
        )
    else:
        pk = dkim.parse_pem_private_key(keys["rsa"]["pem"].encode("ascii"))
    c_text = case.get("c")
    policy = CanonicalizationPolicy.from_c_value(c_text.encode("ascii") if c_text else None)
    names = [n.encode("ascii") for n in case["h"]]
    include = tuple(n.lower() for n in names)
    body = policy.canonicalize_body(d.body)
    length = case.get("l")
    if isinstance(length, str):  # "all" or "half" of the canonical body
        length = len(body) if length == "all" else len(body) // 2
    if length is not None:
        body = body[:length]
    d.hasher = dkim.HASH_ALGORITHMS[alg]
    h = d.hasher()
    h.update(body)
    bodyhash = base64.b64encode(h.digest())
    enc = lambda v: str(v).encode("ascii")
    fields = [(b"v", b"1"), (b"a", alg)]
    if c_text:
        fields.append((b"c", c_text.encode("ascii")))
    fields.append((b"d", case["d"].encode("ascii")))
    if case.get("i") is not None:
        fields.append((b"i", case["i"].encode("ascii")))
    if length is not None:
        fields.append((b"l", b"0" * case.get("l_zeros", 0) + enc(length)))
    if case.get("q"):
        fields.append((b"q", b"dns/txt"))
    fields.append((b"s", case["s"].encode("ascii")))
    if case.get("t") is not None:
        fields.append((b"t", enc(case["t"])))
    if case.get("x") is not None:
        fields.append((b"x", enc(case["x"])))
    fields.append((b"h", case.get("h_sep", ":").encode("ascii").join(names)))
    fields.append((b"bh", bodyhash))
    fields.append((b"b", b"0" * 60))
    order = case.get("tag_order")
    if order:  # other tag orders, b= not last among them
        rank = {name.encode("ascii"): n for n, name in enumerate(order)}
        fields.sort(key=lambda f: rank.get(f[0], len(rank)))
    if order:
        # One line, tags joined by "; " (the shared corpus's layout) or the given tag_sep and
        # tag_eq, with a trailing ";" if asked: dkimpy's gen_header folds the field once with
        # a placeholder b= and again with the real one, which only leaves the other tags in
        # place when b= is last. Same dkimpy hashing and signing.
        sep = case.get("tag_sep", "; ").encode("ascii")
        eq = case.get("tag_eq", "=").encode("ascii")
        end = b";" if case.get("trailing_semicolon") else b""
        # b= empty: without the WSP after its "=" (RFC 6376 section 3.7: the b= value
        # "(including all surrounding whitespace)" is deleted).
        empty_b = b"b" + eq.rstrip()
        value = sep.join(eq.join(f) if f[0] != b"b" else empty_b for f in fields) + end
        h = dkim.HashThrough(d.hasher(), False)
        headers = policy.canonicalize_headers(d.headers)
        dkim.hash_headers(h, policy, headers, include, (b"DKIM-Signature", b" " + value), {})
        if alg == b"ed25519-sha256":
            sig = pk.sign(h.digest()).signature
        else:
            sig = dkim.RSASSA_PKCS1_v1_5_sign(h, pk)
        b = b"b" + eq + base64.b64encode(bytes(sig))
        value = sep.join(eq.join(f) if f[0] != b"b" else b for f in fields) + end + b"\r\n"
    else:
        value = d.gen_header(fields, include, policy, b"DKIM-Signature", pk)
    return b"DKIM-Signature: " + value + message, fold_gap(value)


def fold_gap(value):
    """dkimpy gap: its fold() breaks a long h= with no space at column 72, even inside a
    field name ("x-custo" CRLF SP "m-header"), and its verifier then looks for a field of that
    name, so it fails its own signature. RFC 6376 section 3.5 has no FWS inside a name
    (sig-h-tag = %x68 [FWS] "=" [FWS] hdr-name *( [FWS] ":" [FWS] hdr-name )); the test
    does not use such signatures."""
    h = dkim.util.parse_tag_value(value).get(b"h", b"")
    if any(re.search(rb"\s", n) for n in re.split(rb"\s*:\s*", h.strip())):
        return "dkimpy folded h= inside a field name"
    return None


def job_sign(req):
    out = []
    for case in req["cases"]:
        try:
            signed, gap = sign_one(req["keys"], case)
            out.append({"signed": base64.b64encode(signed).decode("ascii"), "gap": gap})
        except Exception as e:  # reported per case; the test shows it
            out.append({"error": "%s: %s" % (type(e).__name__, e)})
    return {"results": out}


def job_verify(req):
    dns = {k.rstrip(".").lower(): v for k, v in req["dns"].items()}

    def dnsfunc(name, timeout=5):
        if isinstance(name, bytes):
            name = name.decode("ascii", "replace")
        rec = dns.get(name.rstrip(".").lower())
        return rec.encode("ascii") if rec is not None else None

    out = []
    for case in req["cases"]:
        message = base64.b64decode(case["message"])
        fixed_clock(case["now"])
        verdicts, errors = [], []
        try:
            count = len(
                [1 for n, _ in dkim.rfc822_parse(message)[0] if n.lower() == b"dkim-signature"]
            )
        except Exception as e:
            out.append({"verdicts": [], "errors": ["parse: %s" % e]})
            continue
        for idx in range(count):
            try:
                ok = bool(dkim.DKIM(message).verify(idx=idx, dnsfunc=dnsfunc))
                verdicts.append(ok)
                errors.append(None)
            except Exception as e:  # DKIMException and friends: not a pass
                verdicts.append(False)
                errors.append("%s: %s" % (type(e).__name__, e))
        out.append({"verdicts": verdicts, "errors": errors})
    return {"results": out}


def main():
    req = json.load(sys.stdin)
    job = req["job"]
    if job == "keys":
        res = job_keys()
    elif job == "sign":
        res = job_sign(req)
    elif job == "verify":
        res = job_verify(req)
    else:
        raise SystemExit("unknown job %r" % job)
    json.dump(res, sys.stdout)


if __name__ == "__main__":
    main()
