//! Regression inputs: every file in `fixtures/regress/` once made audiotap (or a library
//! under it) panic, crash or misbehave; `fixtures/regress/README.md` says where each came
//! from. Each goes through `probe` and `extract` with every engine and must end in a clean
//! success or the one-line error contract, never a panic, a signal or a hang.

use std::time::Duration;

use crate::support::*;

#[test]
fn every_regression_input_ends_cleanly() {
    let dir = root().join("fixtures/regress");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("fixtures/regress")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e != "md"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 2,
        "no regression inputs in {}",
        dir.display()
    );
    let out_dir = tmpdir();
    let mut errs = Vec::new();
    for f in &files {
        let inp = f.to_str().unwrap();
        let mut runs = vec![(
            "probe".to_string(),
            audiotap_opts(["probe", inp, "--json"], None, Duration::from_secs(60)),
            None,
        )];
        for engine in ["auto", "symphonia", "ffmpeg"] {
            // WAV, M4A (AAC, or a copy) and ALAC.
            for (ext, bits) in [("wav", None), ("m4a", None), ("m4a", Some("16"))] {
                let out = out_dir
                    .path()
                    .join(format!("o-{engine}-{}.{ext}", bits.is_some()));
                let mut args = vec!["extract", inp, "-o", out.to_str().unwrap()];
                args.extend(["--engine", engine]);
                if let Some(b) = bits {
                    args.extend(["--bit-depth", b]);
                }
                let r = audiotap_opts(args, None, Duration::from_secs(60));
                runs.push((format!("extract {engine} -> {ext} {bits:?}"), r, Some(out)));
            }
        }
        for (what, r, out) in runs {
            let ctx = format!("{} / {what}", f.file_name().unwrap().to_string_lossy());
            if r.success() {
                if let Some(o) = &out {
                    assert!(o.exists(), "{ctx}: exit 0 without an output");
                    let _ = std::fs::remove_file(o);
                }
                continue;
            }
            match r.check_error(1, None) {
                // Hostile input is the client's problem: never an internal or I/O error
                // (those would be a 500 in the API).
                Ok(code) if code == "internal" || code == "io_error" => errs.push(format!(
                    "{ctx}: server-side error code {code}\n{}",
                    r.describe()
                )),
                Ok(_) => {}
                Err(e) => errs.push(format!("{ctx}: {e}")),
            }
            if let Some(o) = &out
                && o.exists()
            {
                errs.push(format!("{ctx}: failed but left {}", o.display()));
            }
        }
    }
    assert!(errs.is_empty(), "{}", errs.join("\n\n"));
}
