//! How the command line reports a failure: the one stderr line the contract promises
//! ([`report_error`]) and the exit status for it ([`exit_code`]).

use crate::error::Error;

/// Print a failure as the one line the contract promises.
pub fn report_error(e: &Error) {
    eprintln!(
        "audiotap: error[{}]: {}",
        e.code(),
        one_line(&e.to_string())
    );
}

/// Whitespace (newlines included) collapsed, so a message stays on one line.
pub(super) fn one_line(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Exit status for an engine error: 2 for bad options, 1 otherwise.
pub fn exit_code(e: &Error) -> i32 {
    if matches!(e, Error::InvalidOptions(_)) {
        2
    } else {
        1
    }
}
