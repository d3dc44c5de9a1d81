//! The fields of a `trak` that audiotap reads: handler, track and media headers (duration,
//! timescale, language), edit list, and the sample tables (`stsz`/`stz2`, `stco`/`co64`,
//! `stsc`) that say where each chunk of samples lies. Every table is checked against its own
//! entry count and against the others, so hostile counts give an error, never a huge
//! allocation.

use super::boxes::{be_u16, be_u32, be_u64, child, path};

/// A table that is short, missing or inconsistent with the others.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub(crate) struct TableError(pub(crate) &'static str);

type Result<T> = std::result::Result<T, TableError>;

/// The handler type of a `trak` (`soun`, `vide`, ...).
pub(crate) fn handler_type(trak: &[u8]) -> Option<[u8; 4]> {
    let hdlr = path(trak, &[b"mdia", b"hdlr"])?;
    hdlr.get(8..12)?.try_into().ok()
}

/// True for an audio (`soun`) track.
pub(crate) fn is_audio(trak: &[u8]) -> bool {
    handler_type(trak) == Some(*b"soun")
}

/// True when the movie is fragmented (`mvex`): its samples live in `moof`s, not in tables.
pub(crate) fn is_fragmented(moov: &[u8]) -> bool {
    child(moov, b"mvex").is_some()
}

/// Timescale of an `mvhd` or `mdhd` body (full box: the version decides the field widths).
fn header_timescale(body: &[u8]) -> Option<u32> {
    match body.first()? {
        0 => be_u32(body, 12),
        1 => be_u32(body, 20),
        _ => None,
    }
}

/// The movie timescale (`mvhd`), when stated and non-zero.
pub(crate) fn movie_timescale(moov: &[u8]) -> Option<u32> {
    child(moov, b"mvhd")
        .and_then(header_timescale)
        .filter(|&t| t > 0)
}

/// What a track's `mdhd` states.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MediaHeader {
    /// Ticks per second of the track's media (0 when the file says 0).
    pub(crate) timescale: u32,
    /// ISO 639-2/T code, `None` when unstated (`und`, 0, not a packed ISO code).
    pub(crate) language: Option<String>,
}

/// The `mdhd` of a `trak`.
pub(crate) fn media_header(trak: &[u8]) -> Option<MediaHeader> {
    let mdhd = path(trak, &[b"mdia", b"mdhd"])?;
    let language_at = match mdhd.first()? {
        0 => 20,
        1 => 32,
        _ => return None,
    };
    Some(MediaHeader {
        timescale: header_timescale(mdhd)?,
        language: be_u16(mdhd, language_at).and_then(language),
    })
}

/// An `mdhd` language: ISO 639-2/T packed as three 5-bit letters, each less 0x60.
/// `und` and 0 state none; QuickTime's older Macintosh language codes (below 0x400) are
/// not ISO codes and are left out too.
fn language(code: u16) -> Option<String> {
    let code = code & 0x7fff;
    if code < 0x400 {
        return None;
    }
    let letters = [code >> 10, (code >> 5) & 0x1f, code & 0x1f];
    if letters.iter().any(|&l| !(1..=26).contains(&l)) {
        return None;
    }
    let lang: String = letters
        .iter()
        .map(|&l| char::from(l as u8 + 0x60))
        .collect();
    (lang != "und").then_some(lang)
}

/// The `track_ID` of a `tkhd` body.
pub(crate) fn track_id(tkhd: &[u8]) -> Option<u32> {
    be_u32(tkhd, if tkhd.first() == Some(&1) { 20 } else { 12 })
}

/// The duration of a `tkhd` body, in movie timescale units.
pub(crate) fn track_duration(tkhd: &[u8]) -> Option<u64> {
    match tkhd.first()? {
        0 => be_u32(tkhd, 20).map(u64::from),
        1 => be_u64(tkhd, 28),
        _ => None,
    }
}

