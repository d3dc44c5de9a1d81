//! CLI behaviour: probe output against the manifest, stdin/stdout, URL input from a local
//! HTTP server, engine selection, and the error contract (exit codes, one stderr line with
//! a stable code, no panic, nothing left in the output folder).

use crate::support::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

fn probe(f: &MFile) -> Result<Value, String> {
    let r = audiotap(["probe", &s(&f.path), "--json"]);
    if !r.success() {
        return Err(r.describe());
    }
    serde_json::from_slice(&r.stdout).map_err(|e| format!("{e}: {}", r.stdout_str()))
}

/// Differences between `audiotap probe --json` and the manifest (ffprobe) for one file.
fn probe_mismatches(f: &MFile, p: &Value) -> Vec<String> {
    let mut e = Vec::new();
    if p["container"] != f.container() {
        e.push(format!(
            "container {} (want {})",
            p["container"],
            f.container()
        ));
    }
    if p["size"] != f.size {
        e.push(format!("size {} (want {})", p["size"], f.size));
    }
    if !matches!(p["engine"].as_str(), Some("symphonia" | "ffmpeg")) {
        e.push(format!("engine {}", p["engine"]));
    }
    if let Some(d) = f.duration {
        // float|null by contract (not every container states it); when given it must
        // be right. Containers disagree on what it covers (video vs audio end): 0.1 s.
        if !p["duration"].is_null() && !approx(&p["duration"], d, 0.1) {
            e.push(format!("duration {} (ffprobe {d})", p["duration"]));
        }
    }
    let want_offset = f.audio_offset.unwrap_or(0.0);
    if f.has_audio() && !approx(&p["audio_offset"], want_offset, 0.025) {
        e.push(format!(
            "audio_offset {} (ffprobe {want_offset})",
            p["audio_offset"]
        ));
    }
    let Some(tracks) = p["tracks"].as_array() else {
        e.push("no tracks array".into());
        return e;
    };
    let audio: Vec<&Value> = tracks.iter().filter(|t| t["kind"] == "audio").collect();
    if audio.len() != f.audio.len() {
        e.push(format!(
            "{} audio tracks (want {})",
            audio.len(),
            f.audio.len()
        ));
    }
    for (i, (got, want)) in audio.iter().zip(&f.audio).enumerate() {
        let mut chk = |k: &str, ok: bool| {
            if !ok {
                e.push(format!("audio track {i}: {k} = {}", got[k]));
            }
        };
        chk("index", got["index"] == want.index);
        chk("audio_index", got["audio_index"] == i as u64);
        chk("codec", got["codec"] == want.codec.as_str());
        chk("sample_rate", got["sample_rate"] == want.sample_rate);
        chk("channels", got["channels"] == want.channels);
        if let Some(b) = want.bit_depth {
            chk("bit_depth", got["bit_depth"] == b);
        }
        if want.codec == "aac" {
            // string|null by contract; when given it must be right.
            chk(
                "profile",
                got["profile"].is_null()
                    || got["profile"].as_str().is_some_and(|p| p.contains("LC")),
            );
        }
        chk(
            "language",
            match &want.language {
                Some(l) => got["language"] == l.as_str(),
                None => got["language"].is_null() || got["language"] == "und",
            },
        );
        if let Some(st) = want.start {
            // audiotap's starts are relative to the container start, ffprobe's absolute.
            chk(
                "start",
                approx(&got["start"], st - f.container_start, 0.025),
            );
        }
        if let Some(d) = want.duration {
            chk(
                "duration",
                got["duration"].is_null() || approx(&got["duration"], d, 0.05),
            );
        }
    }
    for t in tracks {
        if t["kind"] != "audio" && !t["audio_index"].is_null() {
            e.push(format!("non-audio track with audio_index: {t}"));
        }
    }
    if let Some(vc) = &f.video_codec {
        let found = tracks
            .iter()
            .any(|t| t["kind"] == "video" && t["codec"] == vc.as_str());
        if !found {
            e.push(format!("no video track with codec {vc}"));
        }
    }
    e
}

