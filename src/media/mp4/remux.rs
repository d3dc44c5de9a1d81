//! Stream copy (a remux: no packet decoded or re-encoded) of one AAC/ALAC track of an
//! MP4/MOV into an M4A without a demuxer: the track's boxes are copied from the source
//! `moov` byte for byte (sample tables untouched, chunk offsets rewritten, other tracks
//! dropped) and its chunks are copied into `mdat` with `copy_file_range` (std's `io::copy`
//! between files), coalescing touching chunks. No packet is parsed or allocated: an
//! audio-only source costs about one read of the file.
//!
//! The layout is faststart (`ftyp`, `moov`, `mdat`), so the result streams. Like the FFmpeg
//! copy it replaces, the track's start offset (a leading empty edit) is dropped and the
//! priming edit is kept. Anything this writer does not model (fragmented files, several
//! sample descriptions, QuickTime sound description versions, edit lists with several media
//! edits, tables that do not add up) returns `None` and the caller uses the FFmpeg path.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use super::boxes::{be_u16, be_u32, boxes, child, children, path, read_moov, write_box};
use super::tables::{
    EditList, chunk_ranges, edit_list, is_audio, is_fragmented, sample_sizes, track_duration,
};
use crate::error::{Error, Result};
use crate::media::input::Input;

/// What the copy wrote.
#[derive(Debug, Clone)]
pub(crate) struct NativeCopy {
    pub(crate) samples: u64,
    pub(crate) bytes: u64,
}

/// Copy audio track `stream_index` (container order) of the MP4/MOV `input` into `output`.
/// `Ok(None)`: this file needs the FFmpeg path.
pub(crate) fn copy_track(
    input: &Input,
    stream_index: usize,
    output: &Path,
    max_bytes: u64,
) -> Result<Option<NativeCopy>> {
    // The copy reads chunks from all over the file with copy_file_range: an upload still
    // arriving is copied once it is whole (decoding, unlike copying, starts earlier).
    input
        .wait_complete()
        .map_err(|e| Error::io("the upload failed before the copy could start", e))?;
    let mut src = File::open(input.path())
        .map_err(|e| Error::io(format!("cannot read {}", input.path().display()), e))?;
    let src_len = src
        .seek(SeekFrom::End(0))
        .map_err(|e| Error::io("cannot read the input", e))?;
    let Some(moov) = read_moov(&mut src) else {
        return Ok(None);
    };
    let Some(plan) = plan(&moov, stream_index, src_len) else {
        return Ok(None);
    };
    let data: u64 = plan.chunks.iter().map(|c| c.1).sum();
    if data > max_bytes {
        return Err(Error::LimitExceeded(format!(
            "the output would exceed {max_bytes} bytes"
        )));
    }
    let ftyp = write_box(b"ftyp", b"M4A \0\0\x02\0M4A mp42isom");
    // Offsets depend on the moov's size, which depends on the offset width: try 32 bits.
    let mut wide = false;
    let mut moov_out = plan.moov(0, wide);
    let mdat_header = |data: u64| {
        if data + 8 > u64::from(u32::MAX) {
            16u64
        } else {
            8
        }
    };
    let end = ftyp.len() as u64 + moov_out.len() as u64 + mdat_header(data) + data;
    if end > u64::from(u32::MAX) {
        wide = true;
        moov_out = plan.moov(0, wide);
    }
    let data_start = ftyp.len() as u64 + moov_out.len() as u64 + mdat_header(data);
    moov_out = plan.moov(data_start, wide);

    let mut out = File::create(output)
        .map_err(|e| Error::io(format!("cannot create {}", output.display()), e))?;
    let werr = |e| Error::io("cannot write the M4A output", e);
    out.write_all(&ftyp).map_err(werr)?;
    out.write_all(&moov_out).map_err(werr)?;
    if mdat_header(data) == 16 {
        out.write_all(&1u32.to_be_bytes()).map_err(werr)?;
        out.write_all(b"mdat").map_err(werr)?;
        out.write_all(&(data + 16).to_be_bytes()).map_err(werr)?;
    } else {
        out.write_all(&(data as u32 + 8).to_be_bytes())
            .map_err(werr)?;
        out.write_all(b"mdat").map_err(werr)?;
    }
    // Touching chunks are one copy; an audio-only source is a single one.
    let mut i = 0;
    while i < plan.chunks.len() {
        let (start, mut len) = plan.chunks[i];
        i += 1;
        while i < plan.chunks.len() && plan.chunks[i].0 == start + len {
            len += plan.chunks[i].1;
            i += 1;
        }
        src.seek(SeekFrom::Start(start))
            .map_err(|e| Error::io("cannot read the input", e))?;
        let copied = std::io::copy(&mut (&src).take(len), &mut out)
            .map_err(|e| Error::io("cannot copy the audio data", e))?;
        if copied != len {
            return Err(Error::media(
                "the audio data ends early: the file is truncated",
            ));
        }
    }
    out.flush().map_err(werr)?;
    Ok(Some(NativeCopy {
        samples: plan.samples,
        bytes: data,
    }))
}

