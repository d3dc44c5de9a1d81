//! The hostile media corpus, built in a temp dir from `fixtures/media` by the code below
//! (seeded, so every run makes the same files): files truncated at many offsets, headers
//! with bits flipped, absurd claimed sample rates, channel counts and durations (WAV, MP4,
//! Matroska), huge and 64-bit box sizes, deep nesting, zero-length tracks, video only,
//! sample tables claiming billions of entries, and a decompression bomb (ten hours of
//! FLAC silence in a few kilobytes, made with the ffmpeg CLI).
//!
//! Every file goes through the real `audiotap` binary under `/usr/bin/time` (GNU time, for
//! the peak RSS): `probe`, and `extract` with each engine (`auto` is always one of them). Each run must end by itself
//! within [`HANG`], exit 0 with a readable output or exit 1 with one line
//! `audiotap: error[<stable code>]: …` and no output left, never a signal or a panic, and
//! stay under [`RSS_LIMIT_KIB`]. A subset also goes through the HTTP API (jobs fail with a
//! stable code or succeed; never a 500). The tally is printed (see RELIABILITY.md).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use audiotap::ErrorCode;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::support;

/// A run that has not ended after this long is a hang (the debug binary needs well under
/// a second for these inputs).
const HANG: Duration = Duration::from_secs(60);
/// Generous peak-RSS bound for one CLI run on these (small) inputs.
const RSS_LIMIT_KIB: u64 = 512 * 1024;

/// A hostile input fails with a code of the registry that is not `internal`: its bytes are
/// the problem, never a fault of ours.
fn is_input_failure(code: &str) -> bool {
    code.parse::<ErrorCode>()
        .is_ok_and(|c| c != ErrorCode::Internal)
}

struct Case {
    family: &'static str,
    label: String,
    ext: &'static str,
    bytes: Vec<u8>,
}

fn find_all(hay: &[u8], needle: &[u8]) -> Vec<usize> {
    hay.windows(needle.len())
        .enumerate()
        .filter(|(_, w)| *w == needle)
        .map(|(i, _)| i)
        .collect()
}

