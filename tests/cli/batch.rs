//! `audiotap batch`: many inputs into one folder, keeps going past bad files, plain
//! output when not on a terminal, a summary line, --skip-existing, directory and glob
//! inputs, and parallel jobs giving the same bytes as single extractions.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

const GOOD: [&str; 4] = [
    "mp4_aac.mp4",
    "mkv_vorbis.mkv",
    "mov_pcm_s16le.mov",
    "ts_aac.ts",
];

/// A temp folder with copies of the good fixtures (and optionally one bad file).
fn inputs(with_bad: bool) -> (tempfile::TempDir, Vec<PathBuf>) {
    let dir = tmpdir();
    let mut v = Vec::new();
    for n in GOOD {
        let p = dir.path().join(n);
        std::fs::copy(media_path(n), &p).unwrap();
        v.push(p);
    }
    if with_bad {
        let p = dir.path().join("broken.mp4");
        std::fs::copy(bad_dir().join("text_as.mp4"), &p).unwrap();
        v.push(p);
    }
    (dir, v)
}

fn stem(p: &Path) -> String {
    p.file_stem().unwrap().to_string_lossy().into_owned()
}

fn batch(args: &[&str]) -> Run {
    let mut a = vec!["batch"];
    a.extend_from_slice(args);
    audiotap(a)
}

/// `audiotap batch` of every file in `files` into `out`, with `extra` options.
fn batch_into(files: &[PathBuf], out: &Path, extra: &[&str]) -> Run {
    let mut args: Vec<&str> = files.iter().map(|p| p.to_str().unwrap()).collect();
    args.extend(["--out-dir", out.to_str().unwrap()]);
    args.extend_from_slice(extra);
    batch(&args)
}

/// Numbers appearing in a line ("4 ok, 1 failed" -> [4, 1]).
fn numbers(line: &str) -> Vec<u64> {
    line.split(|c: char| !c.is_ascii_digit())
        .filter(|t| !t.is_empty())
        .filter_map(|t| t.parse().ok())
        .collect()
}

fn summary(r: &Run) -> String {
    let out = r.stdout_str();
    out.lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default()
        .to_string()
}

fn assert_plain(r: &Run) {
    let all = format!("{}{}", r.stdout_str(), r.stderr);
    assert!(
        !all.contains('\x1b'),
        "ANSI escapes without a terminal:\n{}",
        r.describe()
    );
    assert!(
        !all.contains('\r'),
        "carriage returns (progress bars) without a terminal:\n{}",
        r.describe()
    );
}

fn out_names(dir: &Path) -> Vec<String> {
    dir_entries(dir)
}

fn expected_names(inputs: &[PathBuf], ext: &str) -> Vec<String> {
    let mut v: Vec<String> = inputs
        .iter()
        .map(|p| format!("{}.{ext}", stem(p)))
        .collect();
    v.sort();
    v
}

#[test]
fn keeps_going_past_a_bad_file_and_summarises() {
    let (_d, files) = inputs(true);
    let out = tmpdir();
    let r = batch_into(&files, out.path(), &[]);
    assert_eq!(
        r.code,
        Some(1),
        "one input failed: exit 1\n{}",
        r.describe()
    );
    assert!(!r.stderr.contains("panicked"));
    assert_plain(&r);
    // Exactly the good outputs: nothing for the bad file, no temp files.
    assert_eq!(
        out_names(out.path()),
        expected_names(&files[..GOOD.len()], "wav")
    );
    for (p, n) in files.iter().zip(GOOD) {
        let w = read_wav(&out.path().join(format!("{}.wav", stem(p)))).unwrap();
        let t = fixture(n).track(0);
        assert_eq!(
            (w.spec.channels, w.spec.sample_rate),
            (t.channels, t.sample_rate),
            "{n}"
        );
        assert!(w.frames > 0, "{n}: empty output");
    }
    let s = summary(&r);
    let nums = numbers(&s);
    assert!(
        nums.contains(&(GOOD.len() as u64)) && nums.contains(&1),
        "summary line should give {} succeeded and 1 failed: {s:?}\n{}",
        GOOD.len(),
        r.describe()
    );
    let all = format!("{}{}", r.stdout_str(), r.stderr);
    assert!(
        all.contains("broken.mp4"),
        "the bad file is not named:\n{}",
        r.describe()
    );
}

#[test]
fn all_good_exits_zero() {
    let (_d, files) = inputs(false);
    let out = tmpdir();
    let r = batch_into(&files, out.path(), &[]);
    assert!(r.success(), "{}", r.describe());
    assert_plain(&r);
    assert_eq!(out_names(out.path()), expected_names(&files, "wav"));
    assert!(
        numbers(&summary(&r)).contains(&(GOOD.len() as u64)),
        "{}",
        summary(&r)
    );
}

fn mtime(p: &Path) -> SystemTime {
    std::fs::metadata(p).unwrap().modified().unwrap()
}

