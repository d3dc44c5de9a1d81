//! Fidelity: audiotap's WAV output against an ffmpeg CLI reference decode of the same job,
//! for every fixture of the manifest and a set of jobs, with both engines where Symphonia
//! supports the format. Checks exact headers, frame counts (within one codec frame;
//! the actual difference is printed), alignment lag and per-channel SNR, the `--json`
//! report, and that the two engines agree with each other.
//!
//! Run with `cargo test --test cli fidelity:: -- --nocapture` to see the measured figures.
//!
//! Thresholds (see `threshold`):
//! * Lossless source, no resampling/remixing, output at least as precise as the source:
//!   bit-exact (no dither may be added when nothing is reduced).
//! * Otherwise the output quantisation bounds the agreement: audiotap may add TPDF dither
//!   and ffmpeg rounds, so their difference has variance Δ²/3 (`quantisation_floor_db`);
//!   we allow 6 dB below that floor. With the fixtures' tones (-9 dBFS per channel) that
//!   is ≈ 80 dB for 16-bit and ≈ 31 dB for 8-bit outputs.
//! * The floor is capped per case: same decoder (audiotap's ffmpeg engine is libavcodec,
//!   like the reference) 100 dB, differences are only in f32 arithmetic of the remix and
//!   the conversion; a different decoder implementation of a lossy codec (Symphonia vs
//!   libavcodec) `CROSS_DECODER_DB`; a different resampler (rubato vs swresample)
//!   `RESAMPLER_DB`.
//!
//! One file a little past the usual 500 lines: one harness (`run_job`, the thresholds and
//! their reasons), the jobs it runs, and the two tests that calibrate it, which are read
//! together.

use crate::support::*;
use std::fmt::Write as _;

/// Two good resamplers agree to roughly 50–65 dB on these fixtures (measured in
/// `resampler_references_agree`: swresample vs SoX 63.5 dB at 44.1→16 kHz, 50.5 dB at
/// 8→16 kHz); the fixture tones (90 Hz–3 kHz) are far inside the passband even at
/// 16 kHz. 40 dB leaves margin while still catching a wrong rate, aliasing or a timing
/// error: a shift of only 0.2 output samples (12 µs at 16 kHz) already brings these
/// tones down to ≈ 27 dB.
const RESAMPLER_DB: f64 = 40.0;

/// Symphonia and libavcodec are different implementations of the same lossy decoders in
/// f32; their outputs differ by rounding (≈ -100 dB and below), except where the codec
/// lets the decoder invent signal (AAC perceptual noise substitution uses each
/// decoder's own random generator), which only touches bands with almost no energy in
/// these tone fixtures. 60 dB still catches any real decode error (wrong window, wrong
/// channel order, missing or extra frame, which cost far more than 20 dB).
const CROSS_DECODER_DB: f64 = 60.0;

/// Cap when the same decoder runs in both (ffmpeg engine vs ffmpeg CLI): only f32
/// rounding in remix and conversion can differ.
const SAME_DECODER_DB: f64 = 100.0;

struct Outcome {
    rows: String,
    failures: Vec<String>,
}

