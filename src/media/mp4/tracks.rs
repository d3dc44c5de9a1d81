//! What each `trak` of a file states about its presentation, in file order (which is
//! Symphonia's track order): its edit list, as a [`TrackEdit`], and its language.
//!
//! Symphonia 0.6 parses edit lists but does not apply them, and does not report the `mdhd`
//! language; the Symphonia adapter uses these to drop encoder priming, to cut a track to
//! its presented length, to report an audio track's start offset and its language, the way
//! FFmpeg's demuxer does.

use std::io::{Read, Seek};

use super::boxes::{children, read_moov};
use super::tables::{edit_list, media_header, movie_timescale};

/// The presentation of one track as its edit list states it.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct TrackEdit {
    /// Empty edits before the media starts, in seconds (an audio track that starts late).
    pub(crate) offset_secs: f64,
    /// First presented media time, in `media_timescale` units (encoder priming to drop).
    pub(crate) media_time: i64,
    pub(crate) media_timescale: u32,
    /// Presented duration of the media edit in seconds, when stated (non-zero).
    pub(crate) duration_secs: Option<f64>,
}

/// The edits of every `trak`. `None` for a track without an edit list or with one this
/// reader does not model (several media edits, rate changes): the caller then presents the
/// media untouched.
pub(crate) fn read_track_edits<R: Read + Seek>(r: &mut R) -> Option<Vec<Option<TrackEdit>>> {
    let moov = read_moov(r)?;
    let movie_ts = movie_timescale(&moov);
    Some(
        children(&moov, b"trak")
            .map(|trak| presentation(trak, movie_ts?))
            .collect(),
    )
}

/// The language of every `trak` (ISO 639-2/T), `None` where it is unstated.
pub(crate) fn read_track_languages<R: Read + Seek>(r: &mut R) -> Option<Vec<Option<String>>> {
    let moov = read_moov(r)?;
    Some(
        children(&moov, b"trak")
            .map(|trak| media_header(trak).and_then(|h| h.language))
            .collect(),
    )
}

fn presentation(trak: &[u8], movie_ts: u32) -> Option<TrackEdit> {
    let media_ts = media_header(trak).map(|h| h.timescale).filter(|&t| t > 0)?;
    let list = edit_list(trak).ok()??;
    let mut edit = TrackEdit {
        media_timescale: media_ts,
        ..TrackEdit::default()
    };
    let mut media_edits = 0;
    for e in &list.edits {
        if e.media_time == -1 {
            if media_edits > 0 {
                return None;
            }
            edit.offset_secs += e.segment_duration as f64 / f64::from(movie_ts);
            continue;
        }
        // Only a plain 1x media edit is modelled.
        if e.rate != 0x0001_0000 || e.media_time < 0 {
            return None;
        }
        media_edits += 1;
        if media_edits > 1 {
            // Several media edits: a spliced presentation we do not reproduce.
            return None;
        }
        edit.media_time = e.media_time;
        edit.duration_secs =
            (e.segment_duration > 0).then(|| e.segment_duration as f64 / f64::from(movie_ts));
    }
    Some(edit)
}

#[cfg(test)]
mod tests {
    use super::super::boxes::write_box;
    use super::super::testing::{fixture, hd};
    use super::*;
    use std::io::Cursor;

    fn elst(entries: &[(u32, i32)]) -> Vec<u8> {
        let mut b = vec![0u8; 4];
        b.extend_from_slice(&(entries.len() as u32).to_be_bytes());
        for (seg, mt) in entries {
            b.extend_from_slice(&seg.to_be_bytes());
            b.extend_from_slice(&mt.to_be_bytes());
            b.extend_from_slice(&0x0001_0000u32.to_be_bytes());
        }
        b
    }

    #[test]
    fn reads_priming_offset_and_duration() {
        let trak = [
            write_box(
                b"edts",
                &write_box(b"elst", &elst(&[(500, -1), (2000, 1024)])),
            ),
            write_box(b"mdia", &write_box(b"mdhd", &hd(48000))),
        ]
        .concat();
        let moov = [write_box(b"mvhd", &hd(1000)), write_box(b"trak", &trak)].concat();
        let file = [
            write_box(b"ftyp", b"isom"),
            write_box(b"mdat", &[0u8; 100]),
            write_box(b"moov", &moov),
        ]
        .concat();
        let edits = read_track_edits(&mut Cursor::new(file)).unwrap();
        let e = edits[0].unwrap();
        assert_eq!(e.media_time, 1024);
        assert_eq!(e.media_timescale, 48000);
        assert!((e.offset_secs - 0.5).abs() < 1e-9);
        assert_eq!(e.duration_secs, Some(2.0));
    }

    #[test]
    fn hostile_sizes_are_refused() {
        let file = [&[0xff, 0xff, 0xff, 0xf0][..], b"moov", &[0u8; 32]].concat();
        assert!(read_track_edits(&mut Cursor::new(file)).is_none());
        let moov = write_box(b"trak", &[0, 0, 0, 200, b'm', b'd', b'i', b'a']);
        let file = write_box(b"moov", &moov);
        let edits = read_track_edits(&mut Cursor::new(file)).unwrap();
        assert_eq!(edits, vec![None]);
    }

    #[test]
    fn languages_of_every_track() {
        // Video (und), then an English and a French audio track.
        let got = read_track_languages(&mut fixture("mp4_multi.mp4")).unwrap();
        assert_eq!(got, [None, Some("eng".into()), Some("fra".into())]);
        let got = read_track_languages(&mut fixture("mp4_aac.mp4")).unwrap();
        assert_eq!(got, [None, None]);
    }
}
