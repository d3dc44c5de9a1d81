//! Suites that need an outside server (PostgreSQL, S3) run when the test run started it,
//! skip with a message otherwise, and fail instead when `CI` is set: there they must run.

use std::io::Write;

/// The non-empty value of `var`, naming the server a suite needs; `None` (after printing
/// why `what` is skipped) when it is unset outside CI. Panics when `CI` is set.
pub fn server_from_env(var: &str, what: &str, start: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            assert!(
                std::env::var_os("CI").is_none(),
                "CI is set but {var} is not: the suite must run in CI. Start the test server: \
                 eval \"$({start} start)\""
            );
            // Straight to stderr: libtest would swallow eprintln! of a passing test.
            let _ = writeln!(
                std::io::stderr(),
                "SKIPPED {what}: {var} is not set (eval \"$({start} start)\" to run it)"
            );
            None
        }
    }
}