/// Runs one job on one fixture: reference decode, audiotap with each engine, checks.
fn run_job(f: &MFile, label: &str, job: &ExtractArgs, ref_track: usize, out: &mut Outcome) {
    let dir = tmpdir();
    let t = f.track(ref_track);
    let reference_path = dir.path().join("ref.wav");
    ffmpeg_reference(&f.path, ref_track, job, &reference_path);
    let reference = read_wav(&reference_path).expect("reference WAV");

    let engines: &[&str] = if f.symphonia() {
        &["symphonia", "ffmpeg"]
    } else {
        &["ffmpeg"]
    };
    let mut by_engine: Vec<(&str, Wav)> = Vec::new();
    for &engine in engines {
        let ctx = format!("{label} {} --engine {engine}", f.name);
        let out_path = dir.path().join(format!("{engine}.wav"));
        let job = ExtractArgs {
            engine: Some(engine),
            ..job.clone()
        };
        let run = extract(&f.path, &out_path, &job, &["--json"]);
        if !run.success() {
            out.failures
                .push(format!("{ctx}: extract failed\n{}", run.describe()));
            continue;
        }
        let wav = match read_wav(&out_path) {
            Ok(w) => w,
            Err(e) => {
                out.failures
                    .push(format!("{ctx}: output is not a WAV: {e}"));
                continue;
            }
        };
        let mut errs = Vec::new();
        // Header: exact.
        let want = (
            job.channels.unwrap_or(t.channels),
            job.sample_rate.unwrap_or(t.sample_rate),
            job.depth().bits(),
            if job.depth().is_float() {
                hound::SampleFormat::Float
            } else {
                hound::SampleFormat::Int
            },
        );
        if wav.header() != want || reference.header() != want {
            errs.push(format!(
                "header (ch, rate, bits, fmt): audiotap {:?}, reference {:?}, expected {want:?}",
                wav.header(),
                reference.header()
            ));
        }
        // Report.
        match serde_json::from_slice::<serde_json::Value>(&run.stdout) {
            Ok(report) => errs.extend(check_wav_report(
                &report,
                &out_path,
                &wav,
                job.depth(),
                Some(engine),
                ref_track,
                &t.codec,
            )),
            Err(e) => errs.push(format!(
                "--json stdout is not JSON: {e}: {}",
                run.stdout_str()
            )),
        }
        // Frame count within one codec frame (in output samples).
        let tol = frame_tolerance(&t.codec, t.sample_rate, want.1);
        let diff = wav.frames as i64 - reference.frames as i64;
        if diff.unsigned_abs() > tol {
            errs.push(format!(
                "frames {} vs reference {} (diff {diff}, tolerance {tol})",
                wav.frames, reference.frames
            ));
        }
        // Alignment and SNR.
        let (thr, why) = threshold(f, ref_track, job.clone(), &reference, engine);
        if wav.header().0 == reference.header().0 {
            let c = compare(&reference, &wav, 2048);
            if c.lag.unsigned_abs() > tol.max(1) {
                errs.push(format!("misaligned by {} samples (tolerance {tol})", c.lag));
            }
            if below(c.min_snr, thr) {
                errs.push(format!(
                    "SNR {} < {thr:.1} dB ({why}); per channel {:?}, lag {}, max |diff| {:.3e}",
                    fmt_db(c.min_snr),
                    c.snr_per_channel,
                    c.lag,
                    c.max_abs_diff
                ));
            }
            let _ = writeln!(
                out.rows,
                "{label:<12} {:<24} {engine:<9} frames {:>7} ref {:>7} diff {diff:>5} lag {:>5} SNR {:>9} (min {thr:>5.1}: {why})",
                f.name,
                wav.frames,
                reference.frames,
                c.lag,
                fmt_db(c.min_snr)
            );
        }
        for e in errs {
            out.failures
                .push(format!("{ctx}: {e}\n  command: {}", run.cmdline));
        }
        by_engine.push((engine, wav));
    }

    // The two engines must agree: lossless sources bit for bit (everything after decode is
    // shared, so even dither must come out the same), lossy ones in length and closely.
    if let [(_, a), (_, b)] = by_engine.as_slice() {
        let ctx = format!("{label} {}: symphonia vs ffmpeg engine", f.name);
        if f.symphonia() && is_lossless_codec(&t.codec) {
            if a.raw != b.raw {
                let first = a.raw.iter().zip(&b.raw).position(|(x, y)| x != y);
                out.failures.push(format!(
                    "{ctx}: lossless source but outputs differ ({} vs {} samples, first difference at {first:?})",
                    a.raw.len(),
                    b.raw.len()
                ));
            }
            let _ = writeln!(
                out.rows,
                "{label:<12} {:<24} engines agree: {}",
                f.name,
                a.raw == b.raw
            );
        } else {
            let c = compare(b, a, 2048);
            let q = quantisation_floor_db(min_channel_power(b), job.depth().bits()) - 6.0;
            let thr = q.min(CROSS_DECODER_DB);
            if a.frames != b.frames || below(c.min_snr, thr) || c.lag != 0 {
                out.failures.push(format!(
                    "{ctx}: frames {} vs {}, lag {}, SNR {} (min {thr:.1} dB)",
                    a.frames,
                    b.frames,
                    c.lag,
                    fmt_db(c.min_snr)
                ));
            }
            let _ = writeln!(
                out.rows,
                "{label:<12} {:<24} engines: frames {} vs {}, lag {}, SNR {}",
                f.name,
                a.frames,
                b.frames,
                c.lag,
                fmt_db(c.min_snr)
            );
        }
    }
}

/// `snr < thr`, with NaN (an empty or broken comparison) counting as below.
fn below(snr: f64, thr: f64) -> bool {
    snr.is_nan() || snr < thr
}

