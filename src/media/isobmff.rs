//! Just enough ISO-BMFF (MP4/MOV) to find things without a demuxer: box headers, child
//! boxes, and where each audio track's chunks lie in the file.
//!
//! Used by the edit-list reader, by the HTTP Range source (which fetches only the `moov` and
//! the audio chunks of a remote file) and by the M4A stream copy. Every size is checked
//! against what is left of its parent, so hostile bytes give `None`/an error, never a panic
//! or a huge allocation.

use std::io::{Read, Seek, SeekFrom};

/// The `moov` box is read whole; a larger one is not a file we trust.
pub(crate) const MAX_MOOV_BYTES: u64 = 64 << 20;
pub(crate) const MAX_TOP_LEVEL_BOXES: usize = 4096;

/// The header of the top-level box at `pos`: (type, body length, whole size), with the
/// reader left at the body. `None` past the end or for a size that does not fit the file.
pub(crate) fn top_level_box<R: Read + Seek>(
    r: &mut R,
    pos: u64,
    len: u64,
) -> Option<([u8; 4], u64, u64)> {
    if pos + 8 > len {
        return None;
    }
    r.seek(SeekFrom::Start(pos)).ok()?;
    let mut hdr = [0u8; 16];
    r.read_exact(&mut hdr[..8]).ok()?;
    let mut size = u64::from(u32::from_be_bytes(hdr[0..4].try_into().ok()?));
    let kind: [u8; 4] = [hdr[4], hdr[5], hdr[6], hdr[7]];
    let mut header_len = 8u64;
    if size == 1 {
        r.read_exact(&mut hdr[8..16]).ok()?;
        size = u64::from_be_bytes(hdr[8..16].try_into().ok()?);
        header_len = 16;
    } else if size == 0 {
        size = len - pos;
    }
    if size < header_len || pos.checked_add(size)? > len {
        return None;
    }
    Some((kind, size - header_len, size))
}

/// Read a box body the reader is positioned at; a body over the cap is not one we trust.
pub(crate) fn read_body<R: Read>(r: &mut R, body_len: u64) -> Option<Vec<u8>> {
    if body_len > MAX_MOOV_BYTES {
        return None;
    }
    let mut buf = vec![0u8; usize::try_from(body_len).ok()?];
    r.read_exact(&mut buf).ok()?;
    Some(buf)
}

/// The body of the first top-level `moov` of a file. Only box headers are read on the way
/// (no seek to the end first, so a file still arriving is read as far as its `moov`); a
/// file that does not start like ISO-BMFF is left at once.
pub(crate) fn read_moov<R: Read + Seek>(r: &mut R) -> Option<Vec<u8>> {
    let mut pos = 0u64;
    for i in 0..MAX_TOP_LEVEL_BOXES {
        r.seek(SeekFrom::Start(pos)).ok()?;
        let mut hdr = [0u8; 16];
        r.read_exact(&mut hdr[..8]).ok()?;
        if be_u32(&hdr, 0)? == 1 {
            r.read_exact(&mut hdr[8..16]).ok()?;
        }
        let h = parse_header(&hdr)?;
        if i == 0 && !is_leading_box(&h.kind) {
            return None;
        }
        if &h.kind == b"moov" {
            let size = match h.size {
                Some(s) => s,
                None => r.seek(SeekFrom::End(0)).ok()?.checked_sub(pos)?,
            };
            return read_body(r, size.checked_sub(h.header_len)?);
        }
        pos = pos.checked_add(h.size?)?;
    }
    None
}

/// A box header: four-character type, header length (8 or 16) and whole size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BoxHeader {
    pub(crate) kind: [u8; 4],
    pub(crate) header_len: u64,
    /// Whole size including the header; `None` for a size-0 box ("to the end of the file").
    pub(crate) size: Option<u64>,
}

/// Parse the header at the start of `bytes` (8 bytes, 16 for a 64-bit size). `None` when
/// `bytes` is too short or the size is smaller than the header.
pub(crate) fn parse_header(bytes: &[u8]) -> Option<BoxHeader> {
    let size32 = be_u32(bytes, 0)?;
    let kind: [u8; 4] = bytes.get(4..8)?.try_into().ok()?;
    let (size, header_len) = match size32 {
        0 => (None, 8),
        1 => (Some(be_u64(bytes, 8)?), 16),
        s => (Some(u64::from(s)), 8),
    };
    if size.is_some_and(|s| s < header_len) {
        return None;
    }
    Some(BoxHeader {
        kind,
        header_len,
        size,
    })
}

/// Iterates the child boxes of a box body: (type, body). Stops at the first malformed one.
pub(crate) fn boxes(mut data: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    std::iter::from_fn(move || {
        let h = parse_header(data)?;
        let size = match h.size {
            None => data.len(),
            Some(s) => usize::try_from(s).ok()?,
        };
        let hdr = h.header_len as usize;
        if size < hdr || size > data.len() {
            return None;
        }
        let body = &data[hdr..size];
        data = &data[size..];
        Some((h.kind, body))
    })
}

