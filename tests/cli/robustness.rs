//! Robustness on hostile input: seeded random buffers, good files truncated at many
//! offsets, and bit-flipped copies, through `probe` and `extract` with every engine.
//! The process must end by itself (a hang is a failure) with exit 0 or 1, never a signal
//! or a panic (101), print no "panicked", follow the one-line error contract on failure
//! and leave no output file behind; on success the output must be a readable WAV.
//!
//! Everything is deterministic (fixed seeds); the total stays well under a minute on two
//! cores with the debug binary.

use crate::support::*;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

/// Per-process limit: the debug binary handles these 2 s clips in well under a second.
const TIMEOUT: Duration = Duration::from_secs(20);
const ENGINES: [&str; 3] = ["auto", "symphonia", "ffmpeg"];
const SOURCES: [&str; 3] = ["mp4_aac_faststart.mp4", "mkv_aac.mkv", "ts_aac.ts"];

struct Case {
    label: String,
    ext: &'static str,
    bytes: Vec<u8>,
}

fn ext_of(name: &str) -> &'static str {
    match Path::new(name).extension().and_then(|e| e.to_str()) {
        Some("mp4") => "mp4",
        Some("mkv") => "mkv",
        Some("ts") => "ts",
        _ => "bin",
    }
}

fn random_cases(rng: &mut StdRng) -> Vec<Case> {
    [1usize, 7, 188, 1024, 4096, 65_536, 400_000]
        .iter()
        .enumerate()
        .map(|(i, &n)| {
            let mut bytes = vec![0u8; n];
            rng.fill(&mut bytes[..]);
            // Some with a plausible name, some with a meaningless one.
            let ext = ["bin", "mp4", "mkv", "ts"][i % 4];
            Case {
                label: format!("random {n} bytes .{ext}"),
                ext,
                bytes,
            }
        })
        .collect()
}

/// ~30 cut points per file: the first bytes (headers), evenly spread, plus seeded jitter.
fn truncation_cases(rng: &mut StdRng) -> Vec<Case> {
    let mut v = Vec::new();
    for name in SOURCES {
        let data = media_bytes(name);
        let n = data.len();
        let mut cuts: Vec<usize> = vec![0, 4, 8, 12, 32, 100, 188, 500];
        for k in 1..=22 {
            let base = n * k / 23;
            cuts.push((base + rng.random_range(0..97)).min(n - 1));
        }
        cuts.sort();
        cuts.dedup();
        for c in cuts {
            v.push(Case {
                label: format!("{name} cut at {c}/{n}"),
                ext: ext_of(name),
                bytes: data[..c].to_vec(),
            });
        }
    }
    v
}

/// Copies with a few bytes replaced at seeded positions; half of them aim at the first
/// 4 KiB, where headers and indexes live.
fn bitflip_cases(rng: &mut StdRng) -> Vec<Case> {
    let mut v = Vec::new();
    for name in SOURCES {
        let data = media_bytes(name);
        for k in 0..12 {
            let mut b = data.clone();
            let flips = [1, 4, 16, 64][k % 4];
            let span = if k % 2 == 0 {
                4096.min(b.len())
            } else {
                b.len()
            };
            let mut at = Vec::new();
            for _ in 0..flips {
                let p = rng.random_range(0..span);
                b[p] ^= rng.random_range(1..=255u8);
                at.push(p);
            }
            v.push(Case {
                label: format!("{name} with {flips} flipped bytes (first at {})", at[0]),
                ext: ext_of(name),
                bytes: b,
            });
        }
    }
    v
}

/// Runs probe and extract (3 engines) on one case; returns the violations.
fn check(case: &Case) -> Vec<String> {
    let dir = tmpdir();
    let input: PathBuf = dir.path().join(format!("input.{}", case.ext));
    std::fs::write(&input, &case.bytes).unwrap();
    let out_dir = dir.path().join("out");
    std::fs::create_dir(&out_dir).unwrap();
    let mut errs = Vec::new();
    let mut judge = |what: &str, r: &Run, output: Option<&Path>| {
        let ctx = format!("{} / {what}", case.label);
        if r.timed_out {
            errs.push(format!("{ctx}: hang (killed after {TIMEOUT:?})"));
            return;
        }
        if let Some(sig) = r.signal {
            errs.push(format!("{ctx}: killed by signal {sig}\n{}", r.describe()));
            return;
        }
        if r.stderr.contains("panicked") || r.code == Some(101) {
            errs.push(format!("{ctx}: panic\n{}", r.describe()));
            return;
        }
        match r.code {
            Some(0) => {
                if let Some(o) = output
                    && let Err(e) = read_wav(o)
                {
                    errs.push(format!("{ctx}: exit 0 but the output is not a WAV: {e}"));
                }
            }
            Some(1) => {
                if let Err(e) = r.check_error(1, None) {
                    errs.push(format!("{ctx}: {e}"));
                }
                let left = dir_entries(&out_dir);
                if !left.is_empty() {
                    errs.push(format!("{ctx}: failed but left {left:?}"));
                }
            }
            other => errs.push(format!("{ctx}: exit {other:?}\n{}", r.describe())),
        }
        // Start each run with an empty output folder.
        for e in dir_entries(&out_dir) {
            let _ = std::fs::remove_file(out_dir.join(e));
        }
    };
    let r = audiotap_opts(["probe", input.to_str().unwrap(), "--json"], None, TIMEOUT);
    judge("probe", &r, None);
    for engine in ENGINES {
        let out = out_dir.join("out.wav");
        let r = audiotap_opts(
            [
                "extract",
                input.to_str().unwrap(),
                "-o",
                out.to_str().unwrap(),
                "--engine",
                engine,
            ],
            None,
            TIMEOUT,
        );
        judge(&format!("extract --engine {engine}"), &r, Some(&out));
    }
    errs
}

/// Runs all cases on two worker threads and reports every violation at once.
fn run_cases(cases: Vec<Case>) {
    let n = cases.len();
    let next = Mutex::new(0usize);
    let errs = Mutex::new(Vec::<String>::new());
    let start = std::time::Instant::now();
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| {
                loop {
                    let i = {
                        let mut g = next.lock().unwrap();
                        let i = *g;
                        *g += 1;
                        i
                    };
                    let Some(case) = cases.get(i) else { break };
                    let e = check(case);
                    errs.lock().unwrap().extend(e);
                }
            });
        }
    });
    let errs = errs.into_inner().unwrap();
    println!("{n} inputs × 4 runs in {:.1?}", start.elapsed());
    assert!(
        errs.is_empty(),
        "{} violation(s):\n\n{}",
        errs.len(),
        errs.join("\n\n")
    );
}

#[test]
fn random_bytes() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0001);
    run_cases(random_cases(&mut rng));
}

#[test]
fn truncated_files() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0002);
    run_cases(truncation_cases(&mut rng));
}

#[test]
fn bit_flipped_files() {
    let mut rng = StdRng::seed_from_u64(0x5eed_0003);
    run_cases(bitflip_cases(&mut rng));
}

#[test]
fn cases_are_deterministic() {
    let a = bitflip_cases(&mut StdRng::seed_from_u64(7));
    let b = bitflip_cases(&mut StdRng::seed_from_u64(7));
    assert!(
        a.iter()
            .zip(&b)
            .all(|(x, y)| x.bytes == y.bytes && x.label == y.label)
    );
    assert!(a.iter().any(|c| c.bytes != media_bytes(SOURCES[0])));
}
