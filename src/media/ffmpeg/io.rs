//! Opening an input with libavformat, also one still arriving: the growing reader becomes
//! libavformat's I/O through a custom AVIO context, containers that can be read front to
//! back are then marked unseekable (so the demuxer starts with the first bytes instead of
//! waiting for the end), and a broken-off upload is told apart from the end of the stream.

use std::io::{Read, Seek, SeekFrom};
use std::panic::AssertUnwindSafe;
use std::path::Path;
use std::sync::{Arc, Mutex};

use ff::format;
use ffmpeg_next as ff;

use super::{init, map_err};
use crate::error::{Error, Result};
use crate::media::growing::UnknownEnd;
use crate::media::input::Input;

/// Open `input` with libavformat (probed and with its stream info read).
pub(crate) fn open_input(input: &Input) -> Result<format::context::Input> {
    open_source(input).map(|s| s.ictx)
}

/// An opened input, and for a file still arriving the cell that says whether its upload
/// failed.
pub(crate) struct Source {
    pub(crate) ictx: format::context::Input,
    pub(crate) failure: Option<SourceFailure>,
}

/// Containers that libavformat demuxes front to back and reads the end of only for
/// extras when the input is seekable: the duration (MPEG-TS packets' last timestamps, Ogg's
/// last granule, FLV's last tag) or the Cues and Tags a Matroska SeekHead points at. While
/// the file arrives they are opened unseekable, so decoding starts with the first bytes.
/// Everything else keeps seeking (an MP4 `moov` or an AVI index at the end is waited for).
const FRONT_TO_BACK: &[&str] = &["mpegts", "matroska,webm", "flv", "ogg"];

/// Open `input` with libavformat; a file still arriving is read through [`ArrivingIo`].
pub(crate) fn open_source(input: &Input) -> Result<Source> {
    init();
    let path = input.path();
    if !input.is_arriving() {
        // The file of an upload that failed is cut short: not an input to read.
        input
            .wait_complete()
            .map_err(|e| Error::io("cannot read the input", e))?;
        let ictx = format::input(&path).map_err(|e| open_error(e, path))?;
        return Ok(Source {
            ictx,
            failure: None,
        });
    }
    let reader = input
        .open_with(UnknownEnd::Fail)
        .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
    let failure = SourceFailure::default();
    let mut io = format::context::StreamIo::from_read_seek(ArrivingIo {
        inner: reader,
        failure: failure.clone(),
    })
    .map_err(|e| map_err(e, "cannot set up reading the input"))?;
    let opened = probe_container(&mut io).and_then(|name| {
        if FRONT_TO_BACK.contains(&name.as_str()) {
            // SAFETY: a plain write of a flag of the AVIOContext `io` owns; demuxers read
            // it to decide whether to look at the end of the file. Seeks still work.
            unsafe { (*io.as_mut_ptr()).seekable = 0 };
        }
        format::input_from_stream(io, None, None)
    });
    match opened {
        Ok(ictx) => Ok(Source {
            ictx,
            failure: Some(failure),
        }),
        Err(e) => Err(failure.error().unwrap_or_else(|| open_error(e, path))),
    }
}

/// The name of the container libavformat recognises in `io` (its `AVInputFormat` short
/// name, such as `mpegts` or `matroska,webm`). The probed bytes stay buffered in `io`, so
/// the open that follows reads them again without a seek.
fn probe_container(io: &mut format::context::StreamIo) -> std::result::Result<String, ff::Error> {
    let mut fmt: *const ff::ffi::AVInputFormat = std::ptr::null();
    // SAFETY: `io` owns a live read AVIOContext; `fmt` is an out pointer set to a static
    // AVInputFormat (or left null); the url and log context may be null.
    let score = unsafe {
        ff::ffi::av_probe_input_buffer2(
            io.as_mut_ptr(),
            &mut fmt,
            std::ptr::null(),
            std::ptr::null_mut(),
            0,
            0,
        )
    };
    if score < 0 {
        return Err(ff::Error::from(score));
    }
    if fmt.is_null() {
        return Err(ff::Error::InvalidData);
    }
    // SAFETY: `fmt` points at a static AVInputFormat whose `name` is a static C string.
    Ok(unsafe { std::ffi::CStr::from_ptr((*fmt).name) }
        .to_string_lossy()
        .into_owned())
}

