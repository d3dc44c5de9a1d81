//! Running processes with a timeout: the `audiotap` binary under test (and its one-line
//! error contract) and the reference tools (ffmpeg, ffprobe).

use std::ffi::{OsStr, OsString};
use std::io::{Read, Write};
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The binary under test: cargo's, or `AUDIOTAP_TEST_BIN` (for example a release build).
pub fn bin() -> PathBuf {
    std::env::var_os("AUDIOTAP_TEST_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_audiotap")))
}

#[derive(Debug)]
pub struct Run {
    pub cmdline: String,
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }
    pub fn describe(&self) -> String {
        format!(
            "`{}` -> code {:?} signal {:?} timed_out {} ({:.2?})\n--- stderr ---\n{}\n--- stdout (first 2000 bytes) ---\n{}",
            self.cmdline,
            self.code,
            self.signal,
            self.timed_out,
            self.elapsed,
            self.stderr,
            String::from_utf8_lossy(&self.stdout[..self.stdout.len().min(2000)])
        )
    }
    /// Panics unless the process exited 0.
    #[track_caller]
    pub fn ok(self) -> Self {
        assert!(self.success(), "expected success:\n{}", self.describe());
        self
    }
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.stdout)
            .unwrap_or_else(|e| panic!("stdout is not JSON ({e}):\n{}", self.describe()))
    }
    /// Checks the error contract: exit `exit`, exactly one stderr line
    /// `audiotap: error[CODE]: message`, CODE == `code` when given, no panic.
    /// Returns a description of the violation instead of panicking.
    pub fn check_error(&self, exit: i32, code: Option<&str>) -> Result<String, String> {
        if self.timed_out {
            return Err(format!("timed out\n{}", self.describe()));
        }
        if self.code != Some(exit) {
            return Err(format!("expected exit {exit}\n{}", self.describe()));
        }
        if self.stderr.contains("panicked") {
            return Err(format!("panic\n{}", self.describe()));
        }
        let lines: Vec<&str> = self
            .stderr
            .lines()
            .filter(|l| !l.trim().is_empty())
            .collect();
        if lines.len() != 1 {
            return Err(format!(
                "expected exactly one stderr line, got {}\n{}",
                lines.len(),
                self.describe()
            ));
        }
        let Some(got) = parse_error_line(lines[0]) else {
            return Err(format!(
                "stderr line does not match `audiotap: error[code]: message`\n{}",
                self.describe()
            ));
        };
        if let Some(c) = code
            && got != c
        {
            return Err(format!(
                "expected error code {c}, got {got}\n{}",
                self.describe()
            ));
        }
        Ok(got)
    }
    #[track_caller]
    pub fn assert_error(&self, exit: i32, code: Option<&str>) -> String {
        match self.check_error(exit, code) {
            Ok(c) => c,
            Err(e) => panic!("{e}"),
        }
    }
}

/// True when `code` is in the registry of stable codes (`audiotap::ErrorCode`).
pub fn is_stable_code(code: &str) -> bool {
    code.parse::<audiotap::ErrorCode>().is_ok()
}

/// `audiotap: error[CODE]: message` → CODE (lowercase letters and `_`, non-empty message).
pub fn parse_error_line(line: &str) -> Option<String> {
    let rest = line.strip_prefix("audiotap: error[")?;
    let close = rest.find(']')?;
    let code = &rest[..close];
    if code.is_empty() || !code.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
        return None;
    }
    let msg = rest[close + 1..].strip_prefix(": ")?;
    if msg.trim().is_empty() {
        return None;
    }
    Some(code.to_string())
}

pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(180);

/// Runs a command with optional stdin bytes and a timeout (the child is killed on
/// timeout; a hang is reported as `timed_out`). stdout and stderr are drained in threads
/// so a chatty child can never block on a full pipe.
pub fn run_cmd(mut cmd: Command, stdin: Option<Vec<u8>>, timeout: Duration) -> Run {
    let cmdline = format!(
        "{} {}",
        cmd.get_program().to_string_lossy(),
        cmd.get_args()
            .map(|a| shell_quote(&a.to_string_lossy()))
            .collect::<Vec<_>>()
            .join(" ")
    );
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {cmdline}: {e}"));
    let stdin_thread = stdin.map(|bytes| {
        let mut w = child.stdin.take().unwrap();
        std::thread::spawn(move || {
            // The child may exit before reading everything (broken pipe): not our error.
            let _ = w.write_all(&bytes);
        })
    });
    let mut out_pipe = child.stdout.take().unwrap();
    let mut err_pipe = child.stderr.take().unwrap();
    let out_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = out_pipe.read_to_end(&mut b);
        b
    });
    let err_t = std::thread::spawn(move || {
        let mut b = Vec::new();
        let _ = err_pipe.read_to_end(&mut b);
        b
    });
    let mut timed_out = false;
    let status = loop {
        match child.try_wait().expect("try_wait") {
            Some(s) => break s,
            None if start.elapsed() > timeout => {
                timed_out = true;
                let _ = child.kill(); // this child only, by its pid
                break child.wait().expect("wait after kill");
            }
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    let elapsed = start.elapsed();
    if let Some(t) = stdin_thread {
        let _ = t.join();
    }
    let stdout = out_t.join().unwrap();
    let stderr = String::from_utf8_lossy(&err_t.join().unwrap()).into_owned();
    Run {
        cmdline,
        code: status.code(),
        signal: status.signal(),
        timed_out,
        stdout,
        stderr,
        elapsed,
    }
}

fn shell_quote(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./:=,+@%".contains(c))
    {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

fn args_vec<I, S>(args: I) -> Vec<OsString>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    args.into_iter().map(|a| a.as_ref().to_owned()).collect()
}

/// Runs `audiotap ARGS...` (no stdin) with the default timeout.
pub fn audiotap<I, S>(args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    audiotap_opts(args, None, DEFAULT_TIMEOUT)
}

pub fn audiotap_opts<I, S>(args: I, stdin: Option<Vec<u8>>, timeout: Duration) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_cmd(audiotap_cmd(args), stdin, timeout)
}

/// Runs `audiotap ARGS...` with loopback allowlisted for URL inputs
/// (`AUDIOTAP_URL_ALLOWLIST=127.0.0.1`): sources served by a test server on this machine.
pub fn audiotap_allowing_loopback(args: &[&str]) -> Run {
    let mut cmd = audiotap_cmd(args);
    cmd.env("AUDIOTAP_URL_ALLOWLIST", "127.0.0.1");
    run_cmd(cmd, None, DEFAULT_TIMEOUT)
}

fn audiotap_cmd<I, S>(args: I) -> Command
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(bin());
    cmd.args(args_vec(args));
    // Keep logs out of stderr so the one-line error contract is what we see.
    cmd.env_remove("RUST_LOG");
    cmd.env("NO_COLOR", "1");
    cmd
}

/// Runs a tool (ffmpeg/ffprobe) and panics on failure.
pub fn tool<I, S>(program: &str, args: I) -> Run
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let mut cmd = Command::new(program);
    cmd.args(args_vec(args));
    let r = run_cmd(cmd, None, DEFAULT_TIMEOUT);
    assert!(r.success(), "{program} failed:\n{}", r.describe());
    r
}
