//! Which back end reads a file: `--engine auto|symphonia|ffmpeg` applied to listing it
//! ([`probe`]) and to decoding it ([`open`]). Auto prefers Symphonia, the pure-Rust reader,
//! and leaves to FFmpeg what Symphonia cannot read or decode; when both fail, the error
//! names both reasons.

use crate::error::{Error, ErrorKind, Result};
use crate::media::decode::Decoder;
use crate::media::decode::symphonia;
use crate::media::ffmpeg;
use crate::media::info::{EngineKind, ProbeInfo, TrackInfo, TrackKind};
use crate::media::input::Input;
use crate::media::limits::Limits;
use crate::spec::Engine;

/// Probe an input with the chosen engine (auto: Symphonia, then FFmpeg).
pub fn probe(input: &Input, engine: Engine) -> Result<ProbeInfo> {
    // A file still arriving has no size yet (and may not have its first byte).
    let arriving = input.is_arriving();
    let path = input.path();
    let size = std::fs::metadata(path)
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?
        .len();
    if size == 0 && !arriving {
        return Err(Error::media("the input is empty (0 bytes)"));
    }
    let mut info = match engine {
        Engine::Symphonia => symphonia::probe::probe(input)?,
        Engine::Ffmpeg => ffmpeg::probe::probe(input)?,
        Engine::Auto => match symphonia::probe::probe(input) {
            // A track Symphonia cannot name (Theora in Ogg, say): list the file with FFmpeg
            // so that probe stays complete. Decoding still prefers Symphonia.
            Ok(info)
                if !info.tracks.is_empty()
                    && info.tracks.iter().all(|t| t.kind != TrackKind::Other) =>
            {
                info
            }
            Ok(_) => ffmpeg::probe::probe(input)?,
            Err(sym) => ffmpeg::probe::probe(input)
                .map_err(|ff| both_failed(("FFmpeg", ff), ("Symphonia", &sym)))?,
        },
    };
    info.size = if arriving { None } else { Some(size) };
    Ok(info)
}

/// A decoder opened on the selected track, with the facts the report needs.
pub(crate) struct Opened {
    pub(crate) track: TrackInfo,
    pub(crate) engine: EngineKind,
    pub(crate) decoder: Box<dyn Decoder>,
}

/// Probe `input`, select the track the spec names and open a decoder on it.
pub(crate) fn open(
    input: &Input,
    engine: Engine,
    select: &dyn Fn(&ProbeInfo) -> Result<TrackInfo>,
    limits: &Limits,
) -> Result<Opened> {
    let via_ffmpeg = || -> Result<Opened> {
        let probe = ffmpeg::probe::probe(input)?;
        let track = select(&probe)?;
        limits.check_declared(track.channels, track.sample_rate)?;
        let decoder = ffmpeg::decoder::FfmpegDecoder::open(input, &track, limits)?;
        Ok(Opened {
            track,
            engine: EngineKind::Ffmpeg,
            decoder: Box::new(decoder),
        })
    };
    let via_symphonia = |probe: &ProbeInfo, track: TrackInfo| -> Result<Opened> {
        limits.check_declared(track.channels, track.sample_rate)?;
        let decoder = symphonia::decoder::open(input, &probe.container, &track, limits)?;
        Ok(Opened {
            track,
            engine: EngineKind::Symphonia,
            decoder,
        })
    };
    match engine {
        Engine::Ffmpeg => via_ffmpeg(),
        Engine::Symphonia => {
            let probe = symphonia::probe::probe(input)?;
            let track = select(&probe)?;
            if let Some(why) = symphonia::caps::cannot_decode(&probe.container, &track) {
                return Err(Error::UnsupportedCodec(format!(
                    "{why} (try --engine ffmpeg)"
                )));
            }
            via_symphonia(&probe, track)
        }
        Engine::Auto => {
            let probe = match symphonia::probe::probe(input) {
                // Symphonia parsed the container but found no track in it: not a verdict.
                Ok(probe) if probe.tracks.is_empty() => return via_ffmpeg(),
                Ok(probe) => probe,
                Err(sym) => {
                    return via_ffmpeg()
                        .map_err(|ff| both_failed(("FFmpeg", ff), ("Symphonia", &sym)));
                }
            };
            // Selection errors (no audio, bad track number) are the same in both back ends.
            let track = select(&probe)?;
            if symphonia::caps::cannot_decode(&probe.container, &track).is_some() {
                return via_ffmpeg();
            }
            match via_symphonia(&probe, track) {
                Ok(opened) => Ok(opened),
                // Symphonia could parse the container but not start this stream: let FFmpeg
                // try before calling the media bad.
                Err(sym) if matches!(sym.kind(), ErrorKind::Input | ErrorKind::Unsupported) => {
                    via_ffmpeg().map_err(|ff| both_failed(("Symphonia", sym), ("FFmpeg", &ff)))
                }
                Err(e) => Err(e),
            }
        }
    }
}

/// Symphonia failed to read the file and FFmpeg failed after it. The error keeps the code
/// of `kept` (the failure that says more about the file: FFmpeg's when Symphonia could not
/// even list it, else Symphonia's) and its text gives both back ends' reasons. A failure
/// that is not about reading the media (no audio track, a limit, I/O) stands alone: the
/// other back end's reason would add nothing to it.
fn both_failed((kept_by, kept): (&str, Error), (other_by, other): (&str, &Error)) -> Error {
    let both = |m: String| format!("{kept_by}: {m}; {other_by}: {other}");
    match kept {
        Error::InvalidMedia(m) => Error::InvalidMedia(both(m)),
        Error::UnsupportedCodec(m) => Error::UnsupportedCodec(both(m)),
        Error::UnsupportedFormat(m) => Error::UnsupportedFormat(both(m)),
        alone => alone,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_both_fail_the_error_keeps_one_code_and_both_reasons() {
        let sym = Error::UnsupportedFormat("no suitable format reader".into());
        let ff = Error::media("not a recognised media container");
        let e = both_failed(("FFmpeg", ff), ("Symphonia", &sym));
        assert_eq!(e.code(), "invalid_media");
        assert_eq!(
            e.to_string(),
            "invalid media: FFmpeg: not a recognised media container; \
             Symphonia: unsupported container: no suitable format reader"
        );
        let e = both_failed(
            (
                "Symphonia",
                Error::UnsupportedCodec("aac: bad config".into()),
            ),
            ("FFmpeg", &Error::media("decoder refused")),
        );
        assert_eq!(e.code(), "unsupported_codec");
        assert!(
            e.to_string()
                .contains("Symphonia: aac: bad config; FFmpeg: invalid media")
        );
        let alone = both_failed(("FFmpeg", Error::NoAudioTrack), ("Symphonia", &sym));
        assert_eq!(alone.to_string(), "input has no audio track");
    }
}
