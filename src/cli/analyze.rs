//! `audiotap analyze`: loudness, silence and levels of one track, in one decode, with no
//! audio written.

use clap::Args;

use super::input;
use super::{exit_code, report_error};
use crate::error::Error;
use crate::media::analyze::{self, Analysis, AnalysisOptions, SilenceOptions};
use crate::media::{Control, Engine, Limits};

#[derive(Debug, Args)]
pub struct AnalyzeArgs {
    /// Input: a path, - for stdin, or an http(s) URL.
    pub input: String,
    /// Print the analysis as JSON.
    #[arg(long)]
    pub json: bool,
    /// Level below which every channel must stay for a frame to be silent, dBFS.
    #[arg(long, value_name = "DB", default_value_t = -50.0, allow_negative_numbers = true)]
    pub silence_threshold_db: f64,
    /// Shortest silence reported, seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 1.0,
        allow_negative_numbers = true
    )]
    pub silence_min_seconds: f64,
    /// The N-th audio track (0-based).
    #[arg(long, value_name = "N")]
    pub track: Option<usize>,
    /// Decoder back end.
    #[arg(long, value_enum, default_value_t = Engine::Auto)]
    pub engine: Engine,
}

pub(super) fn run(args: &AnalyzeArgs, limits: &Limits) -> i32 {
    let opts = AnalysisOptions {
        silence: SilenceOptions {
            threshold_db: args.silence_threshold_db,
            min_seconds: args.silence_min_seconds,
        },
    };
    let result = opts.validate().and_then(|()| {
        let local = input::resolve(&args.input, limits)?;
        analyze::analyze(
            local.path(),
            &opts,
            args.track,
            args.engine,
            limits,
            Control::default(),
        )
    });
    match result {
        Ok(a) if args.json => match serde_json::to_string_pretty(&a) {
            Ok(s) => {
                println!("{s}");
                0
            }
            Err(e) => {
                report_error(&Error::Internal(e.to_string()));
                1
            }
        },
        Ok(a) => {
            print!("{}", human(&args.input, &a));
            0
        }
        Err(e) => {
            report_error(&e);
            exit_code(&e)
        }
    }
}

fn db(v: Option<f64>, unit: &str) -> String {
    v.map_or_else(|| "-inf".to_string(), |v| format!("{v:.1} {unit}"))
}

fn human(input: &str, a: &Analysis) -> String {
    let l = &a.loudness;
    let s = &a.silence;
    let silent = s.spans.iter().fold(0.0, |acc, p| acc + p.duration);
    let mut out = format!(
        "{input}: {:.3} s, {} Hz, {} channel(s)\n",
        a.duration,
        a.sample_rate,
        a.channels.len()
    );
    out.push_str(&format!(
        "  loudness   {} integrated, LRA {}, true peak {}, sample peak {}\n",
        l.integrated_lufs
            .map_or_else(|| "-inf LUFS".to_string(), |v| format!("{v:.1} LUFS")),
        l.lra
            .map_or_else(|| "-".to_string(), |v| format!("{v:.1} LU")),
        db(l.true_peak_dbtp, "dBTP"),
        db(l.sample_peak_dbfs, "dBFS"),
    ));
    out.push_str(&format!("  clipped    {} samples\n", a.clipped_samples));
    out.push_str(&format!(
        "  silence    below {} dB for {} s or more: {} span(s), {silent:.3} s (leading {:.3} s, trailing {:.3} s); speech ratio {:.3}\n",
        s.threshold_db,
        s.min_seconds,
        s.spans.len(),
        s.leading,
        s.trailing,
        s.speech_ratio
    ));
    for p in &s.spans {
        out.push_str(&format!(
            "             {:>10.3} - {:>10.3} s ({:.3} s)\n",
            p.start, p.end, p.duration
        ));
    }
    out.push_str("  channel    rms        peak\n");
    for (i, c) in a.channels.iter().enumerate() {
        out.push_str(&format!(
            "  {i:<10} {:<10} {}\n",
            db(c.rms_dbfs, "dBFS"),
            db(c.peak_dbfs, "dBFS")
        ));
    }
    out
}
