//! Programme loudness per ITU-R BS.1770-4 / EBU R128 (integrated loudness, loudness range,
//! 4x-oversampled true peak, sample peak), measured by the `ebur128` crate (a port of
//! libebur128 that passes the EBU Tech 3341/3342 test signals).

use ebur128::{Channel, EbuR128, Mode};
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The loudness figures of one track. `None` where the measure is undefined: no gating
/// block above the absolute gate (silence, or under 400 ms of audio), or an all-zero peak.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Loudness {
    /// Gated integrated loudness, LUFS.
    pub integrated_lufs: Option<f64>,
    /// Loudness range (EBU Tech 3342), LU.
    pub lra: Option<f64>,
    /// Highest true peak over all channels (4x oversampled below 96 kHz), dBTP.
    pub true_peak_dbtp: Option<f64>,
    /// Highest sample magnitude over all channels, dBFS.
    pub sample_peak_dbfs: Option<f64>,
}

/// Streaming loudness meter over interleaved frames.
pub struct LoudnessMeter {
    meter: EbuR128,
    channels: u32,
}

impl std::fmt::Debug for LoudnessMeter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LoudnessMeter")
            .field("channels", &self.channels)
            .finish_non_exhaustive()
    }
}

fn meter_error(e: ebur128::Error) -> Error {
    Error::Internal(format!("loudness meter: {e}"))
}

/// Channel weights by count, for FFmpeg's default channel orders (what both decoders
/// hand over): LFE takes no part, surrounds weigh +1.5 dB. The crate's defaults cover
/// 1, 2, 4, 5 and 6 channels; 7.1 (FL FR FC LFE BL BR SL SR) adds the side pair.
fn channel_map(channels: u32) -> Option<Vec<Channel>> {
    (channels == 8).then(|| {
        vec![
            Channel::Left,
            Channel::Right,
            Channel::Center,
            Channel::Unused,
            Channel::LeftSurround,
            Channel::RightSurround,
            Channel::Mp090,
            Channel::Mm090,
        ]
    })
}

impl LoudnessMeter {
    pub fn new(sample_rate: u32, channels: usize) -> Result<Self> {
        let channels = u32::try_from(channels)
            .map_err(|_| Error::LimitExceeded(format!("{channels} channels")))?;
        let mode = Mode::I | Mode::LRA | Mode::TRUE_PEAK | Mode::SAMPLE_PEAK;
        let mut meter = EbuR128::new(channels, sample_rate, mode).map_err(|e| {
            Error::LimitExceeded(format!(
                "cannot measure loudness of {channels} channels at {sample_rate} Hz ({e})"
            ))
        })?;
        if let Some(map) = channel_map(channels) {
            meter.set_channel_map(&map).map_err(meter_error)?;
        }
        Ok(LoudnessMeter { meter, channels })
    }

    pub fn push(&mut self, frames: &[f32]) -> Result<()> {
        self.meter.add_frames_f32(frames).map_err(meter_error)
    }

    pub fn finish(self) -> Result<Loudness> {
        let m = &self.meter;
        let integrated = m.loudness_global().map_err(meter_error)?;
        let lra = m.loudness_range().map_err(meter_error)?;
        let mut true_peak = 0.0_f64;
        let mut sample_peak = 0.0_f64;
        for ch in 0..self.channels {
            true_peak = true_peak.max(m.true_peak(ch).map_err(meter_error)?);
            sample_peak = sample_peak.max(m.sample_peak(ch).map_err(meter_error)?);
        }
        let gated = integrated.is_finite();
        Ok(Loudness {
            integrated_lufs: gated.then(|| round2(integrated)),
            lra: (gated && lra.is_finite()).then(|| round2(lra)),
            true_peak_dbtp: amplitude_db(true_peak),
            sample_peak_dbfs: amplitude_db(sample_peak),
        })
    }
}

/// `20·log10(a)` to 0.01 dB, `None` for silence.
pub(crate) fn amplitude_db(a: f64) -> Option<f64> {
    (a > 0.0 && a.is_finite()).then(|| round2(20.0 * a.log10()))
}

/// Figures are reported to 0.01 dB: finer digits are below any meter's accuracy.
pub(crate) fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn silence_has_no_loudness_and_no_peak() {
        let mut m = LoudnessMeter::new(48_000, 2).unwrap();
        m.push(&vec![0.0; 48_000 * 2]).unwrap();
        let l = m.finish().unwrap();
        assert_eq!(l.integrated_lufs, None);
        assert_eq!(l.true_peak_dbtp, None);
        assert_eq!(l.sample_peak_dbfs, None);
    }

    #[test]
    fn eight_channels_get_the_side_pair_weighted() {
        assert!(LoudnessMeter::new(48_000, 8).is_ok());
        assert!(LoudnessMeter::new(48_000, 100).is_err());
    }
}
