//! `audiotap batch`: many inputs, one process, a pool of worker threads. A bad file is
//! reported and the run goes on; the exit code says whether anything failed.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::args::BatchArgs;
use super::extract::{extract_one, output_format};
use super::report::{exit_code, report_error};
use crate::error::Error;
use crate::media::{Control, Format, Limits};

/// Extensions taken from a directory argument.
const MEDIA_EXTENSIONS: &[&str] = &[
    "mp4", "m4v", "m4a", "mov", "3gp", "3g2", "mkv", "mka", "webm", "avi", "ts", "mts", "m2ts",
    "flv", "ogg", "ogv", "oga", "opus", "wav", "aac", "mp3", "flac", "caf", "aif", "aiff", "mpg",
    "mpeg", "wmv", "asf",
];

fn is_media(p: &Path) -> bool {
    p.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| MEDIA_EXTENSIONS.contains(&e.to_ascii_lowercase().as_str()))
}

/// Expand the arguments: files as given, directories to their media files (sorted), globs
/// to their matches. An argument that matches nothing is itself an error entry.
fn expand(inputs: &[String]) -> Vec<Result<PathBuf, (String, Error)>> {
    let mut out = Vec::new();
    for arg in inputs {
        let path = PathBuf::from(arg);
        if path.is_dir() {
            let mut files: Vec<PathBuf> = match std::fs::read_dir(&path) {
                Ok(rd) => rd
                    .filter_map(|e| e.ok().map(|e| e.path()))
                    .filter(|p| p.is_file() && is_media(p))
                    .collect(),
                Err(e) => {
                    out.push(Err((arg.clone(), Error::unreadable(arg, e))));
                    continue;
                }
            };
            files.sort();
            out.extend(files.into_iter().map(Ok));
        } else if path.exists() || !arg.contains(['*', '?', '[']) {
            out.push(Ok(path));
        } else {
            match glob::glob(arg) {
                Ok(paths) => {
                    let mut matched: Vec<PathBuf> = paths
                        .filter_map(Result::ok)
                        .filter(|p| p.is_file())
                        .collect();
                    matched.sort();
                    if matched.is_empty() {
                        out.push(Err((
                            arg.clone(),
                            Error::InvalidOptions(format!("{arg}: no file matches")),
                        )));
                    }
                    out.extend(matched.into_iter().map(Ok));
                }
                Err(e) => out.push(Err((
                    arg.clone(),
                    Error::InvalidOptions(format!("{arg}: bad pattern: {e}")),
                ))),
            }
        }
    }
    out
}

enum Outcome {
    Done(Duration),
    Skipped,
    Failed(Error),
}

pub(super) fn run(args: &BatchArgs, limits: &Limits) -> i32 {
    let format = match output_format(args.opts.format, "-") {
        Ok(f) => f,
        Err(e) => {
            report_error(&e);
            return exit_code(&e);
        }
    };
    let spec = args.opts.spec(format);
    if let Err(e) = spec.validate() {
        report_error(&e);
        return exit_code(&e);
    }
    if let Err(e) = std::fs::create_dir_all(&args.out_dir) {
        report_error(&Error::io(
            format!("cannot create {}", args.out_dir.display()),
            e,
        ));
        return 1;
    }
    let mut failed = 0usize;
    let mut jobs: Vec<(PathBuf, PathBuf)> = Vec::new();
    let mut seen: HashMap<PathBuf, PathBuf> = HashMap::new();
    for item in expand(&args.inputs) {
        match item {
            Ok(input) => {
                let out = output_path(&args.out_dir, &input, format);
                if let Some(prev) = seen.get(&out) {
                    failed += 1;
                    println!(
                        "FAIL {}: error[{}]: its output {} is also {}'s",
                        input.display(),
                        crate::ErrorCode::InvalidOptions,
                        out.display(),
                        prev.display()
                    );
                    continue;
                }
                seen.insert(out.clone(), input.clone());
                jobs.push((input, out));
            }
            Err((arg, e)) => {
                failed += 1;
                println!("FAIL {arg}: error[{}]: {e}", e.code());
            }
        }
    }
    let workers = args
        .jobs
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
        .clamp(1, 256);
    let tty = std::io::stdout().is_terminal();
    let multi = MultiProgress::with_draw_target(if tty {
        ProgressDrawTarget::stdout()
    } else {
        ProgressDrawTarget::hidden()
    });
    let overall = multi.add(ProgressBar::new(jobs.len() as u64));
    overall.set_style(
        ProgressStyle::with_template(
            "{prefix:.bold} [{bar:30}] {pos}/{len} files, {elapsed} elapsed, eta {eta}",
        )
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> "),
    );
    overall.set_prefix("batch");
    let file_style = ProgressStyle::with_template("  {bar:20} {percent:>3}% {wide_msg}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());

    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<(usize, Outcome)>> = Mutex::new(Vec::new());
    let started = Instant::now();
    std::thread::scope(|s| {
        for _ in 0..workers.min(jobs.len().max(1)) {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((input, out)) = jobs.get(i) else {
                        break;
                    };
                    let outcome = if args.skip_existing && out.exists() {
                        Outcome::Skipped
                    } else {
                        let bar = multi.add(ProgressBar::new(1000));
                        bar.set_style(file_style.clone());
                        bar.set_message(input.display().to_string());
                        let progress = |p: f64| bar.set_position((p * 1000.0) as u64);
                        let control = Control {
                            progress: Some(&progress),
                            cancel: None,
                        };
                        let t0 = Instant::now();
                        let r = extract_one(
                            &input.to_string_lossy(),
                            &out.to_string_lossy(),
                            &spec,
                            limits,
                            control,
                        );
                        bar.finish_and_clear();
                        multi.remove(&bar);
                        match r {
                            Ok(_) => Outcome::Done(t0.elapsed()),
                            Err(e) => Outcome::Failed(e),
                        }
                    };
                    let line = match &outcome {
                        Outcome::Done(d) => format!(
                            "ok   {} -> {} ({:.2} s)",
                            input.display(),
                            out.display(),
                            d.as_secs_f64()
                        ),
                        Outcome::Skipped => {
                            format!("skip {} ({} exists)", input.display(), out.display())
                        }
                        Outcome::Failed(e) => {
                            format!("FAIL {}: error[{}]: {e}", input.display(), e.code())
                        }
                    };
                    if tty {
                        multi.suspend(|| println!("{line}"));
                    } else {
                        println!("{line}");
                    }
                    overall.inc(1);
                    if let Ok(mut r) = results.lock() {
                        r.push((i, outcome));
                    }
                }
            });
        }
    });
    overall.finish_and_clear();
    let results = results.into_inner().unwrap_or_default();
    let ok = results
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Done(_)))
        .count();
    let skipped = results
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Skipped))
        .count();
    failed += results
        .iter()
        .filter(|(_, o)| matches!(o, Outcome::Failed(_)))
        .count();
    println!(
        "batch: {ok} succeeded, {failed} failed, {skipped} skipped in {:.2} s ({} workers)",
        started.elapsed().as_secs_f64(),
        workers
    );
    if failed > 0 { 1 } else { 0 }
}

fn output_path(dir: &Path, input: &Path, format: Format) -> PathBuf {
    let stem = input
        .file_stem()
        .map_or_else(|| "output".into(), |s| s.to_string_lossy().into_owned());
    dir.join(format!("{stem}.{}", format.extension()))
}
