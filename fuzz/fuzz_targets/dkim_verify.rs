#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| postern_dkim::__fuzz::verify(data));
