//! What to read of a remote file, decided from the file's own bytes: the vocabulary between
//! the HTTP Range reader ([`crate::net::range`], which fetches) and a container reader (such
//! as `media::mp4`, which knows where an MP4's audio lies).
//!
//! It stands apart from both so that neither imports the other: `net` fetches for any
//! [`Planner`] it is handed, and the container reader plans from bytes without knowing
//! where they come from (which also makes its plan testable on bytes in memory).

/// Decides, step by step, which bytes of a remote file are worth fetching.
///
/// The fetcher first reads the file's head, then calls [`Planner::next`] until it answers
/// [`Step::Ranges`] or [`Step::Whole`], reading what each [`Step::Read`] asks in between.
pub trait Planner: Send {
    /// The next step, from the bytes of the file read so far.
    fn next(&mut self, known: &Known<'_>) -> Step;
}

/// What a [`Planner`] wants next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Read `len` bytes at `at` (a box header, an index) and ask again.
    Read { at: u64, len: u64 },
    /// Fetch these byte ranges, (offset, length) sorted by offset: all of the file that is
    /// needed besides the bytes read so far (which are kept).
    Ranges(Vec<(u64, u64)>),
    /// Nothing to gain from reading parts: read the whole file.
    Whole,
}

/// The bytes of a file read so far: pieces at their offsets, within the file's size.
#[derive(Debug, Clone, Copy)]
pub struct Known<'a> {
    size: u64,
    /// (offset, bytes), sorted by offset.
    pieces: &'a [(u64, Vec<u8>)],
}

impl<'a> Known<'a> {
    /// `pieces` must be sorted by offset.
    pub fn new(size: u64, pieces: &'a [(u64, Vec<u8>)]) -> Self {
        debug_assert!(pieces.is_sorted_by_key(|p| p.0));
        Known { size, pieces }
    }

    /// The size of the whole file.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The `len` bytes at `at`, when one piece read so far holds them all.
    pub fn get(&self, at: u64, len: u64) -> Option<&'a [u8]> {
        let end = at.checked_add(len)?;
        // The last piece starting at or before `at` is the only one that can hold it
        // (pieces may overlap, so look back over those that start at the same place).
        let after = self.pieces.partition_point(|p| p.0 <= at);
        self.pieces[..after]
            .iter()
            .rev()
            .find_map(|(start, bytes)| {
                let from = usize::try_from(at - start).ok()?;
                let to = usize::try_from(end - start).ok()?;
                bytes.get(from..to)
            })
    }
}

/// A planner that never plans: the whole file is read.
#[derive(Debug, Clone, Copy, Default)]
pub struct ReadWhole;

impl Planner for ReadWhole {
    fn next(&mut self, _: &Known<'_>) -> Step {
        Step::Whole
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_bytes_come_from_one_piece() {
        let pieces = vec![(0, vec![1, 2, 3, 4]), (2, vec![9]), (10, vec![5, 6])];
        let k = Known::new(20, &pieces);
        assert_eq!(k.get(0, 4), Some(&[1, 2, 3, 4][..]));
        assert_eq!(k.get(2, 1), Some(&[9][..]), "the later piece first");
        assert_eq!(k.get(2, 2), Some(&[3, 4][..]));
        assert_eq!(k.get(10, 2), Some(&[5, 6][..]));
        assert_eq!(k.get(11, 0), Some(&[][..]));
        assert_eq!(k.get(3, 8), None, "spans a hole");
        assert_eq!(k.get(11, 2), None, "past a piece's end");
        assert_eq!(k.get(u64::MAX, 2), None);
    }
}
