//! Writers: WAV through hound, M4A (AAC or ALAC) through libavcodec + the MP4 muxer.

pub(crate) mod m4a;
pub(crate) mod mp4copy;
pub(crate) mod wav;

use crate::error::Result;

/// A destination for processed interleaved `f32` audio.
pub(crate) trait Sink: Send {
    fn write(&mut self, block: &[f32]) -> Result<()>;
    /// Flush and close; returns frames written.
    fn finish(self: Box<Self>) -> Result<u64>;
}
