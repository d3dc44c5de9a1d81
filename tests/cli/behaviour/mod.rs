//! CLI behaviour: probe output against the manifest, track, engine and format selection,
//! stdin/stdout, URL input from a local HTTP server, and the error contract (exit codes,
//! one stderr line with a stable code, no panic, nothing left in the output folder).
//! A module per subject; the helpers several of them use are here.

mod errors;
mod probe;
mod selection;
mod stdio;
mod url;

use std::path::Path;

use crate::support::*;
use serde_json::Value;

/// A path as an argument.
fn s(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

/// `audiotap probe --json` of a fixture, or what went wrong.
fn probe(f: &MFile) -> Result<Value, String> {
    let r = audiotap(["probe", &s(&f.path), "--json"]);
    if !r.success() {
        return Err(r.describe());
    }
    serde_json::from_slice(&r.stdout).map_err(|e| format!("{e}: {}", r.stdout_str()))
}

/// The default extraction of a fixture, from file to file: what other inputs and outputs
/// must equal.
fn file_output(f: &MFile) -> Wav {
    let dir = tmpdir();
    let out = dir.path().join("o.wav");
    extract(&f.path, &out, &ExtractArgs::default(), &[]).ok();
    read_wav(&out).unwrap()
}