/// One codec frame, expressed in output samples (plus one sample of rounding when the
/// rate changes).
fn frame_tolerance(codec: &str, in_rate: u32, out_rate: u32) -> u64 {
    let f = codec_frame(codec);
    if in_rate == out_rate {
        f
    } else {
        (f * out_rate as u64).div_ceil(in_rate as u64) + 1
    }
}

/// Minimum SNR for a case, with the reason (printed next to the figure).
fn threshold(
    f: &MFile,
    track: usize,
    job: ExtractArgs,
    reference: &Wav,
    engine: &str,
) -> (f64, &'static str) {
    let t = f.track(track);
    let depth = job.depth();
    let resampled = job.sample_rate.is_some_and(|r| r != t.sample_rate);
    let remixed = job.channels.is_some_and(|c| c != t.channels);
    let src_bits = t.bit_depth.unwrap_or(32);
    let src_float = t.codec == "pcm_f32le";
    if is_lossless_codec(&t.codec) && !resampled && !remixed {
        let exact = match depth {
            Depth::F32 => src_float || src_bits <= 24,
            d => !src_float && d.bits() as u32 >= src_bits,
        };
        if exact {
            return (f64::INFINITY, "lossless, nothing reduced: bit-exact");
        }
    }
    let floor = quantisation_floor_db(min_channel_power(reference), depth.bits()) - 6.0;
    let (cap, why) = if resampled {
        (RESAMPLER_DB, "rubato vs swresample")
    } else if engine == "symphonia" && !is_lossless_codec(&t.codec) {
        (CROSS_DECODER_DB, "symphonia vs libavcodec decoder")
    } else {
        (SAME_DECODER_DB, "same decoder")
    };
    if floor < cap {
        (floor, "quantisation floor (TPDF dither vs rounding) - 6 dB")
    } else {
        (cap, why)
    }
}

fn run_all(label: &str, select: impl Fn(&MFile) -> Option<(ExtractArgs, usize)>) {
    let mut out = Outcome {
        rows: String::new(),
        failures: Vec::new(),
    };
    let mut n = 0;
    for f in manifest().iter().filter(|f| f.has_audio()) {
        if let Some((job, track)) = select(f) {
            run_job(f, label, &job, track, &mut out);
            n += 1;
        }
    }
    println!("{}", out.rows);
    assert!(n > 0, "no fixture selected for {label}");
    assert!(
        out.failures.is_empty(),
        "{} failure(s) in {label}:\n\n{}",
        out.failures.len(),
        out.failures.join("\n\n")
    );
}

fn job() -> ExtractArgs {
    ExtractArgs::default()
}

#[test]
fn default_wav() {
    run_all("default", |_| Some((job(), 0)));
}

#[test]
fn resample_16k_mono_16bit() {
    run_all("16k-mono-16", |_| {
        Some((
            ExtractArgs {
                sample_rate: Some(16000),
                channels: Some(1),
                depth: Some(Depth::S16),
                ..job()
            },
            0,
        ))
    });
}

#[test]
fn resample_44k1_stereo_24bit() {
    // Mono sources stay mono: ffmpeg's mono→stereo upmix (-3 dB per side) is a matter
    // of convention, not of fidelity.
    run_all("44k1-st-24", |f| {
        Some((
            ExtractArgs {
                sample_rate: Some(44100),
                channels: (f.track(0).channels >= 2).then_some(2),
                depth: Some(Depth::S24),
                ..job()
            },
            0,
        ))
    });
}

#[test]
fn float_32() {
    run_all("32f", |_| {
        Some((
            ExtractArgs {
                depth: Some(Depth::F32),
                ..job()
            },
            0,
        ))
    });
}

#[test]
fn unsigned_8bit() {
    run_all("8-bit", |_| {
        Some((
            ExtractArgs {
                depth: Some(Depth::U8),
                ..job()
            },
            0,
        ))
    });
}

#[test]
fn trim_start_duration() {
    // Fixtures are 0.5 s or longer (the short ones then end inside the window, which
    // checks the end of the trim too); 0.3 s is not on any codec frame boundary.
    // `--start` counts from the first sample of the audio track (also where it starts
    // after the video, as in mp4_aac_offset.mp4); the reference trims the decoded stream
    // by sample count in the same way.
    run_all("trim", |_| {
        Some((
            ExtractArgs {
                start: Some(0.3),
                duration: Some(0.5),
                ..job()
            },
            0,
        ))
    });
}

