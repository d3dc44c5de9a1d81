//! The error type of outbound networking: a stable [`ErrorCode`] like the engine's errors.

use std::io;

use crate::ErrorCode;

/// A failure of an outbound request.
///
/// Messages never contain URL credentials or webhook secrets: they can be shown to the API
/// client that supplied the URL.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The URL guard refused the destination (private, loopback, metadata, ... address).
    #[error("URL refused: {0}")]
    UrlForbidden(String),
    /// The URL is malformed, has a scheme other than http(s), or carries credentials.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// The source could not be fetched: network failure, timeout or a non-2xx status.
    #[error("source unreachable: {message}")]
    SourceUnreachable {
        /// The HTTP status when the server answered with a non-2xx one.
        status: Option<u16>,
        message: String,
    },
    /// The source is larger than the configured maximum.
    #[error("source too large: {0}")]
    SourceTooLarge(String),
    /// Local I/O failed (writing the downloaded file).
    #[error("{context}: {source}")]
    Io {
        context: String,
        #[source]
        source: io::Error,
    },
}

impl NetError {
    /// The stable machine-readable code, shared with the engine's codes where they overlap.
    pub fn code(&self) -> ErrorCode {
        match self {
            NetError::UrlForbidden(_) => ErrorCode::UrlForbidden,
            NetError::InvalidUrl(_) => ErrorCode::InvalidUrl,
            NetError::SourceUnreachable { .. } => ErrorCode::SourceUnreachable,
            NetError::SourceTooLarge(_) => ErrorCode::SourceTooLarge,
            NetError::Io { .. } => ErrorCode::IoError,
        }
    }

    /// True when the request (its URL, its source) caused the failure, false for a fault on
    /// our side.
    pub fn is_client_error(&self) -> bool {
        !matches!(self, NetError::Io { .. })
    }

    /// The HTTP status the source answered with, for `source_unreachable`.
    pub fn status(&self) -> Option<u16> {
        match self {
            NetError::SourceUnreachable { status, .. } => *status,
            _ => None,
        }
    }

    pub(crate) fn unreachable(message: impl Into<String>) -> Self {
        NetError::SourceUnreachable {
            status: None,
            message: message.into(),
        }
    }

    pub(crate) fn io(context: impl Into<String>, source: io::Error) -> Self {
        NetError::Io {
            context: context.into(),
            source,
        }
    }

    /// A copy of this error (the I/O variant keeps kind and message only).
    fn duplicate(&self) -> Self {
        match self {
            NetError::UrlForbidden(m) => NetError::UrlForbidden(m.clone()),
            NetError::InvalidUrl(m) => NetError::InvalidUrl(m.clone()),
            NetError::SourceUnreachable { status, message } => NetError::SourceUnreachable {
                status: *status,
                message: message.clone(),
            },
            NetError::SourceTooLarge(m) => NetError::SourceTooLarge(m.clone()),
            NetError::Io { context, source } => NetError::Io {
                context: context.clone(),
                source: io::Error::new(source.kind(), source.to_string()),
            },
        }
    }

    /// Translate a reqwest failure. A `NetError` raised inside reqwest (by the guarded
    /// resolver or the redirect policy) comes back as itself; anything else is
    /// `source_unreachable` with the cause chain, without the URL (it may hold tokens).
    pub(crate) fn from_reqwest(err: reqwest::Error) -> Self {
        if let Some(own) = find_in_chain(&err) {
            return own;
        }
        if err.is_timeout() {
            return NetError::unreachable("timed out");
        }
        NetError::unreachable(describe_reqwest(err))
    }
}

/// The first `NetError` in an error's source chain, if any.
pub(crate) fn find_in_chain(err: &(dyn std::error::Error + 'static)) -> Option<NetError> {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(own) = e.downcast_ref::<NetError>() {
            return Some(own.duplicate());
        }
        cur = e.source();
    }
    None
}

/// "what failed: cause: cause", with the URL stripped from reqwest's own message.
pub(crate) fn describe_reqwest(err: reqwest::Error) -> String {
    let err = err.without_url();
    let mut text = err.to_string();
    let mut cur = std::error::Error::source(&err);
    while let Some(e) = cur {
        let part = e.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        cur = e.source();
    }
    text
}
