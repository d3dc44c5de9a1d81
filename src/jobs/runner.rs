//! The one way the service runs the engine: [`Extraction`] runs it on the blocking pool, in
//! the caller's tracing span, with progress and a cancellation token. The worker's extract
//! step and `POST /v1/extract` both use it; what it reads is an [`Input`]: a file, or an
//! [`ArrivingUpload`] still being written.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio_util::sync::CancellationToken;

use crate::error::{Error, Result};
use crate::media::growing::Arrival;
use crate::media::{self, Control, Limits};
use crate::spec::{OutputSpec, Report};

/// What an [`Extraction`] needs besides its input and output.
pub struct Run {
    pub spec: OutputSpec,
    pub limits: Limits,
    /// Stops the engine at its next block ([`Error::Canceled`]).
    pub cancel: CancellationToken,
    /// Called once, on the engine's thread, when the first block is decoded.
    pub on_first_block: Option<Box<dyn FnOnce() + Send>>,
}

/// What an [`Extraction`] reads: a file that is whole, or an upload still arriving
/// ([`ArrivingUpload::input`]). The engine's input, under a name of the jobs layer so that
/// its callers need nothing of the engine.
#[derive(Debug, Clone)]
pub struct Input(media::Input);

impl Input {
    /// A file that is whole.
    pub fn file(path: impl Into<PathBuf>) -> Input {
        Input(media::Input::file(path))
    }
}

/// An extraction running on the blocking pool.
pub struct Extraction {
    handle: tokio::task::JoinHandle<Result<Report>>,
    progress: Progress,
}

/// The share (0..=1) of an extraction done so far; cheap to clone and read.
#[derive(Clone, Default)]
pub struct Progress(Arc<AtomicU64>);

impl Progress {
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }

    fn set(&self, p: f64) {
        self.0.store(p.to_bits(), Ordering::Relaxed);
    }
}

impl Extraction {
    /// Start extracting `input` into `output` (a path the caller owns and publishes).
    pub fn start(input: Input, output: PathBuf, run: Run) -> Extraction {
        let progress = Progress::default();
        let shared = progress.clone();
        let span = tracing::Span::current();
        let handle = tokio::task::spawn_blocking(move || {
            let _span = span.enter();
            let Run {
                spec,
                limits,
                cancel,
                on_first_block,
            } = run;
            let first_block = std::sync::Mutex::new(on_first_block);
            let on_progress = |p: f64| {
                shared.set(p);
                if let Some(f) = first_block.lock().ok().and_then(|mut f| f.take()) {
                    f();
                }
            };
            let canceled = || cancel.is_cancelled();
            media::extract(
                &input.0,
                &spec,
                &output,
                &limits,
                Control {
                    progress: Some(&on_progress),
                    cancel: Some(&canceled),
                },
            )
        });
        Extraction { handle, progress }
    }

    pub fn progress(&self) -> Progress {
        self.progress.clone()
    }

    /// Wait for the engine to end.
    pub async fn finish(self) -> Result<Report> {
        self.handle
            .await
            .map_err(|e| Error::Internal(format!("the extraction task failed: {e}")))?
    }
}

/// An upload being written to a file while the engine already reads it (see
/// [`media::growing`]). Dropped without [`ArrivingUpload::end`], readers see it failed;
/// the file is removed on drop.
pub struct ArrivingUpload {
    arrival: Option<Arrival>,
    /// The file with the handle that follows `arrival`, for the engine.
    input: media::Input,
    path: tempfile::TempPath,
}

impl ArrivingUpload {
    /// A new, empty `.incoming-*` file in `dir`; `declared` is the length the sender
    /// announced, if any.
    pub async fn create(dir: &Path, declared: Option<u64>) -> std::io::Result<ArrivingUpload> {
        tokio::fs::create_dir_all(dir).await?;
        let path = tempfile::Builder::new()
            .prefix(".incoming-")
            .tempfile_in(dir)?
            .into_temp_path();
        let arrival = Arrival::new(declared);
        Ok(ArrivingUpload {
            input: media::Input::arriving(&*path, arrival.handle()),
            arrival: Some(arrival),
            path,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The upload as an [`Extraction`]'s input: read as it arrives.
    pub fn input(&self) -> Input {
        Input(self.input.clone())
    }

    /// `n` more bytes were written and flushed to the file.
    pub fn advance(&self, n: u64) {
        if let Some(a) = &self.arrival {
            a.advance(n);
        }
    }

    /// The upload ended: complete, or failed with a reason its readers will see.
    pub fn end(&mut self, result: std::result::Result<(), String>) {
        if let Some(a) = self.arrival.take() {
            a.finish(result);
        }
    }
}
