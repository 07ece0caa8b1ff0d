#!/usr/bin/env python3
"""Differential test of `postern policy simulate` against an independent reference.

The reference below is written from ../shared/testdata/policy/README.md alone (the acceptance
contract of `postern policy simulate --config FILE.toml EVENTS.jsonl`), not from the Rust code.
A seeded generator builds random configs and event traces that the contract fully determines,
the reference computes the decisions, and the `postern` binary must print the same lines, text
for text. Every disagreement is reduced (whole connections, single events, config sections and
limiters are dropped while the two still disagree) and printed as a reproducer: the config,
the events, the reference's and postern's output. Exit status: 0 all agree, 1 a disagreement
(or the reference failed a visible fixture), 2 usage/setup error.

Rules the reference implements (README words in quotes):
  * Config: [subjects] ipv4_prefix / ipv6_prefix; [[rate]] name, on (connect|mail|rcpt), key
    (client|sender|sender_domain|rcpt), count, period, burst ("default: count"), mode ("leaky
    (default) | strict"); optional [concurrency] per_client + total; optional [greylist] key
    (triplet|sender_rcpt), delay, retry_window, pass_ttl. Durations "an integer with ms, s, m, h
    or d".
  * GCRA "exactly": T = period / count; allowed iff max(TAT, now) + T - now <= burst * T, then
    TAT = max(TAT, now) + T; a fresh key has TAT = now; a refusal leaves TAT unchanged (leaky)
    or sets it as if allowed (strict); retry_after_ms = max(TAT, now) + T - now - burst * T,
    with the TAT before the refusal in leaky mode and (the reading of "leaky: computed with TAT
    before the refusal") the TAT after it in strict mode.
  * Concurrency: per aggregated client and in total; "checked before rate limits"; a refused
    connection holds no slot; a disconnect frees the slot of an accepted connection.
  * "all limiters are checked, then all are charged or none": a refused event charges no
    limiter that allowed it; `limit`/`retry_after_ms` are those of the first refusing one in
    configuration order (concurrency first).
  * Greylisting "exactly": first sighting at t0 -> defer, retry t0 + delay - t; an attempt with
    delay <= t - t0 <= retry_window passes; passed keys stay accepted while each attempt is
    within pass_ttl (<=) of the previous accepted one; later than retry_window without a pass,
    or later than pass_ttl after the last accepted one -> a new first sighting. Key triplet =
    (aggregated client, sender, rcpt), sender_rcpt = (sender, rcpt); greylisting applies to rcpt.
  * Codes: refused connect -> disconnect 421 4.7.0; rate-refused mail/rcpt -> defer 450 4.7.1;
    greylisted rcpt -> defer 451 4.7.1; disconnect events -> accept. Output key order t, event,
    decision, code, enhanced, limit, retry_after_ms (as in the README's examples).
  * Senders and recipients are lower-cased; sender_domain is the lower-cased part after the last
    '@'; clients are aggregated to their IPv4/IPv6 prefix (an IPv4 and an IPv6 network are never
    the same client, even at prefix 0).

What the generator keeps out (README ambiguities or outside the contract; see the report):
  * (T = period / count need not be a whole number of ms: the reference computes exactly, with
    fractions, and accepts retry_after_ms rounded either way when it is not whole.)
  * count, burst, per_client, total < 1; zero durations; delay > retry_window.
  * A [[rate]] key that the event does not carry (on=connect with a sender key, on=mail with
    key=rcpt); rcpt before an accepted mail or after a refused one; conn ids reused; events of a
    connection after its disconnect; IPv4-mapped IPv6 addresses; empty senders.
  * Omitted [subjects] keys / greylist keys (their defaults are not written in the contract).
  * rcpt events refused while both [greylist] and an on=rcpt [[rate]] are configured (greylist's place in "configuration order", whether a greylist defer is a
    refusal that keeps the rate limiters uncharged, whether a rate refusal records a sighting).
    The generator writes no [greylist] beside an on=rcpt [[rate]]. POLICY_ORACLE_AMBIGUOUS=1
    generates them and keeps going with postern's reading (greylisting takes its place among
    the rcpt limiters where [greylist] stands among the [[rate]] tables; greylist state is
    updated only when no rate limiter refused or greylisting is the one named; rate limiters
    uncharged by a greylist defer) and reports those cases apart, reduced, not as failures.
  * Compared, with the README's words: a strict limiter that refuses beside another refusal
    (another rate limiter, or concurrency, which is checked first and names the refusal)
    records the attempt, since "all limiters are checked, then all are charged or none".

Time origins: a trace starts at 0, at a small t, or at up to POLICY_ORACLE_MAX_T0 ms (default
2^63: "any origin"). postern's rate limiters work in u64 nanoseconds, which hold about 584 years
of milliseconds; the simulator counts from the first event's t, so any origin decides as 0 does
(before that fix, origins past ~1.8447e13 ms decided wrongly).

Generator: 0-4 [[rate]] (every valid on/key pair, count 1-1000, T from 1 ms to 1 d, burst
omitted / 1 / count-1 / count / count+1 / up to 60, mode omitted / leaky / strict, durations in
any unit that divides them), [subjects] prefixes at 0, 1, the octet/group edges, the full length
and random, optional [concurrency] and [greylist] (both keys, delay = retry_window included), the
TOML tables in any order, sometimes with comments and other spacing; IPv4 and IPv6 clients
(compressed, expanded, upper-case and dotted-quad forms) chosen at the prefix edges (same client
by the first host bit, another client by the last prefix bit); senders and recipients in random
case. Times step by 0, 1-3 ms, large jumps, or to the edges the reference's state gives (a
limiter's next pass time -1/0/+1, greylisting's delay, retry_window and pass_ttl -1/0/+1),
replaying the key that reaches that edge. Traces are 0-90 events, some connections left open,
refused ones disconnected or not, the JSON lines as in the README, compact or keys reversed.

Run:  python3 .ci/policy_oracle.py [--bin PATH] [--seed N] [--cases N] [--jobs N]
      (env: POLICY_ORACLE_BIN, POLICY_ORACLE_SEED (default 20261124), POLICY_ORACLE_CASES
      (default 3000, ~15-25 s on 2 shared cores), POLICY_ORACLE_JOBS (2), POLICY_ORACLE_MAX_T0,
      POLICY_ORACLE_AMBIGUOUS=1, POLICY_ORACLE_TESTDATA = folder of the visible fixtures)
      .ci/policy-oracle.sh builds the CLI and runs this with the fixed default seed.
"""
import argparse
import ipaddress
import json
import math
import os
import random
import re
import subprocess
import sys
import tempfile
import time
import tomllib
from collections import Counter
from fractions import Fraction
from concurrent.futures import ThreadPoolExecutor

UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
DUR_RE = re.compile(r"^([0-9]+)(ms|s|m|h|d)$")


class OutOfContract(Exception):
    pass


class StopTrace(Exception):
    """The generator ends a trace at an ambiguous event."""


def parse_duration(text):
    m = DUR_RE.match(text) if isinstance(text, str) else None
    if not m:
        raise OutOfContract(f"bad duration {text!r}")
    return int(m.group(1)) * UNITS[m.group(2)]


# --------------------------------------------------------------------------------------------
# Reference
# --------------------------------------------------------------------------------------------


class Config:
    def __init__(self, text):
        doc = tomllib.loads(text)
        subj = doc.get("subjects", {})
        # Defaults 32/64: the README's example values; the generator always writes both keys.
        self.v4p = int(subj.get("ipv4_prefix", 32))
        self.v6p = int(subj.get("ipv6_prefix", 64))
        self.rates = []
        for r in doc.get("rate", []):
            count = int(r["count"])
            period = parse_duration(r["period"])
            if count < 1:
                raise OutOfContract("count < 1")
            self.rates.append({
                "name": r["name"],
                "on": r["on"],
                "key": r["key"],
                "count": count,
                "T": period // count if period % count == 0 else Fraction(period, count),
                "burst": int(r.get("burst", count)),
                "strict": r.get("mode", "leaky") == "strict",
            })
        c = doc.get("concurrency")
        self.conc = (int(c["per_client"]), int(c["total"])) if c is not None else None
        g = doc.get("greylist")
        # Greylisting's place in configuration order: how many [[rate]] tables come before it.
        self.grey_rank = 0
        for line in text.splitlines():
            head = line.split("#", 1)[0].strip()
            if head == "[greylist]":
                break
            self.grey_rank += head == "[[rate]]"
        self.grey = None
        if g is not None:
            self.grey = {
                "key": g["key"],
                "delay": parse_duration(g["delay"]),
                "window": parse_duration(g["retry_window"]),
                "ttl": parse_duration(g["pass_ttl"]),
            }

    def client(self, ip):
        addr = ipaddress.ip_address(ip)
        p = self.v4p if addr.version == 4 else self.v6p
        net = ipaddress.ip_network((addr, p), strict=False)
        return (addr.version, int(net.network_address), p)


def domain_of(sender):
    return sender.rsplit("@", 1)[-1]