#[test]
fn probe_json_matches_manifest_for_every_fixture() {
    let mut fails = Vec::new();
    for f in manifest() {
        match probe(f) {
            Ok(p) => {
                let m = probe_mismatches(f, &p);
                if !m.is_empty() {
                    fails.push(format!("{}: {}\n  probe: {p}", f.name, m.join("; ")));
                }
            }
            Err(e) => fails.push(format!("{}: {e}", f.name)),
        }
    }
    assert!(
        fails.is_empty(),
        "{} of {} fixtures:\n{}",
        fails.len(),
        manifest().len(),
        fails.join("\n")
    );
}

#[test]
fn probe_human_output() {
    let f = fixture("mkv_multi.mkv");
    let r = audiotap(["probe", &s(&f.path)]).ok();
    let out = r.stdout_str();
    assert!(
        serde_json::from_str::<Value>(&out).is_err(),
        "plain probe printed JSON: {out}"
    );
    for w in ["aac", "48000", "fre", "eng"] {
        assert!(out.contains(w), "probe table lacks {w}:\n{out}");
    }
}

/// An MP4 whose audio languages only its `mdhd` boxes state (Symphonia does not read
/// them): probe reports them, and `--language fra` selects the track FFmpeg's
/// `-map 0:m:language:fra` selects, on both engines and in a stream copy.
#[test]
fn mp4_languages_come_from_mdhd() {
    let f = fixture("mp4_multi.mp4");
    let p = probe(f).unwrap();
    assert_eq!(p["engine"], "symphonia", "{p}");
    let languages: Vec<&Value> = p["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|t| t["kind"] == "audio")
        .map(|t| &t["language"])
        .collect();
    assert_eq!(languages, ["eng", "fra"], "{p}");

    let dir = tmpdir();
    let reference = |language: &str| {
        let out = dir.path().join(format!("ref-{language}.wav"));
        let map = format!("0:m:language:{language}");
        #[rustfmt::skip]
        let args = [
            "-v", "error", "-nostdin", "-y", "-i", &s(&f.path), "-map", &map, "-c:a", "pcm_s16le",
            "-map_metadata", "-1", "-fflags", "+bitexact", "-flags:a", "+bitexact", &s(&out),
        ];
        tool("ffmpeg", args).ok();
        read_wav(&out).unwrap()
    };
    let (fra, eng) = (reference("fra"), reference("eng"));
    for engine in ["symphonia", "ffmpeg"] {
        let out = dir.path().join(format!("{engine}.wav"));
        let job = ExtractArgs {
            language: Some("fra".into()),
            engine: Some(engine),
            ..ExtractArgs::default()
        };
        let report = extract(&f.path, &out, &job, &["--json"]).ok().json();
        assert_eq!(report["engine"], engine, "{report}");
        assert_eq!(report["source"]["language"], "fra", "{report}");
        assert_eq!(report["source"]["track"], 1, "{report}");
        let wav = read_wav(&out).unwrap();
        let c = compare(&fra, &wav, 2048);
        assert!(c.min_snr > 40.0, "{engine}: against fra {c:?}");
        let c = compare(&eng, &wav, 2048);
        assert!(
            c.min_snr < 10.0,
            "{engine}: the eng track was extracted: {c:?}"
        );
    }
    let m4a = dir.path().join("fra.m4a");
    let report = audiotap([
        "extract",
        &s(&f.path),
        "-o",
        &s(&m4a),
        "--language",
        "fra",
        "--json",
    ])
    .ok()
    .json();
    assert_eq!(report["copied"], true, "{report}");
    assert_eq!(
        packet_md5s(&m4a, 0, true),
        packet_md5s(&f.path, 1, true),
        "the copy is not the fra track"
    );
}

#[test]
fn auto_engine_prefers_symphonia_where_supported() {
    let mut fails = Vec::new();
    for f in manifest().iter().filter(|f| f.has_audio()) {
        let dir = tmpdir();
        let out = dir.path().join("o.wav");
        let r = extract(&f.path, &out, &ExtractArgs::default(), &["--json"]);
        if !r.success() {
            fails.push(format!("{}: {}", f.name, r.describe()));
            continue;
        }
        let want = if f.symphonia() { "symphonia" } else { "ffmpeg" };
        let got = r.json()["engine"].clone();
        if got != want {
            fails.push(format!("{}: engine {got}, expected {want}", f.name));
        }
    }
    assert!(fails.is_empty(), "{}", fails.join("\n"));
}

#[test]
fn format_follows_extension_or_flag() {
    let dir = tmpdir();
    let f = fixture("mp4_aac.mp4");
    let m4a = dir.path().join("a.m4a");
    audiotap(["extract", &s(&f.path), "-o", &s(&m4a)]).ok();
    let p = ffprobe_json(&m4a);
    assert!(
        p["format"]["format_name"]
            .as_str()
            .unwrap()
            .starts_with("mov,mp4"),
        "{p}"
    );
    let bin = dir.path().join("a.bin");
    audiotap(["extract", &s(&f.path), "-o", &s(&bin), "--format", "wav"]).ok();
    read_wav(&bin).expect("--format wav writes a WAV whatever the extension");
    // No --format and an unknown extension: not specified by the contract. Either a WAV
    // (`--help` says "else wav") or a usage error with nothing written.
    let odd = dir.path().join("a.xyz");
    let r = audiotap(["extract", &s(&f.path), "-o", &s(&odd)]);
    if r.success() {
        read_wav(&odd).expect("unknown extension falls back to WAV");
    } else {
        r.assert_error(2, Some("invalid_options"));
        assert!(!odd.exists());
    }
}

// ------------------------------------------------------------------ stdin / stdout

fn file_output(f: &MFile) -> Wav {
    let dir = tmpdir();
    let out = dir.path().join("o.wav");
    extract(&f.path, &out, &ExtractArgs::default(), &[]).ok();
    read_wav(&out).unwrap()
}

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

// ------------------------------------------------------------------ URL input

struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

/// A tiny HTTP/1.1 server on 127.0.0.1: GET/HEAD `/<name>` serves the fixture with
/// Content-Length (and honours single `Range: bytes=a-b` requests with 206), anything
/// else is a 404. One response per connection.
fn serve(files: Vec<(String, Vec<u8>)>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = requests.clone();
    let files = Arc::new(files);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let files = files.clone();
            let log = log.clone();
            std::thread::spawn(move || {
                let _ = handle(conn, &files, &log);
            });
        }
    });
    Server { port, requests }
}

