//! Files that are still arriving: an upload being spooled while the engine already reads it.
//!
//! The spooler makes an [`Arrival`] and reports each write to it; the engine is handed its
//! [`Arriving`] handle with the file (as a [`super::Input`]) and reads through
//! [`Arriving::reader`], which blocks at the end of what has arrived until more comes, the
//! upload ends (then EOF), or it fails (then an error). Containers that can be read front to
//! back are therefore decoded while their bytes arrive:
//!
//! - Symphonia: MKV/WebM (its Matroska reader is handed an unseekable source while the file
//!   arrives, so it does not follow the SeekHead to the Cues and Tags at the end), MP4 with
//!   `moov` first (faststart) and fragmented MP4, Ogg, WAV, ADTS.
//! - FFmpeg (through a custom `AVIOContext` over this reader): MPEG-TS, FLV, Matroska/WebM
//!   and Ogg (Opus, AC-3, ... that Symphonia cannot decode), also marked unseekable while
//!   arriving so that libavformat does not go to the end for a duration or an index.
//!
//! A file that must be read from its end (an MP4 with `moov` last, an AVI whose index is at
//! the end) simply waits for those bytes. An input handed over without a handle, or whose
//! upload has completed, opens as a plain file, so the CLI and finished uploads pay nothing.

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

#[derive(Debug, Default)]
struct State {
    /// Bytes written and readable so far.
    written: u64,
    /// Set at the end: `Ok(())` complete, `Err(message)` the upload failed.
    done: Option<Result<(), String>>,
}

#[derive(Debug, Default)]
struct Shared {
    state: Mutex<State>,
    changed: Condvar,
    /// The length the sender declared (`Content-Length`), if any.
    declared: Option<u64>,
}

impl Shared {
    /// Wait until more than `pos` bytes are readable or the upload ended; returns
    /// (`written`, ended). An upload that failed is an error.
    fn wait_beyond(&self, pos: u64) -> io::Result<(u64, bool)> {
        let mut st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            match &st.done {
                Some(Err(msg)) => {
                    return Err(io::Error::other(format!("the upload failed: {msg}")));
                }
                Some(Ok(())) => return Ok((st.written, true)),
                None if st.written > pos => return Ok((st.written, false)),
                None => {
                    // A bounded wait, so a lost wake-up cannot hang a reader.
                    st = self
                        .changed
                        .wait_timeout(st, Duration::from_millis(250))
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
    }

    /// The whole length once the upload ended well, `None` while it arrives.
    fn ended_len(&self) -> io::Result<Option<u64>> {
        let st = self.state.lock().unwrap_or_else(|p| p.into_inner());
        match &st.done {
            Some(Err(msg)) => Err(io::Error::other(format!("the upload failed: {msg}"))),
            Some(Ok(())) => Ok(Some(st.written)),
            None => Ok(None),
        }
    }

    fn wait_done(&self) -> io::Result<u64> {
        loop {
            let (written, ended) = self.wait_beyond(u64::MAX)?;
            if ended {
                return Ok(written);
            }
        }
    }
}

/// The writer's side of a file still arriving. Dropping it without [`Arrival::finish`] marks
/// the upload failed, so no reader waits forever.
#[derive(Debug)]
pub struct Arrival {
    shared: Arc<Shared>,
    finished: bool,
}

impl Arrival {
    /// A file (created and empty) starts to arrive; `declared` is the length the sender
    /// announced. Demuxers that seek to the end to learn the length (MP4 does) get it
    /// without waiting.
    pub fn new(declared: Option<u64>) -> Arrival {
        Arrival {
            shared: Arc::new(Shared {
                declared,
                ..Shared::default()
            }),
            finished: false,
        }
    }

    /// The readers' side, to hand to the engine with the file.
    pub fn handle(&self) -> Arriving {
        Arriving {
            shared: Arc::clone(&self.shared),
        }
    }

    /// `n` more bytes are written (and visible to readers of the file).
    pub fn advance(&self, n: u64) {
        let mut st = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        st.written += n;
        drop(st);
        self.shared.changed.notify_all();
    }

    /// The upload ended: `Ok` complete, `Err(message)` failed.
    pub fn finish(mut self, result: Result<(), String>) {
        self.end(result);
    }

    fn end(&mut self, result: Result<(), String>) {
        if self.finished {
            return;
        }
        self.finished = true;
        let mut st = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        st.done = Some(result);
        drop(st);
        self.shared.changed.notify_all();
    }
}

impl Drop for Arrival {
    fn drop(&mut self) {
        self.end(Err("the upload was abandoned".into()));
    }
}

/// The readers' side of a file still arriving: how far it has arrived, and whether it
/// ended well. Cheap to clone; every clone follows the same upload.
#[derive(Debug, Clone)]
pub struct Arriving {
    shared: Arc<Shared>,
}

impl Arriving {
    /// True while the upload goes on (it has neither completed nor failed).
    pub fn is_arriving(&self) -> bool {
        let st = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        st.done.is_none()
    }

    /// Block until the upload has arrived whole; one that failed is an error.
    pub fn wait_complete(&self) -> io::Result<()> {
        self.shared.wait_done().map(|_| ())
    }

    /// A reader over `file` (the arriving file, opened) that follows the upload; what a
    /// seek to the end does while the length is unknown is `unknown_end`'s choice.
    pub fn reader(&self, file: File, unknown_end: UnknownEnd) -> GrowingReader {
        GrowingReader {
            file,
            pos: 0,
            shared: Arc::clone(&self.shared),
            unknown_end,
        }
    }
}

/// What a seek relative to the end does while the length is not known yet (no declared
/// length and the upload still arriving).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnknownEnd {
    /// Wait for the last byte (what Symphonia's MP4 reader needs to learn the length).
    Wait,
    /// Fail at once with [`io::ErrorKind::Unsupported`]: FFmpeg then treats the size as
    /// unknown and reads on.
    Fail,
}

/// Reads a file while it arrives (see [`Arriving::reader`]).
pub struct GrowingReader {
    file: File,
    pos: u64,
    shared: Arc<Shared>,
    unknown_end: UnknownEnd,
}

impl Read for GrowingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        let (written, _ended) = self.shared.wait_beyond(self.pos)?;
        if self.pos >= written {
            // Only returned once the upload ended: the end of the file.
            return Ok(0);
        }
        let n = (buf.len() as u64).min(written - self.pos) as usize;
        let got = self.file.read_at(&mut buf[..n], self.pos)?;
        self.pos += got as u64;
        Ok(got)
    }
}