class Sim:
    """Replays events; step() returns the decision dict. Also records coverage and ambiguity."""

    def __init__(self, cfg, cov=None):
        self.cfg = cfg
        self.tat = [dict() for _ in cfg.rates]
        self.grey = {}  # key -> ["pending", t0] | ["passed", last]
        self.conns = {}  # conn -> dict(client, held, refused, sender, closed)
        self.held = Counter()
        self.total = 0
        self.cov = cov if cov is not None else Counter()
        self.ambiguous = None  # reason of the first ambiguous event
        self.seen_raw = {}  # lowered -> set of raw spellings (coverage)
        self.seen_ip = {}  # client -> set of ip texts (coverage)

    def _note_case(self, kind, raw):
        s = self.seen_raw.setdefault((kind, raw.lower()), set())
        if s and raw not in s:
            self.cov[f"case-variant {kind} seen again"] += 1
        s.add(raw)

    def _gcra(self, i, key, now):
        r = self.cfg.rates[i]
        T, burst = r["T"], r["burst"]
        tat = self.tat[i].get(key, now)
        base = max(tat, now)
        need = base + T - now
        allowed = need <= burst * T
        new = base + T
        if r["strict"]:
            retry = max(new, now) + T - now - burst * T
        else:
            retry = need - burst * T
        if need == burst * T:
            self.cov["gcra at edge (== burst*T) allowed"] += 1
        if need == burst * T + 1:
            self.cov["gcra one past edge refused"] += 1
        return allowed, retry, new

    def _key(self, r, conn, ev):
        k = r["key"]
        if k == "client":
            return conn["client"]
        if k == "sender":
            return conn["sender"]
        if k == "sender_domain":
            return domain_of(conn["sender"])
        if k == "rcpt":
            return ev["rcpt"].lower()
        raise OutOfContract(k)

    def _rates(self, kind, conn, ev, now):
        """[(index, key, allowed, retry, newtat)] of the limiters on this event."""
        out = []
        for i, r in enumerate(self.cfg.rates):
            if r["on"] == kind:
                key = self._key(r, conn, ev)
                out.append((i, key) + self._gcra(i, key, now))
        return out

    def _settle(self, checks, refused):
        """Charges the rate limiters: all if the event passes, else the strict refusers only
        (also when another limiter or concurrency refuses too: "all limiters are checked")."""
        for i, key, allowed, _retry, new in checks:
            r = self.cfg.rates[i]
            if not refused or (not allowed and r["strict"]):
                self.tat[i][key] = new
            if not allowed:
                self.cov["rate refusal " + ("strict" if r["strict"] else "leaky")] += 1

    def step(self, ev):
        t, kind = ev["t"], ev["event"]
        out = {"t": t, "event": kind, "decision": "accept"}
        if kind == "disconnect":
            c = self.conns[ev["conn"]]
            c["closed"] = True
            if c["held"]:
                self.held[c["client"]] -= 1
                self.total -= 1
                c["held"] = False
            return out
        if kind == "connect":
            client = self.cfg.client(ev["ip"])
            ips = self.seen_ip.setdefault(client, set())
            if ips and ev["ip"] not in ips:
                self.cov["distinct ip, same aggregated client"] += 1
            ips.add(ev["ip"])
            conn = {"client": client, "held": False, "refused": False, "sender": None,
                    "closed": False}
            self.conns[ev["conn"]] = conn
            conc_refused = False
            if self.cfg.conc is not None:
                per, tot = self.cfg.conc
                if self.held[client] >= per:
                    conc_refused = True
                    self.cov["concurrency refusal per_client"] += 1
                if self.total >= tot:
                    conc_refused = True
                    self.cov["concurrency refusal total"] += 1
            checks = self._rates("connect", conn, ev, t)
            refusers = [c for c in checks if not c[2]]
            refused = conc_refused or bool(refusers)
            if refused and len(refusers) + conc_refused > 1:
                self.cov["event refused by several limiters"] += 1
            self._settle(checks, refused)
            if not refused:
                conn["held"] = True
                self.held[client] += 1
                self.total += 1
                return out
            conn["refused"] = True
            out.update(decision="disconnect", code=421, enhanced="4.7.0")
            if conc_refused:
                out["limit"] = "concurrency"
            else:
                i, _k, _a, retry, _n = refusers[0]
                out["limit"] = self.cfg.rates[i]["name"]
                out["retry_after_ms"] = retry
            return out
        conn = self.conns[ev["conn"]]
        if kind == "mail":
            self._note_case("sender", ev["sender"])
            conn["sender"] = ev["sender"].lower()
            checks = self._rates("mail", conn, ev, t)
            refusers = [c for c in checks if not c[2]]
            if len(refusers) > 1:
                self.cov["event refused by several limiters"] += 1
            self._settle(checks, bool(refusers))
            if refusers:
                conn["sender"] = None
                i, _k, _a, retry, _n = refusers[0]
                out.update(decision="defer", code=450, enhanced="4.7.1",
                           limit=self.cfg.rates[i]["name"], retry_after_ms=retry)
            return out
        if kind == "rcpt":
            self._note_case("rcpt", ev["rcpt"])
            checks = self._rates("rcpt", conn, ev, t)
            refusers = [c for c in checks if not c[2]]
            g = self.cfg.grey
            grey_res = None
            if g is not None:
                grey_res = self._grey_check(conn, ev, t)
            grey_refused = grey_res is not None and grey_res[0] == "defer"
            refused = bool(refusers) or grey_refused
            if len(refusers) + grey_refused > 1:
                self.cov["event refused by several limiters"] += 1
            if g is not None and checks and refused and self.ambiguous is None:
                self.ambiguous = "rcpt refused with both [greylist] and an on=rcpt [[rate]]"
            self._settle(checks, refused)
            # The first refusing one in configuration order is named; greylisting records the
            # attempt when nothing refused or it is the one named.
            if grey_refused and refusers:
                first = self.cfg.grey_rank <= refusers[0][0]
                self.cov["rcpt refused by greylist and a rate limiter, "
                         + ("greylist" if first else "the rate limiter") + " first"] += 1
                if first:
                    refusers = []
            if grey_res is not None and not refusers:
                self._grey_commit(grey_res)
            if refusers:
                i, _k, _a, retry, _n = refusers[0]
                out.update(decision="defer", code=450, enhanced="4.7.1",
                           limit=self.cfg.rates[i]["name"], retry_after_ms=retry)
            elif grey_refused:
                out.update(decision="defer", code=451, enhanced="4.7.1", limit="greylist",
                           retry_after_ms=grey_res[1])
            return out
        raise OutOfContract(f"event {kind!r}")

    def _grey_key(self, conn, ev):
        g = self.cfg.grey
        if g["key"] == "triplet":
            return (conn["client"], conn["sender"], ev["rcpt"].lower())
        if g["key"] == "sender_rcpt":
            return (conn["sender"], ev["rcpt"].lower())
        raise OutOfContract(g["key"])

    def _grey_check(self, conn, ev, t):
        """(verdict, retry, key, new state) without changing the state."""
        g = self.cfg.grey
        key = self._grey_key(conn, ev)
        st = self.grey.get(key)
        if st is not None and st[0] == "pending":
            d = t - st[1]
            if d < g["delay"]:
                return ("defer", st[1] + g["delay"] - t, key, st, "pending, before delay")
            if d <= g["window"]:
                edge = "pass at delay" if d == g["delay"] else (
                    "pass at retry_window" if d == g["window"] else "pass")
                return ("accept", None, key, ["passed", t], edge)
            return ("defer", g["delay"], key, ["pending", t], "restart after retry_window"
                    + (" (+1)" if d == g["window"] + 1 else ""))
        if st is not None and st[0] == "passed":
            d = t - st[1]
            if d <= g["ttl"]:
                return ("accept", None, key, ["passed", t],
                        "passed, at pass_ttl" if d == g["ttl"] else "passed, within pass_ttl")
            return ("defer", g["delay"], key, ["pending", t], "restart after pass_ttl"
                    + (" (+1)" if d == g["ttl"] + 1 else ""))
        return ("defer", g["delay"], key, ["pending", t], "first sighting")

    def _grey_commit(self, res):
        self.grey[res[2]] = res[3]
        self.cov["greylist " + res[4]] += 1


