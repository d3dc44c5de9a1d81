//! Range arithmetic of a ranged read, pure and unit-tested: chunk ranges merged into
//! requests, requests grouped into multi-range batches under the header and byte caps,
//! and the bookkeeping of which asked ranges an answer delivered.

use crate::net::NetError;

/// Gaps bridged to save requests may add at most this share to the audio's bytes.
pub(super) const WASTE_SHARE: f64 = 0.1;
/// Longest `Range` header sent: servers cap a header line (nginx at 8 KiB by default), and
/// this leaves room for everything else.
const MAX_RANGE_HEADER: usize = 4000;

/// Sorted chunk ranges → requests: parts below `held` dropped (already fetched), the
/// smallest gaps between neighbours bridged (each at most `gap` bytes, all together at most
/// [`WASTE_SHARE`] of the data, so the bytes fetched stay near the audio's own), anything
/// longer than `max_request` split.
pub(super) fn merge_ranges(
    chunks: &[(u64, u64)],
    held: u64,
    gap: u64,
    max_request: u64,
) -> Vec<(u64, u64)> {
    // Touching or overlapping chunks are one range.
    let mut runs: Vec<(u64, u64)> = Vec::new(); // (start, end)
    for &(off, len) in chunks {
        let (start, end) = (off.max(held), off + len);
        if start >= end {
            continue;
        }
        match runs.last_mut() {
            Some(last) if start <= last.1 => last.1 = last.1.max(end),
            _ => runs.push((start, end)),
        }
    }
    let data: u64 = runs.iter().map(|r| r.1 - r.0).sum();
    let mut budget = (data as f64 * WASTE_SHARE) as u64;
    let mut gaps: Vec<(u64, usize)> = runs
        .windows(2)
        .enumerate()
        .map(|(i, w)| (w[1].0 - w[0].1, i))
        .filter(|&(g, _)| g <= gap)
        .collect();
    gaps.sort_unstable();
    let mut bridge = vec![false; runs.len()];
    for (g, i) in gaps {
        if g > budget {
            break;
        }
        budget -= g;
        bridge[i] = true;
    }
    let mut merged: Vec<(u64, u64)> = Vec::with_capacity(runs.len());
    let mut joined = false;
    for (i, &(start, end)) in runs.iter().enumerate() {
        match merged.last_mut() {
            Some(last) if joined => last.1 = end,
            _ => merged.push((start, end)),
        }
        joined = bridge[i];
    }
    let max_request = max_request.max(1);
    let mut out = Vec::with_capacity(merged.len());
    for (mut start, end) in merged {
        while start < end {
            let len = (end - start).min(max_request);
            out.push((start, len));
            start += len;
        }
    }
    out
}

/// Requests → batches of consecutive ranges asked together: at most `max_parts` ranges and
/// `max_bytes` bytes each, in a `Range` header of at most [`MAX_RANGE_HEADER`] bytes.
pub(super) fn batch_ranges(
    ranges: &[(u64, u64)],
    max_parts: usize,
    max_bytes: u64,
) -> Vec<&[(u64, u64)]> {
    let max_parts = max_parts.max(1);
    let mut batches = Vec::new();
    let mut start = 0;
    let (mut header, mut bytes) = ("bytes=".len(), 0u64);
    for (i, &(a, len)) in ranges.iter().enumerate() {
        let spec = range_spec(a, len).len() + 1; // and a comma
        let n = i - start;
        if n > 0 && (n >= max_parts || header + spec > MAX_RANGE_HEADER || bytes + len > max_bytes)
        {
            batches.push(&ranges[start..i]);
            (start, header, bytes) = (i, "bytes=".len(), 0);
        }
        header += spec;
        bytes += len;
    }
    if start < ranges.len() {
        batches.push(&ranges[start..]);
    }
    batches
}

fn range_spec(start: u64, len: u64) -> String {
    format!("{start}-{}", start + len - 1)
}

/// `bytes=a-b,c-d,...`
pub(super) fn range_header(ranges: &[(u64, u64)]) -> String {
    let specs: Vec<String> = ranges.iter().map(|&(a, len)| range_spec(a, len)).collect();
    format!("bytes={}", specs.join(","))
}

/// The ranges of one multi-range request, and which of them the answer delivered.
pub(super) struct Asked<'a> {
    /// (offset, length), sorted, neither overlapping nor touching.
    ranges: &'a [(u64, u64)],
    got: Vec<bool>,
}

impl<'a> Asked<'a> {
    pub(super) fn new(ranges: &'a [(u64, u64)]) -> Self {
        Asked {
            ranges,
            got: vec![false; ranges.len()],
        }
    }