fn put_u32be(b: &mut [u8], at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

fn put_u16be(b: &mut [u8], at: usize, v: u16) {
    b[at..at + 2].copy_from_slice(&v.to_be_bytes());
}

/// Patch every box `fourcc` of an MP4: `f(bytes, offset of the fourcc)`.
fn mp4_patch(src: &[u8], fourcc: &[u8; 4], f: impl Fn(&mut Vec<u8>, usize)) -> Vec<u8> {
    let mut b = src.to_vec();
    let at = find_all(src, fourcc);
    assert!(
        !at.is_empty(),
        "fixture has no {:?} box",
        String::from_utf8_lossy(fourcc)
    );
    for p in at {
        f(&mut b, p);
    }
    b
}

fn mp4_cases() -> Vec<Case> {
    let src = support::media_bytes("mp4_aac_faststart.mp4");
    let mut v = Vec::new();
    let mut add = |label: &str, bytes: Vec<u8>| {
        v.push(Case {
            family: "mp4 claims",
            label: label.to_string(),
            ext: "mp4",
            bytes,
        })
    };
    // mdhd v0: fourcc, version+flags, creation, modification, timescale (+12), duration (+16).
    for (label, ts, dur) in [
        ("mdhd timescale 0", 0, 1000),
        ("mdhd timescale 1, duration max", 1, u32::MAX),
        ("mdhd duration max", 48_000, u32::MAX),
        ("mdhd timescale max", u32::MAX, 1),
        ("mdhd duration 0", 48_000, 0),
    ] {
        add(
            label,
            mp4_patch(&src, b"mdhd", |b, p| {
                put_u32be(b, p + 16, ts);
                put_u32be(b, p + 20, dur);
            }),
        );
    }
    // mp4a sample entry: channel count (+20), sample size (+22), rate 16.16 (+28).
    for (label, ch, bits, rate) in [
        ("mp4a 0 channels", 0u16, 16u16, 48_000u16),
        ("mp4a 65535 channels", u16::MAX, 16, 48_000),
        ("mp4a 33 channels", 33, 16, 48_000),
        ("mp4a rate 0", 2, 16, 0),
        ("mp4a rate 65535, 0 bits", 2, 0, u16::MAX),
    ] {
        add(
            label,
            mp4_patch(&src, b"mp4a", |b, p| {
                put_u16be(b, p + 20, ch);
                put_u16be(b, p + 22, bits);
                put_u16be(b, p + 28, rate);
            }),
        );
    }
    // Sample tables claiming billions of entries in a few bytes.
    add(
        "stsz claims 4G samples",
        mp4_patch(&src, b"stsz", |b, p| put_u32be(b, p + 12, u32::MAX)),
    );
    add(
        "stts claims 2G entries",
        mp4_patch(&src, b"stts", |b, p| put_u32be(b, p + 8, i32::MAX as u32)),
    );
    add(
        "stts one entry of 4G samples",
        mp4_patch(&src, b"stts", |b, p| put_u32be(b, p + 12, u32::MAX)),
    );
    add(
        "stco claims 4G chunks",
        mp4_patch(&src, b"stco", |b, p| put_u32be(b, p + 8, u32::MAX)),
    );
    add(
        "stsc claims 1G entries",
        mp4_patch(&src, b"stsc", |b, p| put_u32be(b, p + 8, 1 << 30)),
    );
    // Zero-length tracks: empty sample tables.
    add(
        "zero-length tracks (empty stsz/stts/stsc)",
        mp4_patch(
            &mp4_patch(
                &mp4_patch(&src, b"stsz", |b, p| put_u32be(b, p + 12, 0)),
                b"stts",
                |b, p| put_u32be(b, p + 8, 0),
            ),
            b"stsc",
            |b, p| put_u32be(b, p + 8, 0),
        ),
    );
    // Huge boxes: sizes past the end of the file, the 64-bit form, size 0 ("to the end").
    let box_at = |fourcc: &[u8; 4]| find_all(&src, fourcc)[0] - 4;
    for (label, fourcc, size) in [
        ("moov size 4 GiB - 1", b"moov", u32::MAX),
        ("moov size 0 (to end of file)", b"moov", 0),
        ("moov size 7 (smaller than a header)", b"moov", 7),
        ("mdat size 4 GiB - 1", b"mdat", u32::MAX),
        ("trak size 4 GiB - 1", b"trak", u32::MAX),
        ("stsd size 4 GiB - 1", b"stsd", u32::MAX),
    ] {
        let mut b = src.clone();
        put_u32be(&mut b, box_at(fourcc), size);
        add(label, b);
    }
    for (label, fourcc, large) in [
        ("moov 64-bit size 2^63", b"moov", 1u64 << 63),
        ("mdat 64-bit size u64::MAX", b"mdat", u64::MAX),
        ("moov 64-bit size 8 (too small)", b"moov", 8),
    ] {
        let at = box_at(fourcc);
        let mut b = src[..at].to_vec();
        b.extend_from_slice(&1u32.to_be_bytes());
        b.extend_from_slice(fourcc);
        b.extend_from_slice(&large.to_be_bytes());
        b.extend_from_slice(&src[at + 8..]);
        add(label, b);
    }
    // Deep nesting: boxes inside boxes, 20,000 levels, in front of the real file and as
    // the only content.
    for (label, fourcc) in [("20k nested moov", b"moov"), ("20k nested trak", b"trak")] {
        let depth = 20_000usize;
        let mut b = Vec::with_capacity(depth * 8 + 32);
        b.extend_from_slice(&src[..box_at(b"moov")]); // ftyp
        let total = depth * 8;
        for i in 0..depth {
            b.extend_from_slice(&((total - i * 8) as u32).to_be_bytes());
            b.extend_from_slice(fourcc);
        }
        add(label, b);
    }
    v
}

fn wav_cases() -> Vec<Case> {
    let src = support::media_bytes("wav_pcm_s16le.wav");
    let fmt = find_all(&src, b"fmt ")[0];
    let data = find_all(&src, b"data")[0];
    let le16 = |b: &mut Vec<u8>, at: usize, x: u16| b[at..at + 2].copy_from_slice(&x.to_le_bytes());
    let le32 = |b: &mut Vec<u8>, at: usize, x: u32| b[at..at + 4].copy_from_slice(&x.to_le_bytes());
    let mut v = Vec::new();
    let mut add = |label: &str, f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = src.clone();
        f(&mut b);
        v.push(Case {
            family: "wav claims",
            label: label.to_string(),
            ext: "wav",
            bytes: b,
        })
    };
    // fmt: format +8, channels +10, rate +12, byte rate +16, block align +20, bits +22.
    add("rate 0", &|b| le32(b, fmt + 12, 0));
    add("rate 1", &|b| le32(b, fmt + 12, 1));
    add("rate 4G", &|b| le32(b, fmt + 12, u32::MAX));
    add("rate 768001", &|b| le32(b, fmt + 12, 768_001));
    add("0 channels", &|b| le16(b, fmt + 10, 0));
    add("65535 channels", &|b| le16(b, fmt + 10, u16::MAX));
    add("33 channels", &|b| le16(b, fmt + 10, 33));
    add("0 bits", &|b| le16(b, fmt + 22, 0));
    add("7 bits", &|b| le16(b, fmt + 22, 7));
    add("64 bits", &|b| le16(b, fmt + 22, 64));
    add("65535 bits", &|b| le16(b, fmt + 22, u16::MAX));
    add("block align 0", &|b| le16(b, fmt + 20, 0));
    add("block align 65535", &|b| le16(b, fmt + 20, u16::MAX));
    add("format tag 0xFFFF", &|b| le16(b, fmt + 8, 0xFFFF));
    add("fmt size 4G", &|b| le32(b, fmt + 4, u32::MAX));
    add("data claims 4 GiB (file is 96 KB)", &|b| {
        le32(b, data + 4, u32::MAX)
    });
    add("data size 0 (zero-length track)", &|b| {
        le32(b, data + 4, 0);
        b.truncate(data + 8);
    });
    add("RIFF size 0", &|b| le32(b, 4, 0));
    add("RIFF size 4G", &|b| le32(b, 4, u32::MAX));
    add("header only", &|b| b.truncate(data));
    add("20k nested LIST chunks before data", &|b| {
        let depth = 20_000usize;
        let mut nest = Vec::with_capacity(depth * 12);
        for i in 0..depth {
            nest.extend_from_slice(b"LIST");
            nest.extend_from_slice(&(((depth - i) * 12 - 8) as u32).to_le_bytes());
            nest.extend_from_slice(b"INFO");
        }
        b.splice(data..data, nest);
    });
    v
}

