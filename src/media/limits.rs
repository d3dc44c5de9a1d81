//! Limits that refuse hostile or absurd streams before they cost memory, disk or time.

use crate::error::{Error, Result};

#[derive(Debug, Clone)]
pub struct Limits {
    /// Most channels a source track may declare or decode to.
    pub max_channels: u16,
    /// Highest source sample rate accepted, in Hz.
    pub max_sample_rate: u32,
    /// Longest audio accepted, in seconds (decoded length, not what the header claims).
    pub max_duration_secs: f64,
    /// Largest output file, in bytes.
    pub max_output_bytes: u64,
    /// Largest input accepted from stdin or a URL, in bytes.
    pub max_input_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_channels: 32,
            max_sample_rate: 768_000,
            max_duration_secs: 48.0 * 3600.0,
            max_output_bytes: 64 << 30,
            max_input_bytes: 64 << 30,
        }
    }
}

impl Limits {
    /// Refuse a track by what its header declares, before anything is decoded.
    pub(crate) fn check_declared(&self, channels: Option<u16>, rate: Option<u32>) -> Result<()> {
        if let Some(ch) = channels
            && ch > self.max_channels
        {
            return Err(Error::LimitExceeded(format!(
                "the audio track has {ch} channels (limit {})",
                self.max_channels
            )));
        }
        if let Some(rate) = rate
            && rate > self.max_sample_rate
        {
            return Err(Error::LimitExceeded(format!(
                "the audio track's sample rate {rate} Hz is above the limit of {} Hz",
                self.max_sample_rate
            )));
        }
        Ok(())
    }

    pub(crate) fn check_decoded(&self, rate: u32, channels: usize) -> Result<()> {
        if channels == 0 || rate == 0 {
            return Err(Error::media(
                "the decoder produced audio without channels or sample rate",
            ));
        }
        if channels > usize::from(self.max_channels) || rate > self.max_sample_rate {
            return Err(Error::LimitExceeded(format!(
                "decoded audio has {channels} channels at {rate} Hz (limits {} channels, {} Hz)",
                self.max_channels, self.max_sample_rate
            )));
        }
        Ok(())
    }

    /// Most frames a track at `rate` may decode to.
    pub(crate) fn max_frames(&self, rate: u32) -> u64 {
        (self.max_duration_secs * f64::from(rate)) as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absurd_claims_are_refused() {
        let l = Limits::default();
        assert!(l.check_declared(Some(2), Some(48_000)).is_ok());
        assert!(l.check_declared(None, None).is_ok());
        let e = l.check_declared(Some(255), Some(48_000)).unwrap_err();
        assert_eq!(e.code(), "limit_exceeded");
        let e = l.check_declared(Some(2), Some(4_000_000)).unwrap_err();
        assert_eq!(e.code(), "limit_exceeded");
        assert!(l.check_decoded(48_000, 0).is_err());
        assert!(l.check_decoded(0, 2).is_err());
        assert_eq!(l.max_frames(1000), (48.0 * 3600.0 * 1000.0) as u64);
    }
}
