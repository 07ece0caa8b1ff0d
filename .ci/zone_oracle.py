#!/usr/bin/env python3
"""Reference side of postern-dns's master-file differential test
(crates/postern-dns/tests/zone_oracles.rs, run by .ci/zone-oracle.sh).

Usage: zone_oracle.py SEED N. Generates N random RFC 1035 master files from SEED (directives
$ORIGIN and $TTL in any case, relative, absolute and inherited owners, `@`, TTL and class in
either order, TXT/SPF strings quoted and bare with every escape, parentheses across lines,
comments, CRLF line ends, A/AAAA/MX/PTR/CNAME data, data in the generic form of RFC 3597,
types postern skips (CAA, SRV, DNSSEC records, TYPEnnn...), records beside a CNAME (allowed
or not), records written twice, escaped name characters, `$INCLUDE` of one or two files,
nested or not, with or without a domain, and one broken line in some files) and prints, for
each, one JSON line: {"zone": <hex of the file>, "includes": {<file name>: <hex of the
file>}, "dnspython": {"error": <message>} | {"records": {<owner>: [<record>, ...]}}}, with
every owner dnspython has, where the records are what dnspython's zone reader loaded, in the
test's canonical form ("TXT <hex>", "SPF <hex>", "A <address>", "AAAA <hex>",
"MX <preference> <exchange or .>", "PTR <name>", "CNAME <name>"; names in lower case without
the final dot), sorted, without duplicates.
"""
import ipaddress
import json
import os
import random
import sys
import tempfile

import dns.name
import dns.rdatatype
import dns.zone

seed, n = int(sys.argv[1]), int(sys.argv[2])
rng = random.Random(seed)

def rcase(s):
    return "".join(c.upper() if rng.random() < 0.3 else c for c in s)

LABELS = ["mx", "mail", "a", "b", "_spf", "_dmarc", "s1._domainkey", "x-y", "www", "host7"]

def label():
    l = rng.choice(LABELS)
    r = rng.random()
    if r < 0.05: l = l[:1] + "\\-" + l[1:]
    elif r < 0.08: l = "\\%03d" % rng.choice([65, 97, 45, 95, 122]) + l
    return l

def rel_name():
    return rcase(".".join(label() for _ in range(rng.randint(1, 3))))

def abs_name():
    return rcase(rel_name() + "." + rng.choice(["example.com", "example.net", "example.org"]) + ".")

def target():
    r = rng.random()
    if r < 0.4: return rel_name()
    if r < 0.8: return abs_name()
    return "@"

def txt_char():
    r = rng.random()
    if r < 0.7: return rng.choice("abcdefghijklmnopqrstuvwxyz0123456789=:.-+_/%{}!,")
    if r < 0.78: return " "
    if r < 0.83: return "\\\""
    if r < 0.86: return "\\\\"
    if r < 0.93: return "\\%03d" % rng.randint(0, 255)
    if r < 0.96: return rng.choice(";()")
    return "\\" + rng.choice("abc;x")

def txt_string(quoted):
    k = rng.choice([0, 1, 5, 20, 60])
    if not quoted:
        s = "".join(rng.choice("abcdefghijklmnopqrstuvwxyz0123456789=:.-+_/%{}!,") for _ in range(max(k, 1)))
        if rng.random() < 0.2: s += "\\%03d" % rng.randint(0, 255)
        return s
    return '"' + "".join(txt_char() for _ in range(k)) + '"'

def ipv6():
    words = [rng.choice([0, 0, 0, 1, 0xdb8, 0x2001, rng.randint(0, 0xffff)]) for _ in range(8)]
    a = ipaddress.IPv6Address(b"".join(w.to_bytes(2, "big") for w in words))
    r = rng.random()
    if r < 0.5: return str(a)
    if r < 0.7: return a.exploded
    if r < 0.85: return rcase(str(a))
    return "::ffff:%d.%d.%d.%d" % tuple(rng.randint(0, 255) for _ in range(4))

def rdata(t):
    if t in ("TXT", "SPF"):
        parts = [txt_string(rng.random() < 0.85) for _ in range(rng.randint(1, 3))]
        if rng.random() < 0.3:
            return "( " + "\n    ".join(p + (" ; c" if rng.random() < 0.3 else "") for p in parts) + "\n )"
        return " ".join(parts)
    if t == "A": return "%d.%d.%d.%d" % tuple(rng.randint(0, 255) for _ in range(4))
    if t == "AAAA": return ipv6()
    if t == "MX": return "%d %s" % (rng.choice([0, 10, 20, 65535]), "." if rng.random() < 0.1 else target())
    if t in ("PTR", "CNAME"): return target()

HEX32 = "AB" * 32

