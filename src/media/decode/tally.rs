//! The bookkeeping every decoder keeps while it runs: frames decoded against the duration
//! limit, packets skipped as corrupt against the rate that means "not audio", and at the
//! end whether anything was decoded and whether a container that states its length was cut
//! off. One type for all back ends, so they refuse the same streams.

use std::ops::Range;

use super::cutter::EditCutter;
use crate::error::{Error, Result};
use crate::media::info::{Container, TrackInfo};
use crate::media::limits::Limits;
use crate::media::mp4::TrackEdit;

#[derive(Debug)]
pub(crate) struct DecodeTally {
    decoded_frames: u64,
    max_frames: u64,
    packets: u64,
    bad_packets: u64,
    last_error: Option<String>,
    /// The length the container states exactly, checked at the end.
    expected_secs: Option<f64>,
    done: bool,
}

/// The length a track's container states exactly, which a decode must reach: an MP4's edit
/// list or sample tables (the probe's duration is the edit's presented length when there
/// is one). Other containers' durations are estimates from a header and are not checked.
pub(crate) fn stated_secs(
    container: &Container,
    track: &TrackInfo,
    edit: Option<&TrackEdit>,
) -> Option<f64> {
    (*container == Container::Mp4)
        .then(|| edit.and_then(|e| e.duration_secs).or(track.duration))
        .flatten()
}

impl DecodeTally {
    /// A tally for a track whose header states `rate` (the duration limit is counted in
    /// frames at that rate) and whose decode must reach `expected_secs`.
    pub(crate) fn new(limits: &Limits, rate: u32, expected_secs: Option<f64>) -> Self {
        DecodeTally {
            decoded_frames: 0,
            max_frames: limits.max_frames(rate.max(1)),
            packets: 0,
            bad_packets: 0,
            last_error: None,
            expected_secs,
            done: false,
        }
    }

    /// Frames decoded so far (before any edit is applied).
    pub(crate) fn decoded(&self) -> u64 {
        self.decoded_frames
    }

    /// True once the decoder has nothing more to give.
    pub(crate) fn is_done(&self) -> bool {
        self.done
    }

    /// `n` more packets of the track reached the decoder.
    pub(crate) fn add_packets(&mut self, n: u64) {
        self.packets += n;
    }

    /// The decoder refused a packet (already counted): skipped, unless most of the stream
    /// so far was refused, which is not audio.
    pub(crate) fn bad_packet(&mut self, why: impl ToString) -> Result<()> {
        self.bad_packets += 1;
        self.last_error = Some(why.to_string());
        if self.bad_packets > 16 && self.bad_packets * 2 > self.packets {
            return Err(Error::media(format!(
                "{} of {} packets failed to decode (last: {})",
                self.bad_packets,
                self.packets,
                self.last_error.as_deref().unwrap_or("unknown error")
            )));
        }
        Ok(())
    }

    /// Count a decoded block of `frames` frames against the duration limit and cut it to
    /// the presentation: the range of the block to hand on (possibly empty), or `None` once
    /// the presentation has ended (the rest is padding).
    pub(crate) fn present(
        &mut self,
        cutter: &mut EditCutter,
        frames: usize,
    ) -> Result<Option<Range<usize>>> {
        self.decoded_frames += frames as u64;
        if self.decoded_frames > self.max_frames {
            return Err(Error::LimitExceeded(
                "the audio track is longer than the duration limit".into(),
            ));
        }
        let range = cutter.cut(frames);
        self.done |= range.is_none();
        Ok(range)
    }