impl Seek for GrowingReader {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => self.pos.checked_add_signed(d),
            SeekFrom::End(d) => match (self.shared.declared, self.unknown_end) {
                (Some(len), _) => len.checked_add_signed(d),
                (None, UnknownEnd::Wait) => self.shared.wait_done()?.checked_add_signed(d),
                (None, UnknownEnd::Fail) => match self.shared.ended_len()? {
                    Some(len) => len.checked_add_signed(d),
                    None => {
                        return Err(io::Error::new(
                            io::ErrorKind::Unsupported,
                            "the length of the upload is not known yet",
                        ));
                    }
                },
            },
        };
        self.pos = target
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "seek before the start"))?;
        Ok(self.pos)
    }
}

impl GrowingReader {
    /// The whole length in bytes, once the upload has completed.
    pub fn known_len(&self) -> Option<u64> {
        let st = self.shared.state.lock().unwrap_or_else(|p| p.into_inner());
        // Unknown while arriving, even when declared: Symphonia's probe then skips its search
        // for trailing tags at the end of the file (a seek on `SeekFrom::End` still gets the
        // declared length).
        match st.done {
            Some(Ok(())) => Some(st.written),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::path::Path;

    /// A reader over the file at `path` that follows `handle`'s upload.
    fn open(handle: &Arriving, path: &Path, unknown_end: UnknownEnd) -> GrowingReader {
        handle.reader(File::open(path).unwrap(), unknown_end)
    }

    #[test]
    fn a_reader_follows_the_writer_and_sees_the_end() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in");
        let mut f = File::create(&path).unwrap();
        let arrival = Arrival::new(None);
        let handle = arrival.handle();
        let mut r = open(&handle, &path, UnknownEnd::Wait);
        let reader = std::thread::spawn(move || {
            let mut all = Vec::new();
            r.read_to_end(&mut all).unwrap();
            all
        });
        assert!(handle.is_arriving());
        for i in 0..5u8 {
            f.write_all(&[i; 1000]).unwrap();
            arrival.advance(1000);
            std::thread::sleep(Duration::from_millis(20));
        }
        arrival.finish(Ok(()));
        let all = reader.join().unwrap();
        assert_eq!(all.len(), 5000);
        assert_eq!(all[4999], 4);
        assert!(!handle.is_arriving(), "complete once finished");
        assert!(handle.wait_complete().is_ok());
    }

    #[test]
    fn a_seek_to_the_end_waits_or_fails_while_the_length_is_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in");
        let mut f = File::create(&path).unwrap();
        let arrival = Arrival::new(None);
        let handle = arrival.handle();
        f.write_all(&[7; 100]).unwrap();
        arrival.advance(100);
        let mut failing = open(&handle, &path, UnknownEnd::Fail);
        let err = failing.seek(SeekFrom::End(0)).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::Unsupported);
        assert_eq!(failing.known_len(), None);
        let mut waiting = open(&handle, &path, UnknownEnd::Wait);
        let waiter = std::thread::spawn(move || waiting.seek(SeekFrom::End(0)).unwrap());
        std::thread::sleep(Duration::from_millis(50));
        assert!(!waiter.is_finished(), "waits for the last byte");
        f.write_all(&[8; 20]).unwrap();
        arrival.advance(20);
        arrival.finish(Ok(()));
        assert_eq!(waiter.join().unwrap(), 120);
        assert_eq!(failing.seek(SeekFrom::End(-20)).unwrap(), 100);
        assert_eq!(failing.known_len(), Some(120));
        let mut tail = Vec::new();
        failing.read_to_end(&mut tail).unwrap();
        assert_eq!(tail, [8; 20]);

        // A declared length answers at once, in both modes.
        let path = dir.path().join("declared");
        File::create(&path).unwrap();
        let arrival = Arrival::new(Some(5000));
        let handle = arrival.handle();
        let mut r = open(&handle, &path, UnknownEnd::Wait);
        assert_eq!(r.seek(SeekFrom::End(0)).unwrap(), 5000);
        let mut r = open(&handle, &path, UnknownEnd::Fail);
        assert_eq!(r.seek(SeekFrom::End(0)).unwrap(), 5000);
    }

    #[test]
    fn an_abandoned_upload_fails_its_readers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in");
        File::create(&path).unwrap();
        let arrival = Arrival::new(None);
        let handle = arrival.handle();
        let mut r = open(&handle, &path, UnknownEnd::Wait);
        drop(arrival);
        let mut buf = [0u8; 16];
        assert!(r.read(&mut buf).is_err());
        assert!(!handle.is_arriving(), "it has ended");
        let err = handle.wait_complete().unwrap_err();
        assert!(err.to_string().contains("abandoned"), "{err}");
    }
}
