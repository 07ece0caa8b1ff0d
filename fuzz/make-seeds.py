#!/usr/bin/env python3
"""Regenerate fuzz/seeds/<target>/ for the postern-smtp targets.

Usage: python3 fuzz/make-seeds.py [FIXTURES_DIR]   (default: ../shared/testdata/ehlo)

Every `.smtp` file of the shared EHLO fixtures (real/ and tricky/) becomes seeds, prefixed by
the selector byte each harness reads as data[0] (see crates/postern-smtp/src/__fuzz.rs), plus
hand-made edge cases. The output is deterministic; commit the result. Existing files of the
same name are overwritten, others are left alone.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
FIXTURES = sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, "..", "shared", "testdata", "ehlo")


# --- selector bytes -------------------------------------------------------------------------
# reply_parser: bit 0 = lenient, bits 1..7 = 2-way split point (mod len + 1).
def reply_sel(lenient, split=0):
    return bytes([(split << 1) & 0xFE | int(lenient)])


# rewrite: bit 0 = lenient, bit 1 = also withhold AUTH+CHUNKING, bit 2 = also SIZE/8BITMIME/
# PIPELINING, bits 3..7 = streaming read size (0 -> 1).
def rewrite_sel(lenient, auth=False, size=False, chunk=0):
    return bytes([(chunk & 0x1F) << 3 | int(size) << 2 | int(auth) << 1 | int(lenient)])


# proxy: bit 0 = also withhold CHUNKING+AUTH, bit 1 = let STARTTLS through; then records
# (dir, len, bytes): even dir = client, odd dir = server, len <= 255.
def records(steps):
    out = bytearray()
    for who, data in steps:
        d = 0 if who == "C" else 1
        for i in range(0, max(len(data), 1), 255):
            piece = data[i:i + 255]
            out += bytes([d, len(piece)]) + piece
    return bytes(out)


def proxy_seed(withhold_auth_chunking, steps, allow_starttls=False):
    return bytes([int(allow_starttls) << 1 | int(withhold_auth_chunking)]) + records(steps)


seeds = {"smtp_reply": {}, "smtp_rewrite": {}, "smtp_proxy": {}}


def add(target, name, data):
    assert name not in seeds[target], name
    seeds[target][name] = data


# --- from the shared fixtures ---------------------------------------------------------------
GREETING = b"220 mx.example.net ESMTP\r\n"
fixtures = []
for sub in ("real", "tricky"):
    folder = os.path.join(FIXTURES, sub)
    for fname in sorted(os.listdir(folder)):
        if fname.endswith(".smtp"):
            with open(os.path.join(folder, fname), "rb") as f:
                fixtures.append((f"{sub}-{fname[:-5]}", f.read()))
# The chunked case, whole.
chunks = dict(fixtures)
fixtures.append(("tricky-crlf-split-across-chunks.whole",
                 chunks["tricky-crlf-split-across-chunks.chunk1"]
                 + chunks["tricky-crlf-split-across-chunks.chunk2"]))

for i, (name, data) in enumerate(fixtures):
    split = (i * 37) % 128
    add("smtp_reply", f"{name}.strict", reply_sel(False, split) + data)
    add("smtp_reply", f"{name}.lenient", reply_sel(True, 127 - split) + data)
    add("smtp_rewrite", f"{name}.strict", rewrite_sel(False, chunk=1 + i % 31) + data)
    add("smtp_rewrite", f"{name}.lenient-all", rewrite_sel(True, True, True, chunk=i % 7) + data)
    add("smtp_proxy", f"{name}", proxy_seed(i % 2, allow_starttls=i % 3 == 0, steps=[
        ("S", GREETING),
        ("C", b"EHLO client.example\r\n"),
        ("S", data),
        ("C", b"QUIT\r\n"),
        ("S", b"221 2.0.0 Bye\r\n"),
    ]))

# --- hand-made edge cases for the reply parser and the rewriter -----------------------------
EHLO = b"250-mx.example.net Hello\r\n250-PIPELINING\r\n250-SIZE 35882577\r\n250-STARTTLS\r\n250 8BITMIME\r\n"
edge = {
    # A CR as the last byte of a read: must wait for the LF, not fail as bare CR.
    "cr-at-chunk-end": (b"250-mx\r\n250-STARTTLS\r", b"\n250 8BITMIME\r\n"),
    "cr-at-chunk-end-last-line": (b"250-mx\r\n250 STARTTLS\r", b"\n"),
    # 510 content octets pass, 511 fail before the terminator.
    "line-510": (b"250 " + b"x" * 506 + b"\r\n", b""),
    "line-511": (b"250 " + b"x" * 507 + b"\r\n", b""),
    "line-510-continuation": (b"250-mx\r\n250-" + b"A" * 506 + b"\r\n250 STARTTLS\r\n", b""),
    "line-511-no-terminator": (b"250-mx\r\n250-" + b"A" * 507, b""),
    "line-510-lf": (b"250 " + b"x" * 506 + b"\n", b""),
    "line-509-cr-at-510": (b"250 " + b"x" * 505 + b"\r", b"\n"),
    "code-mismatch": (b"250-mx\r\n251 STARTTLS\r\n", b""),
    "code-mismatch-first-digit": (b"250-mx\r\n350 STARTTLS\r\n", b""),
    "code-mismatch-after-reply": (b"250 ok\r\n250-mx\r\n25", b"1 x\r\n"),
    "bare-lf": (b"250-mx\n250-STARTTLS\n250 SIZE 10\n", b""),
    "bare-lf-mixed": (b"250-mx\r\n250-STARTTLS\n250 SIZE 10\r\n", b""),
    "bare-lf-after-code": (b"250\n", b""),
    "bare-cr": (b"250-mx\r\n250-STAR\rTTLS\r\n250 x\r\n", b""),
    "cr-cr-lf": (b"250 x\r\r\n", b""),
    "bad-code": (b"199 x\r\n", b""),
    "bad-code-second-digit": (b"260 x\r\n", b""),
    "short-code": (b"25\r\n", b""),
    "bad-separator": (b"250+STARTTLS\r\n", b""),
    "bare-code-line": (b"250-mx\r\n250\r\n", b""),
    "empty-text": (b"250 \r\n", b""),
    "truncated": (b"250-mx\r\n250-STARTTLS\r\n25", b""),
    "pipelined": (b"220 mx ESMTP\r\n" + EHLO + b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 End data with <CR><LF>.<CR><LF>\r\n", b""),
    "pipelined-with-error": (b"250 ok\r\n" + EHLO + b"250 ok\r\n999 no\r\n", b""),
    "enhanced-codes": (b"550-5.7.1 Relaying denied\r\n550 5.7.1 See policy\r\n", b""),
    "enhanced-class-mismatch": (b"550 4.7.1 try later\r\n", b""),
    "ehlo-rejected": (b"502 5.5.2 Error: command not recognized\r\n", b""),
    "starttls-variants": (b"250-mx\r\n250-starttls\r\n250- STARTTLS \r\n250-\tStartTLS\tx\r\n250-STARTTLS=1\r\n250 STARTTLS\r\n", b""),
    "only-withheld": (b"250-mx\r\n250-STARTTLS\r\n250-AUTH PLAIN\r\n250-AUTH=LOGIN\r\n250-CHUNKING\r\n250-SIZE\r\n250-8BITMIME\r\n250 PIPELINING\r\n", b""),
    "limits-size": (b"250-mx\r\n250-LIMITS RCPTMAX=100 MAILMAX=5 RCPTDOMAINMAX=99999999999 BAD=x =1\r\n250-SIZE 99999999999999999999\r\n250-SIZE 0\r\n250 AUTH=PLAIN LOGIN\r\n", b""),
    "non-ascii": (b"250-mx \xc3\xa9\xff\x00\r\n250-\x80STARTTLS\r\n250 STARTTLS\x00\r\n", b""),
    "many-lines": (b"250-x\r\n" * 1024 + b"250 y\r\n", b""),
}
for i, (name, (a, b)) in enumerate(sorted(edge.items())):
    data = a + b
    # Split the 2-way read exactly after `a` where the selector can express it.
    split = len(a) if b and len(a) < 128 else (i * 29) % 128
    add("smtp_reply", f"edge-{name}.strict", reply_sel(False, split) + data)
    add("smtp_reply", f"edge-{name}.lenient", reply_sel(True, split) + data)
    chunk = len(a) if b and len(a) < 32 else 1 + i % 31
    add("smtp_rewrite", f"edge-{name}.strict", rewrite_sel(False, chunk=chunk) + data)
    add("smtp_rewrite", f"edge-{name}.lenient-all", rewrite_sel(True, True, True, chunk=chunk) + data)

# --- hand-made proxy sessions ---------------------------------------------------------------
EHLO_FULL = (b"250-mx.example.net\r\n250-PIPELINING\r\n250-SIZE 10240000\r\n250-STARTTLS\r\n"
             b"250-AUTH PLAIN LOGIN\r\n250-CHUNKING\r\n250 8BITMIME\r\n")
sessions = {
    "data": [("S", GREETING), ("C", b"EHLO c\r\n"), ("S", EHLO_FULL),
             ("C", b"MAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\nDATA\r\n"),
             ("C", b"Subject: hi\r\n\r\n..leading dot\r\n.\r\n"),
             ("S", b"250 2.1.0 Ok\r\n250 2.1.5 Ok\r\n354 go\r\n"),
             ("S", b"250 2.0.0 queued\r\n"), ("C", b"QUIT\r\n"), ("S", b"221 Bye\r\n")],
    "data-split-eod": [("S", GREETING), ("C", b"EHLO c\r\nMAIL FROM:<>\r\nRCPT TO:<b@x>\r\nDATA\r\n"),
                       ("S", EHLO_FULL + b"250 Ok\r\n250 Ok\r\n354 go\r\n"),
                       ("C", b"body\r"), ("C", b"\n."), ("C", b"\r"), ("C", b"\nQUIT\r\n"),
                       ("S", b"250 queued\r\n221 Bye\r\n")],
    "data-refused": [("S", GREETING), ("C", b"EHLO c\r\nDATA\r\nRSET\r\nQUIT\r\n"),
                     ("S", EHLO_FULL + b"503 5.5.1 need MAIL\r\n250 ok\r\n221 bye\r\n")],
    "bdat": [("S", GREETING), ("C", b"EHLO c\r\n"), ("S", EHLO_FULL),
             ("C", b"MAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\nBDAT 5\r\nhelloBDAT 3 LAST\r\nabc"),
             ("S", b"250 ok\r\n250 ok\r\n250 5 octets\r\n250 queued\r\n"),
             ("C", b"BDAT 0 LAST\r\nQUIT\r\n"), ("S", b"250 ok\r\n221 bye\r\n")],
    "bdat-split-chunk": [("S", GREETING), ("C", b"EHLO c\r\nBDAT 10 LAST\r\n12345"),
                         ("C", b"67890QUIT\r\n"), ("S", EHLO_FULL + b"250 ok\r\n221 bye\r\n")],
    "starttls": [("S", GREETING), ("C", b"EHLO c\r\n"), ("S", EHLO_FULL),
                 ("C", b"STARTTLS\r\n"), ("S", b"220 2.0.0 Ready to start TLS\r\n"),
                 ("C", b"\x16\x03\x01\x00\x05hello"), ("S", b"\x16\x03\x03\x00\x02hi")],
    "starttls-injection": [("S", GREETING), ("C", b"EHLO c\r\nSTARTTLS\r\nMAIL FROM:<evil@x>\r\n"),
                           ("S", EHLO_FULL + b"220 Ready\r\n250 injected\r\n"),
                           ("C", b"\x16\x03\x01")],
    "starttls-refused": [("S", GREETING), ("C", b"EHLO c\r\nSTARTTLS\r\nQUIT\r\n"),
                         ("S", EHLO_FULL + b"454 4.7.0 TLS not available\r\n221 bye\r\n")],
    "auth": [("S", GREETING), ("C", b"EHLO c\r\n"), ("S", EHLO_FULL),
             ("C", b"AUTH LOGIN\r\n"), ("S", b"334 VXNlcm5hbWU6\r\n"),
             ("C", b"dXNlcg==\r\n"), ("S", b"334 UGFzc3dvcmQ6\r\n"),
             ("C", b"cGFzcw==\r\n"), ("S", b"235 2.7.0 Authentication successful\r\n"),
             ("C", b"QUIT\r\n"), ("S", b"221 bye\r\n")],
    "auth-initial-response": [("S", GREETING), ("C", b"EHLO c\r\nAUTH PLAIN AGEAYg==\r\nQUIT\r\n"),
                              ("S", EHLO_FULL + b"535 5.7.8 failed\r\n221 bye\r\n")],
    "pipelined-split-replies": [("S", b"220 mx"), ("S", b" ESMTP\r"), ("S", b"\n"),
                                ("C", b"EHLO c\r\nMAIL FROM:<a@b>\r\nRCPT TO:<c@d>\r\n"),
                                ("S", EHLO_FULL[:40]), ("S", EHLO_FULL[40:] + b"250 ok\r\n25"),
                                ("S", b"0 ok\r\n")],
    "lhlo-bare-lf-client": [("S", GREETING), ("C", b"LHLO c\nRSET\n"),
                            ("S", EHLO_FULL + b"250 ok\r\n")],
    "server-error": [("S", GREETING), ("C", b"EHLO c\r\n"), ("S", b"250-mx\r\n251 x\r\n")],
    "long-command": [("S", GREETING), ("C", b"EHLO " + b"a" * 600 + b"\r\n"), ("S", b"250 mx\r\n")],
    "server-first-unsolicited": [("S", GREETING + b"421 4.3.2 shutting down\r\n")],
}
for i, (name, steps) in enumerate(sorted(sessions.items())):
    add("smtp_proxy", f"session-{name}", proxy_seed(False, steps))
    add("smtp_proxy", f"session-{name}.withhold-auth-chunking", proxy_seed(True, steps))
    add("smtp_proxy", f"session-{name}.allow-starttls", proxy_seed(False, steps, allow_starttls=True))

for target, files in seeds.items():
    folder = os.path.join(HERE, "seeds", target)
    os.makedirs(folder, exist_ok=True)
    for name, data in files.items():
        with open(os.path.join(folder, name), "wb") as f:
            f.write(data)
    print(f"{target}: {len(files)} seeds")