struct Plan<'a> {
    mvhd: Vec<u8>,
    trak: &'a [u8],
    /// Edits kept (empty edits before the media dropped).
    edits: Option<EditList>,
    /// Presented duration in movie timescale units.
    duration: u64,
    chunks: Vec<(u64, u64)>,
    samples: u64,
}

fn plan(moov: &[u8], stream_index: usize, src_len: u64) -> Option<Plan<'_>> {
    if is_fragmented(moov) {
        return None;
    }
    let trak = children(moov, b"trak").nth(stream_index)?;
    if !is_audio(trak) {
        return None;
    }
    let stbl = path(trak, &[b"mdia", b"minf", b"stbl"])?;
    // One sample description, an ISO AudioSampleEntry (version 0) of AAC or ALAC.
    let stsd = child(stbl, b"stsd")?;
    if be_u32(stsd, 4)? != 1 {
        return None;
    }
    let entry_type = stsd.get(12..16)?;
    let entry_version = be_u16(stsd, 24)?;
    if !matches!(entry_type, b"mp4a" | b"alac") || entry_version != 0 {
        return None;
    }
    let chunks = chunk_ranges(stbl).ok()?;
    if chunks
        .iter()
        .any(|&(off, len)| off.checked_add(len).is_none_or(|e| e > src_len))
    {
        return None; // truncated: the FFmpeg path reports what it can
    }
    let samples = sample_sizes(stbl).ok()?.count() as u64;
    let mvhd = child(moov, b"mvhd")?.to_vec();
    let mut duration = track_duration(child(trak, b"tkhd")?)?;
    let mut edits = None;
    if let Some(list) = edit_list(trak).ok()? {
        let mut kept = Vec::new();
        for e in list.edits {
            if e.media_time == -1 && kept.is_empty() {
                continue; // the track's start offset: the output starts with its audio
            }
            if e.media_time < 0 {
                return None;
            }
            kept.push(e);
        }
        if kept.len() > 1 {
            return None;
        }
        if let Some(e) = kept.first()
            && e.segment_duration > 0
        {
            duration = e.segment_duration;
        }
        if !kept.is_empty() {
            edits = Some(EditList {
                version: list.version,
                edits: kept,
            });
        }
    }
    Some(Plan {
        mvhd,
        trak,
        edits,
        duration,
        chunks,
        samples,
    })
}

impl Plan<'_> {
    /// The output `moov`, chunk offsets counted from `data_start`.
    fn moov(&self, data_start: u64, wide: bool) -> Vec<u8> {
        let mut mvhd = self.mvhd.clone();
        set_duration(&mut mvhd, 16, 24, self.duration);
        let mut body = write_box(b"mvhd", &mvhd);
        body.extend(write_box(b"trak", &self.trak_body(data_start, wide)));
        write_box(b"moov", &body)
    }

    fn trak_body(&self, data_start: u64, wide: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for c in boxes(self.trak) {
            match &c.kind {
                b"tkhd" => {
                    let mut t = c.body.to_vec();
                    set_duration(&mut t, 20, 28, self.duration);
                    out.extend(write_box(b"tkhd", &t));
                    if let Some(edits) = &self.edits {
                        out.extend(write_box(b"edts", &write_box(b"elst", &edits.to_body())));
                    }
                }
                b"mdia" => out.extend(write_box(
                    b"mdia",
                    &self.mdia_body(c.body, data_start, wide),
                )),
                // edts is rebuilt above; tref points at dropped tracks; udta/meta are not
                // carried (the FFmpeg path wrote none either).
                _ => {}
            }
        }
        out
    }

    /// `mdia` with its sample table rewritten; every other box is carried byte for byte
    /// (boxes this writer does not know included).
    fn mdia_body(&self, mdia: &[u8], data_start: u64, wide: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for c in boxes(mdia) {
            if &c.kind != b"minf" {
                out.extend(c.to_bytes());
                continue;
            }
            let mut minf = Vec::new();
            for m in boxes(c.body) {
                if &m.kind == b"stbl" {
                    minf.extend(write_box(
                        b"stbl",
                        &self.stbl_body(m.body, data_start, wide),
                    ));
                } else {
                    minf.extend(m.to_bytes());
                }
            }
            out.extend(write_box(b"minf", &minf));
        }
        out
    }

    fn stbl_body(&self, stbl: &[u8], data_start: u64, wide: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for c in boxes(stbl).filter(|c| !matches!(&c.kind, b"stco" | b"co64")) {
            out.extend(c.to_bytes());
        }
        let mut offsets = vec![0, 0, 0, 0];
        offsets.extend_from_slice(&(self.chunks.len() as u32).to_be_bytes());
        let mut at = data_start;
        for &(_, len) in &self.chunks {
            if wide {
                offsets.extend_from_slice(&at.to_be_bytes());
            } else {
                offsets.extend_from_slice(&(at as u32).to_be_bytes());
            }
            at += len;
        }
        out.extend(write_box(if wide { b"co64" } else { b"stco" }, &offsets));
        out
    }
}

