//! The DSP after decode, shared by both back ends: channel remix, resampling and (in the
//! writers' packers) quantisation. Blocks are interleaved `f32`. The pipeline
//! (`media::pipeline`) runs them on segments in parallel.

mod quantise;
mod remix;
mod resample;

pub(crate) use quantise::Quantiser;
pub(crate) use remix::Remix;
pub(crate) use resample::Resampler;
