//! A Symphonia decoder on one audio track: [`open`] picks the serial [`SymphoniaDecoder`] or,
//! for a long MP4/AAC track, the [`ParallelDecoder`], and contains Symphonia's panics in
//! both.

use symphonia::core::codecs::CodecParameters;
use symphonia::core::codecs::audio::{AudioCodecParameters, AudioDecoder, AudioDecoderOptions};
use symphonia::core::errors::Error as SymError;
use symphonia::core::formats::FormatReader;

use super::contain::{Contained, contain};
use super::parallel::{self, ParallelDecoder};
use super::{container, is_lossy, map_err, open_reader};
use crate::error::{Error, Result};
use crate::media::decode::Decoder;
use crate::media::decode::cutter::{self, EditCutter};
use crate::media::decode::tally::{DecodeTally, stated_secs};
use crate::media::info::{Container, TrackInfo};
use crate::media::input::Input;
use crate::media::limits::Limits;
use crate::media::mp4::TrackEdit;

/// Tracks at least this long are decoded on several cores (when the format allows).
const PARALLEL_MIN_SECS: f64 = 60.0;
/// Length of one parallel decoding segment.
const PARALLEL_SEGMENT_SECS: f64 = 10.0;

/// A decoder on `track` of `input` (which the probe found to be a `container`), every call
/// into Symphonia contained.
pub(crate) fn open(
    input: &Input,
    container: &Container,
    track: &TrackInfo,
    limits: &Limits,
) -> Result<Box<dyn Decoder>> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(4);
    let decoder = contain("the Symphonia demuxer", || {
        Ok(
            if threads > 1 && parallel::suitable(container, track, PARALLEL_MIN_SECS) {
                Box::new(ParallelDecoder::open(
                    input,
                    track,
                    limits,
                    threads,
                    PARALLEL_SEGMENT_SECS,
                )?) as Box<dyn Decoder>
            } else {
                Box::new(SymphoniaDecoder::open(input, track, limits)?)
            },
        )
    })?;
    Ok(Box::new(Contained(decoder)))
}

pub(crate) struct SymphoniaDecoder {
    reader: Box<dyn FormatReader>,
    decoder: Box<dyn AudioDecoder>,
    track_id: u32,
    rate: u32,
    channels: usize,
    bits: Option<u32>,
    block: Vec<f32>,
    cutter: EditCutter,
    /// MP4 edit list, applied once the first block tells the true rate: Symphonia 0.6
    /// neither drops the priming nor cuts the padding.
    edit: Option<TrackEdit>,
    tally: DecodeTally,
}

impl SymphoniaDecoder {
    pub(crate) fn open(input: &Input, track: &TrackInfo, limits: &Limits) -> Result<Self> {
        let reader = open_reader(input)?;
        let st = reader
            .tracks()
            .get(track.index)
            .ok_or_else(|| Error::Internal("track vanished between probe and open".into()))?;
        let Some(CodecParameters::Audio(params)) = &st.codec_params else {
            return Err(Error::NoAudioTrack);
        };
        let params: AudioCodecParameters = params.clone();
        let track_id = st.id;
        let decoder = symphonia::default::get_codecs()
            .make_audio_decoder(&params, &AudioDecoderOptions::default())
            .map_err(|e| match e {
                SymError::Unsupported(s) => {
                    Error::UnsupportedCodec(format!("{}: {s}", track.codec))
                }
                other => map_err(other, "cannot start the decoder"),
            })?;
        let rate = params
            .sample_rate
            .filter(|&r| r > 0)
            .ok_or_else(|| Error::media("audio track has no sample rate"))?;
        let channels = params
            .channels
            .as_ref()
            .map(|c| c.count())
            .filter(|&c| c > 0)
            .unwrap_or(0);
        let bits = if is_lossy(params.codec) {
            None
        } else {
            params.bits_per_sample.or(track.bit_depth)
        };
        let edit = cutter::track_edit(input, track.index);
        let expected = stated_secs(
            &container(reader.format_info().short_name),
            track,
            edit.as_ref(),
        );
        Ok(SymphoniaDecoder {
            reader,
            decoder,
            track_id,
            rate,
            channels,
            bits,
            block: Vec::new(),
            cutter: EditCutter::default(),
            edit,
            tally: DecodeTally::new(limits, rate, expected),
        })
    }
}

impl Decoder for SymphoniaDecoder {
    fn sample_rate(&self) -> u32 {
        self.rate
    }

    fn channels(&self) -> usize {
        self.channels
    }

    fn source_bits(&self) -> Option<u32> {
        self.bits
    }

