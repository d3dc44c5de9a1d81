//! The one ISO-BMFF box-header parser (size, 64-bit largesize, type, `uuid` user type), the
//! walks built on it (the children of a box held in memory; the top-level boxes of a file)
//! and the matching header writer.
//!
//! Sizes come from the file, so none is trusted: a child must fit in what is left of its
//! parent, a top-level box in the file, and a body read into memory is capped at
//! [`MAX_MOOV_BYTES`]. Hostile bytes end a walk (`None`), never a panic or a large
//! allocation.

use std::io::{Read, Seek, SeekFrom};

/// The `moov` box is read whole; a larger one is not a file we trust.
pub(crate) const MAX_MOOV_BYTES: u64 = 64 << 20;
/// Top-level boxes walked before giving up on finding what we look for.
pub(crate) const MAX_TOP_LEVEL_BOXES: usize = 4096;
/// Longest header: size 1, type, 64-bit size, then a `uuid` box's 16-byte user type.
pub(crate) const MAX_HEADER_LEN: u64 = 32;

/// A box header as the file states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BoxHeader {
    /// Four-character type (`moov`, `trak`, ...).
    pub(crate) kind: [u8; 4],
    /// Bytes before the body: 8, 16 with a 64-bit size, 16 more for a `uuid` box.
    pub(crate) header_len: u64,
    /// Whole size including the header; `None` for size 0 ("to the end of the file").
    pub(crate) size: Option<u64>,
    /// The extended type of a `uuid` box.
    pub(crate) user_type: Option<[u8; 16]>,
}

impl BoxHeader {
    /// The whole size of this box when `room` bytes are left from its start to the end of
    /// its parent (or of the file): a size-0 box takes them all. `None` when it does not fit.
    pub(crate) fn size_in(&self, room: u64) -> Option<u64> {
        let size = self.size.unwrap_or(room);
        (size >= self.header_len && size <= room).then_some(size)
    }
}

/// Parse the header at the start of `bytes`. `None` when `bytes` is shorter than the header
/// or the stated size is smaller than the header itself.
pub(crate) fn parse_header(bytes: &[u8]) -> Option<BoxHeader> {
    let size32 = be_u32(bytes, 0)?;
    let kind: [u8; 4] = bytes.get(4..8)?.try_into().ok()?;
    let (size, mut header_len) = match size32 {
        0 => (None, 8),
        1 => (Some(be_u64(bytes, 8)?), 16),
        s => (Some(u64::from(s)), 8),
    };
    let mut user_type = None;
    if &kind == b"uuid" {
        let at = header_len as usize;
        user_type = Some(bytes.get(at..at + 16)?.try_into().ok()?);
        header_len += 16;
    }
    if size.is_some_and(|s| s < header_len) {
        return None;
    }
    Some(BoxHeader {
        kind,
        header_len,
        size,
        user_type,
    })
}

/// One box inside a parent held in memory.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Child<'a> {
    pub(crate) header: BoxHeader,
    /// The header's type, at hand.
    pub(crate) kind: [u8; 4],
    pub(crate) body: &'a [u8],
    /// The whole box, header included, as it stands in the parent.
    pub(crate) raw: &'a [u8],
}

impl Child<'_> {
    /// The box as bytes to write elsewhere: its own bytes unchanged, except that a size-0
    /// box ("to the end") gets its size written out, since it may not stay last.
    pub(crate) fn to_bytes(self) -> Vec<u8> {
        match self.header.size {
            Some(_) => self.raw.to_vec(),
            None => write_box(&self.kind, &self.raw[8..]),
        }
    }
}

/// The child boxes of a box body, in order. Stops at the first one that is malformed or
/// does not fit in what is left of `data`.
pub(crate) fn boxes(mut data: &[u8]) -> impl Iterator<Item = Child<'_>> {
    std::iter::from_fn(move || {
        let header = parse_header(data)?;
        let size = usize::try_from(header.size_in(data.len() as u64)?).ok()?;
        let (raw, rest) = data.split_at(size);
        data = rest;
        Some(Child {
            header,
            kind: header.kind,
            body: &raw[header.header_len as usize..],
            raw,
        })
    })
}

/// The bodies of every child of type `kind`, in order.
pub(crate) fn children<'a>(data: &'a [u8], kind: &'a [u8; 4]) -> impl Iterator<Item = &'a [u8]> {
    boxes(data).filter(move |c| &c.kind == kind).map(|c| c.body)
}

/// The body of the first child of type `kind`.
pub(crate) fn child<'a>(data: &'a [u8], kind: &[u8; 4]) -> Option<&'a [u8]> {
    boxes(data).find(|c| &c.kind == kind).map(|c| c.body)
}

/// Follow a path of child types from `data`.
pub(crate) fn path<'a>(data: &'a [u8], kinds: &[&[u8; 4]]) -> Option<&'a [u8]> {
    kinds.iter().try_fold(data, |d, k| child(d, k))
}