    /// Take the answer's range `first..=last`: it must be one range asked, or a run of
    /// consecutive ones with the gaps between (a server may coalesce them, RFC 9110
    /// §14.2), none of them delivered before.
    pub(super) fn claim(&mut self, first: u64, last: u64) -> Result<(), NetError> {
        let i = self.ranges.binary_search_by_key(&first, |r| r.0).ok();
        let j = last
            .checked_add(1)
            .and_then(|end| self.ranges.binary_search_by_key(&end, |r| r.0 + r.1).ok());
        let (Some(i), Some(j)) = (i, j) else {
            return Err(NetError::unreachable(format!(
                "the source answered byte range {first}-{last}, which was not asked"
            )));
        };
        if i > j || self.got[i..=j].iter().any(|&g| g) {
            return Err(NetError::unreachable(format!(
                "the source answered byte range {first}-{last} more than once"
            )));
        }
        self.got[i..=j].fill(true);
        Ok(())
    }

    pub(super) fn missing(&self) -> Vec<(u64, u64)> {
        (self.ranges.iter().zip(&self.got))
            .filter(|(_, got)| !**got)
            .map(|(r, _)| *r)
            .collect()
    }

    pub(super) fn bytes(&self) -> u64 {
        self.ranges.iter().map(|r| r.1).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_merge_skip_held_and_split() {
        let chunks = [
            (100, 50),
            (160, 40),
            (10_000, 10),
            (10, 20),
            (25_000, 30_000),
        ];
        let mut sorted = chunks.to_vec();
        sorted.sort_unstable();
        // held = 40: (10, 20) is already here; 100..150 and 160..200 merge (gap 10, within
        // 10 % of the data); the gap before 10_000 is too long.
        let r = merge_ranges(&sorted, 40, 16, 8192);
        assert_eq!(
            r,
            vec![
                (100, 100),
                (10_000, 10),
                (25_000, 8192),
                (33_192, 8192),
                (41_384, 8192),
                (49_576, 5424)
            ]
        );
        // Ten 100-byte chunks 50 bytes apart: the budget (100 bytes) bridges two gaps.
        let chunks: Vec<(u64, u64)> = (0..10).map(|i| (i * 150, 100)).collect();
        let r = merge_ranges(&chunks, 0, 1000, 1 << 20);
        assert_eq!(r.len(), 8);
        let fetched: u64 = r.iter().map(|r| r.1).sum();
        assert_eq!(fetched, 1000 + 100);
    }

    #[test]
    fn batches_are_bounded_by_count_bytes_and_header_length() {
        let ranges: Vec<(u64, u64)> = (0..1000).map(|i| (i * 1000, 100)).collect();
        let batches = batch_ranges(&ranges, 200, 1 << 20);
        assert_eq!(batches.len(), 5);
        assert!(batches.iter().all(|b| b.len() == 200));
        // Byte cap: 100-byte ranges, at most 1000 bytes a request.
        let batches = batch_ranges(&ranges, 200, 1000);
        assert_eq!(batches.len(), 100);
        // Long offsets: the header stays under its cap, so fewer than 200 a request.
        let far: Vec<(u64, u64)> = (0..1000)
            .map(|i| (10_000_000_000 + i * 1000, 100))
            .collect();
        let batches = batch_ranges(&far, 200, 1 << 30);
        assert!(batches.len() > 5);
        for b in &batches {
            assert!(
                range_header(b).len() <= MAX_RANGE_HEADER,
                "{}",
                range_header(b).len()
            );
        }
        assert_eq!(batches.iter().map(|b| b.len()).sum::<usize>(), 1000);
        // One range, or a cap of 1: one range a request.
        assert_eq!(batch_ranges(&ranges[..1], 200, 1 << 20).len(), 1);
        assert_eq!(batch_ranges(&ranges[..10], 1, 1 << 20).len(), 10);
        assert!(batch_ranges(&[], 200, 1 << 20).is_empty());
        assert_eq!(range_header(&ranges[..2]), "bytes=0-99,1000-1099");
    }

    #[test]
    fn answered_ranges_must_be_ranges_asked() {
        let ranges = [(0, 10), (100, 10), (200, 10), (300, 10)];
        let mut asked = Asked::new(&ranges);
        asked.claim(100, 109).unwrap();
        // Coalesced: a run of ranges and the gaps between them.
        asked.claim(200, 309).unwrap();
        assert_eq!(asked.missing(), vec![(0, 10)]);
        // Again, overlapping, not on the edges of ranges asked, or outside them.
        for (a, b) in [(100, 109), (0, 109), (1, 9), (0, 8), (0, 10), (400, 409)] {
            assert!(asked.claim(a, b).is_err(), "{a}-{b}");
        }
        assert_eq!(asked.missing(), vec![(0, 10)]);
        asked.claim(0, 9).unwrap();
        assert!(asked.missing().is_empty());
        assert!(Asked::new(&ranges).claim(0, u64::MAX).is_err());
    }
}