fn mkv_cases() -> Vec<Case> {
    let src = support::media_bytes("mkv_aac.mkv");
    let mut v = Vec::new();
    let mut add = |label: &str, f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = src.clone();
        f(&mut b);
        v.push(Case {
            family: "mkv claims",
            label: label.to_string(),
            ext: "mkv",
            bytes: b,
        })
    };
    // SamplingFrequency (0xB5, an 8-byte float) and Channels (0x9F, 1 byte).
    let freq = find_all(&src, &[0xB5, 0x88]);
    let chans = find_all(&src, &[0x9F, 0x81]);
    assert!(
        !freq.is_empty() && !chans.is_empty(),
        "mkv fixture layout changed"
    );
    for (label, x) in [
        ("rate 0", 0.0f64),
        ("rate -48000", -48_000.0),
        ("rate 1e300", 1e300),
        ("rate NaN", f64::NAN),
        ("rate inf", f64::INFINITY),
        ("rate 1e9", 1e9),
    ] {
        add(label, &|b| {
            for &p in &freq {
                b[p + 2..p + 10].copy_from_slice(&x.to_be_bytes());
            }
        });
    }
    for (label, ch) in [("0 channels", 0u8), ("255 channels", 255u8)] {
        add(label, &|b| {
            for &p in &chans {
                b[p + 2] = ch;
            }
        });
    }
    // Segment (0x18538067) sizes: unknown, and 2^56-2 (a vast claim).
    let seg = find_all(&src, &[0x18, 0x53, 0x80, 0x67])[0];
    add("segment size unknown", &|b| {
        b[seg + 4..seg + 12].copy_from_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF])
    });
    add("segment size 2^56-2", &|b| {
        b[seg + 4..seg + 12].copy_from_slice(&[0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFE])
    });
    // Every EBML size field in the first 400 bytes set to its largest value.
    add("every early size maxed", &|b| {
        for p in find_all(&b[..400.min(b.len())], &[0x88]) {
            b[p] = 0x01;
        }
    });
    v
}