/// A box with this body: a 32-bit size where it fits, else a 64-bit one.
pub(crate) fn write_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut v = Vec::with_capacity(body.len() + 16);
    let small = body.len() as u64 + 8;
    if small > u64::from(u32::MAX) {
        v.extend_from_slice(&1u32.to_be_bytes());
        v.extend_from_slice(kind);
        v.extend_from_slice(&(body.len() as u64 + 16).to_be_bytes());
    } else {
        v.extend_from_slice(&(small as u32).to_be_bytes());
        v.extend_from_slice(kind);
    }
    v.extend_from_slice(body);
    v
}

/// Top-level box types an MP4/MOV file can start with.
pub(crate) fn is_leading_box(kind: &[u8; 4]) -> bool {
    matches!(
        kind,
        b"ftyp" | b"moov" | b"mdat" | b"free" | b"skip" | b"wide" | b"pnot" | b"uuid" | b"styp"
    )
}

/// A top-level box of a file.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TopBox {
    /// Offset of its header in the file.
    pub(crate) at: u64,
    pub(crate) header: BoxHeader,
    /// Whole size; `None` for a size-0 box in a file whose length is not known (yet).
    pub(crate) size: Option<u64>,
}

/// Walks the top-level boxes of a file, reading only their headers.
pub(crate) struct TopLevel<'r, R> {
    r: &'r mut R,
    pos: u64,
    /// The file's length; `None` reads forward without asking for it, so that a file
    /// still arriving is read only as far as the walk goes.
    len: Option<u64>,
    ended: bool,
}

impl<'r, R: Read + Seek> TopLevel<'r, R> {
    pub(crate) fn new(r: &'r mut R, len: Option<u64>) -> Self {
        TopLevel {
            r,
            pos: 0,
            len,
            ended: false,
        }
    }

    /// The next box; `None` at the end of the file, at a box that does not fit in it, or
    /// after a size-0 box of unknown length.
    pub(crate) fn next_box(&mut self) -> Option<TopBox> {
        if self.ended {
            return None;
        }
        let found = self.read_header();
        if found.is_none() {
            self.ended = true;
        }
        found
    }

    fn read_header(&mut self) -> Option<TopBox> {
        let at = self.pos;
        if self.len.is_some_and(|len| at.saturating_add(8) > len) {
            return None;
        }
        self.r.seek(SeekFrom::Start(at)).ok()?;
        let mut buf = [0u8; MAX_HEADER_LEN as usize];
        self.r.read_exact(&mut buf[..8]).ok()?;
        let mut n = 8;
        if be_u32(&buf, 0)? == 1 {
            self.r.read_exact(&mut buf[n..n + 8]).ok()?;
            n += 8;
        }
        if &buf[4..8] == b"uuid" {
            self.r.read_exact(&mut buf[n..n + 16]).ok()?;
            n += 16;
        }
        let header = parse_header(&buf[..n])?;
        let size = match self.len {
            Some(len) => Some(header.size_in(len - at)?),
            None => header.size,
        };
        match size {
            Some(s) => self.pos = at.checked_add(s)?,
            None => self.ended = true,
        }
        Some(TopBox { at, header, size })
    }

    /// The body of `b`, a box this walk returned; `None` when it is over
    /// [`MAX_MOOV_BYTES`] or cannot be read whole.
    pub(crate) fn read_body(&mut self, b: &TopBox) -> Option<Vec<u8>> {
        let size = match b.size {
            Some(s) => s,
            None => self.r.seek(SeekFrom::End(0)).ok()?.checked_sub(b.at)?,
        };
        let body_len = size.checked_sub(b.header.header_len)?;
        if body_len > MAX_MOOV_BYTES {
            return None;
        }
        self.r
            .seek(SeekFrom::Start(b.at + b.header.header_len))
            .ok()?;
        let mut buf = vec![0u8; usize::try_from(body_len).ok()?];
        self.r.read_exact(&mut buf).ok()?;
        Some(buf)
    }
}

/// The body of the first top-level `moov` of a file. Only box headers are read on the way
/// (no seek to the end first, so a file still arriving is read as far as its `moov`); a
/// file that does not start like ISO-BMFF is left at once.
pub(crate) fn read_moov<R: Read + Seek>(r: &mut R) -> Option<Vec<u8>> {
    let mut walk = TopLevel::new(r, None);
    for i in 0..MAX_TOP_LEVEL_BOXES {
        let b = walk.next_box()?;
        if i == 0 && !is_leading_box(&b.header.kind) {
            return None;
        }
        if &b.header.kind == b"moov" {
            return walk.read_body(&b);
        }
    }
    None
}

