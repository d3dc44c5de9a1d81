//! Silence spans: runs of frames in which every channel stays below a threshold, kept when
//! they last at least a minimum time.
//!
//! # Definition
//!
//! The level of a frame is the largest magnitude among its channels (a window of one
//! frame, gated on all channels at once: the frame is silent only if every channel is
//! below the threshold). A span starts at its first silent frame and ends at the first
//! frame that is not (or at the end of the audio), and is kept when it lasts at least
//! `min_seconds`. This is FFmpeg's `silencedetect` rule (`|x| < 10^(n/20)` for each
//! sample, across all channels, with `d` as the minimum), so the spans agree with
//! `silencedetect=n=<threshold_db>dB:d=<min_seconds>` to the sample: the only difference
//! is a run that starts or ends between two channels of one frame and lasts within one
//! frame of the minimum, which FFmpeg may count as one frame shorter or longer.
//!
//! An RMS over a longer window was the other candidate: it moves every edge by up to half
//! a window and breaks the 10 ms agreement with `silencedetect` that users compare
//! against, while a one-frame window is RMS and peak at once for a single channel.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// What counts as silence.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SilenceOptions {
    /// Level below which a frame is silent, dBFS (-120..=0; default -50).
    #[serde(default = "default_threshold_db")]
    pub threshold_db: f64,
    /// Shortest silence reported, seconds (above 0, at most 86400; default 1.0).
    #[serde(default = "default_min_seconds")]
    pub min_seconds: f64,
}

fn default_threshold_db() -> f64 {
    -50.0
}

fn default_min_seconds() -> f64 {
    1.0
}

impl Default for SilenceOptions {
    fn default() -> Self {
        SilenceOptions {
            threshold_db: default_threshold_db(),
            min_seconds: default_min_seconds(),
        }
    }
}

impl SilenceOptions {
    pub fn validate(&self) -> Result<()> {
        if !(self.threshold_db.is_finite() && (-120.0..=0.0).contains(&self.threshold_db)) {
            return Err(Error::InvalidOptions(format!(
                "silence threshold {} dB is out of range: use -120 to 0 dBFS",
                self.threshold_db
            )));
        }
        if !(self.min_seconds.is_finite() && self.min_seconds > 0.0 && self.min_seconds <= 86_400.0)
        {
            return Err(Error::InvalidOptions(format!(
                "silence minimum {} s is out of range: use more than 0 and at most 86400 seconds",
                self.min_seconds
            )));
        }
        Ok(())
    }
}

/// One silence, in seconds from the first decoded sample.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct SilenceSpan {
    pub start: f64,
    pub end: f64,
    pub duration: f64,
}

/// The silences of one track.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Silence {
    pub threshold_db: f64,
    pub min_seconds: f64,
    pub spans: Vec<SilenceSpan>,
    /// Seconds of silence at the very start (0 when the audio does not start silent).
    pub leading: f64,
    /// Seconds of silence at the very end.
    pub trailing: f64,
    /// Share of the duration outside the spans, 0..1 (0 for empty audio).
    pub speech_ratio: f64,
}

/// Streaming detector over interleaved frames.
#[derive(Debug)]
pub struct SilenceDetector {
    opts: SilenceOptions,
    rate: u32,
    channels: usize,
    /// Linear threshold; samples compare in f64 as silencedetect's do.
    threshold: f64,
    min_frames: u64,
    /// Frames seen so far.
    pos: u64,
    /// First frame of the silent run in progress.
    run: Option<u64>,
    spans: Vec<(u64, u64)>,
}

impl SilenceDetector {
    /// `opts` must have passed [`SilenceOptions::validate`].
    pub fn new(opts: SilenceOptions, rate: u32, channels: usize) -> Self {
        SilenceDetector {
            opts,
            rate,
            channels: channels.max(1),
            threshold: 10f64.powf(opts.threshold_db / 20.0),
            // As silencedetect: the duration rounded to whole samples.
            min_frames: ((opts.min_seconds * f64::from(rate)).round() as u64).max(1),
            pos: 0,
            run: None,
            spans: Vec::new(),
        }
    }