# Types postern does not serve, with data dnspython accepts.
OTHER = [
    'CAA 0 issue "ca.example.net"', 'CAA 128 iodef "mailto:x@example.com"', "SRV 10 5 5060 sip",
    "SRV 0 0 0 .", 'HINFO "PC" "Unix"', "SSHFP 4 2 " + HEX32, "DS 12345 13 2 " + HEX32,
    "DNSKEY 257 3 13 ( AAAA\n    BBBB )", "TLSA 3 1 1 " + HEX32, 'NAPTR 100 10 "S" "SIP+D2U" "" _sip._udp',
    "TYPE65534 \\# 4 0A0B0C0D", "TYPE65534 \\# 0", "NSEC next.example. A TXT RRSIG NSEC",
    "RRSIG %s 13 2 300 20300101000000 20200101000000 1234 example. AAAA",
    "LOC 52 22 23.000 N 4 53 32.000 E -2.00m 0.00m 10000m 10m", 'URI 10 1 "https://example.com/"',
    "KEY 256 3 13 AAAA", "NSEC3 1 0 0 - 2T7B4G4VSA5SMI47K61MV5BV1A22BOJR CNAME",
]

def other():
    o = rng.choice(OTHER)
    if "%s" in o: o = o % rng.choice(["TXT", "A", "CNAME", "NSEC", "MX", "SOA", "TYPE65534"])
    return o

# Records beside a CNAME: those RFC 2181 §10.1 and RFC 4035 §2.5 allow, and others.
BESIDE_CNAME = [
    "NSEC next.example. CNAME RRSIG NSEC", "RRSIG CNAME 13 2 300 20300101000000 20200101000000 1234 example. AAAA",
    "KEY 256 3 13 AAAA", 'TXT "x"', "A 192.0.2.1", 'CAA 0 issue "ca"',
    "RRSIG TXT 13 2 300 20300101000000 20200101000000 1234 example. AAAA", "NS ns",
]

def generic(data):
    hexed = data.hex().upper()
    split = " ".join(hexed[i:i + 8] for i in range(0, len(hexed), 8)) if rng.random() < 0.5 else hexed
    return ("\\# %d %s" % (len(data), split)).rstrip()

def wire_name(name):
    return b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split(".")) + b"\0"

def generic_rdata(t):
    if t == "A": return generic(bytes(rng.randint(0, 255) for _ in range(4)))
    if t == "AAAA": return generic(bytes(rng.randint(0, 255) for _ in range(16)))
    if t in ("TXT", "SPF"):
        strings = [bytes(rng.randint(0, 255) for _ in range(rng.choice([0, 1, 5, 40]))) for _ in range(rng.randint(1, 3))]
        return generic(b"".join(bytes([len(x)]) + x for x in strings))
    name = "%s.example.com" % rng.choice(["mx", "a.b", "host7"])
    if t == "MX": return generic(rng.choice([0, 10]).to_bytes(2, "big") + wire_name(name))
    return generic(wire_name(name))

def bad_line():
    return rng.choice([
        'bad IN A 1.2.3', 'bad IN A 256.1.1.1', 'bad IN AAAA 1::2::3', 'bad IN MX 70000 mx',
        'bad IN TXT "open', 'bad IN TXT ( "x"', 'bad IN TXT "%s"' % ("x" * 256), 'bad IN',
        'bad IN MX 10', 'bad IN A', 'bad CH TXT "x"', 'bad IN TXT "x" )', 'bad IN A 1.2.3.4 5',
        'bad IN MX mx 10', 'bad IN TXT \\', 'bad IN PTR a..b',
    ])