def render(out):
    """The acceptable texts of one decision: a retry_after_ms that is not a whole number of ms
    (T = period / count is not) may be rounded either way (the README does not say)."""
    r = out.get("retry_after_ms")
    if isinstance(r, Fraction):
        if r.denominator == 1:
            return (json.dumps(dict(out, retry_after_ms=int(r))),)
        return (json.dumps(dict(out, retry_after_ms=math.floor(r))),
                json.dumps(dict(out, retry_after_ms=math.ceil(r))))
    return (json.dumps(out),)


def matches(got, want):
    """postern's lines against the reference's alternatives."""
    return len(got) == len(want) and all(g in w for g, w in zip(got, want))


def show(alts):
    return alts[0] if len(alts) == 1 else " | ".join(alts) + "   (either rounding)"


def reference(config_text, events):
    sim = Sim(Config(config_text))
    return [render(sim.step(e)) for e in events], sim


# --------------------------------------------------------------------------------------------
# Validity of a trace (generator and reducer): inside the contract, no ambiguous event but the
# last one.
# --------------------------------------------------------------------------------------------


def check_trace(cfg, events, allow_ambiguous):
    """Returns None if the trace is inside the contract, else a reason."""
    sim = Sim(cfg)
    used = set()
    last_t = None
    for n, ev in enumerate(events):
        if sim.ambiguous is not None and not allow_ambiguous:
            return "event after an ambiguous one"
        if last_t is not None and ev["t"] < last_t:
            return "t decreases"
        last_t = ev["t"]
        kind, cid = ev["event"], ev["conn"]
        if kind == "connect":
            if cid in used:
                return "conn reused"
            used.add(cid)
        else:
            c = sim.conns.get(cid)
            if c is None or c["closed"]:
                return "event on an unknown or closed connection"
            if kind != "disconnect" and c["refused"]:
                return "event on a refused connection"
            if kind == "rcpt" and c["sender"] is None:
                return "rcpt without an accepted mail"
        if kind in ("mail", "rcpt", "connect"):
            for r in cfg.rates:
                if r["on"] == kind:
                    if kind == "connect" and r["key"] != "client":
                        return "connect limiter without a client key"
                    if kind == "mail" and r["key"] == "rcpt":
                        return "mail limiter keyed by rcpt"
        sim.step(ev)
    return None


# --------------------------------------------------------------------------------------------
# Generator
# --------------------------------------------------------------------------------------------

LOCALS = ["alice", "bob", "carol", "news", "postmaster", "x", "a.b+tag", "dave"]
DOMAINS = ["example.org", "example.net", "shop.example", "mail.example.com", "sub.example.org"]


def fmt_duration(rng, ms):
    units = [u for u, f in UNITS.items() if ms % f == 0]
    u = rng.choice(units)
    return f"{ms // UNITS[u]}{u}"


def rand_case(rng, s):
    r = rng.random()
    if r < 0.5:
        return s
    if r < 0.65:
        return s.upper()
    return "".join(ch.upper() if rng.random() < 0.4 else ch for ch in s)


def gen_ips(rng, v4p, v6p):
    fams = rng.choice([(4,), (6,), (4, 6), (4, 6)])
    ips = []
    for fam in fams:
        bits = 32 if fam == 4 else 128
        p = v4p if fam == 4 else v6p
        for _ in range(rng.randint(1, 2)):
            while True:
                base = rng.getrandbits(bits)
                if fam == 4:
                    # a few classic documentation/public ranges, else anything but 0.x / 127.x
                    if rng.random() < 0.5:
                        base = (rng.choice([0xC0000200, 0xC6336400, 0xCB007100]) | (base & 0xFF))
                    if base >> 24 in (0, 127) or base >> 28 >= 14:
                        continue
                else:
                    if rng.random() < 0.5:
                        base = (0x20010DB8 << 96) | (base & ((1 << 96) - 1))
                    if base >> 125 != 1:  # keep to 2000::/3 (no mapped/compatible/special)
                        continue
                break
            group = [base]
            if p < bits:
                group.append(base ^ (1 << (bits - p - 1)))  # first host bit: same client
                group.append(base ^ rng.getrandbits(bits - p))  # any host bits: same client
            if p > 0:
                group.append(base ^ (1 << (bits - p)))  # last prefix bit: other client
            for a in group:
                if fam == 4:
                    if a >> 24 in (0, 127) or a >> 28 >= 14:
                        continue
                    ips.append(str(ipaddress.IPv4Address(a)))
                else:
                    if a >> 125 != 1:
                        continue
                    ad = ipaddress.IPv6Address(a)
                    form = rng.random()
                    if form < 0.55:
                        ips.append(str(ad))
                    elif form < 0.75:
                        ips.append(ad.exploded)
                    elif form < 0.9:
                        ips.append(str(ad).upper())
                    else:  # the last 32 bits as a dotted quad (RFC 4291 2.2, form 3)
                        groups = ad.exploded.split(":")[:6]
                        head = ":".join(f"{int(g, 16):x}" for g in groups)
                        text = f"{head}:{ipaddress.IPv4Address(a & 0xFFFFFFFF)}"
                        assert ipaddress.ip_address(text) == ad, text
                        ips.append(text)
    return sorted(set(ips), key=ips.index)


