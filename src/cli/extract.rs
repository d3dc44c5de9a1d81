//! `audiotap extract`.

use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, mpsc};

use super::args::ExtractArgs;
use super::input;
use super::output::Target;
use super::report::{exit_code, report_error};
use crate::error::{Error, Result};
use crate::media::{self, Control, Format, Limits, OutputSpec, Report};
use crate::net::FetchSummary;

/// The output format: `--format`, else OUTPUT's extension, else WAV for stdout.
pub(crate) fn output_format(flag: Option<Format>, output: &str) -> Result<Format> {
    if let Some(f) = flag {
        return Ok(f);
    }
    if output == "-" {
        return Ok(Format::Wav);
    }
    Format::from_path(Path::new(output)).ok_or_else(|| {
        Error::InvalidOptions(format!(
            "cannot tell the format from {output:?}: name it .wav or .m4a, or pass --format"
        ))
    })
}

/// What `extract --json` prints: the engine's report, and how a URL input was fetched.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Extracted {
    #[serde(flatten)]
    pub report: Report,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetch: Option<FetchSummary>,
}

pub(crate) fn extract_one(
    input: &str,
    output: &str,
    spec: &OutputSpec,
    limits: &Limits,
    control: Control<'_>,
) -> Result<Extracted> {
    spec.validate()?;
    let local = input::resolve(input, limits)?;
    let target = Target::new(output)?;
    let source = media::Input::file(local.path());
    let mut report = media::extract(&source, spec, target.work_path(), limits, control)?;
    target.publish()?;
    report.input = Some(local.display.clone());
    report.output = Some(output.to_string());
    Ok(Extracted {
        report,
        fetch: local.fetch.clone(),
    })
}

pub(super) fn run(args: &ExtractArgs, limits: &Limits) -> i32 {
    let result = (|| {
        if args.json && args.output == "-" {
            return Err(Error::InvalidOptions(
                "--json prints on stdout, which -o - already uses".into(),
            ));
        }
        let format = output_format(args.opts.format, &args.output)?;
        let spec = args.opts.spec(format);
        let Some(budget) = args.timeout else {
            return extract_one(&args.input, &args.output, &spec, limits, Control::default());
        };
        // A watchdog stops the engine through its cancel flag once the budget is spent.
        let stop = Arc::new(AtomicBool::new(false));
        let (done_tx, done_rx) = mpsc::channel::<()>();
        let flag = stop.clone();
        let watchdog = std::thread::spawn(move || {
            if let Err(mpsc::RecvTimeoutError::Timeout) = done_rx.recv_timeout(budget) {
                flag.store(true, Ordering::Relaxed);
            }
        });
        let canceled = || stop.load(Ordering::Relaxed);
        let control = Control {
            progress: None,
            cancel: Some(&canceled),
        };
        let r = extract_one(&args.input, &args.output, &spec, limits, control);
        drop(done_tx);
        let _ = watchdog.join();
        match r {
            Err(Error::Canceled) if stop.load(Ordering::Relaxed) => {
                Err(Error::LimitExceeded(format!(
                    "the extraction took longer than {} s (--timeout)",
                    budget.as_secs_f64()
                )))
            }
            r => r,
        }
    })();
    match result {
        Ok(report) => {
            if args.json {
                match serde_json::to_string_pretty(&report) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        report_error(&Error::Internal(e.to_string()));
                        return 1;
                    }
                }
            }
            0
        }
        Err(e) => {
            report_error(&e);
            exit_code(&e)
        }
    }
}