/// One entry of an edit list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Edit {
    /// Presented length, in movie timescale units (0: unstated).
    pub(crate) segment_duration: u64,
    /// First media time presented, in media timescale units; -1 for an empty edit.
    pub(crate) media_time: i64,
    /// Playback rate, 16.16 fixed point (0x0001_0000 is 1x).
    pub(crate) rate: u32,
}

/// A track's `elst`, with the version it was written in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EditList {
    pub(crate) version: u8,
    pub(crate) edits: Vec<Edit>,
}

impl EditList {
    /// The `elst` body for these edits, in the list's version.
    pub(crate) fn to_body(&self) -> Vec<u8> {
        let mut b = vec![self.version, 0, 0, 0];
        b.extend_from_slice(&(self.edits.len() as u32).to_be_bytes());
        for e in &self.edits {
            if self.version == 1 {
                b.extend_from_slice(&e.segment_duration.to_be_bytes());
                b.extend_from_slice(&e.media_time.to_be_bytes());
            } else {
                b.extend_from_slice(&(e.segment_duration as u32).to_be_bytes());
                b.extend_from_slice(&(e.media_time as i32).to_be_bytes());
            }
            b.extend_from_slice(&e.rate.to_be_bytes());
        }
        b
    }
}

/// The edit list of a `trak`: `Ok(None)` when it has none.
pub(crate) fn edit_list(trak: &[u8]) -> Result<Option<EditList>> {
    let Some(elst) = path(trak, &[b"edts", b"elst"]) else {
        return Ok(None);
    };
    let short = TableError("elst shorter than its entry count");
    let version = *elst.first().ok_or(short)?;
    let count = be_u32(elst, 4).ok_or(short)? as usize;
    let width = if version == 1 { 20 } else { 12 };
    let table = elst.get(8..).unwrap_or_default();
    if table.len() / width < count {
        return Err(short);
    }
    let edits = table
        .chunks_exact(width)
        .take(count)
        .map(|e| {
            let (segment_duration, media_time, rate_at) = if version == 1 {
                (be_u64(e, 0), be_u64(e, 8).map(|t| t as i64), 16)
            } else {
                (
                    be_u32(e, 0).map(u64::from),
                    be_u32(e, 4).map(|t| i64::from(t as i32)),
                    8,
                )
            };
            Some(Edit {
                segment_duration: segment_duration?,
                media_time: media_time?,
                rate: be_u32(e, rate_at)?,
            })
        })
        .collect::<Option<Vec<_>>>()
        .ok_or(short)?;
    Ok(Some(EditList { version, edits }))
}

/// The sample sizes of a sample table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum SampleSizes {
    /// Every sample has this size (`stsz` with a non-zero size): the count is the table's
    /// word alone, so nothing is allocated per sample.
    Fixed { size: u32, count: usize },
    /// One size per sample.
    Each(Vec<u32>),
}

impl SampleSizes {
    pub(crate) fn count(&self) -> usize {
        match self {
            SampleSizes::Fixed { count, .. } => *count,
            SampleSizes::Each(sizes) => sizes.len(),
        }
    }

    /// Bytes of samples `from..to`, which must be within [`SampleSizes::count`].
    fn bytes(&self, from: usize, to: usize) -> u64 {
        match self {
            SampleSizes::Fixed { size, .. } => u64::from(*size) * (to - from) as u64,
            SampleSizes::Each(sizes) => sizes[from..to].iter().map(|&s| u64::from(s)).sum(),
        }
    }
}

