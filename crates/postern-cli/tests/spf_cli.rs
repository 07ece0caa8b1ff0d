//! `postern spf` against the example zones in `examples/data/`: results, JSON keys, header
//! quoting and exit statuses.
// Tests run the binary and panic on mismatch.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::process::{Command, Output};

use serde_json::Value;

const JSON_ZONE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/data/spf-zone.json"
);
const MASTER_ZONE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/data/spf-zone.zone"
);

fn postern(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_postern"))
        .arg("spf")
        .args(args)
        .output()
        .unwrap()
}

/// A fresh directory for one test's files (the process id keeps parallel runs apart).
fn scratch_dir(tag: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("postern-spf-cli-{tag}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Writes `contents` to `name` in `dir`; the file's path.
fn write_file(dir: &std::path::Path, name: &str, contents: impl AsRef<[u8]>) -> String {
    let path = dir.join(name);
    std::fs::write(&path, contents).unwrap();
    path.to_str().unwrap().to_owned()
}

fn check_json(zone: &str, ip: &str, mail_from: &str, helo: &str) -> Value {
    let out = postern(&[
        "--ip",
        ip,
        "--mail-from",
        mail_from,
        "--helo",
        helo,
        "--zone",
        zone,
        "--json",
    ]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Runs a check with the zone file `zone`, which must be refused: exit 1, with a message
/// holding every one of `needles`.
fn assert_zone_refused(zone: &str, needles: &[&str]) {
    let out = postern(&["--ip", "192.0.2.1", "--helo", "h", "--zone", zone]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{zone}: {stderr}");
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "{zone}: {needle:?} not in {stderr}"
        );
    }
}

#[test]
fn json_has_every_key() {
    let v = check_json(JSON_ZONE, "203.0.113.5", "a@example.com", "mx.example.com");
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    let mut want = vec![
        "result",
        "explanation",
        "mechanism",
        "dns_lookups",
        "void_lookups",
        "received_spf",
        "authentication_results",
    ];
    want.sort_unstable();
    let mut keys = keys;
    keys.sort_unstable();
    assert_eq!(keys, want);
    assert_eq!(v["result"], "fail");
    assert_eq!(
        v["explanation"],
        "203.0.113.5 is not one of example.com's mail servers"
    );
    assert_eq!(v["mechanism"], "-all");
    assert_eq!(v["dns_lookups"], 2);
    assert_eq!(v["void_lookups"], 0);
    assert_eq!(
        v["authentication_results"],
        "spf=fail smtp.mailfrom=a@example.com"
    );
    let received = v["received_spf"].as_str().unwrap();
    assert!(received.starts_with("fail ("), "{received}");
    assert!(received.contains("client-ip=203.0.113.5;"), "{received}");
    assert!(received.contains("identity=mailfrom"), "{received}");
}

#[test]
fn results_from_the_example_zone() {
    for (ip, mail_from, helo, result, mechanism) in [
        (
            "192.0.2.10",
            "a@example.com",
            "mx.example.com",
            "pass",
            Some("mx"),
        ),
        (
            "198.51.100.7",
            "a@example.com",
            "mx.example.com",
            "pass",
            Some("include:_spf.example.com"),
        ),
        (
            "2001:db8:100::1",
            "a@example.com",
            "mx.example.com",
            "pass",
            Some("include:_spf.example.com"),
        ),
        (
            "::ffff:192.0.2.10",
            "a@example.com",
            "mx.example.com",
            "pass",
            Some("mx"),
        ),
        (
            "2001:db8::10",
            "",
            "mail.example.com",
            "pass",
            Some("a:www.example.com"),
        ),
        (
            "203.0.113.1",
            "alice@soft.example.org",
            "h.example",
            "pass",
            Some("exists:%{l}.%{ir}.allow.example.org"),
        ),
        (
            "203.0.113.2",
            "alice@soft.example.org",
            "h.example",
            "softfail",
            Some("~all"),
        ),
        (
            "192.0.2.1",
            "a@broken.example.org",
            "h.example",
            "permerror",
            None,
        ),
        (
            "192.0.2.1",
            "a@slow.example.org",
            "h.example",
            "temperror",
            None,
        ),
        (
            "192.0.2.1",
            "a@plain.example.org",
            "h.example",
            "none",
            None,
        ),
        (
            "192.0.2.1",
            "a@nowhere.example.org",
            "h.example",
            "none",
            None,
        ),
    ] {
        let v = check_json(JSON_ZONE, ip, mail_from, helo);
        assert_eq!(v["result"], result, "{ip} {mail_from}: {v}");
        assert_eq!(v["mechanism"].as_str(), mechanism, "{ip} {mail_from}: {v}");
        assert_eq!(v["explanation"], Value::Null);
    }
}

#[test]
fn master_file_gives_the_same_answers() {
    for (ip, mail_from) in [
        ("192.0.2.10", "a@example.com"),
        ("203.0.113.5", "b@example.com"),
        ("198.51.100.200", "c@example.com"),
        ("2001:db8:100::9", "d@example.com"),
        ("2001:db8:200::9", "e@example.com"),
    ] {
        let json = check_json(JSON_ZONE, ip, mail_from, "mx.example.com");
        let master = check_json(MASTER_ZONE, ip, mail_from, "mx.example.com");
        assert_eq!(json, master, "{ip}");
    }
}

#[test]
fn helo_identity() {
    let out = postern(&[
        "--ip",
        "192.0.2.10",
        "--helo",
        "mail.example.com",
        "--identity",
        "helo",
        "--zone",
        JSON_ZONE,
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["result"], "pass");
    assert_eq!(
        v["authentication_results"],
        "spf=pass smtp.helo=mail.example.com"
    );
    assert!(
        v["received_spf"]
            .as_str()
            .unwrap()
            .contains("identity=helo")
    );
}

#[test]
fn text_output() {
    let out = postern(&[
        "--ip",
        "192.0.2.10",
        "--mail-from",
        "a@example.com",
        "--helo",
        "mx.example.com",
        "--zone",
        JSON_ZONE,
    ]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert_eq!(text.lines().count(), 1);
    assert!(text.starts_with("pass "), "{text}");
    assert!(text.contains("mechanism=mx"), "{text}");
}

#[test]
fn hostile_helo_cannot_inject_headers() {
    let helo = "x.example\r\nX-Injected: yes\" (\\";
    let mail_from = "evil\"\r\nBcc: victim@example.net@example.com";
    let v = check_json(JSON_ZONE, "203.0.113.5", mail_from, helo);
    for key in ["received_spf", "authentication_results"] {
        let header = v[key].as_str().unwrap();
        assert!(
            !header.contains('\r') && !header.contains('\n'),
            "{key}: {header:?}"
        );
        assert!(!header.contains("\nX-Injected"), "{key}: {header:?}");
    }
    let received = v["received_spf"].as_str().unwrap();
    assert!(
        received.contains(r#"helo="x.example??X-Injected: yes\" (\\""#),
        "{received}"
    );
    let ar = v["authentication_results"].as_str().unwrap();
    assert!(
        ar.starts_with("spf=fail smtp.mailfrom=\"evil\\\"??Bcc:"),
        "{ar}"
    );
}

#[test]
fn bad_input_exits_1() {
    let out = postern(&["--ip", "192.0.2.300", "--helo", "h", "--zone", JSON_ZONE]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("bad --ip"));

    let dir = scratch_dir("bad-input");
    for (name, text, needle) in [
        (
            "bad.json",
            "{\"a.example\": [{\"type\": \"A\", \"value\": \"1.2.3\"}]}",
            "bad IPv4 address",
        ),
        ("syntax.json", "{\"a.example\": [", "line 1"),
        ("bad.zone", "a.example. IN TXT \"unterminated\n", "line 1"),
    ] {
        assert_zone_refused(&write_file(&dir, name, text), &["bad zone file", needle]);
    }
    assert_zone_refused(
        dir.join("missing.json").to_str().unwrap(),
        &["cannot read zone file"],
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn usage_errors_exit_2() {
    for args in [
        &["--ip", "192.0.2.1", "--helo", "h"][..],
        &[
            "--ip",
            "192.0.2.1",
            "--helo",
            "h",
            "--zone",
            JSON_ZONE,
            "--dns",
            "system",
        ],
        &[
            "--ip",
            "192.0.2.1",
            "--helo",
            "h",
            "--zone",
            JSON_ZONE,
            "--identity",
            "rcpt",
        ],
        &["--ip", "192.0.2.1", "--helo", "h", "--dns", "google"],
        &["--helo", "h", "--zone", JSON_ZONE],
    ] {
        let out = postern(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

#[test]
fn master_file_with_soa_and_ns_records() {
    let dir = scratch_dir("soa");
    let zone = &write_file(
        &dir,
        "soa.zone",
        "$ORIGIN example.com.\n$TTL 1h\n@ IN SOA ns1 hostmaster (\n  2024010101 ; serial\n  3600 900 604800 300 )\n  IN NS ns1\n  IN NS ns2.example.net.\n  IN TXT \"v=spf1 a:ns1.example.com -all\"\nns1 IN A 192.0.2.53\n",
    );
    let v = check_json(zone, "192.0.2.53", "a@example.com", "mx.example.com");
    assert_eq!(v["result"], "pass", "{v}");
    let v = check_json(zone, "192.0.2.54", "a@example.com", "mx.example.com");
    assert_eq!(v["result"], "fail", "{v}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn identities_that_start_with_a_hyphen_are_values_not_options() {
    // `-lead@example.com` is a legal local part (RFC 5321 §4.1.2) and `-` may start a HELO
    // argument a client sends; both are checked, not read as options.
    let v = check_json(
        JSON_ZONE,
        "203.0.113.5",
        "-lead@example.com",
        "-odd.example.com",
    );
    assert_eq!(v["result"], "fail");
    assert_eq!(
        v["authentication_results"],
        "spf=fail smtp.mailfrom=-lead@example.com"
    );
}

#[test]
fn master_files_may_hold_octets_that_are_not_utf8_in_their_strings() {
    // A Latin-1 TXT beside the SPF record, and a Latin-1 explanation: the file loads (RFC
    // 1035 §5.1 allows any octet in a character-string). The other TXT is not an SPF record,
    // and an explanation outside US-ASCII is not an explain-string (RFC 7208 §6.2), so it is
    // ignored: a fail without explanation.
    let dir = scratch_dir("latin1");
    let zone = &write_file(
        &dir,
        "latin1.zone",
        b"$ORIGIN example.com.\n@ TXT \"v=spf1 ip4:192.0.2.0/24 -all exp=why.%{d}\"\n  TXT \"caf\xe9 verification\"\nwhy TXT \"%{i} n'est pas autoris\xe9\"\n",
    );
    let v = check_json(zone, "192.0.2.1", "a@example.com", "mx.example.com");
    assert_eq!(v["result"], "pass", "{v}");
    let v = check_json(zone, "198.51.100.1", "a@example.com", "mx.example.com");
    assert_eq!(v["result"], "fail", "{v}");
    assert!(v["explanation"].is_null(), "{v}");

    // A JSON zone must be UTF-8: refused with exit 1 and a message.
    let json = write_file(
        &dir,
        "latin1.json",
        b"{\"example.com\": [\"v=spf1 -all caf\xe9\"]}",
    );
    assert_zone_refused(&json, &["bad zone file", "UTF-8"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn master_file_wildcards_answer_as_an_authoritative_server_does() {
    // `*.example.com` answers every name below example.com that the file does not have
    // (RFC 4592): the usual record that stops subdomains from being used as senders.
    let dir = scratch_dir("wildcard");
    let zone = &write_file(
        &dir,
        "wildcard.zone",
        "$ORIGIN example.com.\n@ TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n* TXT \"v=spf1 -all\"\nmail A 192.0.2.1\n",
    );
    let v = check_json(zone, "192.0.2.1", "a@host.example.com", "mx.example.net");
    assert_eq!(v["result"], "fail", "{v}");
    assert_eq!(v["mechanism"], "-all", "{v}");
    let v = check_json(zone, "192.0.2.1", "a@example.com", "mx.example.net");
    assert_eq!(v["result"], "pass", "{v}");
    // A name the file has is not answered from the wildcard: no SPF record there.
    let v = check_json(zone, "192.0.2.1", "a@mail.example.com", "mx.example.net");
    assert_eq!(v["result"], "none", "{v}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn master_files_of_real_zones_load_as_their_servers_serve_them() {
    // A signed zone with the records a domain has besides mail (CAA, SRV, DNSSEC), and an
    // SPF record written twice: a server sends it once (RFC 2181 §5), so SPF sees one record.
    let dir = scratch_dir("realzone");
    let zone = &write_file(
        &dir,
        "example.com.zone",
        "$ORIGIN example.com.\n$TTL 3600\n\
         @ SOA ns1 hostmaster ( 2026112501 7200 3600 1209600 300 )\n\
         \x20 NS ns1\n\
         \x20 CAA 0 issue \"letsencrypt.org\"\n\
         \x20 DNSKEY 257 3 13 mdsswUyr3DPW132mOi8V9xESWE8jTo0dxCjjnopKl+GqJxpVXckHAeF+KkxLbxILfDLUT0rAK9iUzy1L53eKGQ==\n\
         \x20 RRSIG DNSKEY 13 2 3600 20261225000000 20261125000000 12345 example.com. AAAA\n\
         \x20 TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n\
         \x20 TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n\
         \x20 NSEC _sip._tcp.example.com. NS SOA TXT CAA RRSIG NSEC DNSKEY\n\
         _sip._tcp SRV 10 5 5060 sip\n\
         ns1 A 192.0.2.53\n",
    );
    let v = check_json(zone, "192.0.2.1", "a@example.com", "mx.example.net");
    assert_eq!(v["result"], "pass", "{v}");
    // A CNAME beside other data is refused, as authoritative servers refuse the file.
    let bad = &write_file(
        &dir,
        "bad.zone",
        "$ORIGIN example.com.\nwww CNAME @\nwww TXT \"v=spf1 -all\"\n",
    );
    assert_zone_refused(bad, &["line 3", "CNAME and other data"]);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn master_file_includes_are_read_beside_the_zone_file() {
    let dir = scratch_dir("include");
    write_file(&dir, "spf.inc", "@ TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n");
    let zone = &write_file(
        &dir,
        "example.com.zone",
        "$ORIGIN example.com.\n@ TXT \"v=spf1 include:_spf.example.com -all\"\n$INCLUDE spf.inc _spf\n",
    );
    let v = check_json(zone, "192.0.2.1", "a@example.com", "mx.example.net");
    assert_eq!(v["result"], "pass", "{v}");
    let missing = &write_file(&dir, "missing.zone", "$INCLUDE nowhere.inc\n");
    assert_zone_refused(missing, &["line 1: $INCLUDE nowhere.inc:"]);
    std::fs::remove_dir_all(&dir).unwrap();
}
