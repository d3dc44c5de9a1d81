//! Track durations of a fragmented MP4, whose `moov` has empty sample tables: the end of
//! each track's last fragment (`tfdt` plus its `trun` sample durations, falling back to the
//! `tfhd`/`trex` defaults).

use std::collections::HashMap;
use std::io::{Read, Seek, SeekFrom};

use super::boxes::{TopLevel, be_u32, be_u64, child, children};
use super::tables::{media_header, track_id};

/// Top-level boxes walked at most: a long fragmented file has a `moof` and an `mdat` per
/// fragment.
const MAX_BOXES: usize = 1_000_000;

/// A track as the fragments refer to it.
struct FragmentTrack {
    id: u32,
    timescale: u32,
    /// `trex` default sample duration.
    default_duration: u32,
}

/// Durations in seconds of the tracks of a fragmented MP4, in `trak` order. `None` for a
/// file that is not fragmented or cannot be walked.
pub(crate) fn fragmented_durations<R: Read + Seek>(r: &mut R) -> Option<Vec<Option<f64>>> {
    let len = r.seek(SeekFrom::End(0)).ok()?;
    let mut walk = TopLevel::new(r, Some(len));
    let mut tracks: Vec<FragmentTrack> = Vec::new();
    let mut ends: HashMap<u32, u64> = HashMap::new();
    let mut moofs = 0usize;
    for _ in 0..MAX_BOXES {
        let Some(b) = walk.next_box() else {
            break;
        };
        let kind = &b.header.kind;
        if kind != b"moov" && kind != b"moof" {
            continue;
        }
        let Some(body) = walk.read_body(&b) else {
            break;
        };
        if kind == b"moov" {
            tracks = fragment_tracks(&body);
            continue;
        }
        moofs += 1;
        for traf in children(&body, b"traf") {
            if let Some((id, end)) = traf_end(traf, &tracks) {
                let e = ends.entry(id).or_insert(0);
                *e = (*e).max(end);
            }
        }
    }
    if moofs == 0 || tracks.is_empty() {
        return None;
    }
    Some(
        tracks
            .iter()
            .map(|t| {
                ends.get(&t.id)
                    .map(|&end| end as f64 / f64::from(t.timescale.max(1)))
            })
            .collect(),
    )
}

fn fragment_tracks(moov: &[u8]) -> Vec<FragmentTrack> {
    let trex: Vec<(u32, u32)> = child(moov, b"mvex")
        .map(|mvex| {
            children(mvex, b"trex")
                .filter_map(|b| Some((be_u32(b, 4)?, be_u32(b, 12)?)))
                .collect()
        })
        .unwrap_or_default();
    children(moov, b"trak")
        .map(|trak| {
            let id = child(trak, b"tkhd").and_then(track_id).unwrap_or(0);
            let timescale = media_header(trak).map_or(1, |h| h.timescale);
            let default_duration = trex.iter().find(|(t, _)| *t == id).map_or(0, |&(_, d)| d);
            FragmentTrack {
                id,
                timescale,
                default_duration,
            }
        })
        .collect()
}

/// (track_ID, end time in media ticks) of one `traf`.
fn traf_end(traf: &[u8], tracks: &[FragmentTrack]) -> Option<(u32, u64)> {
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
    let mut default = tracks
        .iter()
        .find(|t| t.id == id)
        .map_or(0, |t| t.default_duration);
    if flags & 0x08 != 0 {
        default = be_u32(tfhd, at)?;
    }
    let base = match child(traf, b"tfdt") {
        Some(t) if t.first() == Some(&1) => be_u64(t, 4)?,
        Some(t) => u64::from(be_u32(t, 4)?),
        None => 0,
    };
    let mut total = 0u64;
    for trun in children(traf, b"trun") {
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
    use super::super::testing::fixture;
    use super::*;

    #[test]
    fn fragmented_track_durations() {
        let d = fragmented_durations(&mut fixture("mp4_aac_frag.mp4")).unwrap();
        // Video then audio; the audio runs 2 s plus the encoder's priming and padding.
        let audio = d[1].unwrap();
        assert!((2.0..2.05).contains(&audio), "{d:?}");
        assert!(fragmented_durations(&mut fixture("mp4_aac.mp4")).is_none());
    }
}
