//! Differential test of the answers of master-file zones (wildcards, RFC 4592; empty
//! non-terminals; CNAME chains) against NSD, an authoritative server, through
//! `.ci/wildcard_oracle.py`, which generates the zones, serves them from NSD on loopback and
//! records its answers.
//!
//! Runs only when `POSTERN_WILDCARD_ORACLE` names a Python interpreter with dnspython and
//! `nsd` is installed (see `.ci/wildcard-oracle.sh`, which installs it):
//!
//! ```sh
//! POSTERN_WILDCARD_ORACLE=/work/venv-spf/bin/python cargo test -p postern-dns --test wildcard_oracle -- --nocapture
//! ```
//!
//! Every question must get the same answer from `Zone::resolve_name` as from NSD: NXDOMAIN,
//! NODATA, or the same records at the end of the CNAME chain.
//! `POSTERN_WILDCARD_ORACLE_ZONES` (default 200), `POSTERN_WILDCARD_ORACLE_QUERIES` (per zone,
//! default 50) and `POSTERN_WILDCARD_ORACLE_SEED` (default fixed) tune the run.
// The test runs a child process and reads environment variables; it may panic on mismatch.
#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::fmt::Write as _;
use std::process::Command;

use postern_dns::{Answer, Name, Record, RecordType, Zone};
use serde_json::{Value, json};

const ORACLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.ci/wildcard_oracle.py");

/// An answer in the oracle's form (see `.ci/wildcard_oracle.py`).
fn canonical(answer: &Answer) -> Value {
    match answer {
        Answer::NxDomain => json!("NXDOMAIN"),
        Answer::NoData => json!("NODATA"),
        Answer::Records(records) => {
            let mut list: Vec<String> = records
                .iter()
                .map(|record| match record {
                    Record::Txt(data) => data.iter().fold("TXT ".to_owned(), |mut out, b| {
                        let _ = write!(out, "{b:02x}");
                        out
                    }),
                    Record::A(ip) => format!("A {ip}"),
                    Record::Mx {
                        preference,
                        exchange,
                    } => format!(
                        "MX {preference} {}",
                        exchange.as_ref().map_or(".", Name::as_str)
                    ),
                    other => format!("{other:?}"),
                })
                .collect();
            list.sort();
            list.dedup();
            json!(list)
        }
        Answer::TempFail => json!("TEMPFAIL"),
    }
}

#[test]
fn master_file_zones_answer_as_nsd_does() {
    let Some(python) = std::env::var_os("POSTERN_WILDCARD_ORACLE") else {
        eprintln!("POSTERN_WILDCARD_ORACLE is not set: skipped (see .ci/wildcard-oracle.sh)");
        return;
    };
    let var = |name: &str, default: &str| std::env::var(name).unwrap_or_else(|_| default.into());
    let seed = var("POSTERN_WILDCARD_ORACLE_SEED", "4592");
    let zones = var("POSTERN_WILDCARD_ORACLE_ZONES", "200");
    let queries = var("POSTERN_WILDCARD_ORACLE_QUERIES", "50");
    let out = Command::new(python)
        .args([ORACLE, &seed, &zones, &queries])
        .output()
        .expect("run the wildcard oracle");
    assert!(
        out.status.success(),
        "wildcard oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut total, mut from_records, mut failures) = (0usize, 0usize, Vec::new());
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let case: Value = serde_json::from_str(line).unwrap();
        let text = case["zone"].as_str().unwrap();
        let zone = Zone::from_master_file(text, None).unwrap();
        let questions = case["queries"].as_array().unwrap();
        let answers = case["nsd"].as_array().unwrap();
        assert_eq!(questions.len(), answers.len());
        for (question, nsd) in questions.iter().zip(answers) {
            let name = Name::new(question[0].as_str().unwrap()).unwrap();
            let rtype = RecordType::from_mnemonic(question[1].as_str().unwrap()).unwrap();
            let ours = canonical(&zone.resolve_name(&name, rtype));
            total += 1;
            from_records += usize::from(nsd.is_array());
            if &ours != nsd {
                failures.push(format!(
                    "--- zone:\n{text}--- {name} {rtype:?}: NSD {nsd}, we {ours}"
                ));
            }
        }
    }
    assert!(total > 0, "the oracle asked nothing");
    eprintln!(
        "wildcard oracle seed {seed}: {total} questions ({from_records} answered with records), {} disagreements",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "seed {seed}: {} of {total} answers differ; the first:\n{}",
        failures.len(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
