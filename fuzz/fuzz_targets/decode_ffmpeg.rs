//! Demux and decode arbitrary bytes with the Ffmpeg engine into a WAV (the whole extract path:
//! probe, decode, dsp, writer), then the same into an M4A (copy or encode).
#![no_main]
use audiotap_fuzz::media::{Engine, Format, OutputSpec};
use audiotap_fuzz::{extract_one, scratch_file};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let p = scratch_file("decode.in", data);
    let mut spec = OutputSpec {
        engine: Engine::Ffmpeg,
        ..OutputSpec::default()
    };
    extract_one(&p, &spec);
    spec.format = Format::M4a;
    extract_one(&p, &spec);
});