fn open_error(e: ff::Error, path: &Path) -> Error {
    match e {
        ff::Error::InvalidData => Error::media("not a recognised media container"),
        ff::Error::Other { errno } if errno == libc_enoent() => Error::io(
            format!("cannot open {}", path.display()),
            std::io::Error::from_raw_os_error(errno),
        ),
        other => map_err(other, "cannot read the container"),
    }
}

/// Set when reading a file still arriving failed (its upload broke off). libavformat
/// reports a failed read as the end of the stream in many demuxers; this tells the two
/// apart.
#[derive(Debug, Clone, Default)]
pub(crate) struct SourceFailure(Arc<Mutex<Option<String>>>);

impl SourceFailure {
    fn set(&self, msg: String) {
        let mut slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        slot.get_or_insert(msg);
    }

    /// The upload's failure, once reading the input failed.
    pub(crate) fn error(&self) -> Option<Error> {
        let slot = self.0.lock().unwrap_or_else(|p| p.into_inner());
        slot.as_ref()
            .map(|msg| Error::io("cannot read the input", std::io::Error::other(msg.clone())))
    }
}

/// The growing reader as libavformat's I/O (through ffmpeg-next's `StreamIo`, which owns
/// the AVIOContext and its buffer and maps `Ok(0)` to `AVERROR_EOF`): a panic is caught
/// here rather than unwound into C, and a failed read is recorded in `failure`.
struct ArrivingIo<R> {
    inner: R,
    failure: SourceFailure,
}

impl<R> ArrivingIo<R> {
    fn guarded<T>(&mut self, op: impl FnOnce(&mut R) -> std::io::Result<T>) -> std::io::Result<T> {
        let inner = &mut self.inner;
        std::panic::catch_unwind(AssertUnwindSafe(|| op(inner)))
            .unwrap_or_else(|_| Err(std::io::Error::other("the input reader panicked")))
    }
}

impl<R: Read> Read for ArrivingIo<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let got = self.guarded(|r| r.read(buf));
        if let Err(e) = &got {
            self.failure.set(e.to_string());
        }
        got
    }
}

impl<R: Seek> Seek for ArrivingIo<R> {
    /// `SeekFrom::End` (and FFmpeg's `AVSEEK_SIZE`) gives the declared length, or fails
    /// while the length is unknown: libavformat then reads on with an unknown size.
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        self.guarded(|r| r.seek(to))
    }
}

