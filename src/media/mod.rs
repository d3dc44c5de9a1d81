//! The extraction engine: probe → demux → decode → dsp → encode/mux, or packet copy.
//! Synchronous and free of HTTP, jobs and storage: the CLI and the service both call
//! [`extract`] and [`probe`] on the [`Input`] they hand it. This file only declares the
//! stages and re-exports the engine's surface; the stages use each other, never it.

pub mod analyze;
mod backend;
#[doc(hidden)]
pub mod benchkit;
mod control;
pub(crate) mod decode;
pub(crate) mod dsp;
pub(crate) mod encode;
mod extract;
pub(crate) mod ffmpeg;
pub mod frames;
#[cfg(fuzzing)]
pub mod fuzzing;
pub mod growing;
pub mod info;
mod input;
pub mod limits;
pub mod mp4;
mod pipeline;

pub use crate::spec::{
    Codec, Container, Engine, EngineKind, Format, OutputSpec, ProbeInfo, Report, SampleFormat,
    SourceTrack, TrackInfo, TrackKind,
};
pub use backend::probe;
pub use control::Control;
pub use extract::extract;
pub use input::{Input, ReadSeek};
pub use limits::Limits;
