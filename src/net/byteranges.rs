//! A streaming parser of `multipart/byteranges` bodies (RFC 9110 §14.6, RFC 2046 §5.1),
//! the answer to a request for several byte ranges at once.
//!
//! Written here rather than taken from `multer` (which parses `multipart/form-data`): a
//! byteranges part states its length in its `Content-Range`, so this parser counts the
//! payload instead of scanning it for the boundary (binary data cannot end a part early or
//! late, and a part longer or shorter than its `Content-Range` is an error), hands the
//! payload on as slices of the received chunks without copying or buffering it, and bounds
//! every piece of framing it has to hold (preamble, part headers, epilogue), which `multer`
//! only bounds for the stream as a whole.
//!
//! The parser checks the framing only; whether each part is one the client asked for is the
//! caller's business.

use bytes::{Buf, Bytes, BytesMut};

/// Longest boundary RFC 2046 allows.
const MAX_BOUNDARY: usize = 70;
/// Bytes allowed before the first boundary (servers send none or a CRLF).
const MAX_PREAMBLE: usize = 1024;
/// Bytes allowed for one part's header block, boundary line padding included.
const MAX_PART_HEADER: usize = 4096;
/// Header fields allowed in one part (servers send `Content-Type` and `Content-Range`).
const MAX_PART_FIELDS: usize = 16;
/// Bytes allowed after the closing boundary (servers send a CRLF).
const MAX_EPILOGUE: usize = 1024;

/// What the body holds, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Event {
    /// A part begins: `Content-Range: bytes first-last/total` (`total` is `None` for `*`).
    Part {
        first: u64,
        last: u64,
        total: Option<u64>,
    },
    /// Payload of the current part, in order; exactly `last - first + 1` bytes in all.
    Data(Bytes),
}

/// The body does not follow the `multipart/byteranges` grammar or a bound was exceeded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("malformed multipart/byteranges answer: {0}")]
pub(crate) struct Malformed(pub(crate) String);

fn malformed(msg: impl Into<String>) -> Malformed {
    Malformed(msg.into())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Before the first `--boundary`.
    Preamble,
    /// Just after a `--boundary`: `--` (the end), or padding and CRLF (a part follows).
    AfterBoundary,
    /// Reading a part's header block up to its empty line.
    Headers,
    /// Reading a part's payload: this many bytes still to come.
    Payload(u64),
    /// After a payload: `\r\n--boundary` must follow; this many of its bytes matched.
    Delimiter(usize),
    /// After the closing `--boundary--`: the epilogue, ignored (bounded).
    Epilogue(usize),
}

/// Push chunks of the body as they arrive with [`Parser::push`], take [`Event`]s with
/// [`Parser::next_event`] until it returns `None`, and call [`Parser::finish`] at the end
/// of the body. Memory held is bounded by the framing limits, whatever the chunking.
pub(crate) struct Parser {
    /// `\r\n--boundary`: the delimiter; its tail from index 2 is the first dash-boundary.
    delimiter: Vec<u8>,
    state: State,
    /// Framing bytes being collected (preamble, boundary tail, part headers).
    held: BytesMut,
    /// The unread rest of the last pushed chunk.
    input: Bytes,
}

impl Parser {
    /// A parser for the body of a response whose `Content-Type` carried this boundary.
    pub(crate) fn new(boundary: &str) -> Result<Parser, Malformed> {
        if boundary.is_empty() || boundary.len() > MAX_BOUNDARY {
            return Err(malformed(
                "the boundary is empty or longer than 70 characters",
            ));
        }
        Ok(Parser {
            delimiter: format!("\r\n--{boundary}").into_bytes(),
            state: State::Preamble,
            held: BytesMut::new(),
            input: Bytes::new(),
        })
    }

    /// Hand over the next chunk of the body. Call only once `next_event` returned `None`.
    pub(crate) fn push(&mut self, chunk: Bytes) {
        debug_assert!(self.input.is_empty(), "push before the last chunk was read");
        self.input = chunk;
    }

