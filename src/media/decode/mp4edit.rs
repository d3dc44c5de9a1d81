//! Reads the edit lists (`moov/trak/edts/elst`) of an ISO-BMFF file. Symphonia 0.6 parses but
//! does not apply them, so the Symphonia adapter uses these to drop encoder priming, to cut
//! the track to its presented length and to report an audio track's start offset, the way
//! FFmpeg's demuxer does.
//!
//! Only the box headers on the way to `moov` are read; `mdat` is skipped by seeking. Every
//! size is checked against what is left of its parent, so hostile files fail cleanly.

use std::io::{Read, Seek, SeekFrom};

use crate::media::isobmff::{be_u32, be_u64, boxes, child, read_body, top_level_box};

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

/// The edits of every `trak`, in file order (Symphonia's track order). `None` for a track
/// without an edit list or with one this reader does not model (several media edits, rate
/// changes): the caller then presents the media untouched.
pub(crate) fn read_track_edits<R: Read + Seek>(r: &mut R) -> Option<Vec<Option<TrackEdit>>> {
    Some(parse_moov(&crate::media::isobmff::read_moov(r)?))
}

/// Timescale of an `mvhd` or `mdhd` body (full box: version decides the field widths).
fn header_timescale(body: &[u8]) -> Option<u32> {
    match body.first()? {
        0 => be_u32(body, 12),
        1 => be_u32(body, 20),
        _ => None,
    }
}

fn parse_moov(moov: &[u8]) -> Vec<Option<TrackEdit>> {
    let movie_ts = child(moov, b"mvhd")
        .and_then(header_timescale)
        .filter(|&t| t > 0);
    boxes(moov)
        .filter(|(k, _)| k == b"trak")
        .map(|(_, trak)| parse_trak(trak, movie_ts?))
        .collect()
}

fn parse_trak(trak: &[u8], movie_ts: u32) -> Option<TrackEdit> {
    let mdia = child(trak, b"mdia")?;
    let media_ts = child(mdia, b"mdhd")
        .and_then(header_timescale)
        .filter(|&t| t > 0)?;
    let elst = child(child(trak, b"edts")?, b"elst")?;
    let version = *elst.first()?;
    let count = be_u32(elst, 4)? as usize;
    let entry_len = if version == 1 { 20 } else { 12 };
    let mut edit = TrackEdit {
        media_timescale: media_ts,
        ..TrackEdit::default()
    };
    let mut media_edits = 0;
    for i in 0..count.min(64) {
        let at = 8 + i * entry_len;
        let (seg, media_time, rate) = if version == 1 {
            (
                be_u64(elst, at)?,
                be_u64(elst, at + 8)? as i64,
                be_u32(elst, at + 16)?,
            )
        } else {
            (
                u64::from(be_u32(elst, at)?),
                i64::from(be_u32(elst, at + 4)? as i32),
                be_u32(elst, at + 8)?,
            )
        };
        if media_time == -1 {
            if media_edits > 0 {
                return None;
            }
            edit.offset_secs += seg as f64 / f64::from(movie_ts);
            continue;
        }
        // Only a plain 1x media edit is modelled.
        if rate != 0x0001_0000 || media_time < 0 {
            return None;
        }
        media_edits += 1;
        if media_edits > 1 {
            // Several media edits: a spliced presentation we do not reproduce.
            return None;
        }
        edit.media_time = media_time;
        edit.duration_secs = (seg > 0).then(|| seg as f64 / f64::from(movie_ts));
    }
    Some(edit)
}

/// Durations in seconds of the tracks of a fragmented MP4 (empty `moov` sample tables):
/// the end of each track's last fragment (`tfdt` + its `trun` sample durations, falling
/// back to `tfhd`/`trex` defaults), in `trak` order. `None` for a file that is not
/// fragmented or cannot be walked.
pub(crate) fn fragmented_durations<R: Read + Seek>(r: &mut R) -> Option<Vec<Option<f64>>> {
    let len = r.seek(SeekFrom::End(0)).ok()?;
    let mut pos = 0u64;
    // (track_ID, media timescale, trex default duration) per trak, in order.
    let mut tracks: Vec<(u32, u32, u32)> = Vec::new();
    let mut ends: std::collections::HashMap<u32, u64> = std::collections::HashMap::new();
    let mut moofs = 0usize;
    for _ in 0..1_000_000 {
        let Some((kind, body_len, size)) = top_level_box(r, pos, len) else {
            break;
        };
        if &kind == b"moov" || &kind == b"moof" {
            let Some(body) = read_body(r, body_len) else {
                break;
            };
            if &kind == b"moov" {
                tracks = fragment_tracks(&body);
            } else {
                moofs += 1;
                for (_, traf) in boxes(&body).filter(|(k, _)| k == b"traf") {
                    if let Some((id, end)) = traf_end(traf, &tracks) {
                        let e = ends.entry(id).or_insert(0);
                        *e = (*e).max(end);
                    }
                }
            }
        }
        pos += size;
    }
    if moofs == 0 || tracks.is_empty() {
        return None;
    }
    Some(
        tracks
            .iter()
            .map(|&(id, ts, _)| ends.get(&id).map(|&end| end as f64 / f64::from(ts.max(1))))
            .collect(),
    )
}