fn handle(
    conn: TcpStream,
    files: &[(String, Vec<u8>)],
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("range:") {
            range = Some(v.trim().to_string());
        }
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    log.lock()
        .unwrap()
        .push(format!("{method} {path} range={range:?}"));
    let mut w = conn;
    let body = files
        .iter()
        .find(|(n, _)| path == format!("/{n}"))
        .map(|(_, b)| b);
    let Some(body) = body else {
        let msg = b"not found";
        write!(
            w,
            "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            msg.len()
        )?;
        if method != "HEAD" {
            w.write_all(msg)?;
        }
        return w.flush();
    };
    let len = body.len();
    let span = range.as_deref().and_then(|r| {
        let r = r.strip_prefix("bytes=")?;
        let (a, b) = r.split_once('-')?;
        let (a, b): (usize, usize) = if a.is_empty() {
            let n: usize = b.parse().ok()?;
            (len.saturating_sub(n), len - 1)
        } else {
            let a: usize = a.parse().ok()?;
            let b = if b.is_empty() {
                len - 1
            } else {
                b.parse::<usize>().ok()?.min(len - 1)
            };
            (a, b)
        };
        (a <= b && a < len).then_some((a, b))
    });
    let (status, slice, extra) = match span {
        Some((a, b)) => (
            "206 Partial Content",
            &body[a..=b],
            format!("Content-Range: bytes {a}-{b}/{len}\r\n"),
        ),
        None => ("200 OK", &body[..], String::new()),
    };
    write!(
        w,
        "HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\nAccept-Ranges: bytes\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        slice.len()
    )?;
    if method != "HEAD" {
        w.write_all(slice)?;
    }
    w.flush()
}