def gen_config(rng, allow_ambiguous=False):
    """(toml text, Config, scale ms)"""
    # Greylisting next to an on=rcpt limiter is ambiguous on every refused rcpt (see the top):
    # such configs only with POLICY_ORACLE_AMBIGUOUS=1.
    with_grey = rng.random() < 0.5
    v4p = rng.choice([0, 1, 8, 16, 23, 24, 25, 31, 32, rng.randint(0, 32)])
    v6p = rng.choice([0, 1, 32, 48, 56, 63, 64, 65, 127, 128, rng.randint(0, 128)])
    sections = [f"[subjects]\nipv4_prefix = {v4p}\nipv6_prefix = {v6p}\n"]
    scales = [1]
    names = set()
    nrates = rng.choice([0, 1, 1, 2, 2, 3, 4])
    rates = []
    T_choices = [1, 2, 3, 5, 10, 100, 250, 1000, 20_000, 60_000, 3_600_000, 86_400_000]
    for i in range(nrates):
        on = rng.choice(["connect", "mail"] if with_grey and not allow_ambiguous
                        else ["connect", "mail", "rcpt"])
        keys = {"connect": ["client"], "mail": ["client", "sender", "sender_domain"],
                "rcpt": ["client", "sender", "sender_domain", "rcpt"]}[on]
        key = rng.choice(keys)
        count = rng.choice([1, 1, 2, 3, 4, 5, rng.randint(1, 12), rng.randint(13, 1000)])
        T = rng.choice(T_choices)
        period = T * count
        if rng.random() < 0.25 and count > 1:  # T = period / count not a whole number of ms
            period = rng.choice([1, 2, 10, 1000, 60_000]) * rng.randint(1, 30)
            period += 1 if period % count == 0 else 0
            T = period / count
        name = rng.choice(["conn", "per-sender", "dom", "rcpts", "r", "limit_x", "Mail-Rate"])
        name = f"{name}{i}" if name in names or rng.random() < 0.5 else name
        names.add(name)
        lines = [f'name = "{name}"', f'on = "{on}"', f'key = "{key}"', f"count = {count}",
                 f'period = "{fmt_duration(rng, period)}"']
        burst = count
        if rng.random() < 0.6:
            burst = rng.choice([1, count, count + 1, max(1, count - 1), rng.randint(1, 6),
                                rng.randint(7, 60)])
            lines.append(f"burst = {burst}")
        mode = rng.choice([None, None, "leaky", "strict", "strict"])
        if mode:
            lines.append(f'mode = "{mode}"')
        rng.shuffle(lines) if rng.random() < 0.2 else None
        rates.append("[[rate]]\n" + "\n".join(lines) + "\n")
        scales.append(math.ceil(T * burst))
    if rng.random() < 0.4:
        sections.append(
            f"[concurrency]\nper_client = {rng.randint(1, 4)}\ntotal = {rng.randint(1, 9)}\n")
    if with_grey:
        unit = rng.choice([1, 1, 10, 1000, 60_000])
        delay = rng.randint(1, 30) * unit
        window = delay + rng.choice([0, 1, unit, rng.randint(0, 40) * unit])
        ttl = rng.choice([1, unit, rng.randint(1, 50) * unit])
        key = rng.choice(["triplet", "sender_rcpt"])
        sections.append(
            f'[greylist]\nkey = "{key}"\ndelay = "{fmt_duration(rng, delay)}"\n'
            f'retry_window = "{fmt_duration(rng, window)}"\npass_ttl = "{fmt_duration(rng, ttl)}"\n')
        scales += [window, ttl]
    if rng.random() < 0.05:
        sections, rates = [], []  # empty config: every event is accepted
    # Rates keep their order among themselves; the other tables go anywhere between them.
    parts = list(rates)
    for s in sections:
        parts.insert(rng.randint(0, len(parts)), s)
    text = "\n".join(parts)
    if rng.random() < 0.3:
        text = decorate_toml(rng, text)
    return text, Config(text), max(scales)


def decorate_toml(rng, text):
    """The same TOML with comments, blank lines and other spacing (as in the README's example)."""
    out = []
    for line in text.splitlines():
        if rng.random() < 0.1:
            out.append(rng.choice(["# a comment", "", "   # [[rate]] in a comment = 1"]))
        m = re.match(r"^(\w+) = (.*)$", line)
        if m and rng.random() < 0.5:
            line = m.group(1) + rng.choice(["=", " =  ", "\t= "]) + m.group(2)
        if rng.random() < 0.3:
            line += rng.choice(["   # comment", " #x = 1", "\t#"])
        out.append(line)
    return "\n".join(out) + "\n"