    /// The next event from the chunks pushed so far; `None` when more input is needed.
    pub(crate) fn next_event(&mut self) -> Result<Option<Event>, Malformed> {
        loop {
            if self.input.is_empty() {
                return Ok(None);
            }
            match self.state {
                State::Preamble => {
                    let delimiter = std::mem::take(&mut self.delimiter);
                    let found = self.framing(MAX_PREAMBLE, "the preamble", |buf| {
                        // The first boundary opens the body or follows a CRLF.
                        let dash_boundary = &delimiter[2..];
                        Ok(if buf.starts_with(dash_boundary) {
                            Some((dash_boundary.len(), ()))
                        } else if dash_boundary.starts_with(buf) {
                            None
                        } else {
                            find(buf, &delimiter).map(|at| (at + delimiter.len(), ()))
                        })
                    });
                    self.delimiter = delimiter;
                    if found?.is_some() {
                        self.state = State::AfterBoundary;
                    }
                }
                State::AfterBoundary => {
                    let next = self.framing(MAX_PART_HEADER, "a boundary line", |buf| {
                        if buf.len() < 2 {
                            return Ok(None);
                        }
                        if buf.starts_with(b"--") {
                            return Ok(Some((2, State::Epilogue(0))));
                        }
                        // Transport padding (spaces, tabs), then CRLF.
                        let pad = buf.iter().take_while(|&&b| b == b' ' || b == b'\t');
                        let pad = pad.count();
                        match buf.get(pad..pad + 2) {
                            None => Ok(None),
                            Some(b"\r\n") => Ok(Some((pad + 2, State::Headers))),
                            Some(_) => Err(malformed("no line break after a boundary")),
                        }
                    })?;
                    if let Some(next) = next {
                        self.state = next;
                    }
                }
                State::Headers => {
                    let range = self.framing(MAX_PART_HEADER, "a part's header block", |buf| {
                        let mut fields = [httparse::EMPTY_HEADER; MAX_PART_FIELDS];
                        match httparse::parse_headers(buf, &mut fields) {
                            Ok(httparse::Status::Complete((used, fields))) => {
                                Ok(Some((used, part_range(fields)?)))
                            }
                            Ok(httparse::Status::Partial) => Ok(None),
                            Err(e) => Err(malformed(format!("a part's headers: {e}"))),
                        }
                    })?;
                    if let Some((first, last, total)) = range {
                        self.state = State::Payload(last - first + 1);
                        return Ok(Some(Event::Part { first, last, total }));
                    }
                }
                State::Payload(left) => {
                    let n = usize::try_from(left).unwrap_or(usize::MAX);
                    let n = n.min(self.input.len());
                    let data = self.input.split_to(n);
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::Delimiter(0)
                    } else {
                        State::Payload(left)
                    };
                    return Ok(Some(Event::Data(data)));
                }
                State::Delimiter(matched) => {
                    let want = &self.delimiter[matched..];
                    let n = want.len().min(self.input.len());
                    if self.input[..n] != want[..n] {
                        return Err(malformed(
                            "a part is longer than its Content-Range, or the boundary is wrong",
                        ));
                    }
                    self.input.advance(n);
                    self.state = if matched + n == self.delimiter.len() {
                        State::AfterBoundary
                    } else {
                        State::Delimiter(matched + n)
                    };
                }
                State::Epilogue(seen) => {
                    let seen = seen + self.input.len();
                    if seen > MAX_EPILOGUE {
                        return Err(malformed("too much data after the closing boundary"));
                    }
                    self.input.clear();
                    self.state = State::Epilogue(seen);
                }
            }
        }
    }

    /// The body ended: it must have ended with the closing boundary.
    pub(crate) fn finish(&self) -> Result<(), Malformed> {
        match self.state {
            State::Epilogue(_) => Ok(()),
            State::Payload(left) => Err(malformed(format!(
                "the answer ended {left} bytes before the end of a part"
            ))),
            _ => Err(malformed("the answer ended before its closing boundary")),
        }
    }

    /// Parse a piece of framing of at most `limit` bytes with `parse`, which returns how
    /// many bytes the piece took and what it means, or `None` while it needs more bytes.
    /// Framing is parsed in place in the input; only a piece split across chunks is copied
    /// (into `held`, bounded by `limit`). Payload bytes are never copied.
    fn framing<T>(
        &mut self,
        limit: usize,
        what: &str,
        parse: impl FnOnce(&[u8]) -> Result<Option<(usize, T)>, Malformed>,
    ) -> Result<Option<T>, Malformed> {
        let too_long = || malformed(format!("{what} is longer than {limit} bytes"));
        if self.held.is_empty() {
            let window = &self.input[..self.input.len().min(limit)];
            if let Some((used, parsed)) = parse(window)? {
                self.input.advance(used);
                return Ok(Some(parsed));
            }
            if self.input.len() >= limit {
                return Err(too_long());
            }
            self.held.extend_from_slice(&self.input);
            self.input.clear();
            return Ok(None);
        }
        let before = self.held.len();
        let take = self.input.len().min(limit.saturating_sub(before));
        self.held.extend_from_slice(&self.input[..take]);
        match parse(&self.held)? {
            Some((used, parsed)) => {
                // What was held before did not complete the piece, so it ends in the input.
                debug_assert!(used > before);
                self.input.advance(used.saturating_sub(before).min(take));
                self.held.clear();
                Ok(Some(parsed))
            }
            None => {
                self.input.advance(take);
                if self.held.len() >= limit {
                    return Err(too_long());
                }
                Ok(None)
            }
        }
    }
}

