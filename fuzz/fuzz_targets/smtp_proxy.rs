#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| postern_smtp::__fuzz::proxy(data));
