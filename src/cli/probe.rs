//! `audiotap probe`.

use super::args::ProbeArgs;
use super::input;
use super::report::{exit_code, report_error};
use crate::media::{self, Limits, ProbeInfo};
use crate::net::FetchSummary;

pub(super) fn run(args: &ProbeArgs, limits: &Limits) -> i32 {
    let result = input::resolve(&args.input, limits).and_then(|local| {
        let info = media::probe(&media::Input::file(local.path()), args.engine)?;
        Ok(Probed {
            info,
            fetch: local.fetch.clone(),
        })
    });
    match result {
        Ok(info) if args.json => match serde_json::to_string_pretty(&info) {
            Ok(s) => {
                println!("{s}");
                0
            }
            Err(e) => {
                report_error(&crate::Error::Internal(e.to_string()));
                1
            }
        },
        Ok(probed) => {
            print!("{}", human(&args.input, &probed));
            0
        }
        Err(e) => {
            report_error(&e);
            exit_code(&e)
        }
    }
}

/// What `probe --json` prints: the engine's probe, and how a URL input was fetched.
#[derive(Debug, serde::Serialize)]
struct Probed {
    #[serde(flatten)]
    info: ProbeInfo,
    #[serde(skip_serializing_if = "Option::is_none")]
    fetch: Option<FetchSummary>,
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_string(), |v| v.to_string())
}

fn human(input: &str, probed: &Probed) -> String {
    let info = &probed.info;
    let mut s = format!(
        "{input}: {} ({} bytes), duration {}, read by {:?}\n",
        info.container,
        opt(info.size),
        info.duration
            .map_or("unknown".into(), |d| format!("{d:.3} s")),
        info.engine
    );
    s.push_str("  #  kind      codec        profile   rate    ch  layout  bits  lang  start     duration\n");
    for t in &info.tracks {
        let kind = match t.audio_index {
            Some(a) => format!("audio:{a}"),
            None => format!("{:?}", t.kind).to_lowercase(),
        };
        s.push_str(&format!(
            "  {:<2} {:<9} {:<12} {:<9} {:<7} {:<3} {:<7} {:<5} {:<5} {:<9.3} {}\n",
            t.index,
            kind,
            t.codec,
            opt(t.profile.as_deref()),
            opt(t.sample_rate),
            opt(t.channels),
            opt(t.channel_layout.as_deref()),
            opt(t.bit_depth),
            opt(t.language.as_deref()),
            t.start,
            t.duration.map_or("-".into(), |d| format!("{d:.3}")),
        ));
    }
    if let Some(f) = &probed.fetch {
        s.push_str(&format!(
            "  fetched {} of {} bytes ({:?} read, {} requests)\n",
            f.bytes_fetched,
            opt(f.source_size),
            f.method,
            f.requests
        ));
    }
    if info.audio_offset > 0.0 {
        s.push_str(&format!(
            "  audio starts {:.3} s after the container start\n",
            info.audio_offset
        ));
    }
    s
}
