#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| postern_spf::__fuzz::spf_eval(data));
