//! Demux + decode: two back ends behind one small trait. Both hand the rest of the
//! pipeline interleaved `f32` blocks with encoder priming, edit lists and padding already
//! applied, so nothing after this module knows which decoder ran.

mod contain;
pub(crate) mod ffmpeg;
mod mp4edit;
mod parallel;
pub(crate) mod symphonia;

use std::path::Path;

use crate::error::{Error, Result};
use crate::media::limits::Limits;
use crate::media::probe::{EngineKind, ProbeInfo, TrackInfo};
use crate::spec::Engine;

/// Tracks at least this long are decoded on several cores (when the format allows).
const PARALLEL_MIN_SECS: f64 = 60.0;
/// Length of one parallel decoding segment.
const PARALLEL_SEGMENT_SECS: f64 = 10.0;

/// A decoder positioned on one audio track.
///
/// `next_block` returns `Ok(None)` once at the end. A corrupt packet that the decoder can
/// skip is skipped (as FFmpeg's CLI does); an error is returned only when decoding cannot
/// go on (truncated container, nothing decodable, a limit reached).
pub(crate) trait Decoder: Send {
    fn sample_rate(&self) -> u32;
    fn channels(&self) -> usize;
    /// Bits of precision of the decoded samples: the PCM/lossless depth, or `None` for
    /// lossy codecs (which decode to float).
    fn source_bits(&self) -> Option<u32>;
    fn next_block(&mut self) -> Result<Option<&[f32]>>;
}

/// A decoder opened on the selected track, with the facts the report needs.
pub(crate) struct Opened {
    /// The whole probe of the input, for callers that report it (the job's `input`).
    #[allow(dead_code, reason = "read by the service front end, not by the CLI")]
    pub(crate) probe: ProbeInfo,
    pub(crate) track: TrackInfo,
    pub(crate) engine: EngineKind,
    pub(crate) decoder: Box<dyn Decoder>,
}

/// Symphonia's probe, with a panic on malformed input turned into `invalid_media`.
pub(crate) fn symphonia_probe(path: &Path) -> Result<ProbeInfo> {
    contain::contain("the Symphonia demuxer", || symphonia::probe(path))
}

/// Probe `path`, select the track the spec names and open a decoder on it.
pub(crate) fn open(
    path: &Path,
    engine: Engine,
    select: &dyn Fn(&ProbeInfo) -> Result<TrackInfo>,
    limits: &Limits,
) -> Result<Opened> {
    let via_ffmpeg = |probe: Option<ProbeInfo>| -> Result<Opened> {
        let probe = match probe {
            Some(p) => p,
            None => ffmpeg::probe(path)?,
        };
        let track = select(&probe)?;
        limits.check_track(&track)?;
        let decoder = ffmpeg::FfmpegDecoder::open(path, &track, limits)?;
        Ok(Opened {
            probe,
            track,
            engine: EngineKind::Ffmpeg,
            decoder: Box::new(decoder),
        })
    };
    let via_symphonia = |probe: ProbeInfo| -> Result<Opened> {
        let track = select(&probe)?;
        limits.check_track(&track)?;
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(4);
        let decoder: Box<dyn Decoder> = contain::contain("the Symphonia demuxer", || {
            Ok(
                if threads > 1 && parallel::suitable(&probe.container, &track, PARALLEL_MIN_SECS) {
                    Box::new(parallel::ParallelDecoder::open(
                        path,
                        &track,
                        limits,
                        threads,
                        PARALLEL_SEGMENT_SECS,
                    )?) as Box<dyn Decoder>
                } else {
                    Box::new(symphonia::SymphoniaDecoder::open(path, &track, limits)?)
                },
            )
        })?;
        let decoder = Box::new(contain::Contained(decoder));
        Ok(Opened {
            probe,
            track,
            engine: EngineKind::Symphonia,
            decoder,
        })
    };
    match engine {
        Engine::Ffmpeg => via_ffmpeg(None),
        Engine::Symphonia => {
            let probe = symphonia_probe(path)?;
            let track = select(&probe)?;
            if let Some(why) = symphonia::cannot_decode(&probe.container, &track) {
                return Err(Error::UnsupportedCodec(format!(
                    "{why} (try --engine ffmpeg)"
                )));
            }
            via_symphonia(probe)
        }
        Engine::Auto => {
            let Ok(probe) = symphonia_probe(path) else {
                return via_ffmpeg(None);
            };
            if !symphonia::covers(&probe) {
                return via_ffmpeg(None);
            }
            // Selection errors (no audio, bad track number) are the same in both back ends.
            let track = select(&probe)?;
            if symphonia::cannot_decode(&probe.container, &track).is_some() {
                return via_ffmpeg(None);
            }
            match via_symphonia(probe) {
                Ok(opened) => Ok(opened),
                // Symphonia could parse the container but not start this stream: let FFmpeg
                // try before calling the media bad.
                Err(e)
                    if e.kind() == crate::error::ErrorKind::Input
                        || e.kind() == crate::error::ErrorKind::Unsupported =>
                {
                    via_ffmpeg(None).map_err(|_| e)
                }
                Err(e) => Err(e),
            }
        }
    }
}