/// The first child of type `kind`.
pub(crate) fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(data).find(|(k, _)| k == kind).map(|(_, b)| b)
}

/// Follow a path of child types from `data`.
pub(crate) fn path<'a>(data: &'a [u8], kinds: &[&[u8; 4]]) -> Option<&'a [u8]> {
    kinds.iter().try_fold(data, |d, k| child(d, k))
}

pub(crate) fn be_u32(d: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes(
        d.get(at..at.checked_add(4)?)?.try_into().ok()?,
    ))
}

pub(crate) fn be_u64(d: &[u8], at: usize) -> Option<u64> {
    Some(u64::from_be_bytes(
        d.get(at..at.checked_add(8)?)?.try_into().ok()?,
    ))
}

/// Top-level box types an MP4/MOV file can start with.
pub(crate) fn is_leading_box(kind: &[u8; 4]) -> bool {
    matches!(
        kind,
        b"ftyp" | b"moov" | b"mdat" | b"free" | b"skip" | b"wide" | b"pnot" | b"uuid" | b"styp"
    )
}

/// The handler type of a `trak` (`soun`, `vide`, ...).
pub(crate) fn handler_type(trak: &[u8]) -> Option<[u8; 4]> {
    let hdlr = path(trak, &[b"mdia", b"hdlr"])?;
    hdlr.get(8..12)?.try_into().ok()
}

/// True when the movie is fragmented (`mvex`): its samples live in `moof`s, not in tables.
pub(crate) fn is_fragmented(moov: &[u8]) -> bool {
    child(moov, b"mvex").is_some()
}

/// Byte ranges (offset, length) of every chunk of every audio (`soun`) track in `moov`,
/// sorted by offset. Empty chunks are left out.
pub(crate) fn audio_chunk_ranges(moov: &[u8]) -> Result<Vec<(u64, u64)>, String> {
    let mut out = Vec::new();
    for (kind, trak) in boxes(moov) {
        if &kind != b"trak" || handler_type(trak) != Some(*b"soun") {
            continue;
        }
        let stbl = path(trak, &[b"mdia", b"minf", b"stbl"]).ok_or("audio track without stbl")?;
        out.extend(chunk_ranges(stbl)?.into_iter().filter(|&(_, len)| len > 0));
    }
    out.sort_unstable();
    Ok(out)
}

/// The sample sizes of a sample table (`stsz` or `stz2`).
pub(crate) fn sample_sizes(stbl: &[u8]) -> Result<Vec<u32>, String> {
    if let Some(stsz) = child(stbl, b"stsz") {
        let fixed = be_u32(stsz, 4).ok_or("short stsz")?;
        let count = be_u32(stsz, 8).ok_or("short stsz")? as usize;
        if fixed != 0 {
            // A fixed size: the count is only bounded by what it implies, so cap it.
            if count > 1 << 28 {
                return Err("stsz sample count out of range".into());
            }
            return Ok(vec![fixed; count]);
        }
        let table = stsz.get(12..).unwrap_or_default();
        if table.len() / 4 < count {
            return Err("stsz shorter than its sample count".into());
        }
        return Ok(table
            .chunks_exact(4)
            .take(count)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect());
    }
    if let Some(stz2) = child(stbl, b"stz2") {
        let field = *stz2.get(7).ok_or("short stz2")?;
        let count = be_u32(stz2, 8).ok_or("short stz2")? as usize;
        let table = stz2.get(12..).unwrap_or_default();
        let sizes: Vec<u32> = match field {
            4 => table
                .iter()
                .flat_map(|b| [u32::from(b >> 4), u32::from(b & 0x0f)])
                .take(count)
                .collect(),
            8 => table.iter().take(count).map(|&b| u32::from(b)).collect(),
            16 => table
                .chunks_exact(2)
                .take(count)
                .map(|c| u32::from(u16::from_be_bytes([c[0], c[1]])))
                .collect(),
            _ => return Err("stz2 field size not 4, 8 or 16".into()),
        };
        if sizes.len() < count {
            return Err("stz2 shorter than its sample count".into());
        }
        return Ok(sizes);
    }
    Err("sample table without stsz".into())
}

