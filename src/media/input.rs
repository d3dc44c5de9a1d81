//! What the engine is handed to read: a file, and for an upload still being written the
//! [`Arriving`] handle that follows it. Every back end opens the input through [`Input`],
//! never by a path of its own, so a file that arrives is read as it arrives.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::path::{Path, PathBuf};

use super::growing::{Arriving, GrowingReader, UnknownEnd};

/// The bytes the engine reads: read and sought, and what the demuxers ask about them
/// besides. The back-end adapters wrap it in their own I/O types.
pub trait ReadSeek: Read + Seek + Send + Sync {
    /// Whether seeks work (a FIFO opened by path cannot seek).
    fn is_seekable(&self) -> bool;
    /// The whole length in bytes, when known (not while a file arrives).
    fn byte_len(&self) -> Option<u64>;
}

impl ReadSeek for File {
    fn is_seekable(&self) -> bool {
        self.metadata().is_ok_and(|m| m.is_file())
    }

    fn byte_len(&self) -> Option<u64> {
        self.metadata().ok().map(|m| m.len())
    }
}

impl ReadSeek for GrowingReader {
    fn is_seekable(&self) -> bool {
        true
    }

    fn byte_len(&self) -> Option<u64> {
        self.known_len()
    }
}

/// An input of the engine: the file at `path`, with the handle of its upload while it is
/// still being written. Cheap to clone (the parallel decoder opens it once per worker).
#[derive(Debug, Clone)]
pub struct Input {
    path: PathBuf,
    arriving: Option<Arriving>,
}

impl Input {
    /// A file that is whole.
    pub fn file(path: impl Into<PathBuf>) -> Input {
        Input {
            path: path.into(),
            arriving: None,
        }
    }

    /// A file still being written by the upload `arriving` follows.
    pub fn arriving(path: impl Into<PathBuf>, arriving: Arriving) -> Input {
        Input {
            path: path.into(),
            arriving: Some(arriving),
        }
    }

    /// Where the file is (for messages, and the extension as a format hint).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// True while the file is still arriving.
    pub fn is_arriving(&self) -> bool {
        self.arriving.as_ref().is_some_and(Arriving::is_arriving)
    }

    /// Block until the file has arrived whole (at once for a file that is whole); an
    /// upload that failed is an error.
    pub fn wait_complete(&self) -> io::Result<()> {
        self.arriving
            .as_ref()
            .map_or(Ok(()), Arriving::wait_complete)
    }

    /// Open the file: a reader that follows it while it arrives (a seek to its end waits
    /// for the length), else the plain file.
    pub fn open(&self) -> io::Result<Box<dyn ReadSeek>> {
        self.open_with(UnknownEnd::Wait)
    }

    /// [`Input::open`], choosing what a seek to the end of a file of unknown length does.
    /// The file of an upload that failed does not open: what it holds is cut short.
    pub fn open_with(&self, unknown_end: UnknownEnd) -> io::Result<Box<dyn ReadSeek>> {
        let file = File::open(&self.path)?;
        match &self.arriving {
            Some(a) if a.is_arriving() => Ok(Box::new(a.reader(file, unknown_end))),
            Some(a) => a
                .wait_complete()
                .map(|()| Box::new(file) as Box<dyn ReadSeek>),
            None => Ok(Box::new(file)),
        }
    }
}

impl From<&Path> for Input {
    fn from(path: &Path) -> Input {
        Input::file(path)
    }
}

impl From<PathBuf> for Input {
    fn from(path: PathBuf) -> Input {
        Input::file(path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::growing::Arrival;
    use std::io::Write;

    /// While the upload goes on the input is read as it arrives; once it has completed the
    /// input opens as the plain file; once it has failed it does not open at all.
    #[test]
    fn an_input_follows_its_upload_to_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in");
        let mut f = File::create(&path).unwrap();
        f.write_all(&[1; 10]).unwrap();
        let arrival = Arrival::new(None);
        let input = Input::arriving(&path, arrival.handle());
        arrival.advance(10);
        assert!(input.is_arriving());
        let r = input.open().unwrap();
        assert_eq!(r.byte_len(), None, "unknown while arriving");
        arrival.finish(Ok(()));
        assert!(!input.is_arriving());
        input.wait_complete().unwrap();
        let r = input.open().unwrap();
        assert_eq!(r.byte_len(), Some(10));

        let failed = Arrival::new(None);
        let input = Input::arriving(&path, failed.handle());
        drop(failed);
        assert!(input.open().is_err(), "a failed upload does not open");
        assert!(input.wait_complete().is_err());

        let whole = Input::from(path.as_path());
        assert!(!whole.is_arriving());
        whole.wait_complete().unwrap();
        assert_eq!(whole.open().unwrap().byte_len(), Some(10));
    }
}
