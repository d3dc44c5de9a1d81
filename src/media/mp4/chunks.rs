//! Where the audio of an MP4/MOV lies, for the HTTP Range reader: [`AudioRanges`] walks the
//! top-level box headers to `moov` (at the start, or found at the end), and answers the
//! byte ranges of every audio track's chunks. A pure plan over bytes handed in: the fetcher
//! reads what it asks for.
//!
//! Anything the plan cannot vouch for is read whole instead: a file that does not start
//! like ISO-BMFF, a fragmented one (its samples are in `moof`s), a `moov` too large, tables
//! that do not add up or point past the end of the file.

use crate::sparse::{Known, Planner, Step};

use super::boxes::{MAX_HEADER_LEN, MAX_MOOV_BYTES, MAX_TOP_LEVEL_BOXES, is_leading_box};
use super::boxes::{children, parse_header, path};
use super::tables::{TableError, chunk_ranges, is_audio, is_fragmented};

/// Plans the fetch of an MP4/MOV's `moov` and audio chunks (see the module doc).
#[derive(Debug, Default)]
pub struct AudioRanges {
    /// Offset of the next top-level box to look at.
    pos: u64,
    /// Top-level boxes passed.
    seen: usize,
    /// Where the first `moov` lies: (offset, whole size).
    moov: Option<(u64, u64)>,
}

impl Planner for AudioRanges {
    fn next(&mut self, known: &Known<'_>) -> Step {
        let size = known.size();
        if self.seen == 0 && self.pos == 0 {
            let leading = known
                .get(0, size.min(8))
                .and_then(parse_header)
                .is_some_and(|h| is_leading_box(&h.kind));
            if !leading {
                return Step::Whole;
            }
        }
        // Every top-level box to the end: a `moof` after the `moov` means fragments.
        while self.seen < MAX_TOP_LEVEL_BOXES && self.pos < size {
            let room = size - self.pos;
            let want = room.min(MAX_HEADER_LEN);
            let Some(bytes) = known.get(self.pos, want) else {
                return Step::Read {
                    at: self.pos,
                    len: want,
                };
            };
            let Some(header) = parse_header(bytes) else {
                return Step::Whole;
            };
            let Some(box_size) = header.size_in(room) else {
                return Step::Whole; // truncated: let the demuxer say so
            };
            match &header.kind {
                b"moof" => return Step::Whole, // fragmented: samples follow in fragments
                b"moov" if self.moov.is_none() => {
                    if box_size > MAX_MOOV_BYTES {
                        return Step::Whole;
                    }
                    if known.get(self.pos, box_size).is_none() {
                        return Step::Read {
                            at: self.pos,
                            len: box_size,
                        };
                    }
                    self.moov = Some((self.pos, box_size));
                }
                _ => {}
            }
            self.pos += box_size;
            self.seen += 1;
        }
        let Some(moov) = self.moov.and_then(|(at, len)| known.get(at, len)) else {
            return Step::Whole;
        };
        match audio_ranges(moov, size) {
            Some(ranges) => Step::Ranges(ranges),
            None => Step::Whole,
        }
    }
}

/// The chunk ranges of every audio track of a whole `moov` box, sorted, each within a file
/// of `size` bytes. `None` for a fragmented movie or damaged tables (the demuxer then
/// reads the whole file and gives the precise error).
fn audio_ranges(moov: &[u8], size: u64) -> Option<Vec<(u64, u64)>> {
    let body = moov.get(parse_header(moov)?.header_len as usize..)?;
    if is_fragmented(body) {
        return None;
    }
    let chunks = audio_chunk_ranges(body).ok()?;
    let inside = |&(off, len): &(u64, u64)| off.checked_add(len).is_some_and(|end| end <= size);
    chunks.iter().all(inside).then_some(chunks)
}

