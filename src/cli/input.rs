//! The CLI's inputs: a local path, standard input, or an http(s) URL, resolved into a local
//! file for the engine. Anything that is not already a local file is spooled to a temporary
//! file (MP4 needs seeking), with a size cap, and removed when the [`LocalInput`] is dropped.
//! URLs go through the same guarded client and Range reader as the service's URL jobs
//! ([`crate::net::range`]): only the `moov` and the audio's chunks of a remote MP4/MOV are
//! fetched.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::Url;

use crate::error::{Error, Result};
use crate::media::Limits;
use crate::net::{FetchSummary, NetError};

/// A readable local file for the engine, possibly a spooled copy.
#[derive(Debug)]
pub(crate) struct LocalInput {
    path: PathBuf,
    _spooled: Option<tempfile::TempPath>,
    /// What the user named (path, `-` or URL), for messages and reports.
    pub display: String,
    /// How a URL source was fetched.
    pub fetch: Option<FetchSummary>,
}

impl LocalInput {
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

pub(crate) fn is_url(input: &str) -> bool {
    let lower = input.get(..8).unwrap_or(input).to_ascii_lowercase();
    lower.starts_with("http://") || lower.starts_with("https://")
}

/// Resolve what the user named into a local file.
pub(crate) fn resolve(input: &str, limits: &Limits) -> Result<LocalInput> {
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
            fetch: None,
        }),
        Ok(_) => Err(Error::unreadable(
            input,
            std::io::Error::new(std::io::ErrorKind::InvalidInput, "not a regular file"),
        )),
        Err(e) => Err(Error::unreadable(input, e)),
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
        fetch: None,
    })
}

fn download(url: &str, limits: &Limits) -> Result<LocalInput> {
    let allowlist: Vec<String> = std::env::var("AUDIOTAP_URL_ALLOWLIST")
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    let guard = std::sync::Arc::new(
        crate::net::UrlGuard::new(&allowlist)
            .map_err(|e| Error::InvalidOptions(format!("AUDIOTAP_URL_ALLOWLIST: {e}")))?,
    );
    let client = crate::net::guarded_client(
        std::sync::Arc::clone(&guard),
        crate::net::ClientOptions {
            connect_timeout: Duration::from_secs(15),
            ..Default::default()
        },
    )
    .map_err(|e| net_error(url, e))?;
    let ext = Url::parse(url)
        .ok()
        .and_then(|u| {
            u.path_segments()
                .and_then(|mut s| s.next_back().map(str::to_owned))
        })
        .and_then(|name| {
            Path::new(&name)
                .extension()
                .and_then(|e| e.to_str())
                .map(str::to_owned)
        })
        .filter(|e| e.len() <= 5 && e.chars().all(|c| c.is_ascii_alphanumeric()))
        .map(|e| format!(".{e}"))
        .unwrap_or_default();
    let tmp = tempfile::Builder::new()
        .prefix("audiotap-in-")
        .suffix(&ext)
        .tempfile()
        .map_err(|e| Error::io("cannot create a temporary file", e))?
        .into_temp_path();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Error::Internal(format!("async runtime: {e}")))?;
    let opts = crate::net::range::RangeOptions::new(limits.max_input_bytes);
    let outcome = rt
        .block_on(crate::net::range::fetch_source(
            &client, &guard, url, &tmp, &opts,
        ))
        .map_err(|e| net_error(url, e))?;
    Ok(LocalInput {
        path: tmp.to_path_buf(),
        _spooled: Some(tmp),
        display: url.to_string(),
        fetch: Some(outcome.summary),
    })
}

/// A failed fetch as the CLI reports it: the engine's codes, with the URL named.
fn net_error(url: &str, e: NetError) -> Error {
    match e {
        NetError::UrlForbidden(m) => Error::UrlForbidden(m),
        NetError::InvalidUrl(m) => Error::InvalidOptions(format!("invalid URL: {m}")),
        NetError::SourceUnreachable { message, .. } => {
            Error::SourceUnreachable(format!("{url}: {message}"))
        }
        NetError::SourceTooLarge(m) => Error::SourceTooLarge(m),
        NetError::Io { context, source } => Error::Io { context, source },
    }
}
