//! Benchmarks live in `benches/`; this library holds what they share with
//! `benches/compare/`.

pub mod spf_cases;
