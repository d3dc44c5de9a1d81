//! [`LocalStore`]: objects as files under one root folder.
//!
//! Layout: the object `a/b.wav` is the file `<root>/a/b.wav`; its metadata (content type and
//! ETag) sits beside it in `<root>/a/b.wav~meta.json`. Puts write `<name>~<uuid>.tmp` in the
//! same folder, fsync it, then rename it over the object. `~` cannot occur in a key, so no key
//! can ever name a sidecar or an in-progress upload. When a sidecar is missing (a file copied
//! in by hand), the content type comes from the extension (`wav` → `audio/wav`, `m4a` →
//! `audio/mp4`).
//!
//! Unlike S3, a folder cannot hold both `a` and `a/b`: the second such put fails with
//! `InvalidKey`. Concurrent puts to one key: the last rename wins (its sidecar may briefly
//! pair with the other's bytes).

use std::fs::{self, File};
use std::io::{self, Read, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::io::{AsyncReadExt, AsyncSeekExt};
use tokio_util::io::ReaderStream;

use super::contract::{ByteRange, ObjectBody, ObjectMeta, ObjectStore, validate_key};
use super::error::StorageError;

const SIDECAR_SUFFIX: &str = "~meta.json";
const COPY_BUF: usize = 256 * 1024;
const READ_CHUNK: usize = 64 * 1024;

/// Objects stored as files under a root folder (the default back end).
#[derive(Debug, Clone)]
pub struct LocalStore {
    root: PathBuf,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct Sidecar {
    content_type: String,
    etag: Option<String>,
}

impl LocalStore {
    /// Opens (and creates when missing) the store's root folder.
    pub fn new(root: PathBuf) -> Result<Self, StorageError> {
        fs::create_dir_all(&root)
            .map_err(|e| StorageError::Io(format!("create {}: {e}", root.display())))?;
        Ok(Self { root })
    }

    /// The folder objects live under.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &str) -> Result<PathBuf, StorageError> {
        validate_key(key)?;
        Ok(self.root.join(key))
    }

    async fn blocking<T: Send + 'static>(
        f: impl FnOnce() -> Result<T, StorageError> + Send + 'static,
    ) -> Result<T, StorageError> {
        tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| StorageError::Io(format!("storage task failed: {e}")))?
    }
}

fn sidecar_path(path: &Path) -> PathBuf {
    let mut s = path.as_os_str().to_owned();
    s.push(SIDECAR_SUFFIX);
    PathBuf::from(s)
}

fn io_err(what: &str, key: &str, e: io::Error) -> StorageError {
    StorageError::Io(format!("{what} {key:?}: {e}"))
}

/// True for errors meaning "nothing is stored there" (missing file, or a path component that
/// is a file rather than a folder).
fn is_absent(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::NotFound | io::ErrorKind::NotADirectory
    )
}

fn content_type_from_extension(key: &str) -> &'static str {
    let ext = key.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("wav") => "audio/wav",
        Some("m4a" | "mp4") => "audio/mp4",
        Some("json") => "application/json",
        _ => "application/octet-stream",
    }
}

/// Reads an object's metadata from its file and sidecar. `NotFound` unless `path` is a file.
fn read_meta(key: &str, path: &Path, file_meta: &fs::Metadata) -> Result<ObjectMeta, StorageError> {
    if !file_meta.is_file() {
        return Err(StorageError::NotFound(key.to_owned()));
    }
    let sidecar = fs::read(sidecar_path(path))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<Sidecar>(&bytes).ok());
    let (content_type, etag) = match sidecar {
        Some(s) => (s.content_type, s.etag),
        None => (content_type_from_extension(key).to_owned(), None),
    };
    Ok(ObjectMeta {
        key: key.to_owned(),
        size: file_meta.len(),
        content_type,
        etag,
    })
}

/// A temp file that is removed on drop unless it was renamed into place.
struct TempFile {
    path: PathBuf,
    armed: bool,
}

impl TempFile {
    /// Creates `<dir>/<name>~<uuid>.tmp`, creating `dir` first (again, if a concurrent delete
    /// pruned it in between).
    fn create(dir: &Path, name: &str) -> io::Result<(TempFile, File)> {
        let mut attempts = 0;
        loop {
            fs::create_dir_all(dir)?;
            let path = dir.join(format!("{name}~{}.tmp", uuid::Uuid::now_v7().simple()));
            match File::options().write(true).create_new(true).open(&path) {
                Ok(file) => return Ok((TempFile { path, armed: true }, file)),
                Err(e) if e.kind() == io::ErrorKind::NotFound && attempts < 3 => attempts += 1,
                Err(e) => return Err(e),
            }
        }
    }

