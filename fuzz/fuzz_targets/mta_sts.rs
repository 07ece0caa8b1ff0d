#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| postern_policy::__fuzz::mta_sts(data));