/// Truncations at many offsets (dense near the start, where headers live) and header bits
/// flipped, of an MP4 (moov first), a WAV, an MKV, an Ogg and a FLAC-in-MP4.
fn damage_cases() -> Vec<Case> {
    let mut rng = StdRng::seed_from_u64(0x0b5e_55ed);
    let mut v = Vec::new();
    for (name, ext) in [
        ("mp4_aac_faststart.mp4", "mp4"),
        ("wav_pcm_s16le.wav", "wav"),
        ("mkv_vorbis.mkv", "mkv"),
        ("ogg_vorbis.ogg", "ogg"),
        ("mp4_flac.mp4", "mp4"),
    ] {
        let src = support::media_bytes(name);
        let mut cuts: Vec<usize> = vec![1, 8, 16, 44, 100, 500, 1000];
        for _ in 0..3 {
            cuts.push(rng.random_range(0..src.len()));
        }
        cuts.push(src.len() - 1);
        for cut in cuts.into_iter().filter(|&c| c < src.len()) {
            v.push(Case {
                family: "truncated",
                label: format!("{name} cut at {cut}"),
                ext,
                bytes: src[..cut].to_vec(),
            });
        }
        for _ in 0..4 {
            let mut b = src.clone();
            let limit = 2048.min(b.len());
            let mut flipped = Vec::new();
            for _ in 0..rng.random_range(1..=4) {
                let at = rng.random_range(0..limit);
                let bit = rng.random_range(0..8);
                b[at] ^= 1 << bit;
                flipped.push(format!("{at}.{bit}"));
            }
            v.push(Case {
                family: "bit-flipped header",
                label: format!("{name} flipped {}", flipped.join(",")),
                ext,
                bytes: b,
            });
        }
    }
    v
}

fn other_cases() -> Vec<Case> {
    vec![
        Case {
            family: "no audio",
            label: "video only".into(),
            ext: "mp4",
            bytes: support::media_bytes("mp4_video_only.mp4"),
        },
        Case {
            family: "no audio",
            label: "empty file".into(),
            ext: "mp4",
            bytes: Vec::new(),
        },
        Case {
            family: "no audio",
            label: "1 MiB of zeros".into(),
            ext: "wav",
            bytes: vec![0; 1 << 20],
        },
    ]
}

/// Ten hours of 8 kHz mono silence as FLAC with 65535-sample blocks: a few tens of KB that
/// decode to 288 M samples (576 MB of 16-bit WAV).
fn bomb(dir: &Path) -> PathBuf {
    let out = dir.join("bomb.flac");
    let st = Command::new("ffmpeg")
        .args([
            "-v",
            "error",
            "-nostdin",
            "-f",
            "lavfi",
            "-i",
            "anullsrc=r=8000:cl=mono",
            "-t",
            "36000",
        ])
        .args([
            "-c:a",
            "flac",
            "-frame_size",
            "65535",
            "-compression_level",
            "0",
            "-y",
        ])
        .arg(&out)
        .status()
        .expect("ffmpeg (the test package list installs it)");
    assert!(st.success(), "ffmpeg could not make the bomb");
    out
}

