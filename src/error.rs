//! The engine's error type: every failure carries a stable [`ErrorCode`] and a `kind`, so
//! the CLI and the HTTP API can report it the same way (exit status, problem+json status).

use std::fmt;

use crate::ErrorCode;

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
    /// The source could not be read: a URL that cannot be fetched, a local input that is
    /// missing or unreadable (`source_unreachable`).
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
    /// A local input the caller named cannot be read (missing, not a file, no permission):
    /// the caller's to fix, so `source_unreachable` and not `io_error`.
    #[error("cannot read {path}: {source}")]
    InputUnreadable {
        path: String,
        #[source]
        source: std::io::Error,
    },
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
    pub fn code(&self) -> ErrorCode {
        match self {
            Error::InvalidOptions(_) => ErrorCode::InvalidOptions,
            Error::NoAudioTrack => ErrorCode::NoAudioTrack,
            Error::TrackNotFound(_) => ErrorCode::TrackNotFound,
            Error::UnsupportedCodec(_) => ErrorCode::UnsupportedCodec,
            Error::UnsupportedFormat(_) => ErrorCode::UnsupportedFormat,
            Error::InvalidMedia(_) => ErrorCode::InvalidMedia,
            Error::SourceUnreachable(_) | Error::InputUnreadable { .. } => {
                ErrorCode::SourceUnreachable
            }
            Error::SourceTooLarge(_) => ErrorCode::SourceTooLarge,
            Error::UrlForbidden(_) => ErrorCode::UrlForbidden,
            Error::LimitExceeded(_) => ErrorCode::LimitExceeded,
            Error::Io { .. } => ErrorCode::IoError,
            Error::Canceled => ErrorCode::Canceled,
            Error::Internal(_) => ErrorCode::Internal,
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
            Error::SourceUnreachable(_) | Error::InputUnreadable { .. } => ErrorKind::Source,
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

    /// A local input the caller named that cannot be read.
    pub(crate) fn unreadable(path: impl fmt::Display, source: std::io::Error) -> Self {
        Error::InputUnreadable {
            path: path.to_string(),
            source,
        }
    }

    pub(crate) fn media(msg: impl fmt::Display) -> Self {
        Error::InvalidMedia(msg.to_string())
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_agree_with_the_registry() {
        let io = || std::io::Error::from(std::io::ErrorKind::NotFound);
        let all = [
            Error::InvalidOptions(String::new()),
            Error::NoAudioTrack,
            Error::TrackNotFound(String::new()),
            Error::UnsupportedCodec(String::new()),
            Error::UnsupportedFormat(String::new()),
            Error::InvalidMedia(String::new()),
            Error::SourceUnreachable(String::new()),
            Error::unreadable("in.mp4", io()),
            Error::SourceTooLarge(String::new()),
            Error::UrlForbidden(String::new()),
            Error::LimitExceeded(String::new()),
            Error::io("out.wav", io()),
            Error::Canceled,
            Error::Internal(String::new()),
        ];
        for e in &all {
            // A 4xx code tells the caller to change something: never a fault of ours.
            if e.code().http_status() < 500 {
                assert!(e.is_client_error(), "{e:?}: a 4xx code of kind Internal");
            }
        }
        let missing = Error::unreadable("in.mp4", io());
        assert_eq!(missing.code(), ErrorCode::SourceUnreachable);
        assert_eq!(missing.kind(), ErrorKind::Source);
        assert!(std::error::Error::source(&missing).is_some());
    }
}