    fn next_block(&mut self) -> Result<Option<&[f32]>> {
        loop {
            if self.tally.is_done() {
                return Ok(None);
            }
            let packet = match self.reader.next_packet() {
                Ok(Some(p)) => p,
                Ok(None) | Err(SymError::ResetRequired) => {
                    self.tally.finish(self.rate)?;
                    return Ok(None);
                }
                Err(SymError::IoError(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                    self.tally.finish(self.rate)?;
                    return Ok(None);
                }
                Err(e) => return Err(map_err(e, "cannot read the next packet")),
            };
            if packet.track_id != self.track_id {
                continue;
            }
            self.tally.add_packets(1);
            let buf = match self.decoder.decode(&packet) {
                Ok(buf) => buf,
                // A packet the decoder cannot use (corrupt, or claiming an unsupported
                // feature such as a program config element) is skipped, as FFmpeg does.
                Err(e @ (SymError::DecodeError(_) | SymError::Unsupported(_))) => {
                    self.tally.bad_packet(e)?;
                    continue;
                }
                Err(e) => return Err(map_err(e, "decode failed")),
            };
            let spec = buf.spec();
            if spec.rate() != self.rate
                || (self.channels != 0 && spec.channels().count() != self.channels)
            {
                if self.tally.decoded() == 0 {
                    self.rate = spec.rate();
                    self.channels = spec.channels().count();
                } else {
                    return Err(Error::UnsupportedCodec(
                        "the stream changes sample rate or channel count midway".into(),
                    ));
                }
            }
            if self.channels == 0 {
                self.channels = spec.channels().count();
            }
            if self.tally.decoded() == 0
                && let Some(edit) = self.edit
            {
                self.cutter = EditCutter::for_edit(&edit, self.rate);
            }
            let frames = buf.frames();
            if frames == 0 {
                continue;
            }
            buf.copy_to_vec_interleaved::<f32>(&mut self.block);
            let Some(range) = self.tally.present(&mut self.cutter, frames)? else {
                // The edit list's presentation is complete: what follows is padding.
                return Ok(None);
            };
            if range.is_empty() {
                continue;
            }
            let ch = self.channels;
            return Ok(Some(&self.block[range.start * ch..range.end * ch]));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::decode::symphonia::probe::probe;
    use crate::media::growing::Arrival;
    use std::fs::File;
    use std::io::Write;
    use std::path::{Path, PathBuf};
    use std::sync::mpsc;
    use std::time::Duration;

    fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/media")
            .join(name)
    }

    fn drain(d: &mut dyn Decoder) -> Vec<f32> {
        let mut out = Vec::new();
        while let Some(b) = d.next_block().unwrap() {
            out.extend_from_slice(b);
        }
        out
    }

    /// Matroska/WebM and fragmented MP4 are probed and give a first decoded block while
    /// their last quarter has not arrived (the Matroska reader would otherwise follow the
    /// SeekHead to the Cues at the end, and the fragment walk would read every `moof`).
    #[test]
    fn matroska_and_fragmented_mp4_decode_before_they_are_whole() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["mkv_aac.mkv", "webm_vorbis.webm", "mp4_aac_frag.mp4"] {
            let data = std::fs::read(fixture(name)).unwrap();
            let path = dir.path().join(name);
            let mut file = File::create(&path).unwrap();
            let arrival = Arrival::new(Some(data.len() as u64));
            let head = data.len() * 3 / 4;
            file.write_all(&data[..head]).unwrap();
            arrival.advance(head as u64);
            let (tx, rx) = mpsc::channel();
            let p = Input::arriving(&path, arrival.handle());
            let reader = std::thread::spawn(move || {
                let info = probe(&p).expect("probe while arriving");
                let track = info.audio_tracks().next().cloned().expect("audio");
                let mut dec = SymphoniaDecoder::open(&p, &track, &Limits::default()).unwrap();
                let mut frames = 0;
                while let Some(block) = dec.next_block().unwrap() {
                    frames += block.len();
                    let _ = tx.send(());
                }
                frames
            });
            rx.recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|e| panic!("{name}: nothing decoded before the tail ({e})"));
            file.write_all(&data[head..]).unwrap();
            arrival.advance((data.len() - head) as u64);
            arrival.finish(Ok(()));
            let streamed = reader.join().unwrap();
            let whole = Input::file(fixture(name));
            let info = probe(&whole).unwrap();
            let track = info.audio_tracks().next().cloned().unwrap();
            let mut dec = SymphoniaDecoder::open(&whole, &track, &Limits::default()).unwrap();
            assert_eq!(
                streamed,
                drain(&mut dec).len(),
                "{name}: same samples streamed and whole"
            );
        }
    }

    /// The serial decode of the first audio track of `path`, and the parallel one with
    /// several thread counts and segment lengths.
    fn decode_both(path: &Path) -> Vec<(String, Vec<f32>, Vec<f32>)> {
        let input = Input::from(path);
        let info = probe(&input).unwrap();
        let track = info.audio_tracks().next().unwrap().clone();
        let limits = Limits::default();
        let serial = drain(&mut SymphoniaDecoder::open(&input, &track, &limits).unwrap());
        assert!(serial.len() > 400_000);
        [(2, 1.0), (3, 0.7), (2, 4.3)]
            .into_iter()
            .map(|(threads, seg)| {
                let par = drain(
                    &mut ParallelDecoder::open(&input, &track, &limits, threads, seg).unwrap(),
                );
                (
                    format!("{threads} threads, {seg} s segments"),
                    serial.clone(),
                    par,
                )
            })
            .collect()
    }