/// Chunk offsets of a sample table (`stco` or `co64`).
pub(crate) fn chunk_offsets(stbl: &[u8]) -> Result<Vec<u64>, String> {
    if let Some(stco) = child(stbl, b"stco") {
        let count = be_u32(stco, 4).ok_or("short stco")? as usize;
        let table = stco.get(8..).unwrap_or_default();
        if table.len() / 4 < count {
            return Err("stco shorter than its entry count".into());
        }
        return Ok(table
            .chunks_exact(4)
            .take(count)
            .map(|c| u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect());
    }
    if let Some(co64) = child(stbl, b"co64") {
        let count = be_u32(co64, 4).ok_or("short co64")? as usize;
        let table = co64.get(8..).unwrap_or_default();
        if table.len() / 8 < count {
            return Err("co64 shorter than its entry count".into());
        }
        return Ok(table
            .chunks_exact(8)
            .take(count)
            .map(|c| u64::from_be_bytes(c.try_into().unwrap_or_default()))
            .collect());
    }
    Err("sample table without stco/co64".into())
}

/// Samples per chunk for `chunks` chunks, from `stsc` runs.
pub(crate) fn samples_per_chunk(stbl: &[u8], chunks: usize) -> Result<Vec<u32>, String> {
    let stsc = child(stbl, b"stsc").ok_or("sample table without stsc")?;
    let count = be_u32(stsc, 4).ok_or("short stsc")? as usize;
    let table = stsc.get(8..).unwrap_or_default();
    if table.len() / 12 < count {
        return Err("stsc shorter than its entry count".into());
    }
    let runs: Vec<(u32, u32)> = table
        .chunks_exact(12)
        .take(count)
        .map(|c| {
            (
                u32::from_be_bytes([c[0], c[1], c[2], c[3]]),
                u32::from_be_bytes([c[4], c[5], c[6], c[7]]),
            )
        })
        .collect();
    let mut out = Vec::with_capacity(chunks);
    for (i, &(first, per)) in runs.iter().enumerate() {
        if first == 0 || (first as usize) > chunks + 1 || out.len() + 1 != first as usize {
            return Err("stsc runs out of order".into());
        }
        let end = runs
            .get(i + 1)
            .map_or(chunks, |&(next, _)| (next as usize).saturating_sub(1))
            .min(chunks);
        while out.len() < end {
            out.push(per);
        }
    }
    if out.len() != chunks {
        return Err("stsc does not cover every chunk".into());
    }
    Ok(out)
}

/// (offset, byte length) of each chunk of one track's sample table.
pub(crate) fn chunk_ranges(stbl: &[u8]) -> Result<Vec<(u64, u64)>, String> {
    let sizes = sample_sizes(stbl)?;
    let offsets = chunk_offsets(stbl)?;
    let per = samples_per_chunk(stbl, offsets.len())?;
    let mut out = Vec::with_capacity(offsets.len());
    let mut next = 0usize;
    for (&off, &n) in offsets.iter().zip(&per) {
        let end = next
            .checked_add(n as usize)
            .filter(|&e| e <= sizes.len())
            .ok_or("chunks hold more samples than the table has")?;
        let len: u64 = sizes[next..end].iter().map(|&s| u64::from(s)).sum();
        next = end;
        out.push((off, len));
    }
    Ok(out)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn bx(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut v = ((body.len() + 8) as u32).to_be_bytes().to_vec();
        v.extend_from_slice(kind);
        v.extend_from_slice(body);
        v
    }

    fn full(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
        let mut b = vec![0, 0, 0, 0];
        b.extend_from_slice(body);
        bx(kind, &b)
    }

    fn u32s(v: &[u32]) -> Vec<u8> {
        v.iter().flat_map(|x| x.to_be_bytes()).collect()
    }

    fn trak(handler: &[u8; 4], stbl: Vec<u8>) -> Vec<u8> {
        let hdlr = full(b"hdlr", &[&[0u8; 4][..], handler, &[0u8; 12]].concat());
        let minf = bx(b"minf", &bx(b"stbl", &stbl));
        bx(b"trak", &bx(b"mdia", &[hdlr, minf].concat()))
    }

    #[test]
    fn chunk_ranges_follow_stsc_runs() {
        // 5 samples of sizes 10..=14; chunks: 2 samples, 2 samples, 1 sample.
        let stsz = full(b"stsz", &u32s(&[0, 5, 10, 11, 12, 13, 14]));
        let stsc = full(b"stsc", &u32s(&[2, 1, 2, 1, 3, 1, 1]));
        let stco = full(b"stco", &u32s(&[3, 1000, 5000, 9000]));
        let audio = trak(b"soun", [stsz.clone(), stsc.clone(), stco].concat());
        let video = trak(
            b"vide",
            [stsz, stsc, full(b"stco", &u32s(&[3, 100, 200, 300]))].concat(),
        );
        let moov = [video, audio].concat();
        assert_eq!(
            audio_chunk_ranges(&moov).unwrap(),
            vec![(1000, 21), (5000, 25), (9000, 14)]
        );
    }

    #[test]
    fn hostile_tables_are_errors() {
        // stsc claims more samples than stsz has.
        let stsz = full(b"stsz", &u32s(&[0, 1, 10]));
        let stsc = full(b"stsc", &u32s(&[1, 1, 9, 1]));
        let stco = full(b"stco", &u32s(&[1, 0]));
        let moov = trak(b"soun", [stsz, stsc, stco].concat());
        assert!(audio_chunk_ranges(&moov).is_err());
        // stco claims a billion entries in 8 bytes.
        let stco = full(b"stco", &u32s(&[1_000_000_000, 0]));
        assert!(chunk_offsets(&bx(b"stbl", &stco)[8..]).is_err());
        assert!(parse_header(&[0, 0, 0, 4, b'm', b'o', b'o', b'v']).is_none());
    }
}