fn fragment_tracks(moov: &[u8]) -> Vec<(u32, u32, u32)> {
    let trex: Vec<(u32, u32)> = child(moov, b"mvex")
        .map(|mvex| {
            boxes(mvex)
                .filter(|(k, _)| k == b"trex")
                .filter_map(|(_, b)| Some((be_u32(b, 4)?, be_u32(b, 12)?)))
                .collect()
        })
        .unwrap_or_default();
    boxes(moov)
        .filter(|(k, _)| k == b"trak")
        .map(|(_, trak)| {
            let id = child(trak, b"tkhd")
                .and_then(|t| be_u32(t, if t.first() == Some(&1) { 20 } else { 12 }))
                .unwrap_or(0);
            let ts = child(trak, b"mdia")
                .and_then(|m| child(m, b"mdhd"))
                .and_then(header_timescale)
                .unwrap_or(1);
            let default = trex.iter().find(|(t, _)| *t == id).map_or(0, |&(_, d)| d);
            (id, ts, default)
        })
        .collect()
}

/// (track_ID, end time in media ticks) of one `traf`.
fn traf_end(traf: &[u8], tracks: &[(u32, u32, u32)]) -> Option<(u32, u64)> {
    let tfhd = child(traf, b"tfhd")?;
    let flags = be_u32(tfhd, 0)? & 0x00FF_FFFF;
    let id = be_u32(tfhd, 4)?;
    let mut at = 8;
    if flags & 0x01 != 0 {
        at += 8; // base data offset
    }
    if flags & 0x02 != 0 {
        at += 4; // sample description index
    }
    let mut default = tracks.iter().find(|t| t.0 == id).map_or(0, |t| t.2);
    if flags & 0x08 != 0 {
        default = be_u32(tfhd, at)?;
    }
    let base = match child(traf, b"tfdt") {
        Some(t) if t.first() == Some(&1) => be_u64(t, 4)?,
        Some(t) => u64::from(be_u32(t, 4)?),
        None => 0,
    };
    let mut total = 0u64;
    for (_, trun) in boxes(traf).filter(|(k, _)| k == b"trun") {
        let tflags = be_u32(trun, 0)? & 0x00FF_FFFF;
        let count = be_u32(trun, 4)? as usize;
        let mut p = 8;
        if tflags & 0x01 != 0 {
            p += 4; // data offset
        }
        if tflags & 0x04 != 0 {
            p += 4; // first sample flags
        }
        let per_sample = [0x100u32, 0x200, 0x400, 0x800]
            .iter()
            .filter(|&&f| tflags & f != 0)
            .count()
            * 4;
        if tflags & 0x100 == 0 {
            total += u64::from(default) * count as u64;
            continue;
        }
        for i in 0..count.min(1 << 20) {
            total += u64::from(be_u32(trun, p + i * per_sample)?);
        }
    }
    Some((id, base + total))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::isobmff::tests::bx;

    fn hd(timescale: u32) -> Vec<u8> {
        let mut b = vec![0u8; 12];
        b.extend_from_slice(&timescale.to_be_bytes());
        b.extend_from_slice(&[0u8; 8]);
        b
    }

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
            bx(b"edts", &bx(b"elst", &elst(&[(500, -1), (2000, 1024)]))),
            bx(b"mdia", &bx(b"mdhd", &hd(48000))),
        ]
        .concat();
        let moov = [bx(b"mvhd", &hd(1000)), bx(b"trak", &trak)].concat();
        let file = [
            bx(b"ftyp", b"isom"),
            bx(b"mdat", &[0u8; 100]),
            bx(b"moov", &moov),
        ]
        .concat();
        let edits = read_track_edits(&mut std::io::Cursor::new(file)).unwrap();
        let e = edits[0].unwrap();
        assert_eq!(e.media_time, 1024);
        assert_eq!(e.media_timescale, 48000);
        assert!((e.offset_secs - 0.5).abs() < 1e-9);
        assert_eq!(e.duration_secs, Some(2.0));
    }

    #[test]
    fn fragmented_track_durations() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/media/mp4_aac_frag.mp4");
        let d = fragmented_durations(&mut std::fs::File::open(path).unwrap()).unwrap();
        // Video then audio; the audio runs 2 s plus the encoder's priming and padding.
        let audio = d[1].unwrap();
        assert!((2.0..2.05).contains(&audio), "{d:?}");
        let plain =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/media/mp4_aac.mp4");
        assert!(fragmented_durations(&mut std::fs::File::open(plain).unwrap()).is_none());
    }

    #[test]
    fn hostile_sizes_are_refused() {
        let file = [&[0xff, 0xff, 0xff, 0xf0][..], b"moov", &[0u8; 32]].concat();
        assert!(read_track_edits(&mut std::io::Cursor::new(file)).is_none());
        let moov = bx(b"trak", &[0, 0, 0, 200, b'm', b'd', b'i', b'a']);
        let file = bx(b"moov", &moov);
        let edits = read_track_edits(&mut std::io::Cursor::new(file)).unwrap();
        assert_eq!(edits, vec![None]);
    }
}