#[test]
fn second_track_by_index() {
    run_all("track-1", |f| {
        (f.audio.len() >= 2).then(|| {
            (
                ExtractArgs {
                    track: Some(1),
                    ..job()
                },
                1,
            )
        })
    });
}

#[test]
fn track_by_language() {
    run_all("lang-fre", |f| {
        let n = f
            .audio
            .iter()
            .position(|t| t.language.as_deref() == Some("fre"))?;
        assert!(
            n > 0,
            "the French track should not be the first one in {}",
            f.name
        );
        Some((
            ExtractArgs {
                language: Some("fre".into()),
                ..job()
            },
            n,
        ))
    });
}

#[test]
fn downmix_51_to_stereo() {
    // 16-bit output on purpose: ffmpeg's CLI normalises its downmix matrix only for
    // integer outputs (for float it lets 5.1→stereo exceed full scale).
    run_all("5.1->2", |f| {
        (f.track(0).channels == 6).then(|| {
            (
                ExtractArgs {
                    channels: Some(2),
                    ..job()
                },
                0,
            )
        })
    });
}

/// The comparison machinery itself must be able to fail: a shifted, attenuated or
/// noisy copy of a reference must not pass as equal.
#[test]
fn comparison_detects_differences() {
    let dir = tmpdir();
    let f = fixture("mp4_aac.mp4");
    let p = dir.path().join("a.wav");
    ffmpeg_decode(&f.path, 0, Depth::S16, &p);
    let a = read_wav(&p).unwrap();
    let same = compare(&a, &a, 2048);
    assert!(same.min_snr.is_infinite() && same.lag == 0);

    // Shift by 100 samples: found as lag 100, and high SNR once aligned.
    let mut shifted = a.clone();
    let ch = a.spec.channels as usize;
    shifted.samples = [vec![0.0; 100 * ch], a.samples.clone()].concat();
    shifted.frames += 100;
    let c = compare(&a, &shifted, 2048);
    assert_eq!(c.lag, 100, "{c:?}");
    assert!(c.min_snr.is_infinite(), "{c:?}");

    // -1 dB gain error: about 19 dB SNR, far below every threshold.
    let mut quieter = a.clone();
    quieter.samples.iter_mut().for_each(|x| *x *= 0.891);
    let c = compare(&a, &quieter, 2048);
    assert!(c.min_snr < 25.0 && c.min_snr > 15.0, "{c:?}");

    // Swapped channels: hopeless SNR.
    let mut swapped = a.clone();
    for fr in swapped.samples.chunks_mut(2) {
        fr.swap(0, 1);
    }
    assert!(compare(&a, &swapped, 2048).min_snr < 3.0);
}

/// Calibration of RESAMPLER_DB: two independent resamplers (swresample's default and
/// SoX's, both through the ffmpeg CLI) agree on these fixtures far above the threshold,
/// so a result below it is audiotap's resampler, not the measurement. Measured here:
/// 44.1→16 kHz 63.5 dB, 48→16 kHz 63.3 dB, 8→16 kHz 50.5 dB (swresample's edges).
#[test]
fn resampler_references_agree() {
    let dir = tmpdir();
    for name in ["mov_pcm_s32le.mov", "mov_pcm_s16le.mov", "avi_pcm_u8.avi"] {
        let f = fixture(name);
        let mut w = Vec::new();
        for (i, af) in [
            "aresample=16000",
            "aresample=16000:resampler=soxr:precision=28",
        ]
        .iter()
        .enumerate()
        {
            let p = dir.path().join(format!("{i}.wav"));
            tool(
                "ffmpeg",
                [
                    "-v",
                    "error",
                    "-y",
                    "-i",
                    f.path.to_str().unwrap(),
                    "-map",
                    "0:a:0",
                    "-af",
                    af,
                    "-ac",
                    "1",
                    "-c:a",
                    "pcm_s16le",
                    p.to_str().unwrap(),
                ],
            );
            w.push(read_wav(&p).unwrap());
        }
        let c = compare(&w[0], &w[1], 2048);
        println!(
            "{name}: swresample vs soxr at 16 kHz: lag {} SNR {}",
            c.lag,
            fmt_db(c.min_snr)
        );
        assert_eq!(c.lag, 0);
        assert!(
            c.min_snr >= RESAMPLER_DB + 6.0,
            "{name}: {}",
            fmt_db(c.min_snr)
        );
    }
}
