//! Writers: the [`Sink`] contract they implement and the [`Packer`] that prepares their
//! segments ([`sink`]), WAV through hound ([`wav`], its sample packing in [`pcm`]). M4A
//! encoding (AAC or ALAC through libavcodec and the MP4 muxer) is `media::ffmpeg::mux`; the
//! native MP4 stream copy is `media::mp4`. This file only declares its children and
//! re-exports the contract: they use each other, not it.

pub(crate) mod pcm;
pub(crate) mod sink;
pub(crate) mod wav;

pub(crate) use sink::{Packed, Packer, Sink};
