//! The engine's error type: every failure carries a stable `code` and a `kind`, so the CLI
//! and the HTTP API can report it the same way (exit status, problem+json status).

use std::fmt;

/// What a failure says about who must act: the caller (bad input or options), nobody
/// (unsupported), an operator (a limit was reached) or us (internal).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// The request or its bytes are wrong; retrying the same input fails the same way.
    Input,
    /// Valid media that this build cannot handle (codec or container).
    Unsupported,
    /// A configured limit refused the job (size, channels, duration, ...).
    Limit,
    /// The source could not be fetched (network, missing file).
    Source,
    /// A fault on our side (I/O on the output, a library failure).
    Internal,
}

/// An engine error. `code()` is part of the public contract: scripts and API clients match it.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    InvalidOptions(String),
    #[error("input has no audio track")]
    NoAudioTrack,
    #[error("{0}")]
    TrackNotFound(String),
    #[error("unsupported codec: {0}")]
    UnsupportedCodec(String),
    #[error("unsupported container: {0}")]
    UnsupportedFormat(String),
    #[error("invalid media: {0}")]
    InvalidMedia(String),
    #[error("source unreachable: {0}")]
    SourceUnreachable(String),
    #[error("source too large: {0}")]
    SourceTooLarge(String),
    /// The URL guard refused the source's address (private, loopback, metadata, ...).
    #[error("URL refused: {0}")]
    UrlForbidden(String),
    #[error("limit exceeded: {0}")]
    LimitExceeded(String),
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    #[error("canceled")]
    Canceled,
    #[error("internal error: {0}")]
    Internal(String),
}

impl Error {
    /// The stable machine-readable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::InvalidOptions(_) => "invalid_options",
            Error::NoAudioTrack => "no_audio_track",
            Error::TrackNotFound(_) => "track_not_found",
            Error::UnsupportedCodec(_) => "unsupported_codec",
            Error::UnsupportedFormat(_) => "unsupported_format",
            Error::InvalidMedia(_) => "invalid_media",
            Error::SourceUnreachable(_) => "source_unreachable",
            Error::SourceTooLarge(_) => "source_too_large",
            Error::UrlForbidden(_) => "url_forbidden",
            Error::LimitExceeded(_) => "limit_exceeded",
            Error::Io { .. } => "io_error",
            Error::Canceled => "canceled",
            Error::Internal(_) => "internal",
        }
    }

    /// Who must act on this error.
    pub fn kind(&self) -> ErrorKind {
        match self {
            Error::InvalidOptions(_)
            | Error::NoAudioTrack
            | Error::TrackNotFound(_)
            | Error::InvalidMedia(_)
            | Error::UrlForbidden(_) => ErrorKind::Input,
            Error::UnsupportedCodec(_) | Error::UnsupportedFormat(_) => ErrorKind::Unsupported,
            Error::SourceTooLarge(_) | Error::LimitExceeded(_) => ErrorKind::Limit,
            Error::SourceUnreachable(_) => ErrorKind::Source,
            Error::Io { .. } | Error::Canceled | Error::Internal(_) => ErrorKind::Internal,
        }
    }

    /// True when the caller's input (not our system) caused the failure.
    pub fn is_client_error(&self) -> bool {
        !matches!(self.kind(), ErrorKind::Internal)
    }

    pub(crate) fn io(context: impl fmt::Display, source: std::io::Error) -> Self {
        Error::Io {
            context: context.to_string(),
            source,
        }
    }

    pub(crate) fn media(msg: impl fmt::Display) -> Self {
        Error::InvalidMedia(msg.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
