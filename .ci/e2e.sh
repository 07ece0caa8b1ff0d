#!/usr/bin/env bash
# End to end on loopback: the example starttls-proxy and policy-server against a real Postfix
# (a throw-away instance in a temp dir) and a real SMTP client (swaks).
#
#   (a) through the proxy, a "bad" client (127.0.0.2) sees no STARTTLS and gets 502 for it, a
#       "good" one (127.0.0.3) completes TLS with Postfix; both deliver mail.
#   (b) Postfix consulting the policy server rejects an SPF fail sender, defers a new triplet
#       (greylisting) and accepts its retry after the test config's 2 s delay, and the
#       delivered mail carries the prepended Received-SPF header.
#   (c) a burst of connections over the proxy's rate limit is refused with 421 4.7.0.
#
# Needs root (apt-get, Postfix). Installs postfix, swaks and openssl if missing. Only loopback
# addresses are used; Postfix has no outbound transport. Everything started here is stopped by
# PID on exit, failure included. Usage: bash .ci/e2e.sh (E2E_KEEP=1 keeps the temp dir).
set -euo pipefail
cd "$(dirname "$0")/.."

t0=$(date +%s)
say() { printf '[e2e %3ss] %s\n' "$(($(date +%s) - t0))" "$*"; }
passed=0
ok() {
  passed=$((passed + 1))
  say "ok: $*"
}
fail() {
  say "FAIL: $*"
  exit 1
}

[[ $(id -u) == 0 ]] || fail "run as root (apt-get, postfix)"