/// Write `duration` into an `mvhd`/`tkhd` body at the offset of its version (0: 32-bit,
/// 1: 64-bit field).
fn set_duration(body: &mut [u8], at_v0: usize, at_v1: usize, duration: u64) {
    match body.first() {
        Some(0) => {
            let d = u32::try_from(duration).unwrap_or(u32::MAX);
            if let Some(f) = body.get_mut(at_v0..at_v0 + 4) {
                f.copy_from_slice(&d.to_be_bytes());
            }
        }
        Some(1) => {
            if let Some(f) = body.get_mut(at_v1..at_v1 + 8) {
                f.copy_from_slice(&duration.to_be_bytes());
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::testing::{full, hd, mdhd, u32s};
    use super::*;

    /// A movie of one track with this handler: two samples of 10 and 20 bytes in one chunk
    /// at 100, and boxes this writer does not know in `minf` (a `uuid` with a 64-bit size)
    /// and in `stbl`.
    fn moov(handler: &[u8; 4], entries: u32) -> (Vec<u8>, Vec<Vec<u8>>) {
        let mut uuid = vec![0, 0, 0, 1];
        uuid.extend_from_slice(b"uuid");
        uuid.extend_from_slice(&(16u64 + 16 + 3).to_be_bytes());
        uuid.extend_from_slice(&[9u8; 16]);
        uuid.extend_from_slice(&[7, 7, 7]);
        let sgpd = write_box(b"sgpd", &[1, 2, 3, 4]);
        // An AudioSampleEntry, version 0.
        let entry = [
            &u32s(&[36])[..],
            b"mp4a",
            &[0, 0, 0, 0, 0, 0, 0, 1],
            &[0u8; 20],
        ]
        .concat();
        let stbl = [
            full(b"stsd", &[u32s(&[entries]), entry].concat()),
            full(b"stsz", &u32s(&[0, 2, 10, 20])),
            full(b"stsc", &u32s(&[1, 1, 2, 1])),
            full(b"stco", &u32s(&[1, 100])),
            sgpd.clone(),
        ]
        .concat();
        let hdlr = full(b"hdlr", &[&[0u8; 4][..], handler, &[0u8; 12]].concat());
        let minf = write_box(b"minf", &[uuid.clone(), write_box(b"stbl", &stbl)].concat());
        let mdia = write_box(b"mdia", &[mdhd(0, 48_000, 0), hdlr, minf].concat());
        let trak = write_box(b"trak", &[full(b"tkhd", &[0u8; 80]), mdia].concat());
        let moov = [write_box(b"mvhd", &hd(1000)), trak].concat();
        (moov, vec![uuid, sgpd])
    }

    #[test]
    fn unknown_boxes_are_carried_byte_for_byte() {
        let (moov, unknown) = moov(b"soun", 1);
        let plan = plan(&moov, 0, 1000).unwrap();
        assert_eq!(
            (plan.chunks.as_slice(), plan.samples),
            (&[(100, 30)][..], 2)
        );
        let out = plan.moov(500, false);
        for b in unknown {
            assert!(out.windows(b.len()).any(|w| w == b), "{b:?} not carried");
        }
        // The chunk offsets now count from the output's mdat.
        let stbl = path(&out[8..], &[b"trak", b"mdia", b"minf", b"stbl"]).unwrap();
        assert_eq!(child(stbl, b"stco"), Some(&u32s(&[0, 1, 500])[..]));
    }

    #[test]
    fn what_the_writer_does_not_model_is_left_to_ffmpeg() {
        assert!(plan(&moov(b"vide", 1).0, 0, 1000).is_none(), "not audio");
        assert!(
            plan(&moov(b"soun", 2).0, 0, 1000).is_none(),
            "two sample entries"
        );
        assert!(
            plan(&moov(b"soun", 1).0, 0, 120).is_none(),
            "the chunk is cut off"
        );
        assert!(
            plan(&moov(b"soun", 1).0, 1, 1000).is_none(),
            "no such track"
        );
    }
}
