//! `audiotap waveform`: BBC audiowaveform peaks (JSON or `.dat`) of one track, written
//! atomically.

use std::io::Write;
use std::path::Path;

use clap::Args;

use super::input;
use super::output::Target;
use super::{exit_code, report_error};
use crate::error::{Error, Result};
use crate::media::analyze::{self, WaveformFormat, WaveformOptions};
use crate::media::{Control, Engine, Limits};

#[derive(Debug, Args)]
pub struct WaveformArgs {
    /// Input: a path, - for stdin, or an http(s) URL.
    pub input: String,
    /// Output: peaks.json or peaks.dat, or - for stdout (with --format).
    #[arg(short, long, value_name = "OUTPUT")]
    pub output: String,
    /// Output format (default: from OUTPUT's extension).
    #[arg(long, value_enum)]
    pub format: Option<WaveformFormat>,
    /// At most N pixels over the whole track.
    #[arg(long, value_name = "N", group = "zoom")]
    pub points: Option<u64>,
    /// Pixels per second of audio.
    #[arg(long, value_name = "N", group = "zoom")]
    pub pixels_per_second: Option<u32>,
    /// Audio samples per pixel (default 256).
    #[arg(long, value_name = "N", group = "zoom")]
    pub samples_per_pixel: Option<u32>,
    /// Resolution of the values: 8 or 16 bits.
    #[arg(long, value_name = "BITS", default_value_t = 16)]
    pub bits: u8,
    /// One waveform per channel instead of a mono mixdown.
    #[arg(long)]
    pub split_channels: bool,
    /// The N-th audio track (0-based).
    #[arg(long, value_name = "N")]
    pub track: Option<usize>,
    /// Decoder back end.
    #[arg(long, value_enum, default_value_t = Engine::Auto)]
    pub engine: Engine,
}

fn output_format(flag: Option<WaveformFormat>, output: &str) -> Result<WaveformFormat> {
    if let Some(f) = flag {
        return Ok(f);
    }
    WaveformFormat::from_path(Path::new(output)).ok_or_else(|| {
        Error::InvalidOptions(format!(
            "cannot tell the waveform format from {output:?}: name it .json or .dat, or pass --format"
        ))
    })
}

pub(super) fn run(args: &WaveformArgs, limits: &Limits) -> i32 {
    let opts = WaveformOptions {
        points: args.points,
        pixels_per_second: args.pixels_per_second,
        samples_per_pixel: args.samples_per_pixel,
        bits: Some(args.bits),
        split_channels: args.split_channels,
    };
    let result = (|| {
        let format = output_format(args.format, &args.output)?;
        opts.zoom()?;
        let local = input::resolve(&args.input, limits)?;
        let peaks = analyze::waveform::waveform(
            local.path(),
            &opts,
            args.track,
            args.engine,
            limits,
            Control::default(),
        )?;
        let target = Target::new(&args.output)?;
        let write = |path: &Path| -> std::io::Result<()> {
            let mut w = std::io::BufWriter::new(std::fs::File::create(path)?);
            peaks.write(format, &mut w)?;
            w.flush()
        };
        write(target.work_path())
            .map_err(|e| Error::io(format!("cannot write {}", args.output), e))?;
        target.publish()
    })();
    match result {
        Ok(()) => 0,
        Err(e) => {
            report_error(&e);
            exit_code(&e)
        }
    }
}
