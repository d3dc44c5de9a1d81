//! The spool file a ranged read fills: created at the source's size (sparse), written at
//! the offsets the parts arrive for, by several requests side by side.

use std::io::SeekFrom;
use std::path::Path;

use tokio::fs::{File, OpenOptions};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use crate::net::NetError;

/// Bytes gathered before [`PartWriter`] writes them.
const WRITE_BATCH: usize = 256 * 1024;

/// Writes the parts of one answer into the spool file, gathered and made in batches on the
/// blocking pool: a part is a few hundred bytes (an audio chunk), and a thread hop per seek
/// and per write, as `tokio::fs` makes them, cost more than the transfer itself. Holds at
/// most [`WRITE_BATCH`] bytes (slices of the chunks received) plus one chunk.
pub(super) struct PartWriter {
    file: std::sync::Arc<std::fs::File>,
    /// (offset, bytes) not yet written.
    pending: Vec<(u64, bytes::Bytes)>,
    pending_bytes: usize,
    /// Where the next bytes go.
    at: u64,
}

impl PartWriter {
    pub(super) async fn open(dest: &Path) -> Result<Self, NetError> {
        let file = open_spool(dest).await?.into_std().await;
        Ok(PartWriter {
            file: std::sync::Arc::new(file),
            pending: Vec::new(),
            pending_bytes: 0,
            at: 0,
        })
    }

    pub(super) fn seek(&mut self, at: u64) {
        self.at = at;
    }

    pub(super) async fn write(&mut self, data: bytes::Bytes) -> Result<(), NetError> {
        let n = data.len();
        self.pending.push((self.at, data));
        self.at += n as u64;
        self.pending_bytes += n;
        if self.pending_bytes >= WRITE_BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    pub(super) async fn flush(&mut self) -> Result<(), NetError> {
        use std::os::unix::fs::FileExt;
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let file = std::sync::Arc::clone(&self.file);
        tokio::task::spawn_blocking(move || {
            batch
                .iter()
                .try_for_each(|(at, data)| file.write_all_at(data, *at))
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(write_err)
    }
}

/// A handle of its own on the spool file, so that requests in flight write side by side.
async fn open_spool(dest: &Path) -> Result<File, NetError> {
    OpenOptions::new()
        .write(true)
        .open(dest)
        .await
        .map_err(write_err)
}

/// A handle of its own on the spool file (see [`open_spool`]), positioned at `at`.
pub(super) async fn open_at(dest: &Path, at: u64) -> Result<File, NetError> {
    let mut file = open_spool(dest).await?;
    file.seek(SeekFrom::Start(at)).await.map_err(write_err)?;
    Ok(file)
}

pub(super) async fn create(dest: &Path) -> Result<File, NetError> {
    File::create(dest)
        .await
        .map_err(|e| NetError::io("cannot create the spool file", e))
}

pub(super) fn write_err(e: std::io::Error) -> NetError {
    NetError::io("cannot write the spool file", e)
}

/// Create the spool file at `size` bytes (a sparse file: what is never written costs no
/// disk) holding `pieces`, (offset, bytes) already read, at their offsets.
pub(super) async fn create_sparse(
    dest: &Path,
    size: u64,
    pieces: &[(u64, &[u8])],
) -> Result<(), NetError> {
    let mut file = create(dest).await?;
    file.set_len(size).await.map_err(write_err)?;
    for &(at, bytes) in pieces {
        file.seek(SeekFrom::Start(at)).await.map_err(write_err)?;
        file.write_all(bytes).await.map_err(write_err)?;
    }
    file.flush().await.map_err(write_err)
}