    /// The stream ended at `rate`: fail when nothing was decoded, or when a container that
    /// states its length exactly (MP4 sample tables) ended early, rather than hand back a
    /// silently shorter file.
    pub(crate) fn finish(&mut self, rate: u32) -> Result<()> {
        self.done = true;
        if self.decoded_frames == 0 {
            return Err(Error::media(match &self.last_error {
                Some(e) => format!("no audio could be decoded: {e}"),
                None => "the audio track holds no samples".to_string(),
            }));
        }
        let Some(expected) = self.expected_secs else {
            return Ok(());
        };
        let got = self.decoded_frames as f64 / f64::from(rate.max(1));
        // Tolerance: priming and padding are at most a few codec frames.
        if got + 0.25_f64.max(expected * 0.02) < expected {
            return Err(Error::media(format!(
                "the input is truncated: decoded {got:.2} s of the {expected:.2} s its header states"
            )));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(secs: f64) -> Limits {
        Limits {
            max_duration_secs: secs,
            ..Limits::default()
        }
    }

    #[test]
    fn the_duration_limit_counts_decoded_frames() {
        let mut t = DecodeTally::new(&limits(1.0), 1000, None);
        let mut cut = EditCutter::default();
        assert_eq!(t.present(&mut cut, 600).unwrap(), Some(0..600));
        let e = t.present(&mut cut, 600).unwrap_err();
        assert_eq!(e.code(), "limit_exceeded");
    }

    #[test]
    fn a_stream_of_mostly_bad_packets_is_not_audio() {
        let mut t = DecodeTally::new(&limits(60.0), 1000, None);
        // The first 16 are skipped whatever the rate, the next as long as at most half are bad.
        t.add_packets(16);
        for _ in 0..16 {
            t.bad_packet("corrupt").unwrap();
        }
        t.add_packets(24);
        for _ in 0..4 {
            t.bad_packet("corrupt").unwrap();
        }
        let e = t.bad_packet("corrupt").unwrap_err();
        assert!(e.to_string().contains("21 of 40 packets"), "{e}");
    }

    #[test]
    fn the_end_checks_that_something_and_enough_was_decoded() {
        let mut empty = DecodeTally::new(&limits(60.0), 1000, None);
        assert!(
            empty
                .finish(1000)
                .unwrap_err()
                .to_string()
                .contains("holds no samples")
        );
        assert!(empty.is_done());

        let mut failed = DecodeTally::new(&limits(60.0), 1000, None);
        failed.add_packets(1);
        failed.bad_packet("bad bits").unwrap();
        let e = failed.finish(1000).unwrap_err().to_string();
        assert!(e.contains("no audio could be decoded: bad bits"), "{e}");

        let mut cut = EditCutter::default();
        let mut short = DecodeTally::new(&limits(60.0), 1000, Some(10.0));
        short.present(&mut cut, 5000).unwrap();
        let e = short.finish(1000).unwrap_err().to_string();
        assert!(
            e.contains("truncated: decoded 5.00 s of the 10.00 s"),
            "{e}"
        );

        let mut whole = DecodeTally::new(&limits(60.0), 1000, Some(10.0));
        whole.present(&mut cut, 9_900).unwrap();
        assert!(whole.finish(1000).is_ok(), "within the tolerance");
    }

    #[test]
    fn only_mp4_states_its_length_exactly() {
        let track = TrackInfo {
            index: 0,
            kind: crate::media::info::TrackKind::Audio,
            audio_index: Some(0),
            codec: "aac".into(),
            profile: None,
            sample_rate: Some(48_000),
            channels: Some(2),
            channel_layout: None,
            bit_depth: None,
            language: None,
            start: 0.0,
            duration: Some(4.0),
        };
        let edit = TrackEdit {
            duration_secs: Some(3.5),
            ..TrackEdit::default()
        };
        let fragmented = TrackEdit::default();
        assert_eq!(stated_secs(&Container::Mp4, &track, Some(&edit)), Some(3.5));
        assert_eq!(
            stated_secs(&Container::Mp4, &track, Some(&fragmented)),
            Some(4.0)
        );
        assert_eq!(stated_secs(&Container::Mp4, &track, None), Some(4.0));
        assert_eq!(stated_secs(&Container::Matroska, &track, None), None);
    }
}