/// The `Content-Range` of a part's header fields: exactly one, `bytes first-last/total`.
fn part_range(fields: &[httparse::Header<'_>]) -> Result<(u64, u64, Option<u64>), Malformed> {
    let mut ranges = fields
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case("content-range"));
    let (Some(field), None) = (ranges.next(), ranges.next()) else {
        return Err(malformed("a part without exactly one Content-Range"));
    };
    std::str::from_utf8(field.value)
        .ok()
        .and_then(parse_content_range)
        .ok_or_else(|| malformed("a part's Content-Range is not `bytes first-last/total`"))
}

/// `bytes first-last/total` (or `/*`), with `first <= last < total`.
pub(crate) fn parse_content_range(v: &str) -> Option<(u64, u64, Option<u64>)> {
    let rest = v.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (a, b) = span.split_once('-')?;
    let (a, b): (u64, u64) = (a.trim().parse().ok()?, b.trim().parse().ok()?);
    let total = match total.trim() {
        "*" => None,
        t => Some(t.parse().ok()?),
    };
    (a <= b && total.is_none_or(|t| b < t)).then_some((a, b, total))
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A body as nginx writes it: a CRLF preamble, `Content-Type` and `Content-Range` per
    /// part, a CRLF epilogue.
    fn body(boundary: &str, parts: &[(u64, &[u8])], total: u64) -> Vec<u8> {
        let mut out = Vec::new();
        for (first, data) in parts {
            let last = first + data.len() as u64 - 1;
            out.extend_from_slice(
                format!(
                    "\r\n--{boundary}\r\nContent-Type: video/mp4\r\n\
                     Content-Range: bytes {first}-{last}/{total}\r\n\r\n"
                )
                .as_bytes(),
            );
            out.extend_from_slice(data);
        }
        out.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
        out
    }

    /// Parse `input` pushed in chunks of `step` bytes: the parts (range, payload) or the
    /// first error.
    fn parse(
        boundary: &str,
        input: &[u8],
        step: usize,
    ) -> Result<Vec<(u64, u64, Vec<u8>)>, Malformed> {
        let mut p = Parser::new(boundary)?;
        let mut parts: Vec<(u64, u64, Vec<u8>)> = Vec::new();
        for chunk in input.chunks(step.max(1)) {
            p.push(Bytes::copy_from_slice(chunk));
            while let Some(ev) = p.next_event()? {
                match ev {
                    Event::Part { first, last, .. } => parts.push((first, last, Vec::new())),
                    Event::Data(d) => parts.last_mut().unwrap().2.extend_from_slice(&d),
                }
            }
        }
        p.finish()?;
        Ok(parts)
    }

    #[test]
    fn parts_come_out_whatever_the_chunking() {
        // The payload holds the boundary text and CRLFs: it is counted, never scanned.
        let a: &[u8] = b"\r\n--XYZ\r\n\r\n--XYZ--";
        let b: &[u8] = b"0123456789";
        let input = body("XYZ", &[(5, a), (100, b)], 1000);
        for step in 1..=input.len() {
            let parts = parse("XYZ", &input, step).unwrap();
            assert_eq!(
                parts,
                vec![(5, 4 + a.len() as u64, a.to_vec()), (100, 109, b.to_vec())],
                "step {step}"
            );
        }
    }

    #[test]
    fn a_body_may_open_with_the_boundary_and_pad_its_lines() {
        let input = b"--b \t\r\ncontent-range: bytes 0-2/3\r\n\r\nabc\r\n--b--";
        assert_eq!(parse("b", input, 3).unwrap(), vec![(0, 2, b"abc".to_vec())]);
        let input = b"ignored preamble\r\n--b\r\nContent-Range: bytes 0-0/*\r\n\r\nx\r\n--b--";
        assert_eq!(parse("b", input, 1).unwrap(), vec![(0, 0, b"x".to_vec())]);
    }

    #[test]
    fn truncated_or_overlong_parts_are_errors() {
        let good = body("B", &[(0, b"hello"), (10, b"world")], 20);
        for cut in 0..good.len() - 2 {
            // Every prefix that stops before the closing boundary is refused.
            let err = parse("B", &good[..cut], 1).unwrap_err();
            assert!(err.0.contains("ended"), "cut {cut}: {err}");
        }
        // The second part's payload is one byte longer than its Content-Range says.
        let long = String::from_utf8(good.clone())
            .unwrap()
            .replace("world", "worlds");
        let err = parse("B", long.as_bytes(), 4).unwrap_err();
        assert!(err.0.contains("longer than its Content-Range"), "{err}");
        // One byte shorter: the delimiter does not follow where it must.
        let short = String::from_utf8(good).unwrap().replace("world", "worl");
        assert!(parse("B", short.as_bytes(), 4).is_err());
    }

    #[test]
    fn bad_framing_is_refused() {
        let cases: &[(&[u8], &str)] = &[
            (b"--B\r\nContent-Type: x\r\n\r\nabc\r\n--B--", "exactly one Content-Range"),
            (
                b"--B\r\nContent-Range: bytes 0-1/5\r\nContent-Range: bytes 0-1/5\r\n\r\nab\r\n--B--",
                "exactly one Content-Range",
            ),
            (b"--B\r\nContent-Range: bytes 3-1/5\r\n\r\n", "not `bytes"),
            (b"--B\r\nContent-Range: bytes 0-9/5\r\n\r\n", "not `bytes"),
            (b"--B\r\nContent-Range: items 0-1/5\r\n\r\n", "not `bytes"),
            (b"--Bx\r\n", "no line break"),
            (b"--B\r\nno colon here\r\n\r\n", "headers"),
        ];
        for (input, want) in cases {
            let err = parse("B", input, 2).unwrap_err();
            assert!(
                err.0.contains(want),
                "{}: {err}",
                String::from_utf8_lossy(input)
            );
        }
        assert!(Parser::new("").is_err());
        assert!(Parser::new(&"b".repeat(71)).is_err());
    }

    #[test]
    fn framing_is_bounded() {
        let junk = vec![b'a'; 10_000];
        let err = parse("B", &junk, 100).unwrap_err();
        assert!(err.0.contains("preamble"), "{err}");
        let mut header = b"--B\r\nX-Pad: ".to_vec();
        header.extend_from_slice(&junk);
        let err = parse("B", &header, 1000).unwrap_err();
        assert!(err.0.contains("header block"), "{err}");
        let mut fields = b"--B\r\n".to_vec();
        for _ in 0..40 {
            fields.extend_from_slice(b"A: b\r\n");
        }
        fields.extend_from_slice(b"\r\n");
        assert!(parse("B", &fields, 7).is_err());
        let mut tail = body("B", &[(0, b"x")], 1);
        tail.extend_from_slice(&junk);
        let err = parse("B", &tail, 512).unwrap_err();
        assert!(err.0.contains("closing boundary"), "{err}");
    }

    #[test]
    fn content_range_values() {
        assert_eq!(parse_content_range("bytes 0-9/10"), Some((0, 9, Some(10))));
        assert_eq!(parse_content_range(" bytes 5-5/*"), Some((5, 5, None)));
        assert_eq!(parse_content_range("bytes 5-4/10"), None);
        assert_eq!(parse_content_range("bytes 0-10/10"), None);
        assert_eq!(parse_content_range("bytes */10"), None);
        assert_eq!(parse_content_range("bytes 0-18446744073709551616/*"), None);
    }
}