fn url_run(args: &[&str]) -> Run {
    let mut cmd = std::process::Command::new(bin());
    cmd.args(args);
    cmd.env_remove("RUST_LOG");
    // In case the CLI applies the service's private-address guard: allow loopback.
    cmd.env("AUDIOTAP_URL_ALLOWLIST", "127.0.0.1");
    run_cmd(cmd, None, DEFAULT_TIMEOUT)
}

#[test]
fn url_input_matches_file_input() {
    let names = ["mp4_aac.mp4", "mkv_aac.mkv"];
    let server = serve(
        names
            .iter()
            .map(|n| (n.to_string(), std::fs::read(&fixture(n).path).unwrap()))
            .collect(),
    );
    for name in names {
        let dir = tmpdir();
        let out = dir.path().join("o.wav");
        let url = format!("http://127.0.0.1:{}/{name}", server.port);
        let r = url_run(&["extract", &url, "-o", &s(&out), "--json"]);
        assert!(
            r.success(),
            "{name} over HTTP: {}\nrequests: {:?}",
            r.describe(),
            server.requests.lock().unwrap()
        );
        assert_eq!(r.json()["input"], url.as_str());
        let a = read_wav(&out).unwrap();
        let b = file_output(fixture(name));
        assert!(
            a.raw == b.raw,
            "{name}: URL output differs from file output"
        );
    }
    let p = url_run(&[
        "probe",
        &format!("http://127.0.0.1:{}/mp4_aac.mp4", server.port),
        "--json",
    ]);
    assert!(p.success(), "{}", p.describe());
    assert_eq!(p.json()["container"], "mp4");
    println!("requests: {:#?}", server.requests.lock().unwrap());
}

#[test]
fn url_404_is_source_unreachable() {
    let server = serve(vec![]);
    let dir = tmpdir();
    let out = dir.path().join("o.wav");
    let url = format!("http://127.0.0.1:{}/missing.mp4", server.port);
    let r = url_run(&["extract", &url, "-o", &s(&out)]);
    r.assert_error(1, Some("source_unreachable"));
    assert_eq!(dir_entries(dir.path()), Vec::<String>::new());
}

#[test]
fn url_connection_refused_is_source_unreachable() {
    // Bind then drop: the port is (almost certainly) closed now.
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dir = tmpdir();
    let out = dir.path().join("o.wav");
    let r = url_run(&[
        "extract",
        &format!("http://127.0.0.1:{port}/a.mp4"),
        "-o",
        &s(&out),
    ]);
    r.assert_error(1, Some("source_unreachable"));
    assert_eq!(dir_entries(dir.path()), Vec::<String>::new());
}

// ------------------------------------------------------------------ errors

/// Runs an extraction that must fail; checks exit code, error line and that the output
/// folder is empty afterwards. Returns the error code.
fn must_fail(args: &[&str], exit: i32, code: Option<&str>) -> Result<String, String> {
    let dir = tmpdir();
    let out = dir.path().join("out.wav");
    let mut a: Vec<String> = args.iter().map(|x| x.to_string()).collect();
    if a.first().map(String::as_str) == Some("extract") && !a.iter().any(|x| x == "-o") {
        a.extend(["-o".into(), s(&out)]);
    }
    let r = audiotap(&a);
    let got = r.check_error(exit, code)?;
    if !is_stable_code(&got) {
        return Err(format!("unknown error code {got}\n{}", r.describe()));
    }
    let left = dir_entries(dir.path());
    if !left.is_empty() {
        return Err(format!(
            "left in the output folder: {left:?}\n{}",
            r.describe()
        ));
    }
    Ok(got)
}

#[track_caller]
fn fail_ok(args: &[&str], exit: i32, code: Option<&str>) {
    if let Err(e) = must_fail(args, exit, code) {
        panic!("{e}");
    }
}