def records(owners_cname):
    """Random lines of a file: directives, comments, records; no leading blank owner."""
    lines = []
    have_owner = False
    for _ in range(rng.randint(1, 10)):
        r = rng.random()
        if r < 0.05:
            d = rng.choice(["$ORIGIN", "$origin", "$Origin"])
            lines.append("%s %s" % (d, rcase(rng.choice(["example.com.", "other.example.", "mx"]))))
            continue
        if r < 0.13:
            d = rng.choice(["$TTL", "$ttl"])
            lines.append("%s %s" % (d, rng.choice(["60", "1w", "2h30m", "0"])))
            continue
        if r < 0.18:
            lines.append(rng.choice(["", "; a comment", "   ; indented comment"]))
            continue
        if r < 0.22 and lines:
            lines.append(rng.choice(lines))  # a line written twice
            continue
        t = rng.choice(["TXT", "TXT", "SPF", "A", "AAAA", "MX", "PTR", "CNAME", "OTHER"])
        if t == "CNAME":
            owner = "cn%d" % len(owners_cname); owners_cname.add(owner)
        elif have_owner and rng.random() < 0.3:
            owner = ""
        else:
            owner = rng.choice(["@", rel_name(), abs_name()])
        if t == "OTHER":
            mnemonic, data = other().split(" ", 1)
        elif rng.random() < 0.08:
            data = generic_rdata(t)
            mnemonic = "TYPE%d" % dns.rdatatype.from_text(t) if rng.random() < 0.3 else t
        else:
            mnemonic, data = t, rdata(t)
        fields = []
        if rng.random() < 0.3: fields.append(rng.choice(["300", "1h", "2d3h"]))
        if rng.random() < 0.4: fields.append(rcase(rng.choice(["IN", "IN", "CLASS1"])))
        if rng.random() < 0.5: rng.shuffle(fields)
        fields.append(rcase(mnemonic) if rng.random() < 0.3 else mnemonic)
        head = " ".join(fields)
        if rng.random() < 0.05:
            head = "( " + head + " ; open\n  "
            tail = " )"
        else:
            tail = ""
        line = (owner if owner else rng.choice([" ", "\t", "   "])) + rng.choice([" ", "\t"]) + head + " " + data + tail
        if rng.random() < 0.2: line += " ; trailing"
        lines.append(line)
        have_owner = t != "CNAME"
        if t == "CNAME" and rng.random() < 0.3:
            beside = rng.choice(BESIDE_CNAME + ["CNAME " + data])
            lines.append("%s %s" % (owner, beside))
    return lines

def include_line(name):
    r = rng.random()
    if r < 0.5: return "%s %s" % (rng.choice(["$INCLUDE", "$include"]), name)
    return "$INCLUDE %s %s" % (name, rng.choice([rel_name(), abs_name(), "@"]))

def zone():
    """A master file and the files it includes (name -> text)."""
    owners_cname = set()
    lines = ["$ORIGIN %s" % rcase(rng.choice(["example.com.", "example.net.", "sub.example.org."]))]
    lines.append("$TTL %s" % rng.choice(["3600", "1h", "1d", "300"]))
    lines += records(owners_cname)
    sep = "\r\n" if rng.random() < 0.1 else "\n"
    includes = {}
    if rng.random() < 0.2:
        k = rng.randint(1, 2)
        nested = set()
        for i in range(k):
            body = records(owners_cname)
            if i + 1 < k and rng.random() < 0.5:
                body.insert(rng.randint(0, len(body)), include_line("inc%d.db" % (i + 1)))
                nested.add(i + 1)
            includes["inc%d.db" % i] = sep.join(body) + sep
        for i in range(k):
            if i not in nested:
                lines.insert(rng.randint(2, len(lines)), include_line("inc%d.db" % i))
    if rng.random() < 0.15:
        lines.insert(rng.randint(2, len(lines)), bad_line())
    return sep.join(lines) + sep, includes


OURS = {dns.rdatatype.TXT: "TXT", dns.rdatatype.SPF: "SPF", dns.rdatatype.A: "A", dns.rdatatype.AAAA: "AAAA",
        dns.rdatatype.MX: "MX", dns.rdatatype.PTR: "PTR", dns.rdatatype.CNAME: "CNAME"}

def nm(name):
    if name == dns.name.root: return "."
    return name.to_text(omit_final_dot=True).lower()

def theirs(text, includes):
    with tempfile.TemporaryDirectory(prefix="postern-zone-oracle-") as tmp:
        for name, body in includes.items():
            with open(os.path.join(tmp, name), "w", encoding="utf-8", newline="") as f:
                f.write(body)
        here = os.getcwd()
        os.chdir(tmp)  # dnspython reads $INCLUDE names relative to the working directory
        try:
            z = dns.zone.from_text(text, origin=dns.name.root, relativize=False, check_origin=False,
                                   allow_include=True)
        except Exception as e:  # noqa
            return {"error": "%s: %s" % (type(e).__name__, e)}
        finally:
            os.chdir(here)
    out = {}
    for name, node in z.nodes.items():
        recs = set()
        for rds in node.rdatasets:
            t = OURS.get(rds.rdtype)
            if t is None: continue
            for rd in rds:
                if t in ("TXT", "SPF"): recs.add("%s %s" % (t, b"".join(rd.strings).hex()))
                elif t == "A": recs.add("A " + str(ipaddress.IPv4Address(rd.address)))
                elif t == "AAAA": recs.add("AAAA " + ipaddress.IPv6Address(rd.address).packed.hex())
                elif t == "MX": recs.add("MX %d %s" % (rd.preference, nm(rd.exchange)))
                else: recs.add("%s %s" % (t, nm(rd.target)))
        out[nm(name)] = sorted(recs)
    return {"records": out}

for _ in range(n):
    text, includes = zone()
    print(json.dumps({"zone": text.encode().hex(),
                      "includes": {name: body.encode().hex() for name, body in includes.items()},
                      "dnspython": theirs(text, includes)}))
