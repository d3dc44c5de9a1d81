//! The contract every front end and the engine speak: what a caller asks of an extraction
//! ([`OutputSpec`]), parsed once at the edge (CLI flags, JSON bodies, query strings) into
//! enums and checked numbers, and what the engine answers ([`ProbeInfo`] for a probe,
//! [`Report`] for an extraction). The CLI, the API and the jobs name these types; the engine
//! receives and fills them.

mod output;
mod probe;
mod report;

pub use output::{Codec, Engine, Format, OutputSpec, SampleFormat};
pub use probe::{Container, EngineKind, ProbeInfo, TrackInfo, TrackKind};
pub use report::{Report, SourceTrack};