#[test]
fn skip_existing_leaves_outputs_alone() {
    let (_d, files) = inputs(false);
    let out = tmpdir();
    let o = out.path().to_string_lossy().into_owned();
    let a = files[0].to_string_lossy().into_owned();
    let b = files[1].to_string_lossy().into_owned();
    batch(&[&a, &b, "--out-dir", &o]).ok();
    let out_a = out.path().join(format!("{}.wav", stem(&files[0])));
    let out_b = out.path().join(format!("{}.wav", stem(&files[1])));
    // Mark A so any rewrite shows; remove B so it must be made again.
    std::fs::write(&out_a, b"sentinel").unwrap();
    let before = mtime(&out_a);
    std::fs::remove_file(&out_b).unwrap();
    std::thread::sleep(Duration::from_millis(1100));
    let r = batch(&[&a, &b, "--out-dir", &o, "--skip-existing"]);
    assert!(r.success(), "skipping is not a failure: {}", r.describe());
    assert_eq!(
        std::fs::read(&out_a).unwrap(),
        b"sentinel",
        "existing output rewritten"
    );
    assert_eq!(mtime(&out_a), before, "existing output touched");
    read_wav(&out_b).expect("missing output made again");
    // Without the flag the output is rewritten (so the check above can fail).
    let r = batch(&[&a, "--out-dir", &o]);
    assert!(r.success(), "{}", r.describe());
    read_wav(&out_a).expect("rewritten without --skip-existing");
}

#[test]
fn directory_input_takes_its_media_files() {
    let (d, files) = inputs(false);
    std::fs::write(d.path().join("notes.txt"), "not media").unwrap();
    let out = tmpdir();
    let r = batch(&[
        d.path().to_str().unwrap(),
        "--out-dir",
        out.path().to_str().unwrap(),
    ]);
    assert!(r.success(), "{}", r.describe());
    assert_eq!(out_names(out.path()), expected_names(&files, "wav"));
}

#[test]
fn glob_input_is_expanded_by_the_program() {
    let (d, _files) = inputs(true);
    let out = tmpdir();
    // One argument holding the pattern, as a quoted shell word would pass it.
    let pattern = format!("{}/*.mkv", d.path().display());
    let r = batch(&[&pattern, "--out-dir", out.path().to_str().unwrap()]);
    assert!(r.success(), "{}", r.describe());
    assert_eq!(out_names(out.path()), vec!["mkv_vorbis.wav".to_string()]);
    let pattern = format!("{}/m*", d.path().display());
    let r = batch(&[&pattern, "--out-dir", out.path().to_str().unwrap()]);
    assert!(r.success(), "{}", r.describe());
    assert_eq!(
        out_names(out.path()),
        vec![
            "mkv_vorbis.wav".to_string(),
            "mov_pcm_s16le.wav".into(),
            "mp4_aac.wav".into()
        ]
    );
}

#[test]
fn parallel_jobs_match_single_extractions() {
    let (_d, files) = inputs(true);
    let out = tmpdir();
    let r = batch_into(
        &files,
        out.path(),
        &["--jobs", "2", "--sample-rate", "16000", "--channels", "1"],
    );
    assert_eq!(r.code, Some(1), "{}", r.describe());
    assert_plain(&r);
    for p in &files[..GOOD.len()] {
        let got = read_wav(&out.path().join(format!("{}.wav", stem(p)))).unwrap();
        let single = tmpdir();
        let o = single.path().join("o.wav");
        let job = ExtractArgs {
            sample_rate: Some(16000),
            channels: Some(1),
            ..Default::default()
        };
        extract(p, &o, &job, &[]).ok();
        let want = read_wav(&o).unwrap();
        assert_eq!(got.header(), want.header());
        assert!(
            got.raw == want.raw,
            "{}: batch output differs from a single extract",
            p.display()
        );
    }
}

#[test]
fn m4a_format() {
    let (_d, files) = inputs(false);
    let out = tmpdir();
    let a = files[0].to_string_lossy().into_owned();
    let r = batch(&[
        &a,
        "--out-dir",
        out.path().to_str().unwrap(),
        "--format",
        "m4a",
    ]);
    assert!(r.success(), "{}", r.describe());
    assert_eq!(
        out_names(out.path()),
        vec![format!("{}.m4a", stem(&files[0]))]
    );
    let s = m4a_codec(&out.path().join(format!("{}.m4a", stem(&files[0]))));
    assert_eq!(s, "aac");
}

fn m4a_codec(p: &Path) -> String {
    ffprobe_json(p)["streams"][0]["codec_name"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

#[test]
fn missing_out_dir_or_inputs_is_a_usage_error() {
    let (_d, files) = inputs(false);
    let a = files[0].to_string_lossy().into_owned();
    batch(&[&a]).assert_error(2, None);
    let out = tmpdir();
    batch(&["--out-dir", out.path().to_str().unwrap()]).assert_error(2, None);
    assert!(dir_entries(out.path()).is_empty());
}
