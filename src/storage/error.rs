//! The object store's error, [`StorageError`], and the code a client sees for it: a leaf
//! shared by the store contract, the multipart extension and both back ends.

use crate::ErrorCode;

/// A storage failure. [`StorageError::code`] is the code a client sees for it.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// No object under this key (or it vanished mid-read).
    #[error("object not found: {0}")]
    NotFound(String),
    /// The key breaks the rules of [`validate_key`]; retrying fails the same way.
    #[error("invalid object key: {0}")]
    InvalidKey(String),
    /// The asked range holds no byte of an object of `size` bytes (HTTP 416).
    #[error("range not satisfiable")]
    RangeNotSatisfiable { size: u64 },
    /// Reading or writing bytes failed (local disk, connection, timeout): worth a retry.
    #[error("storage I/O: {0}")]
    Io(String),
    /// The back end refused or failed the request (credentials, bucket, 5xx): worth a retry
    /// once an operator has looked.
    #[error("storage back end: {0}")]
    Backend(String),
}

impl StorageError {
    /// The stable code a client sees for this error. A bad key is our bug (keys are made
    /// by the service), so it is `internal`; I/O and back-end faults are one outage to a
    /// client.
    pub fn code(&self) -> ErrorCode {
        match self {
            StorageError::NotFound(_) => ErrorCode::NotFound,
            StorageError::InvalidKey(_) => ErrorCode::Internal,
            StorageError::RangeNotSatisfiable { .. } => ErrorCode::RangeNotSatisfiable,
            StorageError::Io(_) | StorageError::Backend(_) => ErrorCode::StorageUnavailable,
        }
    }

    /// True when the same call may succeed later (I/O and back-end faults); false for errors
    /// that are a property of the request (missing object, bad key, bad range).
    pub fn is_transient(&self) -> bool {
        matches!(self, StorageError::Io(_) | StorageError::Backend(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_and_transience() {
        let all = [
            StorageError::NotFound("k".into()),
            StorageError::InvalidKey("k".into()),
            StorageError::RangeNotSatisfiable { size: 1 },
            StorageError::Io("x".into()),
            StorageError::Backend("x".into()),
        ];
        for e in &all {
            // A transient storage fault is an outage a client may retry through.
            assert_eq!(
                e.is_transient(),
                e.code() == ErrorCode::StorageUnavailable,
                "{e:?}"
            );
        }
        assert_eq!(all[0].code(), ErrorCode::NotFound);
    }
}