class Gen:
    def __init__(self, rng, allow_ambiguous, max_t0=2**63):
        self.rng = rng
        self.allow_ambiguous = allow_ambiguous
        self.max_t0 = max_t0

    def case(self):
        rng = self.rng
        text, cfg, scale = gen_config(rng, self.allow_ambiguous)
        ips = gen_ips(rng, cfg.v4p, cfg.v6p)
        senders = [f"{rng.choice(LOCALS)}@{rng.choice(DOMAINS)}" for _ in range(rng.randint(1, 4))]
        rcpts = [f"{rng.choice(LOCALS)}@{rng.choice(DOMAINS)}" for _ in range(rng.randint(1, 4))]
        sim = Sim(cfg)
        events, outs = [], []
        t = rng.choice([0, 0, rng.randint(1, 10**6), rng.randint(1, 10**12), rng.randint(1, self.max_t0)])
        n = rng.choices([0, 1, rng.randint(2, 10), rng.randint(10, 40), rng.randint(40, 90)],
                        [2, 3, 25, 40, 30])[0]
        open_conns = []  # accepted, not closed
        refused_conns = []  # refused at connect, not closed
        next_id = rng.choice([1, rng.randint(1, 10**6)])
        ctx_of = {}  # state key -> (ip, sender, rcpt) that last touched it
        intent = []  # queued actions at the same t

        def emit(ev):
            if sim.ambiguous is not None and not self.allow_ambiguous:
                raise StopTrace
            events.append(ev)
            out = sim.step(ev)
            outs.append(render(out))
            return out

        def targets():
            ts = []
            for i, r in enumerate(cfg.rates):
                for key, tat in sim.tat[i].items():
                    p = tat + r["T"] - r["burst"] * r["T"]
                    lo, hi = math.floor(p), math.ceil(p)
                    for x in (lo - 1, lo, hi, hi + 1, math.ceil(tat)):
                        if x >= t:
                            ts.append((x, ctx_of.get(("r", i, key)), r["on"]))
            if cfg.grey is not None:
                g = cfg.grey
                for key, (st, t0) in sim.grey.items():
                    cand = ((t0 + g["delay"] - 1, t0 + g["delay"], t0 + g["delay"] + 1,
                             t0 + g["window"], t0 + g["window"] + 1) if st == "pending"
                            else (t0 + g["ttl"], t0 + g["ttl"] + 1))
                    for x in cand:
                        if x >= t:
                            ts.append((x, ctx_of.get(("g", key)), "rcpt"))
            return ts

        def remember(kind, conn_ip, sender, rcpt):
            ctx = (conn_ip, sender, rcpt)
            client = cfg.client(conn_ip)
            for i, r in enumerate(cfg.rates):
                if r["on"] != kind:
                    continue
                k = r["key"]
                key = {"client": client, "sender": sender and sender.lower(),
                       "sender_domain": sender and domain_of(sender.lower()),
                       "rcpt": rcpt and rcpt.lower()}[k]
                ctx_of[("r", i, key)] = ctx
            if kind == "rcpt" and cfg.grey is not None:
                if cfg.grey["key"] == "triplet":
                    gk = (client, sender.lower(), rcpt.lower())
                else:
                    gk = (sender.lower(), rcpt.lower())
                ctx_of[("g", gk)] = ctx

        conn_ip = {}
        conn_sender = {}

        def do_connect(ip):
            nonlocal next_id
            cid = next_id
            next_id += rng.choice([1, 1, 1, 2, 17])
            out = emit({"t": t, "event": "connect", "conn": cid, "ip": ip})
            conn_ip[cid] = ip
            remember("connect", ip, None, None)
            if out["decision"] == "accept":
                open_conns.append(cid)
            else:
                refused_conns.append(cid)
            return cid, out["decision"] == "accept"

        def do_mail(cid, sender):
            out = emit({"t": t, "event": "mail", "conn": cid, "sender": sender})
            remember("mail", conn_ip[cid], sender, None)
            ok = out["decision"] == "accept"
            conn_sender[cid] = sender if ok else None
            return ok

        def do_rcpt(cid, rcpt):
            emit({"t": t, "event": "rcpt", "conn": cid, "rcpt": rcpt})
            remember("rcpt", conn_ip[cid], conn_sender[cid], rcpt)

        def do_disconnect(cid):
            emit({"t": t, "event": "disconnect", "conn": cid})
            if cid in open_conns:
                open_conns.remove(cid)
            if cid in refused_conns:
                refused_conns.remove(cid)

        def same_client_ip(ip):
            cl = cfg.client(ip)
            return rng.choice([x for x in ips if cfg.client(x) == cl])

        def loop():
            nonlocal t
            while len(events) < n:
                # time
                r = rng.random()
                ctx, stage = None, None
                if r < 0.42:
                    pass
                elif r < 0.62:
                    t += rng.randint(1, 3)
                elif r < 0.85:
                    ts = targets()
                    if ts:
                        t, ctx, stage = rng.choice(ts)
                else:
                    t += rng.randint(1, max(2, 2 * scale))
                if ctx is not None and ctx[0] is not None:
                    ip, sender, rcpt = ctx
                    cid, ok = do_connect(same_client_ip(ip))
                    if ok and stage in ("mail", "rcpt") and sender is not None:
                        if do_mail(cid, rand_case(rng, sender)) and stage == "rcpt" and rcpt:
                            do_rcpt(cid, rand_case(rng, rcpt))
                    if rng.random() < 0.6:
                        do_disconnect(cid)
                    continue
                a = rng.random()
                withmail = [c for c in open_conns if conn_sender.get(c)]
                if a < 0.3 and len(open_conns) < 8 or not open_conns and a < 0.8:
                    do_connect(rng.choice(ips))
                elif a < 0.5 and open_conns:
                    do_mail(rng.choice(open_conns), rand_case(rng, rng.choice(senders)))
                elif a < 0.8 and withmail:
                    do_rcpt(rng.choice(withmail), rand_case(rng, rng.choice(rcpts)))
                elif open_conns or refused_conns:
                    do_disconnect(rng.choice(open_conns + refused_conns))

        try:
            loop()
            if rng.random() < 0.5:
                for cid in list(open_conns) + list(refused_conns):
                    if rng.random() < 0.9:
                        do_disconnect(cid)
        except StopTrace:
            pass
        return text, events, outs, sim