/// Byte ranges (offset, length) of every chunk of every audio (`soun`) track of a `moov`
/// body, sorted by offset. Empty chunks are left out.
fn audio_chunk_ranges(moov: &[u8]) -> Result<Vec<(u64, u64)>, TableError> {
    let mut out = Vec::new();
    for trak in children(moov, b"trak").filter(|t| is_audio(t)) {
        let stbl = path(trak, &[b"mdia", b"minf", b"stbl"])
            .ok_or(TableError("audio track without stbl"))?;
        out.extend(chunk_ranges(stbl)?.into_iter().filter(|&(_, len)| len > 0));
    }
    out.sort_unstable();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::boxes::write_box;
    use super::super::testing::{full, plan, trak, u32s};
    use super::*;

    /// A movie with a video track and an audio track of three chunks at 1000, 5000, 9000.
    fn moov() -> Vec<u8> {
        let stsz = full(b"stsz", &u32s(&[0, 5, 10, 11, 12, 13, 14]));
        let stsc = full(b"stsc", &u32s(&[2, 1, 2, 1, 3, 1, 1]));
        let audio = trak(
            b"soun",
            [
                stsz.clone(),
                stsc.clone(),
                full(b"stco", &u32s(&[3, 1000, 5000, 9000])),
            ]
            .concat(),
        );
        let video = trak(
            b"vide",
            [stsz, stsc, full(b"stco", &u32s(&[3, 100, 200, 300]))].concat(),
        );
        write_box(b"moov", &[video, audio].concat())
    }

    fn file(moov_first: bool) -> Vec<u8> {
        let ftyp = write_box(b"ftyp", b"isom");
        let mdat = write_box(b"mdat", &[0u8; 9992]);
        if moov_first {
            [ftyp, moov(), mdat].concat()
        } else {
            [ftyp, mdat, moov()].concat()
        }
    }

    #[test]
    fn moov_at_the_end_costs_a_header_and_the_moov() {
        let f = file(false);
        let moov_at = f.len() as u64 - moov().len() as u64;
        let (step, reads) = plan(&f, 64);
        assert_eq!(step, Step::Ranges(vec![(1000, 21), (5000, 25), (9000, 14)]));
        assert_eq!(
            reads,
            [(moov_at, MAX_HEADER_LEN), (moov_at, moov().len() as u64)]
        );
    }

    #[test]
    fn moov_in_the_head_needs_no_read() {
        let f = file(true);
        let (step, reads) = plan(&f, f.len());
        assert!(matches!(step, Step::Ranges(r) if r.len() == 3));
        assert!(reads.is_empty());
    }

    #[test]
    fn what_cannot_be_planned_is_read_whole() {
        // Not ISO-BMFF.
        assert_eq!(plan(b"RIFF\0\0\0\0WAVE", 12).0, Step::Whole);
        // No moov at all.
        let f = [write_box(b"ftyp", b"isom"), write_box(b"mdat", &[0; 100])].concat();
        assert_eq!(plan(&f, 16).0, Step::Whole);
        // Fragmented: a moof after the moov, or mvex inside it.
        let f = [file(true), write_box(b"moof", &[])].concat();
        assert_eq!(plan(&f, 64).0, Step::Whole);
        let mvex = [moov(), write_box(b"mvex", &[])].concat();
        let f = [write_box(b"ftyp", b"isom"), write_box(b"moov", &mvex[8..])].concat();
        assert_eq!(plan(&f, 64).0, Step::Whole);
        // The last box claims more than the file has.
        let mut f = file(false);
        let n = f.len();
        f.truncate(n - 1);
        assert_eq!(plan(&f, 64).0, Step::Whole);
        // A chunk past the end of the file.
        let f = [write_box(b"ftyp", b"isom"), moov()].concat();
        assert_eq!(plan(&f, 64).0, Step::Whole);
        // Damaged tables.
        let mut f = file(true);
        // The audio track's stsc (the video's comes first): a count it cannot hold.
        let at = f.windows(4).rposition(|w| w == b"stsc").unwrap() + 8;
        f[at..at + 4].copy_from_slice(&u32::MAX.to_be_bytes());
        assert_eq!(plan(&f, f.len()).0, Step::Whole);
    }
}
