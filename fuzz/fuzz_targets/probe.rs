//! Probe arbitrary bytes with both engines.
#![no_main]
use audiotap_fuzz::{media::Engine, probe_one, scratch_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = scratch_file("probe.in", data);
    probe_one(&p, Engine::Symphonia);
    probe_one(&p, Engine::Ffmpeg);
});