    /// Without perceptual noise substitution the parallel decode is the serial decode,
    /// sample for sample, wherever the cuts fall.
    #[test]
    fn parallel_equals_serial_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nopns.mp4");
        let ok = std::process::Command::new("ffmpeg")
            .args([
                "-v",
                "error",
                "-y",
                "-f",
                "lavfi",
                "-i",
                "sine=f=440:r=48000:d=10",
                "-f",
                "lavfi",
            ])
            .args([
                "-i",
                "sine=f=660:r=48000:d=10",
                "-filter_complex",
                "[0][1]amerge=inputs=2",
            ])
            .args(["-c:a", "aac", "-aac_pns", "0", "-b:a", "128k"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(ok.success());
        for (what, serial, par) in decode_both(&path) {
            assert_eq!(par.len(), serial.len(), "{what}");
            let first_diff = par
                .iter()
                .zip(&serial)
                .position(|(a, b)| a.to_bits() != b.to_bits());
            assert_eq!(first_diff, None, "{what}");
        }
    }

    /// A 10 s stereo AAC MP4 made by the ffmpeg CLI whose packets past the first `keep`
    /// (a fraction) each start with a program config element, which Symphonia's AAC decoder
    /// refuses as unsupported (the packet is skipped).
    fn aac_with_refused_tail(dir: &Path, keep: f64) -> PathBuf {
        let path = dir.join("refused.mp4");
        let ok = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
            .args(["sine=f=440:r=48000:d=10", "-ac", "2", "-c:a", "aac"])
            .arg(&path)
            .status()
            .unwrap();
        assert!(ok.success());
        let listed = std::process::Command::new("ffprobe")
            .args(["-v", "error", "-select_streams", "a:0", "-show_entries"])
            .args(["packet=pos", "-of", "default=nw=1:nk=1"])
            .arg(&path)
            .output()
            .unwrap();
        assert!(listed.status.success());
        let starts: Vec<usize> = String::from_utf8(listed.stdout)
            .unwrap()
            .lines()
            .map(|l| l.trim().parse().unwrap())
            .collect();
        assert!(starts.len() > 400, "{} packets", starts.len());
        let mut data = std::fs::read(&path).unwrap();
        let first = (starts.len() as f64 * keep) as usize;
        for &at in &starts[first..] {
            // Element id 5 (ID_PCE) in the first three bits.
            data[at] = 0b1010_0000 | (data[at] & 0b0001_1111);
        }
        std::fs::write(&path, &data).unwrap();
        path
    }

    /// Packets the decoder refuses count the same in the parallel decoder as in the serial
    /// one: a stream whose packets are refused from a third of the way in fails both, with
    /// the same figures.
    #[test]
    fn parallel_and_serial_refuse_a_corrupt_stream_alike() {
        let dir = tempfile::tempdir().unwrap();
        let input = Input::file(aac_with_refused_tail(dir.path(), 0.3));
        let track = probe(&input)
            .unwrap()
            .audio_tracks()
            .next()
            .unwrap()
            .clone();
        let limits = Limits::default();
        let run = |mut d: Box<dyn Decoder>| loop {
            match d.next_block() {
                Ok(Some(_)) => {}
                Ok(None) => break Ok(()),
                Err(e) => break Err(e),
            }
        };
        let serial = run(Box::new(
            SymphoniaDecoder::open(&input, &track, &limits).unwrap(),
        ))
        .expect_err("the serial decoder refuses the stream");
        assert!(
            serial.to_string().contains("packets failed to decode"),
            "{serial}"
        );
        for (threads, seg) in [(2, 1.0), (3, 0.7)] {
            let par = ParallelDecoder::open(&input, &track, &limits, threads, seg).unwrap();
            let par = run(Box::new(par)).expect_err("the parallel decoder refuses it too");
            assert_eq!(par.code(), serial.code(), "{threads} threads: {par}");
            assert!(
                par.to_string().contains("packets failed to decode"),
                "{par}"
            );
        }
    }

    /// With noise substitution (FFmpeg's encoder default) the noise bands draw from a
    /// generator whose state runs across the whole stream: a segment started mid-stream
    /// draws other noise. Same length, identical first segment, and the rest within the
    /// fidelity threshold (the difference is noise in noise-coded bands).
    #[test]
    fn parallel_matches_serial_with_noise_substitution() {
        for (what, serial, par) in decode_both(&fixture("mp4_aac_long.mp4")) {
            assert_eq!(par.len(), serial.len(), "{what}");
            let first_diff = par
                .iter()
                .zip(&serial)
                .position(|(a, b)| a.to_bits() != b.to_bits());
            assert!(
                first_diff.is_none_or(|i| i >= 2 * 30_000),
                "{what}: differs from sample {first_diff:?}"
            );
            let sig: f64 = serial.iter().map(|&x| f64::from(x).powi(2)).sum();
            let noise: f64 = par
                .iter()
                .zip(&serial)
                .map(|(a, b)| f64::from(a - b).powi(2))
                .sum();
            let snr = 10.0 * (sig / noise.max(1e-30)).log10();
            assert!(snr > 70.0, "{what}: {snr:.1} dB");
        }
    }
}
