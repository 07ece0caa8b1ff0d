//! Differential tests of the offline zones loaded from RFC 1035 master files, each against an
//! independent reference driven by a Python script in `.ci/` that generates the zones:
//!
//! - `master_files_load_as_dnspython_loads_them`: the loader (`Zone::from_master_bytes`, and
//!   `Zone::from_master_bytes_with_includes` for the files with `$INCLUDE`) against
//!   dnspython's zone reader (`.ci/zone_oracle.py`, run by `.ci/zone-oracle.sh`). Both must
//!   agree on whether each file loads, on its owner names, and on the records of each owner
//!   (TXT and SPF data, addresses, MX preference and exchange, PTR and CNAME targets). Known
//!   differences, which the generator leaves out: this loader does not support `$GENERATE`,
//!   refuses DNAME, a `.` escaped inside a label, a CNAME or PTR to the root, a second CNAME
//!   at one name (as NSD and BIND do; dnspython keeps the last) and a blank owner before any
//!   owner of its file (dnspython takes the origin, or the including file's owner), does not
//!   need a TTL, and does not check the data of the types it skips. Tuned by
//!   `POSTERN_ZONE_ORACLE_CASES` (default 2000) and `POSTERN_ZONE_ORACLE_SEED`.
//! - `master_file_zones_answer_as_nsd_does`: the answers (`Zone::resolve_name`: wildcards,
//!   RFC 4592; empty non-terminals; CNAME chains) against NSD serving the same zones on
//!   loopback (`.ci/wildcard_oracle.py`, run by `.ci/wildcard-oracle.sh`). Every question must
//!   get the same answer: NXDOMAIN, NODATA, or the same records at the end of the CNAME chain.
//!   Tuned by `POSTERN_WILDCARD_ORACLE_ZONES` (default 200), `POSTERN_WILDCARD_ORACLE_QUERIES`
//!   (per zone, default 50) and `POSTERN_WILDCARD_ORACLE_SEED`.
//!
//! Each runs only when its variable (`POSTERN_ZONE_ORACLE`, `POSTERN_WILDCARD_ORACLE`) names a
//! Python interpreter with dnspython (the scripts reuse the SPF oracle's venv):
//!
//! ```sh
//! POSTERN_ZONE_ORACLE=/work/venv-spf/bin/python cargo test -p postern-dns --test zone_oracles -- --nocapture
//! ```
//!
//! Seeds default to fixed values, so runs are reproducible; a failure prints the seed and the
//! first zones that disagree.
// The tests run a child process and read environment variables; they may panic on mismatch.
#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fmt::Write as _;
use std::process::Command;

use postern_dns::{Answer, Entry, Name, Record, RecordType, Zone};
use serde_json::{Value, json};

/// The `.ci/` script `name`, for the interpreter in the environment variable `python`, or
/// `None` (and a note) when the variable is not set.
fn oracle(python: &str, name: &str) -> Option<(OsString, String)> {
    let Some(interpreter) = std::env::var_os(python) else {
        eprintln!("{python} is not set: skipped (see .ci/)");
        return None;
    };
    Some((
        interpreter,
        format!("{}/../../.ci/{name}", env!("CARGO_MANIFEST_DIR")),
    ))
}

/// Runs the oracle script with `args`; its JSON lines.
fn run(interpreter: &OsString, script: &str, args: &[&str]) -> Vec<Value> {
    let out = Command::new(interpreter)
        .arg(script)
        .args(args)
        .output()
        .expect("run the oracle");
    assert!(
        out.status.success(),
        "{script} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|line| serde_json::from_str(line).unwrap())
        .collect();
    assert!(!lines.is_empty(), "{script} printed nothing");
    lines
}

/// Fails with the first disagreements, if any.
fn assert_agree(seed: &str, total: usize, failures: &[String]) {
    assert!(
        failures.is_empty(),
        "seed {seed}: {} of {total} disagree; the first:\n{}",
        failures.len(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}

fn var(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.into())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut out, b| {
        let _ = write!(out, "{b:02x}");
        out
    })
}

fn unhex(text: &str) -> Vec<u8> {
    text.as_bytes()
        .chunks(2)
        .map(|pair| u8::from_str_radix(core::str::from_utf8(pair).unwrap(), 16).unwrap())
        .collect()
}

/// A record in the scripts' canonical form: "TXT <hex>", "A <address>", "AAAA <hex>",
/// "MX <preference> <exchange or .>", "PTR <name>".
fn canonical_record(record: &Record) -> String {
    match record {
        Record::Txt(data) => format!("TXT {}", hex(data)),
        Record::A(ip) => format!("A {ip}"),
        Record::Aaaa(ip) => format!("AAAA {}", hex(&ip.octets())),
        Record::Mx {
            preference,
            exchange,
        } => format!(
            "MX {preference} {}",
            exchange.as_ref().map_or(".", Name::as_str)
        ),
        Record::Ptr(name) => format!("PTR {}", name.as_str()),
        other => format!("{other:?}"),
    }
}

/// An entry in `.ci/zone_oracle.py`'s canonical form.
fn canonical_entry(entry: &Entry) -> String {
    match entry {
        Entry::Record(record) => canonical_record(record),
        Entry::Spf(data) => format!("SPF {}", hex(data)),
        Entry::Cname(name) => format!("CNAME {}", name.as_str()),
        other => format!("{other:?}"),
    }
}

/// What this loader made of `zone` for the owners dnspython names, or its error; `None` for
/// an agreement.
fn load_disagreement(
    zone: &[u8],
    includes: &BTreeMap<String, Vec<u8>>,
    dnspython: &Value,
) -> Option<String> {
    let ours = if includes.is_empty() {
        Zone::from_master_bytes(zone, None)
    } else {
        Zone::from_master_bytes_with_includes(zone, None, |file| {
            includes
                .get(file)
                .cloned()
                .ok_or_else(|| format!("no file {file}"))
        })
    };
    let theirs = match (dnspython.get("error"), &ours) {
        (Some(_), Err(_)) => return None,
        (Some(error), Ok(_)) => return Some(format!("dnspython refuses ({error}); we load it")),
        (None, Err(error)) => return Some(format!("we refuse ({error}); dnspython loads it")),
        (None, Ok(_)) => dnspython["records"].as_object().unwrap(),
    };
    let zone = ours.unwrap();
    let mut differ = BTreeMap::new();
    for (owner, records) in theirs {
        let expected: Vec<&str> = records
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r.as_str().unwrap())
            .collect();
        let Ok(name) = Name::new(owner) else {
            if !expected.is_empty() {
                differ.insert(owner.clone(), format!("{expected:?} vs not a name here"));
            }
            continue;
        };
        let Some(entries) = zone.entries(&name) else {
            differ.insert(owner.clone(), "an owner in dnspython, not here".into());
            continue;
        };
        let mut got: Vec<String> = entries.iter().map(canonical_entry).collect();
        got.sort();
        got.dedup();
        if got != expected {
            differ.insert(owner.clone(), format!("dnspython {expected:?}, we {got:?}"));
        }
    }
    if zone.len() != theirs.len() {
        differ.insert(
            "(owners)".into(),
            format!("dnspython {}, we {}", theirs.len(), zone.len()),
        );
    }
    (!differ.is_empty()).then(|| format!("{differ:#?}"))
}