#[test]
fn every_bad_fixture_fails_cleanly() {
    let mut fails = Vec::new();
    let bad = bad_files();
    assert!(bad.len() >= 5, "fixtures/bad has {} files", bad.len());
    for p in &bad {
        for engine in ["auto", "symphonia", "ffmpeg"] {
            match must_fail(&["extract", &s(p), "--engine", engine], 1, None) {
                Ok(code) => println!(
                    "{:<28} {engine:<9} -> {code}",
                    p.file_name().unwrap().to_string_lossy()
                ),
                Err(e) => fails.push(format!("{} --engine {engine}: {e}", p.display())),
            }
        }
        // probe may succeed on some (garbage payloads, complete moov) but must not crash.
        let r = audiotap(["probe", &s(p), "--json"]);
        if !(r.success() || r.check_error(1, None).is_ok()) {
            fails.push(format!("probe {}: {}", p.display(), r.describe()));
        }
    }
    assert!(fails.is_empty(), "{}", fails.join("\n\n"));
}

/// With `--engine auto`, a file that Symphonia cannot read and FFmpeg cannot read either
/// is reported with both back ends' reasons, under FFmpeg's code (the fallback's verdict):
/// `extract` and `probe` alike. A single engine reports its own reason only.
#[test]
fn auto_engine_names_both_reasons_when_both_back_ends_fail() {
    let dir = tmpdir();
    let out = s(&dir.path().join("o.wav"));
    for name in ["text_as.mp4", "corrupt_header.mkv", "truncated_mdat.mp4"] {
        let p = s(&bad_dir().join(name));
        for args in [vec!["extract", &p, "-o", &out], vec!["probe", &p, "--json"]] {
            let r = audiotap(&args);
            r.assert_error(1, Some("invalid_media"));
            let line = r.stderr.trim();
            let ffmpeg = line.find("FFmpeg: ");
            let symphonia = line.find("; Symphonia: ");
            assert!(
                ffmpeg.is_some() && symphonia > ffmpeg,
                "{args:?}: both reasons, FFmpeg's first: {line}"
            );
        }
        let r = audiotap(["extract", &p, "-o", &out, "--engine", "ffmpeg"]);
        r.assert_error(1, Some("invalid_media"));
        assert!(!r.stderr.contains("Symphonia"), "{}", r.stderr);
    }
    assert_eq!(dir_entries(dir.path()), Vec::<String>::new());
}

#[test]
fn video_only_is_no_audio_track() {
    let f = fixture("mp4_video_only.mp4");
    fail_ok(&["extract", &s(&f.path)], 1, Some("no_audio_track"));
    fail_ok(
        &["extract", &s(&f.path), "--engine", "ffmpeg"],
        1,
        Some("no_audio_track"),
    );
    // Probing it is fine: one video track, no audio.
    let p = probe(f).unwrap();
    let kinds: Vec<&str> = p["tracks"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["video"], "{p}");
}

#[test]
fn missing_track_is_track_not_found() {
    let f = s(&fixture("mp4_aac.mp4").path);
    fail_ok(&["extract", &f, "--track", "5"], 1, Some("track_not_found"));
    fail_ok(&["extract", &f, "--track", "1"], 1, Some("track_not_found"));
    let multi = s(&fixture("mkv_multi.mkv").path);
    fail_ok(
        &["extract", &multi, "--track", "2"],
        1,
        Some("track_not_found"),
    );
    fail_ok(
        &["extract", &multi, "--language", "deu"],
        1,
        Some("track_not_found"),
    );
}

#[test]
fn invalid_option_values_are_usage_errors() {
    let f = s(&fixture("mp4_aac.mp4").path);
    let mut fails = Vec::new();
    for bad in [
        &["--bit-depth", "12"][..],
        &["--bit-depth", "64"],
        &["--channels", "0"],
        &["--sample-rate", "0"],
        &["--sample-rate", "-8000"],
        &["--start", "-1"],
        &["--start=-1"],
        &["--duration", "0"],
        &["--duration", "-2"],
        &["--start", "abc"],
        &["--format", "ogg"],
        &["--codec", "mp3"],
        &["--engine", "gstreamer"],
        &["--track", "-1"],
        &["--bitrate", "0"],
    ] {
        let mut a = vec!["extract", f.as_str()];
        a.extend_from_slice(bad);
        if let Err(e) = must_fail(&a, 2, Some("invalid_options")) {
            fails.push(format!("{bad:?}: {e}"));
        }
    }
    assert!(fails.is_empty(), "{}", fails.join("\n\n"));
}

