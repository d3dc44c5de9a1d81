//! The contract every front end and the engine speak: what a caller asks of an extraction,
//! parsed once at the edge (CLI flags, JSON bodies, query strings) into enums and checked
//! numbers. The CLI, the API and the jobs name these types; the engine receives them.

mod output;

pub use output::{Codec, Engine, Format, OutputSpec, SampleFormat};