    pub fn push(&mut self, frames: &[f32]) {
        let t = self.threshold;
        for frame in frames.chunks_exact(self.channels) {
            let silent = frame.iter().all(|&x| f64::from(x.abs()) < t);
            match (silent, self.run) {
                (true, None) => self.run = Some(self.pos),
                (false, Some(start)) => {
                    self.close(start, self.pos);
                    self.run = None;
                }
                _ => {}
            }
            self.pos += 1;
        }
    }

    fn close(&mut self, start: u64, end: u64) {
        if end - start >= self.min_frames {
            self.spans.push((start, end));
        }
    }

    pub fn finish(mut self) -> Silence {
        if let Some(start) = self.run.take() {
            self.close(start, self.pos);
        }
        let rate = f64::from(self.rate.max(1));
        let secs = |f: u64| f as f64 / rate;
        let total = self.pos;
        let silent: u64 = self.spans.iter().map(|(s, e)| e - s).sum();
        let leading = self
            .spans
            .first()
            .filter(|(s, _)| *s == 0)
            .map_or(0, |(s, e)| e - s);
        let trailing = self
            .spans
            .last()
            .filter(|(_, e)| *e == total)
            .map_or(0, |(s, e)| e - s);
        Silence {
            threshold_db: self.opts.threshold_db,
            min_seconds: self.opts.min_seconds,
            spans: self
                .spans
                .iter()
                .map(|&(s, e)| SilenceSpan {
                    start: secs(s),
                    end: secs(e),
                    duration: secs(e - s),
                })
                .collect(),
            leading: secs(leading),
            trailing: secs(trailing),
            speech_ratio: if total == 0 {
                0.0
            } else {
                (total - silent) as f64 / total as f64
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect(frames: &[f32], channels: usize, rate: u32, min_seconds: f64) -> Silence {
        let opts = SilenceOptions {
            threshold_db: -50.0,
            min_seconds,
        };
        let mut d = SilenceDetector::new(opts, rate, channels);
        // Odd block sizes: a run must carry across blocks.
        for block in frames.chunks(channels * 7) {
            d.push(block);
        }
        d.finish()
    }

    #[test]
    fn a_frame_is_silent_only_when_every_channel_is() {
        // 10 frames at 10 Hz: frames 0-3 silent in both channels, 4-5 loud on the right
        // only, 6-9 silent again.
        let mut f = vec![0.0f32; 20];
        f[9] = 0.5;
        f[11] = 0.5;
        let s = detect(&f, 2, 10, 0.3);
        let spans: Vec<(f64, f64)> = s.spans.iter().map(|p| (p.start, p.end)).collect();
        assert_eq!(spans, vec![(0.0, 0.4), (0.6, 1.0)]);
        assert_eq!(s.leading, 0.4);
        assert_eq!(s.trailing, 0.4);
        assert!((s.speech_ratio - 0.2).abs() < 1e-12);
    }

    #[test]
    fn runs_shorter_than_the_minimum_are_not_spans() {
        let mut f = vec![0.5f32; 10];
        for x in &mut f[3..6] {
            *x = 0.001; // -60 dB, below the -50 dB threshold
        }
        let s = detect(&f, 1, 10, 0.4);
        assert!(s.spans.is_empty());
        assert_eq!((s.leading, s.trailing, s.speech_ratio), (0.0, 0.0, 1.0));
        let s = detect(&f, 1, 10, 0.3);
        assert_eq!(s.spans.len(), 1);
        assert!((s.spans[0].start - 0.3).abs() < 1e-12 && (s.spans[0].end - 0.6).abs() < 1e-12);
    }

    #[test]
    fn threshold_and_minimum_are_checked() {
        let bad = [
            (1.0, 1.0),
            (-121.0, 1.0),
            (f64::NAN, 1.0),
            (-50.0, 0.0),
            (-50.0, -1.0),
        ];
        for (threshold_db, min_seconds) in bad {
            let o = SilenceOptions {
                threshold_db,
                min_seconds,
            };
            assert_eq!(o.validate().unwrap_err().code(), "invalid_options", "{o:?}");
        }
        assert!(SilenceOptions::default().validate().is_ok());
    }
}
