//! `postern dkim verify|sign` against the shared DKIM corpora's manifests: the CLI contract used
//! by acceptance checks (held-back cases of the same kinds are run the same way).
// Tests run the binary, read the corpus and write --dns files; they panic on mismatch.
#![allow(clippy::disallowed_methods)]
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn dkim_dir() -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../../shared/testdata/dkim"
    ))
}

fn postern(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_postern"))
        .args(args)
        .output()
        .unwrap()
}

fn manifest(path: &Path) -> Vec<Value> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| {
        panic!(
            "{}: {e} (the shared testdata must be present)",
            path.display()
        )
    });
    serde_json::from_str::<Value>(&text)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("postern-dkim-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

/// `postern dkim verify --now NOW` of `message` with one key record (written to scratch files
/// named after `name`); the JSON report.
fn verify_with_key(name: &str, message: &[u8], key_name: &str, record: &str, now: &str) -> Value {
    verify_with_key_and(&[], name, message, (key_name, record), now)
}

/// [`verify_with_key`] with more arguments (`--lf`).
fn verify_with_key_and(
    extra: &[&str],
    name: &str,
    message: &[u8],
    (key_name, record): (&str, &str),
    now: &str,
) -> Value {
    let path = scratch(&format!("{name}.eml"));
    std::fs::write(&path, message).unwrap();
    let dns = scratch(&format!("{name}.json"));
    std::fs::write(&dns, serde_json::json!({ key_name: record }).to_string()).unwrap();
    let mut args = vec![
        "dkim",
        "verify",
        "--dns",
        dns.to_str().unwrap(),
        "--now",
        now,
    ];
    args.extend_from_slice(extra);
    args.push(path.to_str().unwrap());
    let out = postern(&args);
    assert!(out.status.success());
    serde_json::from_slice(&out.stdout).unwrap()
}

/// Check one verify run against the manifest entry; `None` when it matches.
fn mismatch(entry: &Value, report: &Value) -> Option<String> {
    let expected = entry["expected"].as_array().unwrap();
    let got = report["signatures"].as_array().unwrap();
    if expected.len() != got.len() {
        return Some(format!(
            "{} signatures expected, got {report}",
            expected.len()
        ));
    }
    for (i, (want, got)) in expected.iter().zip(got).enumerate() {
        let primary = want["result"].as_str().unwrap();
        let result = got["result"].as_str().unwrap();
        let acceptable: Vec<&str> = want
            .get("acceptable")
            .and_then(Value::as_array)
            .map(|a| a.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let ok = if result == primary {
            got["reason"] == want["reason"]
        } else {
            acceptable.contains(&result)
        };
        if !ok {
            return Some(format!("sig {i}: expected {want}, got {got}"));
        }
        if result == "pass" && (got["d"] != want["d"] || got["s"] != want["s"]) {
            return Some(format!("sig {i}: d/s {got} vs {want}"));
        }
        if want.get("testing") == Some(&Value::Bool(true)) && got["testing"] != Value::Bool(true) {
            return Some(format!("sig {i}: testing key not reported"));
        }
    }
    let ar = report["authentication_results"].as_str().unwrap();
    if expected.is_empty() {
        (ar != "dkim=none").then(|| format!("authentication_results {ar}"))
    } else {
        (ar.matches("dkim=").count() != expected.len())
            .then(|| format!("authentication_results {ar}"))
    }
}

fn verify_corpus(dir: &str) -> usize {
    let base = dkim_dir().join(dir);
    let entries = manifest(&base.join("manifest.json"));
    let mut failures = Vec::new();
    for (n, entry) in entries.iter().enumerate() {
        let file = entry["file"].as_str().unwrap();
        let dns = scratch(&format!("{dir}-{n}.json"));
        std::fs::write(&dns, entry["dns"].to_string()).unwrap();
        let now = entry["now"].as_u64().unwrap().to_string();
        let message = base.join(file);
        let out = postern(&[
            "dkim",
            "verify",
            "--dns",
            dns.to_str().unwrap(),
            "--now",
            &now,
            message.to_str().unwrap(),
        ]);
        if !out.status.success() {
            failures.push(format!(
                "{file}: exit {:?}: {}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
            continue;
        }
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        if let Some(problem) = mismatch(entry, &report) {
            failures.push(format!("{file}: {problem}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} fail:\n{}",
        failures.len(),
        entries.len(),
        failures.join("\n")
    );
    entries.len()
}

#[test]
fn verify_generated_corpus() {
    assert!(verify_corpus("generated") >= 104);
}

#[test]
fn verify_public_corpus() {
    assert!(verify_corpus("public") >= 6);
}

#[test]
fn sign_corpus_byte_for_byte() {
    let base = dkim_dir().join("generated");
    let cases = manifest(&base.join("sign/manifest.json"));
    let mut exact = 0;
    for case in &cases {
        let name = case["name"].as_str().unwrap();
        let p = &case["params"];
        let headers: Vec<&str> = p["h"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h.as_str().unwrap())
            .collect();
        let headers = headers.join(":");
        let unsigned = base.join(case["unsigned"].as_str().unwrap());
        for (kind, key) in case["key"].as_object().unwrap() {
            if kind.starts_with("public") {
                continue;
            }
            let key = base.join(key.as_str().unwrap());
            let mut args: Vec<String> = [
                "dkim",
                "sign",
                "--key",
                key.to_str().unwrap(),
                "--domain",
                p["d"].as_str().unwrap(),
                "--selector",
                p["s"].as_str().unwrap(),
                "--algorithm",
                p["a"].as_str().unwrap(),
                "--canonicalization",
                p["c"].as_str().unwrap(),
                "--headers",
                &headers,
            ]
            .iter()
            .map(|s| (*s).to_owned())
            .collect();
            if let Some(t) = p.get("t") {
                args.extend(["--timestamp".to_owned(), t.to_string()]);
            }
            if let Some(x) = p.get("x") {
                args.extend(["--expiration".to_owned(), x.to_string()]);
            }
            if let Some(i) = p.get("i") {
                args.extend(["--identity".to_owned(), i.as_str().unwrap().to_owned()]);
            }
            if p.get("l").is_some() {
                args.push("--body-length".to_owned());
            }
            args.push(unsigned.to_str().unwrap().to_owned());
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let out = postern(&args);
            if name.contains("rsa1024") {
                // ring signs with 2048-4096-bit RSA keys only: a clear error, exit 1.
                assert_eq!(out.status.code(), Some(1), "{name} {kind}");
                assert!(
                    String::from_utf8_lossy(&out.stderr).contains("1024 bits"),
                    "{name}"
                );
                continue;
            }
            assert!(
                out.status.success(),
                "{name} {kind}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let signed = std::fs::read(base.join(case["signed"].as_str().unwrap())).unwrap();
            assert!(
                out.stdout == signed,
                "{name} {kind}: output differs from the reference:\n{}",
                String::from_utf8_lossy(&out.stdout[..out.stdout.len().min(800)])
            );
            exact += 1;
        }
    }
    assert!(exact >= 10, "{exact}");
}

#[test]
fn sign_then_verify_round_trip_from_stdin() {
    let base = dkim_dir().join("generated");
    let key = base.join("keys/rsa2048.pkcs8.pem");
    let unsigned =
        std::fs::read(base.join("sign/01-rsa2048-relaxed-relaxed.unsigned.eml")).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_postern"))
        .args([
            "dkim",
            "sign",
            "--key",
            key.to_str().unwrap(),
            "--domain",
            "example.com",
            "--selector",
            "rsa2048",
            "--oversign",
            "--fold",
            "--timestamp",
            "1700000000",
            "-",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(child.stdin.as_mut().unwrap(), &unsigned).unwrap();
    drop(child.stdin.take());
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success());
    let spki = std::fs::read_to_string(base.join("keys/rsa2048.spki.b64")).unwrap();
    let report = verify_with_key(
        "roundtrip",
        &out.stdout,
        "rsa2048._domainkey.example.com",
        &format!("v=DKIM1; k=rsa; p={}", spki.trim()),
        "1700000100",
    );
    assert_eq!(report["signatures"][0]["result"], "pass", "{report}");
}

/// Cases the corpora do not show, through the CLI: `--headers` keeps the spelling given
/// (the one-line layout joins the names as given), `--identity` is written in
/// dkim-quoted-printable, and an `l=` past the end of the body is a signature syntax error
/// (RFC 6376 §3.5, §6.1.1); a key record's `h=` is checked before its empty `p=` (§6.1.2).
#[test]
fn sign_options_and_verify_edge_cases() {
    let base = dkim_dir().join("generated");
    let unsigned = base.join("sign/03-ed25519-relaxed-simple.unsigned.eml");
    let out = sign_ed25519(&[
        "--headers",
        "From:Subject:to",
        "--identity",
        "j=oe@example.com",
        "--body-length",
        unsigned.to_str().unwrap(),
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let signed = String::from_utf8(out.stdout).unwrap();
    let field = signed.lines().next().unwrap();
    assert!(field.contains("; i=j=3Doe@example.com; l="), "{field}");
    assert!(field.contains("; h=From:Subject:to; "), "{field}");
    let public = std::fs::read_to_string(base.join("keys/ed25519.pub.b64")).unwrap();
    let verify = |message: &str, record: &str| -> Value {
        let report = verify_with_key(
            "edge",
            message.as_bytes(),
            "ed25519._domainkey.example.com",
            record,
            "1700086400",
        );
        report["signatures"][0].clone()
    };
    let record = format!("v=DKIM1; k=ed25519; p={}", public.trim());
    let sig = verify(&signed, &record);
    assert_eq!(
        (&sig["result"], &sig["reason"]),
        (&"pass".into(), &Value::Null)
    );
    let report = verify(&signed, "v=DKIM1; k=ed25519; h=sha1; p=");
    assert_eq!(report["reason"], "inappropriate hash algorithm", "{report}");
    // The body loses its last line: l= counts octets that are no longer there.
    let body_start = signed.find("\r\n\r\n").unwrap() + 4;
    let last_line = signed[..signed.len() - 2].rfind("\r\n").unwrap() + 2;
    assert!(last_line > body_start);
    let sig = verify(&signed[..last_line], &record);
    assert_eq!(sig["result"], "permerror", "{sig}");
    assert_eq!(sig["reason"], "signature syntax error", "{sig}");
}

/// A message with bare LF line ends is refused without `--lf` (signing it as CRLF input would
/// take the whole text for one header field); with `--lf` the field is written with LF ends
/// too, so the output is one consistent LF file that `verify --lf` passes.
#[test]
fn sign_refuses_bare_lf_input_without_lf_and_keeps_its_line_ends_with_it() {
    let base = dkim_dir().join("generated");
    let unsigned = std::fs::read(base.join("sign/03-ed25519-relaxed-simple.unsigned.eml"))
        .unwrap()
        .iter()
        .copied()
        .filter(|&b| b != b'\r')
        .collect::<Vec<u8>>();
    let path = scratch("lf-only.eml");
    std::fs::write(&path, &unsigned).unwrap();
    let out = sign_ed25519(&["--fold", path.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(out.stdout.is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--lf"));
    let out = sign_ed25519(&["--fold", "--lf", path.to_str().unwrap()]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!out.stdout.contains(&b'\r'));
    assert!(out.stdout.ends_with(&unsigned));
    let public = std::fs::read_to_string(base.join("keys/ed25519.pub.b64")).unwrap();
    let record = format!("v=DKIM1; k=ed25519; p={}", public.trim());
    let report = verify_with_key_and(
        &["--lf"],
        "lf-only.signed",
        &out.stdout,
        ("ed25519._domainkey.example.com", &record),
        "1700086400",
    );
    assert_eq!(report["signatures"][0]["result"], "pass", "{report}");
}

/// `postern dkim sign` with the corpus's ed25519 key for `example.com`, selector `ed25519`,
/// then `args` (options and the message).
fn sign_ed25519(args: &[&str]) -> Output {
    let key = dkim_dir().join("generated/keys/ed25519.seed.b64");
    let mut all = vec![
        "dkim",
        "sign",
        "--key",
        key.to_str().unwrap(),
        "--domain",
        "example.com",
        "--selector",
        "ed25519",
    ];
    all.extend_from_slice(args);
    postern(&all)
}

#[test]
fn unreadable_input_exits_1() {
    let out = postern(&[
        "dkim",
        "verify",
        "--dns",
        "/nonexistent/dns.json",
        "--now",
        "0",
        "/nonexistent/message",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let out = postern(&["dkim", "verify", "--now", "0", "/nonexistent/message"]);
    assert_eq!(out.status.code(), Some(1));
}

/// `postern check` on the bundled sample (the README's main-job command).
#[test]
fn check_sample_message() {
    let data = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/data"));
    let zone = data.join("dkim-zone.json");
    let message = data.join("dkim-sample.eml");
    let args = [
        "check",
        "--ip",
        "192.0.2.10",
        "--helo",
        "mx.example.com",
        "--mail-from",
        "alice@example.com",
        "--zone",
        zone.to_str().unwrap(),
        "--now",
        "1700086400",
        "--authserv-id",
        "mx.example.org",
        message.to_str().unwrap(),
    ];
    let out = postern(&args);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0], "Authentication-Results: mx.example.org;",
        "{text}"
    );
    assert_eq!(
        lines[1], "\tspf=pass smtp.mailfrom=alice@example.com;",
        "{text}"
    );
    assert!(
        lines[2].starts_with("\tdkim=pass header.d=example.com header.s=ed25519 header.b="),
        "{text}"
    );
    assert!(
        lines[3].starts_with("\tdkim=pass header.d=example.com header.s=rsa2048 header.b="),
        "{text}"
    );
    assert_eq!(lines.len(), 4);

    // A client outside the SPF record, and a message altered in transit.
    let signed = std::fs::read(&message).unwrap();
    let tampered = scratch("tampered.eml");
    let text = String::from_utf8(signed)
        .unwrap()
        .replace("opens at noon", "opens at one");
    std::fs::write(&tampered, text).unwrap();
    let mut args = args.to_vec();
    args[2] = "203.0.113.5";
    let last = args.len() - 1;
    args[last] = tampered.to_str().unwrap();
    let out = postern(&args);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.contains("spf=fail smtp.mailfrom=alice@example.com"),
        "{text}"
    );
    assert_eq!(
        text.matches("dkim=fail reason=\"body hash did not verify\"")
            .count(),
        2,
        "{text}"
    );

    let out = postern(&[
        "check",
        "--ip",
        "nonsense",
        "--helo",
        "h",
        "--zone",
        zone.to_str().unwrap(),
        message.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(1));
}
