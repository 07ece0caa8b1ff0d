#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| postern_dns::__fuzz::dns_zone(data));