pub(crate) fn be_u16(d: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes(
        d.get(at..at.checked_add(2)?)?.try_into().ok()?,
    ))
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    #[test]
    fn headers_with_largesize_uuid_and_size_zero() {
        let h = parse_header(b"\0\0\0\x10moov").unwrap();
        assert_eq!((h.kind, h.header_len, h.size), (*b"moov", 8, Some(16)));
        let mut large = vec![0, 0, 0, 1];
        large.extend_from_slice(b"mdat");
        large.extend_from_slice(&40u64.to_be_bytes());
        let h = parse_header(&large).unwrap();
        assert_eq!((h.header_len, h.size), (16, Some(40)));
        let mut uuid = 40u32.to_be_bytes().to_vec();
        uuid.extend_from_slice(b"uuid");
        uuid.extend_from_slice(&[7u8; 16]);
        let h = parse_header(&uuid).unwrap();
        assert_eq!((h.header_len, h.user_type), (24, Some([7u8; 16])));
        assert!(parse_header(&uuid[..20]).is_none(), "user type cut short");
        let h = parse_header(b"\0\0\0\0mdat").unwrap();
        assert_eq!(h.size, None);
        assert_eq!(h.size_in(100), Some(100));
        // Smaller than its own header, or a header cut short.
        assert!(parse_header(&[0, 0, 0, 4, b'm', b'o', b'o', b'v']).is_none());
        assert!(
            parse_header(&[0, 0, 0, 1, b'm', b'd', b'a', b't', 0, 0, 0, 0, 0, 0, 0, 8]).is_none()
        );
        assert!(parse_header(&[0, 0, 0, 8, b'm', b'o']).is_none());
        // A uuid box too small for its user type.
        let mut short = 20u32.to_be_bytes().to_vec();
        short.extend_from_slice(b"uuid");
        short.extend_from_slice(&[0; 16]);
        assert!(parse_header(&short).is_none());
    }

    #[test]
    fn children_must_fit_their_parent() {
        let body = [write_box(b"free", &[1, 2]), write_box(b"trak", &[3])].concat();
        let kinds: Vec<[u8; 4]> = boxes(&body).map(|c| c.kind).collect();
        assert_eq!(kinds, [*b"free", *b"trak"]);
        assert_eq!(child(&body, b"trak"), Some(&[3u8][..]));
        // The second child claims more than is left: the walk stops before it.
        let mut bad = body.clone();
        bad[10..14].copy_from_slice(&100u32.to_be_bytes());
        assert_eq!(boxes(&bad).count(), 1);
        // A size-0 child takes the rest, and is written out with its size.
        let zero = [write_box(b"free", &[]), b"\0\0\0\0udta\x09".to_vec()].concat();
        let last = boxes(&zero).last().unwrap();
        assert_eq!(last.body, &[9]);
        assert_eq!(last.to_bytes(), write_box(b"udta", &[9]));
        // Other boxes are copied byte for byte, 64-bit size and user type included.
        let mut large = vec![0, 0, 0, 1];
        large.extend_from_slice(b"uuid");
        large.extend_from_slice(&(16u64 + 16 + 2).to_be_bytes());
        large.extend_from_slice(&[5u8; 16]);
        large.extend_from_slice(&[1, 2]);
        let c = boxes(&large).next().unwrap();
        assert_eq!((c.body, c.to_bytes()), (&[1u8, 2][..], large.clone()));
    }

    #[test]
    fn moov_is_found_by_headers_only() {
        let moov = write_box(b"moov", &write_box(b"trak", &[]));
        let file = [
            write_box(b"ftyp", b"isom"),
            write_box(b"mdat", &[0u8; 1000]),
            moov.clone(),
        ]
        .concat();
        assert_eq!(read_moov(&mut Cursor::new(&file)), Some(moov[8..].to_vec()));
        // Not ISO-BMFF at all.
        let junk = [write_box(b"RIFF", &[0; 8]), moov.clone()].concat();
        assert_eq!(read_moov(&mut Cursor::new(junk)), None);
        // A huge size: the walk ends instead of reading it.
        let file = [&[0xff, 0xff, 0xff, 0xf0][..], b"moov", &[0u8; 32]].concat();
        assert_eq!(read_moov(&mut Cursor::new(file)), None);
        // A size-0 moov runs to the end of the file.
        let file = [
            write_box(b"ftyp", b"isom"),
            b"\0\0\0\0moov\x01\x02".to_vec(),
        ]
        .concat();
        assert_eq!(read_moov(&mut Cursor::new(file)), Some(vec![1, 2]));
    }

    #[test]
    fn a_walk_with_a_known_length_checks_every_box_against_it() {
        let file = [write_box(b"ftyp", b"isom"), write_box(b"mdat", &[0; 10])].concat();
        let len = file.len() as u64;
        let mut cur = Cursor::new(&file);
        let mut walk = TopLevel::new(&mut cur, Some(len));
        assert_eq!(walk.next_box().unwrap().size, Some(12));
        assert_eq!(walk.next_box().unwrap().size, Some(18));
        assert!(walk.next_box().is_none());
        // The last box claims a byte more than the file has.
        let mut cur = Cursor::new(&file);
        let mut walk = TopLevel::new(&mut cur, Some(len - 1));
        assert!(walk.next_box().is_some());
        assert!(walk.next_box().is_none());
    }
}
