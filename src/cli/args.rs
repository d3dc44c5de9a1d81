//! The command line as clap parses it: [`Cli`], its subcommands and their flags, and the
//! step from flags to the engine's [`OutputSpec`] ([`OutputArgs::spec`]).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::spec::{Codec, Engine, Format, OutputSpec, SampleFormat};

#[derive(Debug, Parser)]
#[command(
    name = "audiotap",
    version,
    about = "Extract the audio track from video: fast, sample-exact, safe on hostile input"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Extract one audio track to WAV or M4A.
    Extract(ExtractArgs),
    /// Show the container, duration and tracks of a media file.
    Probe(ProbeArgs),
    /// Extract many files in parallel into a folder.
    Batch(BatchArgs),
    /// Measure loudness (EBU R128), silences and levels of one audio track.
    Analyze(super::analyze::AnalyzeArgs),
    /// Write waveform peaks (BBC audiowaveform JSON or .dat) of one audio track.
    Waveform(super::waveform::WaveformArgs),
    /// Run the HTTP service.
    Serve(ServeArgs),
    /// Print the HTTP API's OpenAPI document (YAML).
    #[command(hide = true)]
    Openapi,
}

/// Output options shared by `extract` and `batch`.
#[derive(Debug, Clone, Args)]
pub struct OutputArgs {
    /// Output format (default: from OUTPUT's extension, .wav or .m4a; wav for stdout).
    #[arg(long, value_enum)]
    pub format: Option<Format>,
    /// Output sample rate in Hz (default: the source's).
    #[arg(long, value_name = "HZ")]
    pub sample_rate: Option<u32>,
    /// Bits per sample: 8, 16, 24, 32 (integer) or 32f (float). With M4A: ALAC.
    #[arg(long, value_name = "BITS", value_parser = parse_bit_depth)]
    pub bit_depth: Option<(u16, SampleFormat)>,
    /// Output channels (default: the source's; 1 = mono downmix, 2 = stereo downmix).
    #[arg(long, value_name = "N")]
    pub channels: Option<u16>,
    /// The N-th audio track (0-based).
    #[arg(long, value_name = "N")]
    pub track: Option<usize>,
    /// The first audio track in this language (as the container tags it, e.g. eng).
    #[arg(long, value_name = "CODE")]
    pub language: Option<String>,
    /// Seconds to skip from the start of the audio track.
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub start: Option<f64>,
    /// Seconds to keep.
    #[arg(long, value_name = "SECONDS", allow_negative_numbers = true)]
    pub duration: Option<f64>,
    /// Output codec: auto copies AAC into M4A when nothing forces a re-encode.
    #[arg(long, value_enum, default_value_t = Codec::Auto)]
    pub codec: Codec,
    /// AAC bit rate in bits per second (default 128000).
    #[arg(long, value_name = "BPS")]
    pub bitrate: Option<u32>,
    /// Decoder back end.
    #[arg(long, value_enum, default_value_t = Engine::Auto)]
    pub engine: Engine,
}

fn parse_bit_depth(s: &str) -> Result<(u16, SampleFormat), String> {
    match s {
        "8" => Ok((8, SampleFormat::Int)),
        "16" => Ok((16, SampleFormat::Int)),
        "24" => Ok((24, SampleFormat::Int)),
        "32" => Ok((32, SampleFormat::Int)),
        "32f" | "f32" | "float" => Ok((32, SampleFormat::Float)),
        other => Err(format!("{other:?} is not one of 8, 16, 24, 32, 32f")),
    }
}

impl OutputArgs {
    /// The engine spec for these flags, the format already decided.
    pub fn spec(&self, format: Format) -> OutputSpec {
        OutputSpec {
            format,
            sample_rate: self.sample_rate,
            bit_depth: self.bit_depth.map(|(b, _)| b),
            sample_format: self.bit_depth.map(|(_, f)| f),
            channels: self.channels,
            track: self.track,
            language: self.language.clone(),
            start: self.start,
            duration: self.duration,
            codec: self.codec,
            bitrate: self.bitrate,
            engine: self.engine,
        }
    }
}

#[derive(Debug, Args)]
pub struct ExtractArgs {
    /// Input: a path, - for stdin, or an http(s) URL.
    pub input: String,
    /// Output: a path, or - for stdout.
    #[arg(short, long, value_name = "OUTPUT")]
    pub output: String,
    #[command(flatten)]
    pub opts: OutputArgs,
    /// Print a JSON report of what was written on stdout.
    #[arg(long)]
    pub json: bool,
    /// Wall-time budget of the extraction in seconds: past it the job stops with
    /// `limit_exceeded` and leaves no output (default: none).
    #[arg(long, value_name = "SECONDS", value_parser = parse_timeout)]
    pub timeout: Option<std::time::Duration>,
}

fn parse_timeout(s: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = s
        .parse()
        .map_err(|_| format!("{s:?} is not a number of seconds"))?;
    if !(secs.is_finite() && secs > 0.0 && secs <= 1e9) {
        return Err(format!(
            "{s}: the timeout must be a positive number of seconds"
        ));
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[derive(Debug, Args)]
pub struct ProbeArgs {
    /// Input: a path, - for stdin, or an http(s) URL.
    pub input: String,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
    /// Decoder back end used to read the container.
    #[arg(long, value_enum, default_value_t = Engine::Auto)]
    pub engine: Engine,
}

#[derive(Debug, Args)]
pub struct BatchArgs {
    /// Input files, directories (their media files) or glob patterns.
    #[arg(required = true)]
    pub inputs: Vec<String>,
    /// Folder for the outputs, written as <input stem>.<ext>.
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,
    #[command(flatten)]
    pub opts: OutputArgs,
    /// Files extracted at once (default: number of cores).
    #[arg(long, short = 'j', value_name = "N", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub jobs: Option<u16>,
    /// Leave inputs whose output already exists alone.
    #[arg(long)]
    pub skip_existing: bool,
}

#[derive(Debug, Args)]
pub struct ServeArgs {
    /// Configuration file.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// What this process does: `all`, only the HTTP API (`api`), or only jobs and webhook
    /// deliveries (`worker`). Overrides AUDIOTAP_ROLE.
    #[arg(long, value_enum)]
    pub role: Option<crate::config::Role>,
}
