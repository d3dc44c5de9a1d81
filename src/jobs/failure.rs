//! [`Failure`]: why a job attempt ended without success, and so what the dispatcher does
//! with the job (fail it, retry it, mark it canceled, or put it back for another node).

use crate::ErrorCode;

/// Why a job attempt ended without success.
pub(super) enum Failure {
    /// The client's input or options: the job fails with this code.
    Fatal {
        code: ErrorCode,
        message: String,
    },
    /// Storage or I/O trouble that may pass: retried while attempts remain, then the job
    /// fails with `code` (`io_error` for a local I/O failure such as a full disk,
    /// `internal` otherwise).
    Transient {
        code: ErrorCode,
        message: String,
    },
    Canceled,
    /// The process is stopping: the job goes back to the queue.
    Shutdown,
}

impl Failure {
    /// A transient failure on our side, reported as `internal` once retries are spent.
    pub(super) fn transient(message: impl Into<String>) -> Failure {
        Failure::Transient {
            code: ErrorCode::Internal,
            message: message.into(),
        }
    }

    /// The job was told to stop: by a cancel, or because the node shuts down.
    pub(super) fn stopped(shutting_down: bool) -> Failure {
        if shutting_down {
            Failure::Shutdown
        } else {
            Failure::Canceled
        }
    }
}

impl From<crate::Error> for Failure {
    fn from(e: crate::Error) -> Self {
        match e {
            crate::Error::Canceled => Failure::Canceled,
            e if e.is_client_error() => Failure::Fatal {
                code: e.code(),
                message: e.to_string(),
            },
            e => Failure::Transient {
                code: e.code(),
                message: e.to_string(),
            },
        }
    }
}

impl From<crate::net::NetError> for Failure {
    fn from(e: crate::net::NetError) -> Self {
        Failure::Fatal {
            code: e.code(),
            message: e.to_string(),
        }
    }
}
