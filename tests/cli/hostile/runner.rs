//! Running the corpus: each file through the binary under GNU time (`probe`, `extract` with
//! each engine), each run judged against the contract, the outcomes tallied and reported.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::corpus::Case;
use super::{HANG, RSS_LIMIT_KIB, is_input_failure};
use crate::support;

pub(super) struct Outcome {
    pub(super) exit: Option<i32>,
    signal: bool,
    hang: bool,
    pub(super) stderr: String,
    pub(super) rss_kib: u64,
    pub(super) took: Duration,
}

/// Run the binary under GNU time; kill it after [`HANG`].
pub(super) fn run(args: &[&str], dir: &Path) -> Outcome {
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
pub(super) struct Tally {
    pub(super) runs: usize,
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

pub(super) fn run_corpus(cases: Vec<Case>) -> Tally {
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

pub(super) fn report(name: &str, n_files: usize, t: &Tally) {
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
