#!/usr/bin/env python3
"""Reference side of postern-dns's wildcard differential test
(crates/postern-dns/tests/zone_oracles.rs, run by .ci/wildcard-oracle.sh).

Usage: wildcard_oracle.py SEED ZONES QUERIES. Generates ZONES random master files (zone
z<i>.test, with SOA and NS at the apex, and owners at depth 1 to 3, `*` owners among them,
holding TXT, A, MX or CNAME records, or only types postern-dns zones skip: CAA, SRV,
TYPE65534), serves them all from NSD on 127.0.0.1 (port $POSTERN_NSD_PORT, default a free
one), asks it QUERIES random questions per zone (names at depth 0 to 4 below the apex, types
TXT, A and MX, recursion off) with dnspython, and prints one JSON line per zone:
{"zone": <master file>, "queries": [[name, type], ...], "nsd": [answer, ...]}.
An answer is "NXDOMAIN", "NODATA", or the sorted records of the asked type at the end of the
CNAME chain in the answer section ("TXT <hex>", "A <address>", "MX <preference> <exchange>");
a CNAME loop is "NODATA", as postern-dns zones end one.
"""
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

import dns.flags
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdataclass
import dns.rdatatype

seed, nz, nq = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
rng = random.Random(seed)
work = tempfile.mkdtemp(prefix="postern-nsd-")
LABELS = ["a", "b", "c", "mail", "sub", "x"]

def free_port():
    """A loopback UDP port nothing listens on now (so that runs side by side do not meet)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]

PORT = int(os.environ.get("POSTERN_NSD_PORT") or free_port())

def rel(depth):
    return ".".join(rng.choice(LABELS) for _ in range(depth))

zones = []
for i in range(nz):
    origin = "z%d.test." % i
    lines = ["$ORIGIN " + origin, "$TTL 60", "@ SOA ns.test. host.test. 1 60 60 60 60", "@ NS ns.test."]
    data_owners, cname_owners = set(), set()
    for _ in range(rng.randint(1, 8)):
        if rng.random() < 0.35:
            owner = "*" + ("" if rng.random() < 0.5 else "." + rel(rng.randint(1, 2)))
        else:
            owner = rel(rng.randint(1, 3))
        if owner in cname_owners:
            continue  # a CNAME stands alone at its owner (RFC 1034 section 3.6.2)
        t = rng.random()
        if t < 0.5:
            lines.append('%s TXT "t%d"' % (owner, rng.randint(0, 9)))
        elif t < 0.75:
            lines.append("%s A 192.0.2.%d" % (owner, rng.randint(1, 9)))
        elif t < 0.83:
            lines.append("%s MX 10 mail.%s" % (owner, origin))
        elif t < 0.9:
            lines.append("%s %s" % (owner, rng.choice(['CAA 0 issue "ca.test"', "SRV 0 0 25 mail", "TYPE65534 \\# 2 0102"])))
        elif owner not in data_owners:
            lines.append("%s CNAME %s" % (owner, rel(rng.randint(1, 2))))
            cname_owners.add(owner)
            continue
        data_owners.add(owner)
    text = "\n".join(lines) + "\n"
    queries = []
    for _ in range(nq):
        r = rng.random()
        if r < 0.1: name = origin.rstrip(".")
        else: name = rel(rng.randint(1, 4)) + "." + origin.rstrip(".")
        queries.append([name, rng.choice(["TXT", "A", "MX"])])
    zones.append((origin, text, queries))

conf = ["server:", "  ip-address: 127.0.0.1@%d" % PORT, "  zonesdir: %s" % work, "  database: \"\"",
        "  pidfile: %s/nsd.pid" % work, "  xfrdfile: %s/xfrd.state" % work, "  zonelistfile: %s/zone.list" % work,
        "  username: \"\"", "  logfile: %s/nsd.log" % work, "  server-count: 1", "  verbosity: 1", "remote-control:", "  control-enable: no"]
for origin, text, _ in zones:
    fn = origin.rstrip(".") + ".zone"
    open(os.path.join(work, fn), "w").write(text)
    conf += ["zone:", "  name: %s" % origin, "  zonefile: %s" % fn]
open(os.path.join(work, "nsd.conf"), "w").write("\n".join(conf) + "\n")
nsd = subprocess.Popen(["nsd", "-d", "-c", os.path.join(work, "nsd.conf")],
                       stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "stderr"), "w"))

def up():
    """Whether NSD answers for the last zone yet."""
    try:
        q = dns.message.make_query(zones[-1][0], "SOA")
        return dns.query.udp(q, "127.0.0.1", port=PORT, timeout=0.2).rcode() == dns.rcode.NOERROR
    except Exception:  # noqa: BLE001 (not listening yet)
        return False

deadline = time.monotonic() + 20
while not up():
    if nsd.poll() is not None or time.monotonic() > deadline:
        nsd.kill()
        sys.exit("nsd did not start: " + open(os.path.join(work, "stderr")).read()[-2000:])
    time.sleep(0.1)

def ref(qname, qtype):
    q = dns.message.make_query(qname, qtype)
    q.flags &= ~dns.flags.RD
    r = dns.query.udp(q, "127.0.0.1", port=PORT, timeout=2)
    if r.rcode() == dns.rcode.NXDOMAIN: return "NXDOMAIN"
    if r.rcode() != dns.rcode.NOERROR: return "RCODE %s" % dns.rcode.to_text(r.rcode())
    cur = dns.name.from_text(qname)
    t = dns.rdatatype.from_text(qtype)
    for _ in range(12):
        rs = r.get_rrset(r.answer, cur, dns.rdataclass.IN, t)
        if rs:
            out = []
            for rd in rs:
                if t == dns.rdatatype.TXT: out.append("TXT " + b"".join(rd.strings).hex())
                elif t == dns.rdatatype.A: out.append("A " + rd.address)
                else: out.append("MX %d %s" % (rd.preference, rd.exchange.to_text(omit_final_dot=True).lower()))
            return sorted(set(out))
        cn = r.get_rrset(r.answer, cur, dns.rdataclass.IN, dns.rdatatype.CNAME)
        if not cn: return "NODATA"
        cur = cn[0].target
    return "NODATA"  # a CNAME loop: postern-dns zones end it as NODATA (MAX_ZONE_CNAME_HOPS)

try:
    theirs = [[ref(n, t) for n, t in qs] for _, _, qs in zones]
finally:
    nsd.send_signal(signal.SIGTERM); nsd.wait()
for (origin, text, queries), answers in zip(zones, theirs):
    print(json.dumps({"zone": text, "queries": queries, "nsd": answers}))
shutil.rmtree(work, ignore_errors=True)