# --- install --------------------------------------------------------------------------------
need=()
command -v postfix >/dev/null || need+=(postfix)
command -v swaks >/dev/null || need+=(swaks)
command -v openssl >/dev/null || need+=(openssl)
perl -MNet::SSLeay -e1 2>/dev/null || need+=(libnet-ssleay-perl)
if ((${#need[@]})); then
  say "installing ${need[*]}"
  echo "postfix postfix/main_mailer_type select No configuration" | debconf-set-selections
  timeout 300 apt-get update -qq
  DEBIAN_FRONTEND=noninteractive timeout 600 apt-get install -y -qq "${need[@]}" >/dev/null
fi
say "postfix $(postconf -c /usr/share/postfix -d -h mail_version 2>/dev/null || echo '?'), $(swaks --version | head -1)"

# --- build ----------------------------------------------------------------------------------
say "building the examples"
timeout 900 cargo build --locked -q -p postern-examples --bins
target_dir=$(cargo metadata --locked --format-version 1 --no-deps |
  sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')
bin="$target_dir/debug"
[[ -x $bin/starttls-proxy && -x $bin/policy-server ]] || fail "no binaries in $bin"

# --- clean-up trap: everything is stopped by PID --------------------------------------------
T=$(mktemp -d /tmp/postern-e2e.XXXXXX)
chmod 755 "$T"
pids=()
master_pid=""
cleanup() {
  local rc=$?
  set +e
  if [[ -n $master_pid ]]; then
    timeout 20 postfix -c "$T/etc" stop >/dev/null 2>&1
    for _ in $(seq 50); do kill -0 "$master_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$master_pid" 2>/dev/null && kill -KILL "$master_pid"
  fi
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for pid in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  done
  if ((rc != 0)); then
    for f in "$T"/maillog "$T"/proxy.log "$T"/policy.log; do
      [[ -f $f ]] && { echo "--- $f (last 40 lines)"; tail -40 "$f"; }
    done
  fi
  if [[ ${E2E_KEEP:-} == 1 ]]; then say "kept $T"; else rm -rf "$T"; fi
  say "stopped everything; $passed checks passed; exit $rc"
}
trap cleanup EXIT

free_port() {
  local port
  for _ in $(seq 50); do
    port=$((20000 + RANDOM % 20000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
  fail "no free port"
}

wait_port() { # PORT: until something accepts there (10 s)
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return
    sleep 0.1
  done
  fail "nothing listens on 127.0.0.1:$1"
}

listening_port() { # LOG: the port of its "listening on ADDR" line (10 s)
  for _ in $(seq 100); do
    local line
    line=$(grep -m1 '^listening on ' "$1" 2>/dev/null || true)
    [[ -n $line ]] && { echo "${line##*:}"; return; }
    sleep 0.1
  done
  fail "no listening line in $1"
}

# --- policy server ---------------------------------------------------------------------------
"$bin/policy-server" --listen 127.0.0.1:0 --zone examples/data/policy-server-zone.json \
  --config examples/data/policy-server-test.toml --receiver mx.test.example \
  >"$T/policy.log" 2>&1 &
pids+=($!)
policy_port=$(listening_port "$T/policy.log")
say "policy-server on 127.0.0.1:$policy_port"

# --- Postfix: own config, queue and data directories; loopback only; no outbound mail -------
mkdir -p "$T/etc" "$T/queue" "$T/data" "$T/mail"
chown nobody:nogroup "$T/mail"
chown postfix "$T/data"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=mx.test.example \
  -keyout "$T/etc/key.pem" -out "$T/etc/cert.pem" 2>/dev/null
smtp_port=$(free_port)
policy_smtp_port=$(free_port)
[[ $smtp_port != "$policy_smtp_port" ]] || policy_smtp_port=$((smtp_port + 1))
cat >"$T/etc/main.cf" <<EOF
compatibility_level = 3.6
queue_directory = $T/queue
data_directory = $T/data
mail_owner = postfix
setgid_group = postdrop
maillog_file = $T/maillog
maillog_file_prefixes = /tmp
myhostname = mx.test.example
mydomain = test.example
myorigin = \$myhostname
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.1/32
mydestination =
alias_maps =
alias_database =
biff = no
# Nothing leaves this machine: no DNS, no outbound transport.
disable_dns_lookups = yes
smtpd_peername_lookup = no
default_transport = error:no outbound mail in this test
relay_transport = error:no outbound mail in this test
local_transport = error:no local delivery in this test
# Delivery: maildirs under the temp dir, as nobody.
virtual_mailbox_domains = test.example
virtual_mailbox_base = $T/mail
virtual_mailbox_maps = inline:{ user@test.example=user/ }
virtual_uid_maps = static:65534
virtual_gid_maps = static:65534
smtpd_relay_restrictions = permit_auth_destination, reject
smtpd_tls_security_level = may
smtpd_tls_cert_file = $T/etc/cert.pem
smtpd_tls_key_file = $T/etc/key.pem
smtpd_forbid_bare_newline = yes
policy_restrictions = check_policy_service inet:127.0.0.1:$policy_port, permit_auth_destination, reject
EOF
cat >"$T/etc/master.cf" <<EOF
127.0.0.1:$smtp_port inet n - n - - smtpd
127.0.0.1:$policy_smtp_port inet n - n - - smtpd -o smtpd_recipient_restrictions=\$policy_restrictions
pickup    unix n - n 60 1 pickup
cleanup   unix n - n - 0 cleanup
qmgr      unix n - n 300 1 qmgr
tlsmgr    unix - - n 1000? 1 tlsmgr
rewrite   unix - - n - - trivial-rewrite
bounce    unix - - n - 0 bounce
defer     unix - - n - 0 bounce
trace     unix - - n - 0 bounce
verify    unix - - n - 1 verify
flush     unix n - n 1000? 0 flush
proxymap  unix - - n - - proxymap
smtp      unix - - n - - smtp
relay     unix - - n - - smtp
showq     unix n - n - - showq
error     unix - - n - - error
retry     unix - - n - - error
discard   unix - - n - - discard
virtual   unix - n n - - virtual
anvil     unix - - n - 1 anvil
scache    unix - - n - 1 scache
postlog   unix-dgram n - n - 1 postlogd
EOF
# Postfix prints its errors only to a terminal or syslog: script(1) gives it one.
out=$(timeout 60 script -qec "postfix -c $T/etc start" /dev/null 2>&1) || fail "postfix did not start: $out"
for _ in $(seq 100); do
  [[ -s $T/queue/pid/master.pid ]] && break
  sleep 0.1
done
master_pid=$(tr -dc 0-9 <"$T/queue/pid/master.pid")
[[ -n $master_pid ]] || fail "no Postfix master PID"
wait_port "$smtp_port"
wait_port "$policy_smtp_port"
say "postfix (master PID $master_pid) on 127.0.0.1:$smtp_port and :$policy_smtp_port (with the policy server)"

# --- proxy in front of the plain Postfix listener ---------------------------------------------
"$bin/starttls-proxy" --listen 127.0.0.1:0 --upstream "127.0.0.1:$smtp_port" \
  --reputation examples/data/proxy-reputation.txt --config examples/data/proxy-test.toml \
  --grace 2 >"$T/proxy.log" 2>&1 &
proxy_pid=$!
pids+=("$proxy_pid")
proxy_port=$(listening_port "$T/proxy.log")
say "starttls-proxy on 127.0.0.1:$proxy_port"

run_id="$$-$t0"
swaks_to() { # PORT SOURCE FROM SUBJECT [swaks options...]: the transcript; never fails
  local port=$1 source=$2 from=$3 subject=$4
  shift 4
  timeout 60 swaks --server "127.0.0.1:$port" --local-interface "$source" --timeout 20 \
    --helo "client-$source.test" --from "$from" --to user@test.example \
    --header "Subject: $subject" --body "postern e2e $subject" "$@" 2>&1 || true
}

delivered() { # SUBJECT: the delivered message file with this subject (30 s), or fail
  for _ in $(seq 300); do
    local file
    # Only maildir new/: files in tmp/ are still being written.
    file=$(grep -l "^Subject: $1\$" "$T"/mail/user/new/* 2>/dev/null | head -1 || true)
    [[ -n $file ]] && { echo "$file"; return; }
    sleep 0.1
  done
  fail "no delivered message with Subject: $1"
}

# A session from SOURCE sending each COMMAND after the reply to the previous one, printing
# the replies (perl: it ships with swaks, which never sends a STARTTLS that was not offered).
raw_session() { # PORT SOURCE COMMAND...
  timeout 30 perl -MIO::Socket::INET -e '
    my ($port, $src, @commands) = @ARGV;
    $| = 1;
    my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1", PeerPort => $port,
                                  LocalAddr => $src, Timeout => 10) or die "connect: $!\n";
    alarm 20;
    sub reply { while (my $l = <$s>) { print $l; return if $l !~ /^\d{3}-/; } }
    reply();
    for my $c (@commands) { print $s "$c\r\n"; reply(); }' "$@" || true
}

# --- (a) STARTTLS per reputation, through the proxy ---------------------------------------------
out=$(raw_session "$proxy_port" 127.0.0.2 "EHLO raw.test" STARTTLS QUIT)
grep -q '^250[ -]' <<<"$out" || fail "(a) bad client: no EHLO reply: $out"
grep -qi 'STARTTLS\|REQUIRETLS' <<<"$(grep '^250' <<<"$out")" && fail "(a) bad client was offered STARTTLS: $out"
grep -q '^502 5.5.1' <<<"$out" || fail "(a) bad client: STARTTLS not answered 502: $out"
grep -q '^221' <<<"$out" || fail "(a) bad client: QUIT not answered: $out"
ok "(a) bad client 127.0.0.2: EHLO without STARTTLS, '$(grep '^502' <<<"$out" | tr -d '\r')' for STARTTLS"

out=$(raw_session "$proxy_port" 127.0.0.3 "EHLO raw.test" QUIT)
grep -q '^250-STARTTLS' <<<"$out" || fail "(a) good client not offered STARTTLS: $out"
ok "(a) good client 127.0.0.3: EHLO offers STARTTLS"

# --pipeline: MAIL, RCPT and DATA in one group (RFC 2920), through the proxy.
out=$(swaks_to "$proxy_port" 127.0.0.2 someone@pass.example.org "bad-client-$run_id" --pipeline)
grep -q '250 2.0.0 Ok: queued' <<<"$out" || fail "(a) bad client's mail not queued: $out"
file=$(delivered "bad-client-$run_id")
grep -q 'with ESMTP ' "$file" || fail "(a) bad client's mail not plain ESMTP: $(grep -m1 -A2 '^Received:' "$file")"
ok "(a) bad client's mail (pipelined) delivered in plaintext: $(basename "$file")"

out=$(swaks_to "$proxy_port" 127.0.0.3 someone@pass.example.org "good-client-$run_id" --tls)
grep -q 'TLS started' <<<"$out" || fail "(a) good client: no TLS: $out"
grep -q '250 2.0.0 Ok: queued' <<<"$out" || fail "(a) good client's mail not queued: $out"
file=$(delivered "good-client-$run_id")
grep -q 'with ESMTPS' "$file" || fail "(a) good client's mail not received over TLS: $(grep -m1 -A3 '^Received:' "$file")"
ok "(a) good client completed TLS with Postfix through the proxy ($(grep -m1 -o 'TLS started.*' <<<"$out" | tr -d '\r')), mail delivered with ESMTPS"

# --- (b) the policy server consulted by Postfix -------------------------------------------------
out=$(swaks_to "$policy_smtp_port" 127.0.0.5 spoof@fail.example.org "spf-fail-$run_id")
grep -q '^<\*\* *5[0-9][0-9] 5.7.23 .*SPF fail' <<<"$out" || fail "(b) SPF fail not rejected: $out"
ok "(b) SPF fail rejected: $(grep -m1 '5.7.23' <<<"$out" | sed 's/^<\*\* *//' | tr -d '\r')"

out=$(swaks_to "$policy_smtp_port" 127.0.0.6 alice@pass.example.org "greylist-$run_id")
grep -q '^<\*\* *45[0-9] 4.7.1 .*Greylisted' <<<"$out" || fail "(b) first attempt not greylisted: $out"
ok "(b) new triplet deferred: $(grep -m1 'Greylisted' <<<"$out" | sed 's/^<\*\* *//' | tr -d '\r')"
sleep 2.5
out=$(swaks_to "$policy_smtp_port" 127.0.0.6 alice@pass.example.org "greylist-$run_id")
grep -q '250 2.0.0 Ok: queued' <<<"$out" || fail "(b) retry after the delay not accepted: $out"
file=$(delivered "greylist-$run_id")
grep -q '^Received-SPF: pass (mx.test.example: domain of alice@pass.example.org designates 127.0.0.6 as permitted sender)' "$file" ||
  fail "(b) no Received-SPF in the delivered mail: $(head -20 "$file")"
ok "(b) retry after 2.5 s accepted and delivered with '$(grep -m1 '^Received-SPF:' "$file" | cut -c1-90)...'"

# --- (c) a burst of connections over the proxy's rate limit -------------------------------------
# proxy-test.toml: 4 connections per client per minute, in a burst of 4.
accepted=0
refused=0
for i in $(seq 6); do
  out=$(timeout 30 swaks --server "127.0.0.1:$proxy_port" --local-interface 127.0.0.4 \
    --timeout 10 --helo burst.test --quit-after CONNECT 2>&1 || true)
  if grep -q '^<- *220 ' <<<"$out"; then
    accepted=$((accepted + 1))
  elif grep -q '^<\*\* *421 4.7.0 Too many connections' <<<"$out"; then
    refused=$((refused + 1))
  else
    fail "(c) connection $i: neither 220 nor 421: $out"
  fi
done
((accepted == 4 && refused == 2)) || fail "(c) expected 4 accepted and 2 refused, got $accepted and $refused"
ok "(c) burst of 6 from 127.0.0.4: 4 accepted, 2 refused with '421 4.7.0 Too many connections, try again later'"

# --- the proxy's log: one line per session; clean shutdown on SIGTERM --------------------------
kill -TERM "$proxy_pid"
for _ in $(seq 100); do kill -0 "$proxy_pid" 2>/dev/null || break; sleep 0.1; done
kill -0 "$proxy_pid" 2>/dev/null && fail "proxy still running 10 s after SIGTERM"
wait "$proxy_pid" || fail "proxy exited with status $? after SIGTERM"
grep -q '^shutdown: sessions=10 refused=2 ' "$T/proxy.log" || fail "proxy shutdown line: $(tail -3 "$T/proxy.log")"
sessions=$(grep -c 'reputation=' "$T/proxy.log" || true)
((sessions == 8)) || fail "expected 8 session log lines, got $sessions"
grep -q '^127.0.0.3:[0-9]* reputation=good starttls=offered .*state=tls' "$T/proxy.log" || fail "no TLS session logged"
ok "proxy: 8 session lines + 2 refusals logged, exit 0 on SIGTERM: $(tail -1 "$T/proxy.log")"
say "all $passed checks passed"