/// The sample sizes of a sample table (`stsz` or `stz2`).
pub(crate) fn sample_sizes(stbl: &[u8]) -> Result<SampleSizes> {
    if let Some(stsz) = child(stbl, b"stsz") {
        let short = TableError("stsz shorter than its sample count");
        let fixed = be_u32(stsz, 4).ok_or(short)?;
        let count = be_u32(stsz, 8).ok_or(short)? as usize;
        if fixed != 0 {
            return Ok(SampleSizes::Fixed { size: fixed, count });
        }
        let table = stsz.get(12..).unwrap_or_default();
        if table.len() / 4 < count {
            return Err(short);
        }
        return Ok(SampleSizes::Each(
            table
                .chunks_exact(4)
                .take(count)
                .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        ));
    }
    if let Some(stz2) = child(stbl, b"stz2") {
        let short = TableError("stz2 shorter than its sample count");
        let field = *stz2.get(7).ok_or(short)?;
        let count = be_u32(stz2, 8).ok_or(short)? as usize;
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
            _ => return Err(TableError("stz2 field size not 4, 8 or 16")),
        };
        if sizes.len() < count {
            return Err(short);
        }
        return Ok(SampleSizes::Each(sizes));
    }
    Err(TableError("sample table without stsz"))
}

/// Chunk offsets of a sample table (`stco` or `co64`).
pub(crate) fn chunk_offsets(stbl: &[u8]) -> Result<Vec<u64>> {
    if let Some(stco) = child(stbl, b"stco") {
        let short = TableError("stco shorter than its entry count");
        let count = be_u32(stco, 4).ok_or(short)? as usize;
        let table = stco.get(8..).unwrap_or_default();
        if table.len() / 4 < count {
            return Err(short);
        }
        return Ok(table
            .chunks_exact(4)
            .take(count)
            .map(|c| u64::from(u32::from_be_bytes([c[0], c[1], c[2], c[3]])))
            .collect());
    }
    if let Some(co64) = child(stbl, b"co64") {
        let short = TableError("co64 shorter than its entry count");
        let count = be_u32(co64, 4).ok_or(short)? as usize;
        let table = co64.get(8..).unwrap_or_default();
        if table.len() / 8 < count {
            return Err(short);
        }
        return Ok(table
            .chunks_exact(8)
            .take(count)
            .filter_map(|c| be_u64(c, 0))
            .collect());
    }
    Err(TableError("sample table without stco/co64"))
}

/// Samples per chunk for `chunks` chunks, from `stsc` runs.
pub(crate) fn samples_per_chunk(stbl: &[u8], chunks: usize) -> Result<Vec<u32>> {
    let stsc = child(stbl, b"stsc").ok_or(TableError("sample table without stsc"))?;
    let short = TableError("stsc shorter than its entry count");
    let count = be_u32(stsc, 4).ok_or(short)? as usize;
    let table = stsc.get(8..).unwrap_or_default();
    if table.len() / 12 < count {
        return Err(short);
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
            return Err(TableError("stsc runs out of order"));
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
        return Err(TableError("stsc does not cover every chunk"));
    }
    Ok(out)
}