# --------------------------------------------------------------------------------------------
# Runner
# --------------------------------------------------------------------------------------------


def events_text(events, style=0):
    """JSON lines as in the README (style 0), compact (1), or with the keys in reverse order (2)."""
    if style == 1:
        return "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events)
    if style == 2:
        return "".join(json.dumps(dict(reversed(list(e.items())))) + "\n" for e in events)
    return "".join(json.dumps(e) + "\n" for e in events)


def run_postern(binary, config_text, events, tmpdir, tag, style=0):
    cfg_path = os.path.join(tmpdir, f"{tag}.toml")
    ev_path = os.path.join(tmpdir, f"{tag}.events.jsonl")
    with open(cfg_path, "w") as f:
        f.write(config_text)
    with open(ev_path, "w") as f:
        f.write(events_text(events, style))
    p = subprocess.run([binary, "policy", "simulate", "--config", cfg_path, ev_path],
                       capture_output=True, text=True, timeout=60)
    lines = [l for l in p.stdout.splitlines() if l.strip()]
    return p.returncode, lines, p.stderr


def disagrees(binary, config_text, events, tmpdir, tag):
    want, _ = reference(config_text, events)
    rc, got, _err = run_postern(binary, config_text, events, tmpdir, tag)
    return rc != 0 or not matches(got, want)


def drop_config_part(text, idx):
    """The config text without its idx-th table (None if there is none)."""
    parts = re.split(r"(?m)^(?=\[)", text)
    # [subjects] stays: its defaults are not part of the contract.
    tables = [i for i, p in enumerate(parts) if p.startswith("[") and not p.startswith("[subj")]
    if idx >= len(tables):
        return None
    del parts[tables[idx]]
    return "".join(parts)


def reduce_case(binary, config_text, events, allow_ambiguous, tmpdir, tag):
    def ok(ctext, evs):
        try:
            cfg = Config(ctext)
        except (OutOfContract, KeyError, ValueError, tomllib.TOMLDecodeError):
            return False
        if check_trace(cfg, evs, allow_ambiguous) is not None:
            return False
        return disagrees(binary, ctext, evs, tmpdir, tag)

    budget = [400]
    changed = True
    while changed and budget[0] > 0:
        changed = False
        # whole connections
        for cid in sorted({e["conn"] for e in events}):
            cand = [e for e in events if e["conn"] != cid]
            budget[0] -= 1
            if ok(config_text, cand):
                events, changed = cand, True
        # single events, from the end
        i = len(events) - 1
        while i >= 0 and budget[0] > 0:
            cand = events[:i] + events[i + 1:]
            budget[0] -= 1
            if ok(config_text, cand):
                events, changed = cand, True
            i -= 1
        # config tables
        j = 0
        while budget[0] > 0:
            cand = drop_config_part(config_text, j)
            if cand is None:
                break
            budget[0] -= 1
            if ok(cand, events):
                config_text, changed = cand, True
            else:
                j += 1
        # times: shift everything to start at 0
        if events and events[0]["t"] != 0:
            base = events[0]["t"]
            cand = [dict(e, t=e["t"] - base) for e in events]
            budget[0] -= 1
            if ok(config_text, cand):
                events, changed = cand, True
    return config_text, events


