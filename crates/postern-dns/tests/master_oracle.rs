//! Differential test of the RFC 1035 master-file loader (`Zone::from_master_bytes`) against
//! dnspython's zone reader, through `.ci/zone_oracle.py`, which generates the files and says
//! what dnspython loaded from each.
//!
//! Runs only when `POSTERN_ZONE_ORACLE` names a Python interpreter with dnspython (see
//! `.ci/zone-oracle.sh`, which reuses the SPF oracle's venv):
//!
//! ```sh
//! POSTERN_ZONE_ORACLE=/work/venv-spf/bin/python cargo test -p postern-dns --test master_oracle -- --nocapture
//! ```
//!
//! For every file, both loaders must agree on whether it loads, and on the records of each
//! owner dnspython has (TXT and SPF data, addresses, MX preference and exchange, PTR and CNAME
//! targets). `POSTERN_ZONE_ORACLE_CASES` (default 2000) and `POSTERN_ZONE_ORACLE_SEED` (default
//! fixed) tune the run; a failure prints the seed and the first files that disagree.
//!
//! Known differences, which the generator leaves out: this loader supports fewer directives
//! (`$INCLUDE`, `$GENERATE`) and record types than dnspython, refuses a `.` escaped inside a
//! label, and keeps a CNAME beside other data (as the JSON zone format does) where dnspython
//! refuses the file.
// The test runs a child process and reads environment variables; it may panic on mismatch.
#![allow(
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic
)]

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::process::Command;

use postern_dns::{Entry, Name, Record, Zone};
use serde_json::Value;

const ORACLE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.ci/zone_oracle.py");

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

/// An entry in the oracle's canonical form (see `.ci/zone_oracle.py`).
fn canonical(entry: &Entry) -> String {
    match entry {
        Entry::Record(Record::Txt(data)) => format!("TXT {}", hex(data)),
        Entry::Spf(data) => format!("SPF {}", hex(data)),
        Entry::Record(Record::A(ip)) => format!("A {}", hex(&ip.octets())),
        Entry::Record(Record::Aaaa(ip)) => format!("AAAA {}", hex(&ip.octets())),
        Entry::Record(Record::Mx {
            preference,
            exchange,
        }) => format!(
            "MX {preference} {}",
            exchange.as_ref().map_or(".", Name::as_str)
        ),
        Entry::Record(Record::Ptr(name)) => format!("PTR {}", name.as_str()),
        Entry::Cname(name) => format!("CNAME {}", name.as_str()),
        other => format!("{other:?}"),
    }
}

/// What this loader made of `zone` for the owners dnspython names, or its error; `None` for
/// an agreement.
fn disagreement(zone: &[u8], dnspython: &Value) -> Option<String> {
    let ours = Zone::from_master_bytes(zone, None);
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
        let mut got: Vec<String> = zone
            .entries(&name)
            .unwrap_or_default()
            .iter()
            .map(canonical)
            .collect();
        got.sort();
        got.dedup();
        if got != expected {
            differ.insert(owner.clone(), format!("dnspython {expected:?}, we {got:?}"));
        }
    }
    (!differ.is_empty()).then(|| format!("{differ:#?}"))
}

#[test]
fn master_files_load_as_dnspython_loads_them() {
    let Some(python) = std::env::var_os("POSTERN_ZONE_ORACLE") else {
        eprintln!("POSTERN_ZONE_ORACLE is not set: skipped (see .ci/zone-oracle.sh)");
        return;
    };
    let cases = std::env::var("POSTERN_ZONE_ORACLE_CASES").unwrap_or_else(|_| "2000".into());
    let seed = std::env::var("POSTERN_ZONE_ORACLE_SEED").unwrap_or_else(|_| "7208".into());
    let out = Command::new(python)
        .args([ORACLE, &seed, &cases])
        .output()
        .expect("run the zone oracle");
    assert!(
        out.status.success(),
        "zone oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (mut total, mut refused, mut failures) = (0usize, 0usize, Vec::new());
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let case: Value = serde_json::from_str(line).unwrap();
        let zone = unhex(case["zone"].as_str().unwrap());
        total += 1;
        refused += usize::from(case["dnspython"].get("error").is_some());
        if let Some(why) = disagreement(&zone, &case["dnspython"]) {
            failures.push(format!(
                "--- zone:\n{}--- {why}",
                String::from_utf8_lossy(&zone)
            ));
        }
    }
    assert!(total > 0, "the oracle generated no zones");
    eprintln!(
        "zone oracle seed {seed}: {total} master files ({refused} refused by dnspython), {} disagreements",
        failures.len()
    );
    assert!(
        failures.is_empty(),
        "seed {seed}: {} of {total} files disagree; the first:\n{}",
        failures.len(),
        failures
            .iter()
            .take(5)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n")
    );
}
