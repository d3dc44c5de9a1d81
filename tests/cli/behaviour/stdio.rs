//! Standard input and output: `-` as the input or the output, alone or both, equal to the
//! same extraction from and to files.

use super::{file_output, s};
use crate::support::*;

#[test]
fn stdin_input_matches_file_input() {
    // Matroska streams; an MP4 with its moov at the end needs the input spooled.
    for name in ["mkv_aac.mkv", "mp4_aac.mp4", "ts_aac.ts"] {
        let f = fixture(name);
        let dir = tmpdir();
        let out = dir.path().join("o.wav");
        let bytes = std::fs::read(&f.path).unwrap();
        let r = audiotap_opts(
            ["extract", "-", "-o", &s(&out)],
            Some(bytes),
            DEFAULT_TIMEOUT,
        );
        assert!(r.success(), "{name} from stdin: {}", r.describe());
        let a = read_wav(&out).unwrap();
        let b = file_output(f);
        assert_eq!(a.header(), b.header(), "{name}");
        assert!(
            a.raw == b.raw,
            "{name}: stdin output differs ({} vs {} frames)",
            a.frames,
            b.frames
        );
    }
}

#[test]
fn stdout_output_is_a_wav() {
    let f = fixture("mkv_aac.mkv");
    let r = audiotap(["extract", &s(&f.path), "-o", "-"]).ok();
    let b = &r.stdout;
    let (tag, ch, rate, bits, data, declared) = riff_info(b).expect("stdout is RIFF/WAVE");
    assert!(tag == 1 || tag == 0xFFFE, "format tag {tag:#x}");
    assert_eq!((ch, rate, bits), (2, 48000, 16));
    let payload = &b[data..];
    // A length the writer could not know in advance may be the streaming placeholder.
    assert!(
        declared as usize == payload.len() || declared == u32::MAX,
        "data chunk says {declared} bytes, {} follow",
        payload.len()
    );
    let file = file_output(f);
    let expected: Vec<u8> = file
        .raw
        .iter()
        .flat_map(|&x| (x as i16).to_le_bytes())
        .collect();
    assert!(
        payload == expected.as_slice(),
        "stdout samples differ from the file output"
    );
    if declared as usize == payload.len() {
        let w = read_wav_bytes(b).unwrap();
        assert_eq!(w.frames, file.frames);
    }
    // Nothing but the WAV on stdout, nothing on stderr.
    assert!(r.stderr.trim().is_empty(), "stderr: {}", r.stderr);
}

#[test]
fn stdin_to_stdout() {
    let f = fixture("ogg_vorbis.ogg");
    let r = audiotap_opts(
        [
            "extract",
            "-",
            "-o",
            "-",
            "--sample-rate",
            "16000",
            "--channels",
            "1",
        ],
        Some(std::fs::read(&f.path).unwrap()),
        DEFAULT_TIMEOUT,
    )
    .ok();
    let (_, ch, rate, bits, data, _) = riff_info(&r.stdout).unwrap();
    assert_eq!((ch, rate, bits), (1, 16000, 16));
    let frames = (r.stdout.len() - data) / 2;
    assert!(
        (frames as i64 - 32000).abs() <= 2048 / 3 + 1,
        "{frames} frames for 2 s at 16 kHz"
    );
}

#[test]
fn json_with_stdout_output_is_refused() {
    let f = fixture("mkv_aac.mkv");
    let r = audiotap(["extract", &s(&f.path), "-o", "-", "--json"]);
    r.assert_error(2, Some("invalid_options"));
    assert!(r.stdout.is_empty(), "stdout should stay empty");
}
