//! audiotap's own ISO-BMFF (MP4/MOV) reader: box headers are parsed in `boxes` and nowhere
//! else; everything that looks inside an MP4 without a demuxer goes through this module.
//!
//! - `boxes`: the bounded header parser and the walks over children and top-level boxes.
//! - `tables`: the `trak` fields read (handler, headers, edit list, sample tables).
//! - `tracks`: each track's edit list as a presentation, and its language (for the
//!   Symphonia adapter, which applies neither).
//! - `fragments`: track durations of a fragmented MP4.
//! - `remux`: stream copy of one audio track into an M4A.
//! - `chunks`: where the audio lies, as a [`crate::sparse::Planner`] ([`AudioRanges`])
//!   for the HTTP Range reader.

pub(crate) mod boxes;
pub(crate) mod chunks;
pub(crate) mod fragments;
pub(crate) mod remux;
pub(crate) mod tables;
pub(crate) mod tracks;

pub use chunks::AudioRanges;
pub(crate) use fragments::fragmented_durations;
pub(crate) use remux::copy_track;
pub(crate) use tracks::{TrackEdit, read_track_edits, read_track_languages};

/// Box builders for the tests of this module.
#[cfg(test)]
pub(crate) mod testing {
    use super::AudioRanges;
    use super::boxes::write_box;
    use crate::sparse::{Known, Planner, Step};

    /// A full box (version 0, no flags) with this body.
    pub(crate) fn full(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        write_box(kind, &[&[0u8; 4][..], body].concat())
    }

    pub(crate) fn u32s(v: &[u32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_be_bytes()).collect()
    }

    /// A version 0 `mvhd`/`mdhd` body with this timescale and no language.
    pub(crate) fn hd(timescale: u32) -> Vec<u8> {
        let mut b = vec![0u8; 12];
        b.extend_from_slice(&timescale.to_be_bytes());
        b.extend_from_slice(&[0u8; 8]);
        b
    }

    /// An `mdhd` box of `version` with this timescale and packed language.
    pub(crate) fn mdhd(version: u8, timescale: u32, language: u16) -> Vec<u8> {
        let times = if version == 1 { 16 } else { 8 };
        let mut b = vec![version, 0, 0, 0];
        b.extend_from_slice(&vec![0u8; times]);
        b.extend_from_slice(&timescale.to_be_bytes());
        b.extend_from_slice(&vec![0u8; times / 2]);
        b.extend_from_slice(&language.to_be_bytes());
        b.extend_from_slice(&[0, 0]);
        write_box(b"mdhd", &b)
    }

    /// A `trak` with a handler of this type and a sample table with this body.
    pub(crate) fn trak(handler: &[u8; 4], stbl: Vec<u8>) -> Vec<u8> {
        let hdlr = full(b"hdlr", &[&[0u8; 4][..], handler, &[0u8; 12]].concat());
        let minf = write_box(b"minf", &write_box(b"stbl", &stbl));
        write_box(b"trak", &write_box(b"mdia", &[hdlr, minf].concat()))
    }

    /// Run the planner over a file held in memory, as the fetcher does over HTTP: the first
    /// `head` bytes, then whatever it asks. Returns the last step and the reads made.
    pub(crate) fn plan(file: &[u8], head: usize) -> (Step, Vec<(u64, u64)>) {
        let mut pieces = vec![(0, file[..head.min(file.len())].to_vec())];
        let mut reads = Vec::new();
        let mut planner = AudioRanges::default();
        loop {
            match planner.next(&Known::new(file.len() as u64, &pieces)) {
                Step::Read { at, len } => {
                    assert!(reads.len() < 5000, "the planner keeps asking");
                    reads.push((at, len));
                    let bytes = file[at as usize..(at + len) as usize].to_vec();
                    let i = pieces.partition_point(|p| p.0 <= at);
                    pieces.insert(i, (at, bytes));
                }
                step => return (step, reads),
            }
        }
    }

    /// A committed fixture, opened.
    pub(crate) fn fixture(name: &str) -> std::fs::File {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/media")
            .join(name);
        std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{fixture, plan};
    use super::*;
    use crate::sparse::Step;
    use std::io::{Cursor, Read};

    /// Copies of real files with bytes changed (mostly in `moov`) or cut short: every
    /// reader ends without a panic, and a plan stays inside the file.
    #[test]
    fn damaged_files_are_read_safely() {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut rand = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as usize
        };
        for name in [
            "mp4_aac.mp4",
            "mp4_aac_faststart.mp4",
            "mp4_aac_frag.mp4",
            "mp4_multi.mp4",
        ] {
            let mut clean = Vec::new();
            fixture(name).read_to_end(&mut clean).unwrap();
            let moov = clean.windows(4).position(|w| w == b"moov").unwrap() - 4;
            for _ in 0..200 {
                let mut f = clean.clone();
                for _ in 0..1 + rand() % 8 {
                    let at = match rand() % 4 {
                        0 => rand() % f.len(),
                        _ => (moov + rand() % 4096).min(f.len() - 1),
                    };
                    f[at] = match rand() % 3 {
                        0 => 0,
                        1 => 0xff,
                        _ => rand() as u8,
                    };
                }
                if rand() % 4 == 0 {
                    f.truncate(rand() % f.len());
                }
                let _ = read_track_edits(&mut Cursor::new(&f));
                let _ = read_track_languages(&mut Cursor::new(&f));
                let _ = fragmented_durations(&mut Cursor::new(&f));
                if let Step::Ranges(ranges) = plan(&f, 4096).0 {
                    let inside = |&(at, len): &(u64, u64)| at + len <= f.len() as u64;
                    assert!(ranges.iter().all(inside), "{name}: {ranges:?}");
                }
            }
        }
    }
}
