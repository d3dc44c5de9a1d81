//! Where input bytes come from: a local path, standard input, or an http(s) URL. Anything
//! that is not already a local file is spooled to a temporary file (MP4 needs seeking), with
//! a size cap, and removed when the [`LocalInput`] is dropped.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::media::Limits;

/// A readable local file for the engine, possibly a spooled copy.
#[derive(Debug)]
pub struct LocalInput {
    path: PathBuf,
    _spooled: Option<tempfile::TempPath>,
    /// What the user named (path, `-` or URL), for messages and reports.
    pub display: String,
}

impl LocalInput {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

pub fn is_url(input: &str) -> bool {
    let lower = input.get(..8).unwrap_or(input).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Resolve what the user named into a local file.
pub fn resolve(input: &str, limits: &Limits) -> Result<LocalInput> {
    if input == "-" {
        let stdin = std::io::stdin();
        return spool(stdin.lock(), "", limits, "-");
    }
    if is_url(input) {
        return download(input, limits);
    }
    let path = PathBuf::from(input);
    match std::fs::metadata(&path) {
        Ok(m) if m.is_file() => Ok(LocalInput {
            path,
            _spooled: None,
            display: input.to_string(),
        }),
        Ok(_) => Err(Error::io(
            format!("cannot read {input}"),
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
        )),
        Err(e) => Err(Error::io(format!("cannot read {input}"), e)),
    }
}

fn spool(mut reader: impl Read, ext: &str, limits: &Limits, display: &str) -> Result<LocalInput> {
    let suffix = if ext.is_empty() {
        String::new()
    } else {
        format!(".{ext}")
    };
    let mut tmp = tempfile::Builder::new()
        .prefix("audiotap-in-")
        .suffix(&suffix)
        .tempfile()
        .map_err(|e| Error::io("cannot create a temporary file", e))?;
    let cap = limits.max_input_bytes;
    let copied = std::io::copy(&mut (&mut reader).take(cap + 1), tmp.as_file_mut());
    let copied = match copied {
        Ok(n) => n,
        Err(e) if is_url(display) => {
            return Err(Error::SourceUnreachable(format!(
                "{display}: transfer failed: {e}"
            )));
        }
        Err(e) => return Err(Error::io(format!("cannot read {display}"), e)),
    };
    if copied > cap {
        return Err(Error::SourceTooLarge(format!(
            "{display} is larger than the {cap}-byte input limit"
        )));
    }
    tmp.as_file_mut()
        .flush()
        .map_err(|e| Error::io("cannot write a temporary file", e))?;
    let path = tmp.into_temp_path();
    Ok(LocalInput {
        path: path.to_path_buf(),
        _spooled: Some(path),
        display: display.to_string(),
    })
}

fn download(url: &str, limits: &Limits) -> Result<LocalInput> {
    let client = reqwest::blocking::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .timeout(Duration::from_secs(3600))
        .redirect(reqwest::redirect::Policy::limited(5))
        .user_agent(concat!("audiotap/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| Error::Internal(format!("HTTP client: {e}")))?;
    let resp = client
        .get(url)
        .send()
        .map_err(|e| Error::SourceUnreachable(format!("{url}: {}", root_cause(&e))))?;
    let status = resp.status();
    if !status.is_success() {
        return Err(Error::SourceUnreachable(format!(
            "{url}: the server answered {status}"
        )));
    }
    if let Some(len) = resp.content_length()
        && len > limits.max_input_bytes
    {
        return Err(Error::SourceTooLarge(format!(
            "{url} is {len} bytes, above the {}-byte input limit",
            limits.max_input_bytes
        )));
    }
    let ext = resp
        .url()
        .path_segments()
        .and_then(|mut s| s.next_back())
        .and_then(|name| Path::new(name).extension())
        .and_then(|e| e.to_str())
        .filter(|e| e.len() <= 5 && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .unwrap_or("")
        .to_string();
    spool(resp, &ext, limits, url)
}

fn root_cause(e: &dyn std::error::Error) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}