/// (offset, byte length) of each chunk of one track's sample table, in table order.
pub(crate) fn chunk_ranges(stbl: &[u8]) -> Result<Vec<(u64, u64)>> {
    let sizes = sample_sizes(stbl)?;
    let offsets = chunk_offsets(stbl)?;
    let per = samples_per_chunk(stbl, offsets.len())?;
    let mut out = Vec::with_capacity(offsets.len());
    let mut next = 0usize;
    for (&off, &n) in offsets.iter().zip(&per) {
        let end = next
            .checked_add(n as usize)
            .filter(|&e| e <= sizes.count())
            .ok_or(TableError("chunks hold more samples than the table has"))?;
        let len = sizes.bytes(next, end);
        next = end;
        out.push((off, len));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::super::boxes::write_box;
    use super::super::testing::{full, mdhd, u32s};
    use super::*;

    #[test]
    fn chunk_ranges_follow_stsc_runs() {
        // 5 samples of sizes 10..=14; chunks: 2 samples, 2 samples, 1 sample.
        let stbl = [
            full(b"stsz", &u32s(&[0, 5, 10, 11, 12, 13, 14])),
            full(b"stsc", &u32s(&[2, 1, 2, 1, 3, 1, 1])),
            full(b"stco", &u32s(&[3, 1000, 5000, 9000])),
        ]
        .concat();
        assert_eq!(
            chunk_ranges(&stbl).unwrap(),
            vec![(1000, 21), (5000, 25), (9000, 14)]
        );
        // co64 and a fixed sample size.
        let mut co64 = vec![0, 0, 0, 1];
        co64.extend_from_slice(&(5u64 << 32).to_be_bytes());
        let stbl = [
            full(b"stsz", &u32s(&[7, 3])),
            full(b"stsc", &u32s(&[1, 1, 3, 1])),
            full(b"co64", &co64),
        ]
        .concat();
        assert_eq!(chunk_ranges(&stbl).unwrap(), vec![(5 << 32, 21)]);
    }

    #[test]
    fn hostile_tables_are_errors() {
        // stsc claims more samples than stsz has.
        let stbl = [
            full(b"stsz", &u32s(&[0, 1, 10])),
            full(b"stsc", &u32s(&[1, 1, 9, 1])),
            full(b"stco", &u32s(&[1, 0])),
        ]
        .concat();
        assert!(chunk_ranges(&stbl).is_err());
        // stco claims a billion entries in 8 bytes.
        let stco = full(b"stco", &u32s(&[1_000_000_000, 0]));
        assert!(chunk_offsets(&stco).is_err());
        // stsc runs that skip a chunk.
        let stbl = [
            full(b"stsc", &u32s(&[2, 2, 1, 1, 3, 1, 1])),
            full(b"stco", &u32s(&[3, 0, 1, 2])),
        ]
        .concat();
        assert!(samples_per_chunk(&stbl, 3).is_err());
        // A fixed sample size with an absurd count costs nothing until chunks claim them.
        let sizes = sample_sizes(&full(b"stsz", &u32s(&[1, u32::MAX]))).unwrap();
        assert_eq!(sizes.count(), u32::MAX as usize);
    }

    #[test]
    fn languages_are_packed_iso_codes() {
        let pack = |s: &[u8; 3]| {
            (u16::from(s[0] - 0x60) << 10) | (u16::from(s[1] - 0x60) << 5) | u16::from(s[2] - 0x60)
        };
        assert_eq!(language(pack(b"fra")), Some("fra".into()));
        assert_eq!(language(pack(b"eng")), Some("eng".into()));
        assert_eq!(language(pack(b"und")), None);
        assert_eq!(language(0), None);
        assert_eq!(language(0x7fff), None, "QuickTime: unspecified");
        assert_eq!(language(2), None, "a Macintosh language code");
        // Version 0 and 1 headers.
        let trak = |mdhd: Vec<u8>| write_box(b"mdia", &mdhd);
        let h = media_header(&trak(mdhd(0, 48_000, pack(b"fra")))).unwrap();
        assert_eq!((h.timescale, h.language.as_deref()), (48_000, Some("fra")));
        let h = media_header(&trak(mdhd(1, 44_100, pack(b"deu")))).unwrap();
        assert_eq!((h.timescale, h.language.as_deref()), (44_100, Some("deu")));
        let h = media_header(&trak(mdhd(0, 8000, pack(b"und")))).unwrap();
        assert_eq!(h.language, None);
    }

    #[test]
    fn edit_lists_round_trip_in_their_version() {
        for version in [0u8, 1] {
            let list = EditList {
                version,
                edits: vec![
                    Edit {
                        segment_duration: 500,
                        media_time: -1,
                        rate: 0x0001_0000,
                    },
                    Edit {
                        segment_duration: 2000,
                        media_time: 1024,
                        rate: 0x0001_0000,
                    },
                ],
            };
            let trak = write_box(b"edts", &write_box(b"elst", &list.to_body()));
            assert_eq!(edit_list(&trak), Ok(Some(list)));
        }
        assert_eq!(edit_list(&write_box(b"tkhd", &[0; 84])), Ok(None));
        // Two entries claimed, one present.
        let body = [&[0u8, 0, 0, 0][..], &u32s(&[2, 10, 0, 0x0001_0000])].concat();
        let trak = write_box(b"edts", &write_box(b"elst", &body));
        assert!(edit_list(&trak).is_err());
    }
}