/// Frames at `rate` for a span of seconds, rounded to the nearest frame.
pub(crate) fn secs_to_frames(secs: f64, rate: u32) -> u64 {
    (secs * f64::from(rate)).round().max(0.0) as u64
}

/// Applies an edit list's start skip and presented length to decoded blocks.
#[derive(Debug, Default)]
pub(crate) struct EditCutter {
    /// Frames still to drop from the start.
    skip: u64,
    /// Frames still to present, if bounded.
    keep: Option<u64>,
}

impl EditCutter {
    pub(crate) fn new(skip: u64, keep: Option<u64>) -> Self {
        EditCutter { skip, keep }
    }

    /// Drop the edit's priming and cut to its presented length, at the decoded `rate`.
    pub(crate) fn for_edit(edit: &mp4edit::TrackEdit, rate: u32) -> Self {
        let skip = (edit.media_time as f64 * f64::from(rate) / f64::from(edit.media_timescale))
            .round() as u64;
        EditCutter::new(skip, edit.duration_secs.map(|d| secs_to_frames(d, rate)))
    }

    /// The sub-range of an interleaved block of `frames` frames to present, or `None` when the
    /// presentation has ended.
    pub(crate) fn cut(&mut self, frames: usize) -> Option<std::ops::Range<usize>> {
        if self.keep == Some(0) {
            return None;
        }
        let drop = self.skip.min(frames as u64) as usize;
        self.skip -= drop as u64;
        let mut end = frames;
        if let Some(keep) = &mut self.keep {
            let avail = (frames - drop) as u64;
            let take = avail.min(*keep);
            *keep -= take;
            end = drop + take as usize;
        }
        Some(drop..end)
    }
}

/// A container that states its length exactly (MP4 sample tables) but ends early was cut
/// off: say so rather than hand back a silently shorter file.
pub(crate) fn check_not_truncated(
    decoded: u64,
    rate: u32,
    expected_secs: Option<f64>,
) -> Result<()> {
    let Some(expected) = expected_secs else {
        return Ok(());
    };
    let got = decoded as f64 / f64::from(rate.max(1));
    // Tolerance: priming and padding are at most a few codec frames.
    if got + 0.25_f64.max(expected * 0.02) < expected {
        return Err(Error::media(format!(
            "the input is truncated: decoded {got:.2} s of the {expected:.2} s its header states"
        )));
    }
    Ok(())
}

/// Skipping a corrupt packet is fine; a stream made mostly of them is not audio.
pub(crate) fn check_error_rate(packets: u64, bad: u64, last: &Option<String>) -> Result<()> {
    if bad > 16 && bad * 2 > packets {
        return Err(Error::media(format!(
            "{bad} of {packets} packets failed to decode (last: {})",
            last.as_deref().unwrap_or("unknown error")
        )));
    }
    Ok(())
}
