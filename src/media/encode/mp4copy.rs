//! Stream copy of one AAC/ALAC track of an MP4/MOV into an M4A without a demuxer: the
//! track's boxes are copied from the source `moov` (sample tables untouched, chunk offsets
//! rewritten, other tracks dropped) and its chunks are copied into `mdat` with
//! `copy_file_range` (std's `io::copy` between files), coalescing touching chunks. No packet
//! is parsed or allocated: an audio-only source costs about one read of the file.
//!
//! The layout is faststart (`ftyp`, `moov`, `mdat`), so the result streams. Like the FFmpeg
//! copy it replaces, the track's start offset (a leading empty edit) is dropped and the
//! priming edit is kept. Anything this writer does not model (fragmented files, several
//! sample descriptions, QuickTime sound description versions, edit lists with several media
//! edits, tables that do not add up) returns `None` and the caller uses the FFmpeg path.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::error::{Error, Result};
use crate::media::isobmff::{
    be_u32, be_u64, boxes, child, chunk_ranges, handler_type, is_fragmented, read_moov,
};

/// What the copy wrote.
#[derive(Debug, Clone)]
pub(crate) struct NativeCopy {
    pub(crate) samples: u64,
    pub(crate) bytes: u64,
}

fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(body.len() + 16);
    if body.len() as u64 + 8 > u64::from(u32::MAX) {
        v.extend_from_slice(&1u32.to_be_bytes());
        v.extend_from_slice(kind);
        v.extend_from_slice(&(body.len() as u64 + 16).to_be_bytes());
    } else {
        v.extend_from_slice(&(body.len() as u32 + 8).to_be_bytes());
        v.extend_from_slice(kind);
    }
    v.extend_from_slice(body);
    v
}

/// Copy audio track `stream_index` (container order) of the MP4/MOV `input` into `output`.
/// `Ok(None)`: this file needs the FFmpeg path.
pub(crate) fn copy_track(
    input: &Path,
    stream_index: usize,
    output: &Path,
    max_bytes: u64,
) -> Result<Option<NativeCopy>> {
    // The copy reads chunks from all over the file with copy_file_range: an upload still
    // arriving is copied once it is whole (decoding, unlike copying, starts earlier).
    crate::media::growing::wait_complete(input)
        .map_err(|e| Error::io("the upload failed before the copy could start", e))?;
    let mut src =
        File::open(input).map_err(|e| Error::io(format!("cannot read {}", input.display()), e))?;
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
    let ftyp = bx(b"ftyp", b"M4A \0\0\x02\0M4A mp42isom");
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
    /// Edits kept (empty edits before the media dropped), raw `elst` entries and version.
    elst: Option<(u8, Vec<&'a [u8]>)>,
    /// Presented duration in movie timescale units.
    duration: u64,
    chunks: Vec<(u64, u64)>,
    samples: u64,
}

fn plan(moov: &[u8], stream_index: usize, src_len: u64) -> Option<Plan<'_>> {
    if is_fragmented(moov) {
        return None;
    }
    let trak = boxes(moov)
        .filter(|(k, _)| k == b"trak")
        .nth(stream_index)
        .map(|(_, b)| b)?;
    if handler_type(trak) != Some(*b"soun") {
        return None;
    }
    let mdia = child(trak, b"mdia")?;
    let stbl = child(child(mdia, b"minf")?, b"stbl")?;
    // One sample description, an ISO AudioSampleEntry (version 0) of AAC or ALAC.
    let stsd = child(stbl, b"stsd")?;
    if be_u32(stsd, 4)? != 1 {
        return None;
    }
    let entry_type = stsd.get(12..16)?;
    let entry_version = u16::from_be_bytes(stsd.get(24..26)?.try_into().ok()?);
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
    let samples = crate::media::isobmff::sample_sizes(stbl).ok()?.len() as u64;
    let mvhd = child(moov, b"mvhd")?.to_vec();
    let tkhd = child(trak, b"tkhd")?;
    let tkhd_duration = match tkhd.first()? {
        0 => u64::from(be_u32(tkhd, 20)?),
        1 => be_u64(tkhd, 28)?,
        _ => return None,
    };
    let mut duration = tkhd_duration;
    let mut elst_out = None;
    if let Some(elst) = child(trak, b"edts").and_then(|e| child(e, b"elst")) {
        let version = *elst.first()?;
        let count = be_u32(elst, 4)? as usize;
        let width = if version == 1 { 20 } else { 12 };
        let table = elst.get(8..8 + count.checked_mul(width)?)?;
        let entries: Vec<&[u8]> = table.chunks_exact(width).collect();
        let media_time = |e: &[u8]| -> Option<i64> {
            if version == 1 {
                Some(be_u64(e, 8)? as i64)
            } else {
                Some(i64::from(be_u32(e, 4)? as i32))
            }
        };
        let seg = |e: &[u8]| -> Option<u64> {
            if version == 1 {
                be_u64(e, 0)
            } else {
                be_u32(e, 0).map(u64::from)
            }
        };
        let mut kept = Vec::new();
        for e in entries {
            if media_time(e)? == -1 && kept.is_empty() {
                continue; // the track's start offset: the output starts with its audio
            }
            if media_time(e)? < 0 {
                return None;
            }
            kept.push(e);
        }
        if kept.len() > 1 {
            return None;
        }
        if let Some(e) = kept.first()
            && seg(e)? > 0
        {
            duration = seg(e)?;
        }
        if !kept.is_empty() {
            elst_out = Some((version, kept));
        }
    }
    Some(Plan {
        mvhd,
        trak,
        elst: elst_out,
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
        let mut body = bx(b"mvhd", &mvhd);
        body.extend(bx(b"trak", &self.trak_body(data_start, wide)));
        bx(b"moov", &body)
    }

    fn trak_body(&self, data_start: u64, wide: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for (kind, b) in boxes(self.trak) {
            match &kind {
                b"tkhd" => {
                    let mut t = b.to_vec();
                    set_duration(&mut t, 20, 28, self.duration);
                    out.extend(bx(b"tkhd", &t));
                    if let Some((version, entries)) = &self.elst {
                        let mut e = vec![*version, 0, 0, 0];
                        e.extend_from_slice(&(entries.len() as u32).to_be_bytes());
                        for entry in entries {
                            e.extend_from_slice(entry);
                        }
                        out.extend(bx(b"edts", &bx(b"elst", &e)));
                    }
                }
                b"mdia" => out.extend(bx(b"mdia", &self.mdia_body(b, data_start, wide))),
                // edts is rebuilt above; tref points at dropped tracks; udta/meta are not
                // carried (the FFmpeg path wrote none either).
                _ => {}
            }
        }
        out
    }

    fn mdia_body(&self, mdia: &[u8], data_start: u64, wide: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for (kind, b) in boxes(mdia) {
            if &kind == b"minf" {
                let mut minf = Vec::new();
                for (k, m) in boxes(b) {
                    if &k == b"stbl" {
                        minf.extend(bx(b"stbl", &self.stbl_body(m, data_start, wide)));
                    } else {
                        minf.extend(bx(&k, m));
                    }
                }
                out.extend(bx(b"minf", &minf));
            } else {
                out.extend(bx(&kind, b));
            }
        }
        out
    }

    fn stbl_body(&self, stbl: &[u8], data_start: u64, wide: bool) -> Vec<u8> {
        let mut out = Vec::new();
        for (kind, b) in boxes(stbl) {
            if matches!(&kind, b"stco" | b"co64") {
                continue;
            }
            out.extend(bx(&kind, b));
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
        out.extend(bx(if wide { b"co64" } else { b"stco" }, &offsets));
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