    fn persist(mut self, to: &Path) -> io::Result<()> {
        fs::rename(&self.path, to)?;
        self.armed = false;
        Ok(())
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if self.armed {
            let _ = fs::remove_file(&self.path);
        }
    }
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Copies `src` to a temp file beside `dest` (hashing it for the ETag), writes the sidecar,
/// fsyncs both and renames them into place.
fn put_blocking(
    key: &str,
    dest: &Path,
    src: &Path,
    content_type: &str,
) -> Result<ObjectMeta, StorageError> {
    let mut input = File::open(src).map_err(|e| io_err("open source file for", key, e))?;
    let src_meta = input
        .metadata()
        .map_err(|e| io_err("stat source file for", key, e))?;
    if !src_meta.is_file() {
        return Err(StorageError::Io(format!(
            "source file for {key:?} is not a regular file"
        )));
    }
    let dir = dest.parent().expect("a validated key has a file name");
    let name = dest
        .file_name()
        .expect("a validated key has a file name")
        .to_string_lossy();
    let write_err = |e| io_err("write", key, e);
    // A file system cannot hold both `a` and `a/b`, which S3 can: refuse such keys up front.
    if dest.is_dir() {
        return Err(StorageError::InvalidKey(format!(
            "{key:?} is a folder of other objects"
        )));
    }

    let (tmp, mut out) = TempFile::create(dir, &name).map_err(|e| {
        if matches!(
            e.kind(),
            io::ErrorKind::AlreadyExists | io::ErrorKind::NotADirectory
        ) {
            StorageError::InvalidKey(format!("a parent of {key:?} is an object"))
        } else {
            write_err(e)
        }
    })?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; COPY_BUF];
    let mut size = 0u64;
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err("read source file for", key, e)),
        };
        hasher.update(&buf[..n]);
        out.write_all(&buf[..n]).map_err(write_err)?;
        size += n as u64;
    }
    if size != src_meta.len() {
        return Err(StorageError::Io(format!(
            "source file for {key:?} changed size while being stored"
        )));
    }
    out.sync_all().map_err(write_err)?;
    drop(out);

    let etag = format!("\"{}\"", hex::encode(hasher.finalize()));
    let sidecar = Sidecar {
        content_type: content_type.to_owned(),
        etag: Some(etag.clone()),
    };
    let (side_tmp, mut side_out) =
        TempFile::create(dir, &format!("{name}~meta")).map_err(write_err)?;
    let json = serde_json::to_vec(&sidecar).expect("sidecar serialises");
    side_out.write_all(&json).map_err(write_err)?;
    side_out.sync_all().map_err(write_err)?;
    drop(side_out);

    // Sidecar first: a reader that sees the new bytes also sees their metadata.
    side_tmp.persist(&sidecar_path(dest)).map_err(write_err)?;
    tmp.persist(dest).map_err(|e| {
        if e.kind() == io::ErrorKind::IsADirectory || e.kind() == io::ErrorKind::DirectoryNotEmpty {
            StorageError::InvalidKey(format!("{key:?} is a folder of other objects"))
        } else {
            write_err(e)
        }
    })?;
    sync_dir(dir).map_err(write_err)?;
    Ok(ObjectMeta {
        key: key.to_owned(),
        size,
        content_type: content_type.to_owned(),
        etag: Some(etag),
    })
}