def check_fixtures(testdata, binary, tmpdir):
    """The reference (and postern) must reproduce every visible fixture."""
    bad = 0
    names = sorted(f[:-len(".events.jsonl")] for f in os.listdir(testdata)
                   if f.endswith(".events.jsonl"))
    for name in names:
        with open(os.path.join(testdata, name + ".toml")) as f:
            ctext = f.read()
        with open(os.path.join(testdata, name + ".events.jsonl")) as f:
            events = [json.loads(l) for l in f if l.strip()]
        with open(os.path.join(testdata, name + ".expected.jsonl")) as f:
            want = [l.rstrip("\n") for l in f if l.strip()]
        got, _ = reference(ctext, events)
        if not matches(want, got):
            bad += 1
            print(f"REFERENCE FAILS fixture {name}:")
            for i, (g, w) in enumerate(zip(got, want)):
                if w not in g:
                    print(f"  line {i + 1}: reference {show(g)}\n           expected  {w}")
        if binary:
            rc, pgot, err = run_postern(binary, ctext, events, tmpdir, "fixture")
            if rc != 0 or pgot != want:
                bad += 1
                print(f"POSTERN FAILS fixture {name} (rc {rc}): {err}")
    print(f"fixtures: {len(names)} checked against the reference"
          + (" and postern" if binary else "") + (f", {bad} FAILED" if bad else ", all pass"))
    return bad == 0 and len(names) > 0


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(here)
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", default=os.environ.get("POLICY_ORACLE_BIN",
                    os.path.join(os.environ.get("CARGO_TARGET_DIR", os.path.join(root, "target")),
                                 "release", "postern")))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("POLICY_ORACLE_SEED", "20261124")))
    ap.add_argument("--cases", type=int, default=int(os.environ.get("POLICY_ORACLE_CASES", "3000")))
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("POLICY_ORACLE_JOBS", "2")))
    ap.add_argument("--testdata", default=os.environ.get(
        "POLICY_ORACLE_TESTDATA", os.path.join(root, "..", "shared", "testdata", "policy")))
    ap.add_argument("--ambiguous", action="store_true",
                    default=os.environ.get("POLICY_ORACLE_AMBIGUOUS") == "1")
    ap.add_argument("--max-t0", type=int, default=int(os.environ.get("POLICY_ORACLE_MAX_T0", 2**63)),
                    help="largest time origin of a trace, ms (default 2^63: any origin)")
    ap.add_argument("--max-report", type=int, default=3, help="reproducers printed (reduced)")
    args = ap.parse_args()
    if not os.access(args.bin, os.X_OK):
        print(f"policy-oracle: no postern binary at {args.bin}", file=sys.stderr)
        return 2
    start = time.time()
    tmpdir = tempfile.mkdtemp(prefix="policy-oracle-")
    if not check_fixtures(args.testdata, args.bin, tmpdir):
        return 1

    rng = random.Random(args.seed)
    gen = Gen(rng, args.ambiguous, args.max_t0)
    cases = []
    cov = Counter()
    for _ in range(args.cases):
        text, events, outs, sim = gen.case()
        reason = check_trace(Config(text), events, args.ambiguous)
        assert reason is None, reason  # the generator stays inside the contract
        cov.update(sim.cov)
        cov["events"] += len(events)
        for o in outs:
            d = json.loads(o[0])
            if len(o) > 1:
                cov["retry_after_ms not whole (floor or ceil accepted)"] += 1
            cov[f"decision {d['event']} {d['decision']}"
                + (f" {d['limit'] if d['limit'] in ('concurrency', 'greylist') else 'rate'}"
                   if 'limit' in d else "")] += 1
        if sim.ambiguous:
            cov["traces ended at an ambiguous event" if not args.ambiguous
                else "traces past an ambiguous event"] += 1
            cov["  ambiguity: " + sim.ambiguous] += 1
        if not events:
            cov["empty traces"] += 1
        cases.append((text, events, outs, sim.ambiguous))

    def run(i):
        text, events, outs, _amb = cases[i]
        rc, got, err = run_postern(args.bin, text, events, tmpdir, f"c{i}",
                                   style=i % 5 if i % 5 < 3 else 0)
        return i, rc, got, err

    failures, ambiguous_diffs = [], []
    with ThreadPoolExecutor(max_workers=max(1, args.jobs)) as ex:
        for i, rc, got, err in ex.map(run, range(len(cases))):
            text, events, outs, amb = cases[i]
            if rc != 0 or not matches(got, outs):
                (ambiguous_diffs if amb else failures).append((i, rc, got, err))
            else:
                for g, w in zip(got, outs):
                    if len(w) > 1:
                        cov["  postern rounded retry_after_ms " + ("down" if g == w[0] else "up")] += 1

    print(f"seed {args.seed}: {len(cases)} cases, {cov['events']} events")
    for k in sorted(cov):
        if k != "events":
            print(f"  {cov[k]:7d}  {k}")
    def report(title, i):
        text, events, outs, _ = cases[i]
        text, events = reduce_case(args.bin, text, events, args.ambiguous, tmpdir, f"r{i}")
        want, sim = reference(text, events)
        rc, got, err = run_postern(args.bin, text, events, tmpdir, f"r{i}")
        print(f"\n=== {title} (case {i} of seed {args.seed}, reduced) ===")
        if sim.ambiguous:
            print(f"--- ambiguous event: {sim.ambiguous}")
        print("--- config.toml\n" + text.rstrip())
        print("--- events.jsonl\n" + events_text(events).rstrip())
        print("--- reference\n" + "\n".join(show(w) for w in want))
        print(f"--- postern (exit {rc})\n" + "\n".join(got) + (f"\n--- stderr\n{err}" if err else ""))
        for j in range(max(len(want), len(got))):
            w = want[j] if j < len(want) else ()
            g = got[j] if j < len(got) else None
            if g not in w:
                print(f"--- first difference: line {j + 1}")
                break

    if args.ambiguous:
        print(f"disagreements on traces past an ambiguous event (not failures): "
              f"{len(ambiguous_diffs)} of {cov['traces past an ambiguous event']}")
        for i, _rc, _got, _err in ambiguous_diffs[:args.max_report]:
            report("AMBIGUOUS READING DIFFERS", i)
    for i, _rc, _got, _err in failures[:args.max_report]:
        report("DISAGREEMENT", i)
    print(f"\n{len(failures)} disagreement(s) in {len(cases)} cases "
          f"({time.time() - start:.1f} s)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
