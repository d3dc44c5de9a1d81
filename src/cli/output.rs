//! Publishing an output atomically: write to a hidden temporary file beside the target,
//! rename on success; on failure the temporary file is removed and nothing is left.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub(crate) enum Target {
    File {
        path: PathBuf,
        tmp: tempfile::TempPath,
    },
    Stdout {
        tmp: tempfile::TempPath,
    },
}

impl Target {
    pub(crate) fn new(output: &str) -> Result<Target> {
        if output == "-" {
            let tmp = tempfile::Builder::new()
                .prefix("audiotap-out-")
                .tempfile()
                .map_err(|e| Error::io("cannot create a temporary file", e))?
                .into_temp_path();
            return Ok(Target::Stdout { tmp });
        }
        let path = PathBuf::from(output);
        let dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        if path.is_dir() {
            return Err(Error::io(
                format!("cannot write {output}"),
                std::io::Error::new(std::io::ErrorKind::IsADirectory, "it is a directory"),
            ));
        }
        let tmp = tempfile::Builder::new()
            .prefix(".audiotap-")
            .suffix(".part")
            .tempfile_in(&dir)
            .map_err(|e| Error::io(format!("cannot write into {}", dir.display()), e))?
            .into_temp_path();
        Ok(Target::File { path, tmp })
    }

    /// Where the engine writes.
    pub(crate) fn work_path(&self) -> &Path {
        match self {
            Target::File { tmp, .. } | Target::Stdout { tmp } => tmp,
        }
    }

    /// Make the finished output visible (rename, or stream to stdout).
    pub(crate) fn publish(self) -> Result<()> {
        match self {
            Target::File { path, tmp } => {
                tmp.persist(&path)
                    .map_err(|e| Error::io(format!("cannot write {}", path.display()), e.error))?;
                Ok(())
            }
            Target::Stdout { tmp } => {
                let mut f = std::fs::File::open(&tmp)
                    .map_err(|e| Error::io("cannot reopen the output", e))?;
                let stdout = std::io::stdout();
                let mut lock = stdout.lock();
                match std::io::copy(&mut f, &mut lock).and_then(|_| lock.flush()) {
                    Ok(()) => Ok(()),
                    // The reader went away (`| head`): not our failure.
                    Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
                    Err(e) => Err(Error::io("cannot write to stdout", e)),
                }
            }
        }
    }
}