#[test]
fn inconsistent_options_are_invalid() {
    let f = s(&fixture("mp4_aac.mp4").path);
    let dir = tmpdir();
    let m4a = s(&dir.path().join("o.m4a"));
    // Copy cannot change the rate, the channels or the bit depth, nor trim sample-exactly.
    fail_ok(
        &[
            "extract",
            &f,
            "-o",
            &m4a,
            "--codec",
            "copy",
            "--sample-rate",
            "16000",
        ],
        2,
        Some("invalid_options"),
    );
    fail_ok(
        &[
            "extract",
            &f,
            "-o",
            &m4a,
            "--codec",
            "copy",
            "--channels",
            "1",
        ],
        2,
        Some("invalid_options"),
    );
    // AAC into WAV, PCM into M4A: not a combination the formats allow.
    fail_ok(
        &["extract", &f, "--codec", "aac"],
        2,
        Some("invalid_options"),
    );
    assert_eq!(dir_entries(dir.path()), Vec::<String>::new());
}

#[test]
fn usage_errors_exit_2_with_one_line() {
    let f = s(&fixture("mp4_aac.mp4").path);
    for args in [
        &["extract", f.as_str(), "--frobnicate"][..],
        &["extract"],
        &["frobnicate"],
        &["probe"],
    ] {
        let mut a: Vec<&str> = args.to_vec();
        let dir = tmpdir();
        let out = s(&dir.path().join("o.wav"));
        if a[0] == "extract" && a.len() > 1 {
            a.extend(["-o", &out]);
        }
        let r = audiotap(&a);
        r.assert_error(2, None);
        assert_eq!(dir_entries(dir.path()), Vec::<String>::new());
    }
}

/// A local input that is missing or not a file is the caller's to fix: `source_unreachable`
/// (kind Source), like a URL that cannot be fetched, never `io_error` (a fault of ours).
#[test]
fn missing_or_unreadable_input_is_source_unreachable() {
    let dir = tmpdir();
    let missing = s(&dir.path().join("nope.mp4"));
    let out = s(&dir.path().join("o.wav"));
    let r = audiotap(["extract", &missing, "-o", &out]);
    r.assert_error(1, Some("source_unreachable"));
    assert!(r.stderr.contains("nope.mp4"), "{}", r.describe());
    let folder = s(dir.path());
    audiotap(["probe", &folder]).assert_error(1, Some("source_unreachable"));
    must_fail(&["extract", &folder], 1, Some("source_unreachable")).unwrap();
}

#[test]
fn output_in_missing_directory_is_io_error() {
    let dir = tmpdir();
    let out: PathBuf = dir.path().join("no/such/dir/o.wav");
    let f = s(&fixture("mp4_aac.mp4").path);
    fail_ok(&["extract", &f, "-o", &s(&out)], 1, Some("io_error"));
    assert_eq!(dir_entries(dir.path()), Vec::<String>::new());
}

#[test]
fn failure_after_output_opened_leaves_nothing() {
    // A failure after the output file was opened must not leave partial or temp files.
    let dir = tmpdir();
    let out = dir.path().join("o.wav");
    let bad = bad_dir().join("truncated_faststart.mp4");
    let r = audiotap(["extract", &s(&bad), "-o", &s(&out)]);
    r.assert_error(1, None);
    assert_eq!(dir_entries(dir.path()), Vec::<String>::new());
}

#[test]
fn error_line_parser_is_strict() {
    assert_eq!(
        parse_error_line("audiotap: error[io_error]: boom").as_deref(),
        Some("io_error")
    );
    for l in [
        "audiotap: error[io_error]:",
        "audiotap: error[IO]: boom",
        "error[io_error]: boom",
        "audiotap: error[]: boom",
        "thread 'main' panicked at src/main.rs:1:1",
    ] {
        assert!(parse_error_line(l).is_none(), "{l}");
    }
}
