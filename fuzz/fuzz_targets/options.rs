//! Output options from arbitrary input: the JSON and query-string parsers, validation, and
//! every combination that validates run through the engine on a real clip (WAV, AAC in MP4,
//! or 32-bit float PCM in MOV).
#![no_main]
use audiotap_fuzz::media::{Codec, Engine, Format, OutputSpec, SampleFormat};
use audiotap_fuzz::{extract_one, scratch_file};
use libfuzzer_sys::arbitrary::{Arbitrary, Result, Unstructured};
use libfuzzer_sys::fuzz_target;
use std::path::PathBuf;
use std::sync::OnceLock;

const CLIPS: [(&str, &[u8]); 3] = [
    (
        "clip.wav",
        include_bytes!("../../fixtures/media/wav_pcm_s16le.wav"),
    ),
    (
        "clip.mp4",
        include_bytes!("../../fixtures/media/mp4_aac.mp4"),
    ),
    (
        "clip.mov",
        include_bytes!("../../fixtures/media/mov_pcm_f32le.mov"),
    ),
];

fn clips() -> &'static Vec<PathBuf> {
    static P: OnceLock<Vec<PathBuf>> = OnceLock::new();
    P.get_or_init(|| CLIPS.iter().map(|(n, b)| scratch_file(n, b)).collect())
}

fn pick<T: Copy>(u: &mut Unstructured, xs: &[T]) -> Result<T> {
    Ok(xs[usize::from(u8::arbitrary(u)?) % xs.len()])
}

fn opt<T>(
    u: &mut Unstructured,
    f: impl FnOnce(&mut Unstructured) -> Result<T>,
) -> Result<Option<T>> {
    Ok(if bool::arbitrary(u)? {
        Some(f(u)?)
    } else {
        None
    })
}

fn secs(u: &mut Unstructured) -> Result<f64> {
    Ok(match u8::arbitrary(u)? % 4 {
        0 => f64::arbitrary(u)?,
        _ => f64::from(u16::arbitrary(u)?) / 16384.0,
    })
}

fn spec(u: &mut Unstructured) -> Result<OutputSpec> {
    Ok(OutputSpec {
        format: pick(u, &[Format::Wav, Format::M4a])?,
        sample_rate: opt(u, |u| match u8::arbitrary(u)? % 3 {
            0 => u32::arbitrary(u),
            _ => pick(
                u,
                &[
                    8000, 11025, 16000, 22050, 44100, 48000, 96000, 1000, 7919, 384_000,
                ],
            ),
        })?,
        bit_depth: opt(u, |u| pick(u, &[8, 16, 24, 32, 0, 12, 64]))?,
        sample_format: opt(u, |u| pick(u, &[SampleFormat::Int, SampleFormat::Float]))?,
        channels: opt(u, |u| Ok(u16::from(u8::arbitrary(u)? % 10)))?,
        track: opt(u, |u| Ok(usize::from(u8::arbitrary(u)? % 3)))?,
        language: opt(u, |u| Ok(String::arbitrary(u)?.chars().take(8).collect()))?,
        start: opt(u, secs)?,
        duration: opt(u, secs)?,
        codec: pick(
            u,
            &[
                Codec::Auto,
                Codec::Copy,
                Codec::Aac,
                Codec::Alac,
                Codec::Pcm,
            ],
        )?,
        bitrate: opt(u, |u| match bool::arbitrary(u)? {
            true => u32::arbitrary(u),
            false => pick(u, &[32_000, 64_000, 128_000, 320_000]),
        })?,
        engine: pick(u, &[Engine::Auto, Engine::Symphonia, Engine::Ffmpeg])?,
    })
}

fuzz_target!(|data: &[u8]| {
    // The parsers the API and the query string use.
    if let Ok(s) = serde_json::from_slice::<OutputSpec>(data) {
        let _ = s.validate();
    }
    if let Ok(text) = std::str::from_utf8(data)
        && let Ok(s) = serde_urlencoded::from_str::<OutputSpec>(text)
    {
        let _ = s.validate();
    }
    let mut u = Unstructured::new(data);
    let Ok(which) = u8::arbitrary(&mut u) else {
        return;
    };
    let Ok(spec) = spec(&mut u) else { return };
    if spec.validate().is_ok() {
        extract_one(&clips()[usize::from(which) % CLIPS.len()], &spec);
    }
});
