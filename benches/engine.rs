//! Criterion benches of the engine's hot loops: decode (both back ends), remix, resample,
//! quantise, and the native stream copy beside a plain file copy. `cargo bench --bench engine`; reports land in target/criterion/.
//!
//! Inputs are the committed fixtures (decode) and a generated two-tone signal (DSP), so
//! the numbers are comparable between commits on one machine.

use std::hint::black_box;
use std::path::PathBuf;

use audiotap::media::Engine;
use audiotap::media::benchkit;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/media")
        .join(name)
}

/// `secs` seconds of interleaved stereo at `rate`: 440 Hz left, 660 Hz right.
fn stereo(rate: u32, secs: u32) -> Vec<f32> {
    let n = (rate * secs) as usize;
    let mut v = Vec::with_capacity(n * 2);
    for i in 0..n {
        let t = i as f32 / rate as f32;
        v.push(0.5 * (std::f32::consts::TAU * 440.0 * t).sin());
        v.push(0.5 * (std::f32::consts::TAU * 660.0 * t).sin());
    }
    v
}

fn decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("decode");
    g.sample_size(20);
    // 10 s of 48 kHz stereo AAC-LC in MP4.
    let aac = fixture("mp4_aac_long.mp4");
    g.throughput(Throughput::Elements(480_000));
    for (name, engine) in [
        ("aac_symphonia", Engine::Symphonia),
        ("aac_ffmpeg", Engine::Ffmpeg),
    ] {
        g.bench_function(name, |b| {
            b.iter(|| benchkit::decode_file(black_box(&aac), engine).expect("decode"))
        });
    }
    g.finish();
}

fn dsp(c: &mut Criterion) {
    let input = stereo(48_000, 10);
    let frames = (input.len() / 2) as u64;
    let mut g = c.benchmark_group("dsp");
    g.throughput(Throughput::Elements(frames));
    g.sample_size(20);
    g.bench_function("remix_stereo_to_mono", |b| {
        let mut out = Vec::with_capacity(input.len() / 2);
        b.iter(|| {
            out.clear();
            benchkit::remix(black_box(&input), 2, 1, &mut out);
            black_box(out.len())
        })
    });
    g.bench_function("resample_48k_to_16k_stereo", |b| {
        b.iter(|| benchkit::resample(black_box(&input), 48_000, 16_000, 2, 4096).expect("resample"))
    });
    g.bench_function("resample_44k1_to_48k_stereo", |b| {
        b.iter(|| benchkit::resample(black_box(&input), 44_100, 48_000, 2, 4096).expect("resample"))
    });
    for (name, bits, dither) in [
        ("quantise_s16_dither", 16, true),
        ("quantise_s24", 24, false),
    ] {
        g.bench_function(name, |b| {
            let mut out = Vec::with_capacity(input.len());
            b.iter(|| {
                out.clear();
                benchkit::quantise(black_box(&input), bits, dither, &mut out);
                black_box(out.len())
            })
        });
    }
    g.finish();
}

/// The native MP4 -> M4A stream copy in process (no process start, no dynamic loading),
/// next to `std::fs::copy` of the same file: the floor of reading and writing it once.
/// `AUDIOTAP_BENCH_COPY_SRC=path` benches another MP4 (e.g. the 60-min source that
/// `scripts/bench.sh` generates) instead of the 10-s fixture.
fn copy(c: &mut Criterion) {
    let src = std::env::var_os("AUDIOTAP_BENCH_COPY_SRC")
        .map_or_else(|| fixture("mp4_aac_long.mp4"), PathBuf::from);
    let len = std::fs::metadata(&src).expect("fixture").len();
    let dir = tempfile::tempdir().expect("tempdir");
    let out = dir.path().join("out.m4a");
    let mut g = c.benchmark_group("copy");
    g.throughput(Throughput::Bytes(len));
    g.sample_size(50);
    g.bench_function("mp4_native_to_m4a", |b| {
        b.iter(|| {
            benchkit::copy_mp4(black_box(&src), &out)
                .expect("copy")
                .expect("native copy applies")
        })
    });
    g.bench_function("floor_std_fs_copy", |b| {
        b.iter(|| std::fs::copy(black_box(&src), &out).expect("copy"))
    });
    g.finish();
}

criterion_group!(benches, decode, dsp, copy);
criterion_main!(benches);