fn libc_enoent() -> i32 {
    std::io::Error::from(std::io::ErrorKind::NotFound)
        .raw_os_error()
        .unwrap_or(2)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::media::growing::Arrival;
    use std::fs::File;
    use std::io::Write;
    use std::path::PathBuf;
    use std::sync::mpsc;
    use std::time::Duration;

    pub(crate) fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/media")
            .join(name)
    }

    type PacketFacts = (usize, Option<i64>, usize);

    /// (stream, pts, size) of every packet up to the first read error or the end.
    fn read_packets(ictx: &mut format::context::Input, mut each: impl FnMut()) -> Vec<PacketFacts> {
        let mut out = Vec::new();
        let mut packet = ff::Packet::empty();
        while packet.read(ictx).is_ok() {
            out.push((packet.stream(), packet.pts(), packet.size()));
            each();
        }
        out
    }

    /// The 10 s H.264 + AAC fixture remuxed into MPEG-TS. libavformat analyses up to 5 s of
    /// media before the first packet: the 2 s MPEG-TS fixture is whole by then.
    pub(crate) fn long_ts(dir: &Path) -> PathBuf {
        let out = dir.join("long.ts");
        let st = std::process::Command::new("ffmpeg")
            .args(["-v", "error", "-y", "-i"])
            .arg(fixture("mp4_aac_long.mp4"))
            .args([
                "-map",
                "0",
                "-c",
                "copy",
                "-fflags",
                "+bitexact",
                "-f",
                "mpegts",
            ])
            .arg(&out)
            .status()
            .expect("the ffmpeg CLI");
        assert!(st.success());
        out
    }

    /// A spool file still arriving that holds the first three quarters of `source`: the
    /// engine's input, the file to write the rest to, and the upload to report it to.
    pub(crate) fn spool_head(source: &Path, dir: &Path) -> (Input, File, Arrival, Vec<u8>) {
        let data = std::fs::read(source).unwrap();
        let name = source.file_name().unwrap().to_string_lossy();
        let path = dir.join(format!("{name}.incoming"));
        let mut file = File::create(&path).unwrap();
        let arrival = Arrival::new(Some(data.len() as u64));
        let head = data.len() * 3 / 4;
        file.write_all(&data[..head]).unwrap();
        arrival.advance(head as u64);
        (Input::arriving(path, arrival.handle()), file, arrival, data)
    }

    /// libavformat reads a file still arriving through the AVIO reader: it opens it and
    /// hands out packets while the last quarter is held back, then reads on to the end and
    /// sees the same packets as when it opens the finished file by path.
    #[test]
    fn the_avio_reader_demuxes_a_growing_file_before_it_is_whole() {
        let dir = tempfile::tempdir().unwrap();
        let sources = [
            long_ts(dir.path()),
            fixture("webm_opus.webm"),
            fixture("mkv_ac3.mkv"),
            fixture("ogg_opus.opus"),
        ];
        for source in sources {
            let name = source.display();
            let (input, mut file, arrival, data) = spool_head(&source, dir.path());
            let head = data.len() * 3 / 4;
            let (first_packet, seen) = mpsc::channel();
            let p = input.clone();
            let reader = std::thread::spawn(move || {
                let mut src = open_source(&p).expect("open while arriving");
                let packets = read_packets(&mut src.ictx, || {
                    let _ = first_packet.send(());
                });
                let failed = src.failure.and_then(|f| f.error()).map(|e| e.to_string());
                (packets, failed)
            });
            seen.recv_timeout(Duration::from_secs(20))
                .unwrap_or_else(|e| panic!("{name}: no packet while the tail was held back ({e})"));
            file.write_all(&data[head..]).unwrap();
            arrival.advance((data.len() - head) as u64);
            arrival.finish(Ok(()));
            let (packets, failed) = reader.join().unwrap();
            assert_eq!(failed, None, "{name}");
            let mut whole = format::input(&source).unwrap();
            assert_eq!(packets, read_packets(&mut whole, || {}), "{name}");
        }
    }

    /// `AVSEEK_SIZE` gives the declared length, or an error (unknown size) while a file
    /// without one arrives; its full length once it has arrived.
    #[test]
    fn the_avio_size_is_declared_or_unknown_until_complete() {
        let dir = tempfile::tempdir().unwrap();
        let size = |input: &Input| {
            let reader = input.open_with(UnknownEnd::Fail).unwrap();
            let mut io = format::context::StreamIo::from_read_seek(ArrivingIo {
                inner: reader,
                failure: SourceFailure::default(),
            })
            .unwrap();
            // SAFETY: `io` owns a live read AVIOContext.
            unsafe { ff::ffi::avio_size(io.as_mut_ptr()) }
        };
        for declared in [Some(5000), None] {
            let path = dir.path().join(format!("in-{declared:?}"));
            let mut file = File::create(&path).unwrap();
            let arrival = Arrival::new(declared);
            let input = Input::arriving(&path, arrival.handle());
            file.write_all(&[0u8; 1000]).unwrap();
            arrival.advance(1000);
            match declared {
                Some(n) => assert_eq!(size(&input), n as i64),
                None => assert!(size(&input) < 0, "unknown while arriving"),
            }
            let reader = input.open_with(UnknownEnd::Fail).unwrap();
            arrival.finish(Ok(()));
            let mut io = format::context::StreamIo::from_read_seek(ArrivingIo {
                inner: reader,
                failure: SourceFailure::default(),
            })
            .unwrap();
            // SAFETY: as above.
            let whole = unsafe { ff::ffi::avio_size(io.as_mut_ptr()) };
            assert_eq!(whole, declared.unwrap_or(1000) as i64);
        }
    }

    /// A panic in the reader stays on the Rust side of the FFI boundary: libavformat sees
    /// a failed read (an unwind into C would abort the test binary).
    #[test]
    fn a_panicking_reader_is_a_failed_read() {
        struct Boom;
        impl Read for Boom {
            fn read(&mut self, _: &mut [u8]) -> std::io::Result<usize> {
                panic!("boom");
            }
        }
        impl Seek for Boom {
            fn seek(&mut self, _: SeekFrom) -> std::io::Result<u64> {
                panic!("boom");
            }
        }
        let failure = SourceFailure::default();
        let mut io = format::context::StreamIo::from_read_seek(ArrivingIo {
            inner: Boom,
            failure: failure.clone(),
        })
        .unwrap();
        assert!(probe_container(&mut io).is_err());
        assert!(
            failure
                .error()
                .is_some_and(|e| e.to_string().contains("panicked"))
        );
    }
}