struct Outcome {
    exit: Option<i32>,
    signal: bool,
    hang: bool,
    stderr: String,
    rss_kib: u64,
    took: Duration,
}

/// Run the binary under GNU time; kill it after [`HANG`].
fn run(args: &[&str], dir: &Path) -> Outcome {
    let rss_file = tempfile::NamedTempFile::new_in(dir).unwrap();
    let mut child = Command::new("/usr/bin/time")
        .arg("-f")
        .arg("%M")
        .arg("-o")
        .arg(rss_file.path())
        .arg(support::bin())
        .args(args)
        .env("AUDIOTAP_LOG", "off")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("/usr/bin/time (GNU time, in the test package list)");
    let started = Instant::now();
    let mut stderr = child.stderr.take().unwrap();
    let reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = std::io::Read::read_to_string(&mut stderr, &mut s);
        s
    });
    let mut hang = false;
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        if started.elapsed() > HANG {
            hang = true;
            let _ = child.kill();
            break child.wait().unwrap();
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let took = started.elapsed();
    let mut stderr = reader.join().unwrap();
    // GNU time reports a signal-killed child as "Command terminated by signal N".
    let signal = stderr.contains("Command terminated by signal") || status.code().is_none();
    let rss_kib = std::fs::read_to_string(rss_file.path())
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.trim().parse::<u64>().ok())
        .next_back()
        .unwrap_or(0);
    if let Some(i) = stderr.find("Command exited with non-zero status") {
        stderr.truncate(i);
    }
    Outcome {
        exit: status.code(),
        signal,
        hang,
        stderr,
        rss_kib,
        took,
    }
}

#[derive(Default)]
struct Tally {
    runs: usize,
    ok: usize,
    codes: BTreeMap<String, usize>,
    max_rss_kib: u64,
    max_rss_run: String,
    max_took: Duration,
    per_family: BTreeMap<&'static str, (usize, usize)>,
    violations: Vec<String>,
}

/// Judge one run: returns the error code (or "ok").
fn judge(t: &mut Tally, family: &'static str, what: &str, o: &Outcome, out: Option<&Path>) {
    t.runs += 1;
    if o.rss_kib > t.max_rss_kib {
        t.max_rss_kib = o.rss_kib;
        t.max_rss_run = what.to_string();
    }
    t.max_took = t.max_took.max(o.took);
    let fam = t.per_family.entry(family).or_default();
    fam.0 += 1;
    let mut bad = |m: String| {
        t.violations
            .push(format!("{what}: {m}\nstderr: {}", o.stderr))
    };
    if o.hang {
        return bad(format!("hang (killed after {HANG:?})"));
    }
    if o.signal {
        return bad("killed by a signal".into());
    }
    if o.stderr.contains("panicked") || o.exit == Some(101) {
        return bad("panic".into());
    }
    if o.rss_kib > RSS_LIMIT_KIB {
        bad(format!("peak RSS {} KiB over {RSS_LIMIT_KIB}", o.rss_kib));
    }
    match o.exit {
        Some(0) => {
            if let Some(out) = out
                && let Err(e) = support::read_wav(out)
            {
                return bad(format!("exit 0 but the output is unreadable: {e}"));
            }
            t.ok += 1;
            t.per_family.get_mut(family).unwrap().1 += 1;
        }
        Some(1) => {
            let lines: Vec<&str> = o.stderr.lines().filter(|l| !l.trim().is_empty()).collect();
            let code = lines
                .first()
                .and_then(|l| l.strip_prefix("audiotap: error["))
                .and_then(|l| l.split(']').next())
                .unwrap_or("");
            if lines.len() != 1 || !is_input_failure(code) {
                return bad(format!("not one line with a stable code: {lines:?}"));
            }
            if let Some(out) = out
                && out.exists()
            {
                return bad("failed but left an output".into());
            }
            *t.codes.entry(code.to_string()).or_default() += 1;
        }
        other => bad(format!("exit {other:?}")),
    }
}

