//! An MP4 edit list applied to decoded blocks: the encoder priming dropped from the start,
//! the padding cut after the presented length. Both back ends need it (Symphonia 0.6 applies
//! neither; FFmpeg 5.1 drops the priming but keeps the padding).

use std::ops::Range;

use super::secs_to_frames;
use crate::media::input::Input;
use crate::media::mp4::{self, TrackEdit};

/// The edit of track `index` of `input`, when it is an MP4 whose edit list this reader
/// models.
pub(crate) fn track_edit(input: &Input, index: usize) -> Option<TrackEdit> {
    all_edits(input).and_then(|e| e.get(index).copied().flatten())
}

/// The edits of every track of `input`, in track order (see [`mp4::read_track_edits`]).
pub(crate) fn all_edits(input: &Input) -> Option<Vec<Option<TrackEdit>>> {
    input
        .open()
        .ok()
        .and_then(|mut f| mp4::read_track_edits(&mut f))
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
    pub(crate) fn for_edit(edit: &TrackEdit, rate: u32) -> Self {
        let skip = (edit.media_time as f64 * f64::from(rate) / f64::from(edit.media_timescale))
            .round() as u64;
        EditCutter::new(skip, edit.duration_secs.map(|d| secs_to_frames(d, rate)))
    }

    /// The sub-range of an interleaved block of `frames` frames to present, or `None` when the
    /// presentation has ended.
    pub(crate) fn cut(&mut self, frames: usize) -> Option<Range<usize>> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn priming_is_dropped_and_padding_cut() {
        let edit = TrackEdit {
            offset_secs: 0.0,
            media_time: 2048,
            media_timescale: 48_000,
            duration_secs: Some(0.1),
        };
        // At 48 kHz: skip 2048 frames, keep 4800.
        let mut c = EditCutter::for_edit(&edit, 48_000);
        assert_eq!(c.cut(1024), Some(1024..1024));
        assert_eq!(c.cut(1024), Some(1024..1024));
        assert_eq!(c.cut(1024), Some(0..1024));
        assert_eq!(c.cut(4000), Some(0..3776));
        assert_eq!(c.cut(1024), None, "the presentation has ended");
        let mut whole = EditCutter::default();
        assert_eq!(whole.cut(7), Some(0..7));
    }
}