/// An answer in `.ci/wildcard_oracle.py`'s form.
fn canonical_answer(answer: &Answer) -> Value {
    match answer {
        Answer::NxDomain => json!("NXDOMAIN"),
        Answer::NoData => json!("NODATA"),
        Answer::TempFail => json!("TEMPFAIL"),
        Answer::Records(records) => {
            let mut list: Vec<String> = records.iter().map(canonical_record).collect();
            list.sort();
            list.dedup();
            json!(list)
        }
    }
}

#[test]
fn master_files_load_as_dnspython_loads_them() {
    let Some((python, script)) = oracle("POSTERN_ZONE_ORACLE", "zone_oracle.py") else {
        return;
    };
    let seed = var("POSTERN_ZONE_ORACLE_SEED", "7208");
    let cases = var("POSTERN_ZONE_ORACLE_CASES", "2000");
    let (mut total, mut with_includes, mut refused) = (0usize, 0usize, 0usize);
    let mut failures = Vec::new();
    for case in run(&python, &script, &[&seed, &cases]) {
        let zone = unhex(case["zone"].as_str().unwrap());
        let includes: BTreeMap<String, Vec<u8>> = case["includes"]
            .as_object()
            .map(|files| {
                files
                    .iter()
                    .map(|(name, hex)| (name.clone(), unhex(hex.as_str().unwrap())))
                    .collect()
            })
            .unwrap_or_default();
        total += 1;
        with_includes += usize::from(!includes.is_empty());
        refused += usize::from(case["dnspython"].get("error").is_some());
        if let Some(why) = load_disagreement(&zone, &includes, &case["dnspython"]) {
            let mut files = format!("--- zone:\n{}", String::from_utf8_lossy(&zone));
            for (name, body) in &includes {
                let _ = write!(files, "--- {name}:\n{}", String::from_utf8_lossy(body));
            }
            failures.push(format!("{files}--- {why}"));
        }
    }
    eprintln!(
        "zone oracle seed {seed}: {total} master files ({with_includes} with $INCLUDE, {refused} refused by dnspython), {} disagreements",
        failures.len()
    );
    assert_agree(&seed, total, &failures);
}

#[test]
fn master_file_zones_answer_as_nsd_does() {
    let Some((python, script)) = oracle("POSTERN_WILDCARD_ORACLE", "wildcard_oracle.py") else {
        return;
    };
    let seed = var("POSTERN_WILDCARD_ORACLE_SEED", "4592");
    let zones = var("POSTERN_WILDCARD_ORACLE_ZONES", "200");
    let queries = var("POSTERN_WILDCARD_ORACLE_QUERIES", "50");
    let (mut total, mut from_records, mut failures) = (0usize, 0usize, Vec::new());
    for case in run(&python, &script, &[&seed, &zones, &queries]) {
        let text = case["zone"].as_str().unwrap();
        let zone = Zone::from_master_file(text, None).unwrap();
        let questions = case["queries"].as_array().unwrap();
        let answers = case["nsd"].as_array().unwrap();
        assert_eq!(questions.len(), answers.len());
        for (question, nsd) in questions.iter().zip(answers) {
            let name = Name::new(question[0].as_str().unwrap()).unwrap();
            let rtype = RecordType::from_mnemonic(question[1].as_str().unwrap()).unwrap();
            let ours = canonical_answer(&zone.resolve_name(&name, rtype));
            total += 1;
            from_records += usize::from(nsd.is_array());
            if &ours != nsd {
                failures.push(format!(
                    "--- zone:\n{text}--- {name} {rtype:?}: NSD {nsd}, we {ours}"
                ));
            }
        }
    }
    eprintln!(
        "wildcard oracle seed {seed}: {total} questions ({from_records} answered with records), {} disagreements",
        failures.len()
    );
    assert_agree(&seed, total, &failures);
}