#[async_trait::async_trait]
impl ObjectStore for LocalStore {
    fn kind(&self) -> &'static str {
        "local"
    }

    async fn put_file(
        &self,
        key: &str,
        path: &Path,
        content_type: &str,
    ) -> Result<ObjectMeta, StorageError> {
        let dest = self.path_of(key)?;
        let (key, src, content_type) = (key.to_owned(), path.to_owned(), content_type.to_owned());
        Self::blocking(move || put_blocking(&key, &dest, &src, &content_type)).await
    }

    async fn get(&self, key: &str, range: Option<ByteRange>) -> Result<ObjectBody, StorageError> {
        let path = self.path_of(key)?;
        let owned_key = key.to_owned();
        let (file, meta) = Self::blocking(move || {
            let key = owned_key.as_str();
            let file = File::open(&path).map_err(|e| {
                if is_absent(&e) {
                    StorageError::NotFound(key.to_owned())
                } else {
                    io_err("open", key, e)
                }
            })?;
            // Metadata of the opened file, so that size and bytes belong to the same object.
            let file_meta = file.metadata().map_err(|e| io_err("stat", key, e))?;
            Ok((file, read_meta(key, &path, &file_meta)?))
        })
        .await?;

        let span = range.map(|r| r.resolve(meta.size)).transpose()?;
        let (start, len) = match span {
            Some((start, end)) => (start, end - start + 1),
            None => (0, meta.size),
        };
        let mut file = tokio::fs::File::from_std(file);
        if start > 0 {
            file.seek(SeekFrom::Start(start))
                .await
                .map_err(|e| io_err("seek", key, e))?;
        }
        let stream = ReaderStream::with_capacity(file.take(len), READ_CHUNK);
        Ok(ObjectBody {
            meta,
            range: span,
            stream: Box::pin(stream),
        })
    }

    async fn head(&self, key: &str) -> Result<ObjectMeta, StorageError> {
        let path = self.path_of(key)?;
        let key = key.to_owned();
        Self::blocking(move || {
            let file_meta = fs::metadata(&path).map_err(|e| {
                if is_absent(&e) {
                    StorageError::NotFound(key.clone())
                } else {
                    io_err("stat", &key, e)
                }
            })?;
            read_meta(&key, &path, &file_meta)
        })
        .await
    }

    async fn delete(&self, key: &str) -> Result<(), StorageError> {
        let path = self.path_of(key)?;
        let root = self.root.clone();
        let key = key.to_owned();
        Self::blocking(move || {
            match fs::symlink_metadata(&path) {
                Ok(m) if m.is_dir() => return Ok(()), // a folder of other objects: no object here
                Ok(_) => {}
                Err(e) if is_absent(&e) => {}
                Err(e) => return Err(io_err("stat", &key, e)),
            }
            for p in [path.clone(), sidecar_path(&path)] {
                match fs::remove_file(&p) {
                    Ok(()) => {}
                    Err(e) if is_absent(&e) => {}
                    Err(e) => return Err(io_err("delete", &key, e)),
                }
            }
            // Prune folders left empty (one per job otherwise); stops at the first non-empty.
            let mut dir = path.parent();
            while let Some(d) = dir {
                if d == root || fs::remove_dir(d).is_err() {
                    break;
                }
                dir = d.parent();
            }
            Ok(())
        })
        .await
    }

    /// Temporary files of puts a killed process never finished (`<name>~<uuid>.tmp`: keys
    /// cannot contain `~`, so nothing else matches).
    async fn sweep_incomplete(&self) -> Result<usize, StorageError> {
        fn sweep(dir: &Path, removed: &mut usize) {
            let Ok(rd) = fs::read_dir(dir) else { return };
            for entry in rd.flatten() {
                let path = entry.path();
                let name = entry.file_name().to_string_lossy().into_owned();
                match entry.file_type() {
                    Ok(t) if t.is_dir() => sweep(&path, removed),
                    Ok(_)
                        if name.contains('~')
                            && name.ends_with(".tmp")
                            && fs::remove_file(&path).is_ok() =>
                    {
                        *removed += 1;
                    }
                    _ => {}
                }
            }
        }
        let root = self.root.clone();
        Self::blocking(move || {
            let mut removed = 0;
            sweep(&root, &mut removed);
            Ok(removed)
        })
        .await
    }

    async fn check(&self) -> Result<(), StorageError> {
        let root = self.root.clone();
        Self::blocking(move || {
            let err = |e| StorageError::Io(format!("storage folder {}: {e}", root.display()));
            let (tmp, mut file) = TempFile::create(&root, ".check").map_err(err)?;
            file.write_all(b"ok").map_err(err)?;
            file.sync_all().map_err(err)?;
            drop(file);
            drop(tmp);
            Ok(())
        })
        .await
    }

    async fn presigned_get(
        &self,
        key: &str,
        _ttl: Duration,
    ) -> Result<Option<String>, StorageError> {
        validate_key(key)?;
        Ok(None)
    }
}