fn run_corpus(cases: Vec<Case>) -> Tally {
    let dir = support::tmpdir();
    let tally = Mutex::new(Tally::default());
    let next = Mutex::new(0usize);
    std::thread::scope(|s| {
        for w in 0..2 {
            let (dir, tally, next, cases) = (dir.path(), &tally, &next, &cases);
            s.spawn(move || {
                loop {
                    let i = {
                        let mut n = next.lock().unwrap();
                        *n += 1;
                        *n - 1
                    };
                    let Some(c) = cases.get(i) else { break };
                    let input = dir.join(format!("in{w}.{}", c.ext));
                    std::fs::write(&input, &c.bytes).unwrap();
                    let inp = input.to_str().unwrap();
                    let o = run(&["probe", inp, "--json"], dir);
                    judge(
                        &mut tally.lock().unwrap(),
                        c.family,
                        &format!("{} / probe", c.label),
                        &o,
                        None,
                    );
                    // `auto` is one of these two for any input.
                    for engine in ["symphonia", "ffmpeg"] {
                        let out = dir.join(format!("out{w}.wav"));
                        let _ = std::fs::remove_file(&out);
                        let o = run(
                            &[
                                "extract",
                                inp,
                                "-o",
                                out.to_str().unwrap(),
                                "--engine",
                                engine,
                                "--timeout",
                                "30",
                            ],
                            dir,
                        );
                        judge(
                            &mut tally.lock().unwrap(),
                            c.family,
                            &format!("{} / extract --engine {engine}", c.label),
                            &o,
                            Some(&out),
                        );
                    }
                }
            });
        }
    });
    tally.into_inner().unwrap()
}

fn report(name: &str, n_files: usize, t: &Tally) {
    println!(
        "{name}: {n_files} files, {} runs: {} ok, errors {:?}; max peak RSS {} KiB ({}), slowest run {:.2?}",
        t.runs, t.ok, t.codes, t.max_rss_kib, t.max_rss_run, t.max_took
    );
    for (fam, (runs, ok)) in &t.per_family {
        println!("  {fam}: {runs} runs, {ok} ok");
    }
    assert!(
        t.violations.is_empty(),
        "{} violation(s):\n\n{}",
        t.violations.len(),
        t.violations.join("\n\n")
    );
}

#[test]
fn absurd_claims_huge_boxes_deep_nesting_and_empty_tracks() {
    let mut cases = mp4_cases();
    cases.extend(wav_cases());
    cases.extend(mkv_cases());
    cases.extend(other_cases());
    let n = cases.len();
    let t = run_corpus(cases);
    report("hostile claims corpus", n, &t);
    assert_eq!(t.runs, n * 3);
}

#[test]
fn truncated_and_bit_flipped_headers() {
    let cases = damage_cases();
    let n = cases.len();
    let t = run_corpus(cases);
    report("truncated/bit-flipped corpus", n, &t);
}

#[test]
fn decompression_bomb_is_stopped_by_the_time_budget_with_flat_memory() {
    let dir = support::tmpdir();
    let bomb = bomb(dir.path());
    let size = std::fs::metadata(&bomb).unwrap().len();
    assert!(size < 2 << 20, "the bomb is {size} bytes");
    let out = dir.path().join("bomb.wav");
    let b = bomb.to_str().unwrap();
    // The probe reads the claim without decoding it.
    let o = run(&["probe", b, "--json"], dir.path());
    assert_eq!(o.exit, Some(0), "probe: {}", o.stderr);
    // A one-second budget stops the extraction: limit_exceeded, no output, flat memory.
    let o = run(
        &["extract", b, "-o", out.to_str().unwrap(), "--timeout", "1"],
        dir.path(),
    );
    println!(
        "bomb: {size} bytes claiming 10 h; extract --timeout 1: exit {:?} after {:.2?}, peak RSS {} KiB: {}",
        o.exit,
        o.took,
        o.rss_kib,
        o.stderr.trim()
    );
    assert_eq!(o.exit, Some(1), "{}", o.stderr);
    assert!(
        o.stderr.starts_with("audiotap: error[limit_exceeded]:") && o.stderr.contains("--timeout"),
        "{}",
        o.stderr
    );
    assert!(!out.exists(), "a stopped extraction left its output");
    assert_eq!(
        support::dir_entries(dir.path())
            .iter()
            .filter(|e| e.starts_with('.'))
            .count(),
        0,
        "temporary files left: {:?}",
        support::dir_entries(dir.path())
    );
    assert!(o.rss_kib < 256 * 1024, "peak RSS {} KiB", o.rss_kib);
}

/// A sample of the corpus as uploads to the real server, with a 2-second job budget: each
/// job ends failed with a stable code (the bomb with `job_timeout`) or succeeded, nothing
/// answers 500, and no temporary file outlives its job.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_uploads_through_the_api_fail_cleanly_within_the_job_budget() {
    use support::{ServerConfig, TestServer};
    let dir = support::tmpdir();
    let bomb_bytes = std::fs::read(bomb(dir.path())).unwrap();
    let mut picks: Vec<(String, Vec<u8>)> = Vec::new();
    for c in mp4_cases()
        .into_iter()
        .chain(wav_cases())
        .chain(mkv_cases())
        .chain(other_cases())
    {
        if [
            "stts one entry of 4G samples",
            "stsz claims 4G samples",
            "65535 channels",
            "rate 1e300",
            "20k nested moov",
            "20k nested LIST chunks before data",
            "moov 64-bit size 2^63",
            "zero-length tracks (empty stsz/stts/stsc)",
            "video only",
            "data claims 4 GiB (file is 96 KB)",
        ]
        .contains(&c.label.as_str())
        {
            picks.push((c.label, c.bytes));
        }
    }
    assert!(picks.len() >= 10, "corpus labels changed: {}", picks.len());
    picks.push(("decompression bomb".into(), bomb_bytes));
    let srv = TestServer::start(
        ServerConfig::new()
            .env("AUDIOTAP_JOB_TIMEOUT_SECS", "2")
            .env("AUDIOTAP_JOB_MAX_ATTEMPTS", "1"),
    )
    .await;
    let mut ids = Vec::new();
    for (label, bytes) in &picks {
        let r = srv
            .create_raw("/v1/jobs", bytes.clone(), "application/octet-stream")
            .await;
        r.expect_status(202);
        ids.push((label.clone(), support::job_id(&r.json())));
    }
    let mut tally: BTreeMap<String, usize> = BTreeMap::new();
    for (label, id) in &ids {
        let job = srv.wait_terminal(id).await;
        let outcome = match job["status"].as_str() {
            Some("succeeded") => "succeeded".to_string(),
            Some("failed") => {
                let code = job["error"]["code"].as_str().unwrap_or("").to_string();
                assert!(
                    is_input_failure(&code),
                    "{label}: failed with {code:?}: {job:#}"
                );
                assert!(
                    job["output"].is_null(),
                    "{label}: a failed job has an output"
                );
                code
            }
            other => panic!("{label}: ended {other:?}"),
        };
        if label == "decompression bomb" {
            assert_eq!(outcome, ErrorCode::JobTimeout.as_str(), "{job:#}");
        }
        *tally.entry(outcome).or_default() += 1;
    }
    println!("API: {} hostile uploads: {tally:?}", ids.len());
    srv.get("/healthz").await.expect_status(200);
    assert_eq!(
        support::dir_entries(&srv.data_dir().join("tmp")),
        Vec::<String>::new(),
        "temporary files left after the jobs ended"
    );
}
