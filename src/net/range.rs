//! Remote sources read with HTTP Range requests: only the audio's bytes travel.
//!
//! For an MP4/MOV source on a server that answers ranges, [`fetch_source`] reads the box
//! headers on the way to `moov` (at the start, or found at the end), fetches `moov`, works
//! out where every audio track's chunks lie, and fetches just those byte ranges (neighbours
//! merged, large ranges split, several requests in flight). They are written at their own
//! offsets into a sparse local file of the source's size, so the demuxers read it as the
//! whole file: the video's bytes are holes that cost neither network nor disk.
//!
//! An interleaved file has tens of thousands of audio chunks, so each request asks for up
//! to [`MAX_RANGES_PER_REQUEST`] of them (`Range: bytes=a-b,c-d,...`, RFC 9110 §14) and the
//! `multipart/byteranges` answer is parsed as it streams, each part written at its offset as
//! it arrives and checked against what was asked. A server may instead answer with one
//! range (the first only, or all of them coalesced with the video between) or with the
//! whole file (`200`): what it sent of the ranges asked is kept, and the rest of the job
//! asks one range per request, which such servers do answer. The first multi-range request
//! goes alone, so that only one request is spent learning this.
//!
//! Anything else is read whole, streamed to the file (never held in memory): a server
//! without Range support, a container that is not MP4/MOV or that interleaves too finely to
//! gain (MKV, MPEG-TS, fragmented MP4), or a file whose audio is most of it. Every request
//! goes through the guarded client; every ranged answer must carry the expected
//! `Content-Range`, and `If-Range` makes a source that changes mid-transfer fail cleanly
//! instead of mixing two versions.

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use futures_util::{StreamExt, TryStreamExt};
use reqwest::header::{CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_RANGE, LAST_MODIFIED, RANGE};
use reqwest::{StatusCode, Url};
use tokio::fs::{File, OpenOptions};
use tokio::io::{AsyncSeekExt, AsyncWriteExt};

use super::byteranges::{Event, Malformed, Parser, parse_content_range};
use super::{NetError, UrlGuard};
use crate::media::isobmff::{self, MAX_MOOV_BYTES, MAX_TOP_LEVEL_BOXES};

/// The first request asks for this much: enough for `ftyp` and a small leading `moov`.
const HEAD_BYTES: u64 = 64 * 1024;
/// When the planned ranges cover more than this share of the file, read it whole.
const FULL_READ_SHARE: f64 = 0.75;
/// Gaps bridged to save requests may add at most this share to the audio's bytes.
const WASTE_SHARE: f64 = 0.1;
/// Default cap on the ranges asked in one request.
pub const MAX_RANGES_PER_REQUEST: usize = 200;
/// Longest `Range` header sent: servers cap a header line (nginx at 8 KiB by default), and
/// this leaves room for everything else.
const MAX_RANGE_HEADER: usize = 4000;

/// How a remote source is read.
#[derive(Debug, Clone)]
pub struct RangeOptions {
    /// Cap on the bytes fetched (and, for a whole read, on the source's size).
    pub max_bytes: u64,
    /// Use Range requests where they gain; `false` always reads the whole source.
    pub use_ranges: bool,
    /// Range requests in flight at once.
    pub concurrency: usize,
    /// Chunks closer than this are fetched in one request, gap included.
    pub merge_gap: u64,
    /// Longer ranges are split into requests of at most this size; a multi-range request
    /// asks for at most this many bytes in all.
    pub max_request: u64,
    /// Ranges asked in one request (`Range: bytes=a-b,c-d,...`, answered `multipart/
    /// byteranges`), within a `Range` header of at most 4000 bytes; 1 asks one at a time.
    pub max_ranges_per_request: usize,
}

impl RangeOptions {
    pub fn new(max_bytes: u64) -> Self {
        RangeOptions {
            max_bytes,
            use_ranges: true,
            concurrency: 8,
            merge_gap: 64 * 1024,
            max_request: 8 << 20,
            max_ranges_per_request: MAX_RANGES_PER_REQUEST,
        }
    }
}

/// How a remote source was read: bytes fetched against the source's size.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct FetchSummary {
    pub method: FetchMethod,
    /// Body bytes received from the source.
    pub bytes_fetched: u64,
    /// Size of the source, when the server stated it.
    pub source_size: Option<u64>,
    /// HTTP requests made.
    pub requests: u32,
}

/// `range`: only `moov` and the audio's chunks were fetched; `full`: the whole source.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum FetchMethod {
    Range,
    Full,
}

/// What a fetch produced.
#[derive(Debug, Clone)]
pub struct FetchOutcome {
    /// `requests` counts HTTP requests (a multi-range request is one); `bytes_fetched`
    /// counts payload: the bodies of plain answers and the parts' data of `multipart/
    /// byteranges` answers, not their framing (boundaries and part headers, about 100
    /// bytes a part).
    pub summary: FetchSummary,
    /// The first response's `Content-Type`, if any.
    pub content_type: Option<String>,
    /// The URL the bytes came from, after redirects.
    pub final_url: String,
}

/// Fetch `url` into `dest` (created or truncated): the audio's ranges of an MP4/MOV when the
/// server answers ranges, else the whole body. On error `dest` is removed.
///
/// `client` should come from [`crate::net::guarded_client`] with the same `guard`.
pub async fn fetch_source(
    client: &reqwest::Client,
    guard: &UrlGuard,
    url: &str,
    dest: &Path,
    opts: &RangeOptions,
) -> Result<FetchOutcome, NetError> {
    let parsed = Url::parse(url).map_err(|e| NetError::InvalidUrl(e.to_string()))?;
    guard.check_url(&parsed)?;
    let fetcher = Fetcher {
        client,
        url: parsed,
        validator: None,
        total: 0,
        opts,
        fetched: AtomicU64::new(0),
        requests: AtomicU32::new(0),
        multi: AtomicBool::new(opts.max_ranges_per_request > 1),
    };
    let result = fetcher.run(dest).await;
    if result.is_err() {
        let _ = std::fs::remove_file(dest);
    }
    result
}

struct Fetcher<'a> {
    client: &'a reqwest::Client,
    url: Url,
    /// Strong `ETag` or `Last-Modified` of the first answer, sent as `If-Range`.
    validator: Option<String>,
    /// Size of the source, from the first `Content-Range`.
    total: u64,
    opts: &'a RangeOptions,
    fetched: AtomicU64,
    requests: AtomicU32,
    /// Whether to ask several ranges per request; cleared for the rest of the job once the
    /// server shows it does not answer them as asked.
    multi: AtomicBool,
}

/// A parsed `Content-Range: bytes first-last/total`.
fn content_range(resp: &reqwest::Response) -> Option<(u64, u64, Option<u64>)> {
    let v = resp.headers().get(CONTENT_RANGE)?.to_str().ok()?;
    parse_content_range(v)
}

/// The boundary of a `multipart/byteranges` answer, `None` for any other `Content-Type`.
fn byteranges_boundary(resp: &reqwest::Response) -> Option<String> {
    let v = resp.headers().get(CONTENT_TYPE)?.to_str().ok()?;
    let m: mime::Mime = v.parse().ok()?;
    if m.type_() != mime::MULTIPART || m.subtype() != "byteranges" {
        return None;
    }
    m.get_param(mime::BOUNDARY).map(|b| b.as_str().to_owned())
}

impl Fetcher<'_> {
    async fn run(mut self, dest: &Path) -> Result<FetchOutcome, NetError> {
        if !self.opts.use_ranges {
            let resp = self.send(None).await?;
            return self.whole_body(resp, dest).await;
        }
        let resp = self.send(Some((0, HEAD_BYTES - 1))).await?;
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        // Later requests go straight to where the redirects led (checked by the guard).
        self.url = resp.url().clone();
        let final_url = self.url.to_string();
        let range = match resp.status() {
            StatusCode::PARTIAL_CONTENT => content_range(&resp),
            _ => None,
        };
        let Some((0, last, Some(total))) = range else {
            // No usable Range support (200, or a 206 without a size): this answer is the
            // whole file, or ask again for all of it.
            let resp = if resp.status() == StatusCode::OK {
                resp
            } else {
                drop(resp);
                self.send(None).await?
            };
            let mut out = self.whole_body(resp, dest).await?;
            out.content_type = content_type;
            return Ok(out);
        };
        self.total = total;
        self.validator = validator(&resp);
        let prefix = self.body_bytes(resp, last + 1).await?;

        let summary = match self.plan(&prefix).await? {
            Some(plan) => self.fetch_plan(dest, &prefix, plan).await?,
            None => self.rest_of_file(dest, &prefix).await?,
        };
        Ok(FetchOutcome {
            summary,
            content_type,
            final_url,
        })
    }

    async fn send(&self, range: Option<(u64, u64)>) -> Result<reqwest::Response, NetError> {
        self.send_ranges(range.map(|(a, b)| format!("bytes={a}-{b}")))
            .await
    }

    /// GET with this `Range` header value (and `If-Range`), if any; a non-2xx is an error.
    async fn send_ranges(&self, range: Option<String>) -> Result<reqwest::Response, NetError> {
        let mut req = self.client.get(self.url.clone());
        if let Some(range) = range {
            req = req.header(RANGE, range);
            if let Some(v) = &self.validator {
                req = req.header(IF_RANGE, v);
            }
        }
        self.requests.fetch_add(1, Ordering::Relaxed);
        let resp = req.send().await.map_err(NetError::from_reqwest)?;
        let status = resp.status();
        if !status.is_success() {
            return Err(NetError::SourceUnreachable {
                status: Some(status.as_u16()),
                message: format!("the source answered HTTP {status}"),
            });
        }
        Ok(resp)
    }

    /// GET `[start, start + len)` and check the answer is exactly that range of this file.
    async fn send_range(&self, start: u64, len: u64) -> Result<reqwest::Response, NetError> {
        let last = start + len - 1;
        let resp = self.send(Some((start, last))).await?;
        match (resp.status(), content_range(&resp)) {
            (StatusCode::PARTIAL_CONTENT, Some((a, b, Some(t))))
                if a == start && b == last && t == self.total =>
            {
                Ok(resp)
            }
            (status, _) => Err(NetError::unreachable(format!(
                "the source stopped answering the requested byte range (HTTP {status}); \
                 it may have changed during the transfer"
            ))),
        }
    }

    fn count(&self, n: usize) -> Result<(), NetError> {
        let total = self.fetched.fetch_add(n as u64, Ordering::Relaxed) + n as u64;
        if total > self.opts.max_bytes {
            return Err(too_large(self.opts.max_bytes));
        }
        Ok(())
    }

    /// The body of a ranged answer, which must be exactly `len` bytes.
    async fn body_bytes(&self, resp: reqwest::Response, len: u64) -> Result<Vec<u8>, NetError> {
        let mut out = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(NetError::from_reqwest)?;
            if out.len() as u64 + chunk.len() as u64 > len {
                return Err(NetError::unreachable(
                    "the source sent more than the range asked",
                ));
            }
            self.count(chunk.len())?;
            out.extend_from_slice(&chunk);
        }
        if out.len() as u64 != len {
            return Err(NetError::unreachable("the transfer ended early"));
        }
        Ok(out)
    }

    async fn fetch_bytes(&self, start: u64, len: u64) -> Result<Vec<u8>, NetError> {
        let resp = self.send_range(start, len).await?;
        self.body_bytes(resp, len).await
    }

    /// Stream a ranged answer into the file `dest` at `start`.
    async fn range_into(&self, dest: &Path, start: u64, len: u64) -> Result<(), NetError> {
        let resp = self.send_range(start, len).await?;
        self.body_into(resp, dest, start, len).await
    }

    /// Stream the body of `resp`, which must be exactly `len` bytes, into `dest` at `start`.
    async fn body_into(
        &self,
        resp: reqwest::Response,
        dest: &Path,
        start: u64,
        len: u64,
    ) -> Result<(), NetError> {
        let mut file = open_spool(dest).await?;
        file.seek(std::io::SeekFrom::Start(start))
            .await
            .map_err(write_err)?;
        let end = start + len;
        let mut pos = start;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(NetError::from_reqwest)?;
            if pos + chunk.len() as u64 > end {
                return Err(NetError::unreachable(
                    "the source sent more than the range asked",
                ));
            }
            self.count(chunk.len())?;
            file.write_all(&chunk).await.map_err(write_err)?;
            pos += chunk.len() as u64;
        }
        file.flush().await.map_err(write_err)?;
        if pos != end {
            return Err(NetError::unreachable("the transfer ended early"));
        }
        Ok(())
    }

    /// Fetch `batch` (sorted ranges, neither overlapping nor touching) into `dest`: in one
    /// multi-range request while the server answers them, else one range per request.
    async fn fetch_batch(&self, dest: &Path, batch: &[(u64, u64)]) -> Result<(), NetError> {
        if batch.len() == 1 || !self.multi.load(Ordering::Relaxed) {
            return self.each_range_into(dest, batch).await;
        }
        let mut asked = Asked::new(batch);
        let resp = match self.send_ranges(Some(range_header(batch))).await {
            Ok(resp) => resp,
            Err(e) if e.status() == Some(416) => return Err(changed(416)),
            Err(e) => return Err(e),
        };
        match resp.status() {
            StatusCode::PARTIAL_CONTENT => {}
            StatusCode::OK => {
                // The whole file. The server answered a single range before, so either it
                // does not answer several at once (nginx with `max_ranges 1`) or `If-Range`
                // failed because the source changed: the validator tells which. Reading on
                // would fetch the video too; one range per request keeps to the audio.
                if self.validator.is_some() && validator(&resp) != self.validator {
                    return Err(changed(200));
                }
                drop(resp);
                self.one_range_per_request("it answered a multi-range request with 200");
                return self.each_range_into(dest, batch).await;
            }
            status => return Err(changed(status.as_u16())),
        }
        if let Some(boundary) = byteranges_boundary(&resp) {
            self.parts_into(resp, &boundary, dest, &mut asked).await?;
        } else {
            // One range: all the ranges asked coalesced into one, or some of them only
            // (servers that honour just the first).
            let Some((first, last, Some(total))) = content_range(&resp) else {
                return Err(changed(206));
            };
            if total != self.total {
                return Err(changed(206));
            }
            asked.claim(first, last)?;
            self.body_into(resp, dest, first, last - first + 1).await?;
            let wasted = (last - first + 1).saturating_sub(asked.bytes());
            if !asked.missing().is_empty() || wasted as f64 > asked.bytes() as f64 * WASTE_SHARE {
                self.one_range_per_request("it answered a multi-range request with one range");
            }
        }
        let missing = asked.missing();
        if !missing.is_empty() {
            self.one_range_per_request("its answer to a multi-range request left ranges out");
            self.each_range_into(dest, &missing).await?;
        }
        Ok(())
    }

    async fn each_range_into(&self, dest: &Path, ranges: &[(u64, u64)]) -> Result<(), NetError> {
        for &(start, len) in ranges {
            self.range_into(dest, start, len).await?;
        }
        Ok(())
    }

    fn one_range_per_request(&self, why: &str) {
        if self.multi.swap(false, Ordering::Relaxed) {
            // Not the URL: its query may hold a signature.
            tracing::info!("the source: {why}; asking for one range per request from now on");
        }
    }

    /// Stream a `multipart/byteranges` answer into `dest`, each part written at its offset
    /// as it arrives; every part must be a range of `asked` not delivered before.
    async fn parts_into(
        &self,
        resp: reqwest::Response,
        boundary: &str,
        dest: &Path,
        asked: &mut Asked<'_>,
    ) -> Result<(), NetError> {
        let mut parser = Parser::new(boundary).map_err(malformed_err)?;
        let mut file = PartWriter::open(dest).await?;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            parser.push(chunk.map_err(NetError::from_reqwest)?);
            while let Some(event) = parser.next_event().map_err(malformed_err)? {
                match event {
                    Event::Part { first, last, total } => {
                        if total.is_some_and(|t| t != self.total) {
                            return Err(changed(206));
                        }
                        asked.claim(first, last)?;
                        file.seek(first);
                    }
                    Event::Data(data) => {
                        self.count(data.len())?;
                        file.write(data).await?;
                    }
                }
            }
        }
        parser.finish().map_err(malformed_err)?;
        file.flush().await
    }

    /// Walk the top-level boxes to `moov` and plan the audio's ranges. `None`: read whole.
    async fn plan(&self, prefix: &[u8]) -> Result<Option<Plan>, NetError> {
        let total = self.total;
        if !isobmff::parse_header(prefix).is_some_and(|h| isobmff::is_leading_box(&h.kind)) {
            return Ok(None);
        }
        let mut pieces: Vec<(u64, Vec<u8>)> = Vec::new();
        let mut moov: Option<(u64, Vec<u8>)> = None;
        let mut pos = 0u64;
        for _ in 0..MAX_TOP_LEVEL_BOXES {
            if pos >= total {
                break;
            }
            let want = (total - pos).min(16);
            let held = prefix.len() as u64;
            let header: Vec<u8> = if pos + want <= held {
                prefix[pos as usize..(pos + want) as usize].to_vec()
            } else {
                let h = self.fetch_bytes(pos, want).await?;
                pieces.push((pos, h.clone()));
                h
            };
            let Some(h) = isobmff::parse_header(&header) else {
                return Ok(None);
            };
            let size = h.size.unwrap_or(total - pos);
            if size > total - pos {
                return Ok(None); // truncated: let the demuxer say so
            }
            match &h.kind {
                b"moof" => return Ok(None), // fragmented: samples follow in fragments
                b"moov" if moov.is_none() => {
                    if size > MAX_MOOV_BYTES {
                        return Ok(None);
                    }
                    let bytes = if pos + size <= held {
                        prefix[pos as usize..(pos + size) as usize].to_vec()
                    } else {
                        self.fetch_bytes(pos, size).await?
                    };
                    moov = Some((pos, bytes));
                }
                _ => {}
            }
            pos += size;
        }
        let Some((moov_at, moov_bytes)) = moov else {
            return Ok(None);
        };
        let header_len = isobmff::parse_header(&moov_bytes).map_or(8, |h| h.header_len as usize);
        let body = &moov_bytes[header_len.min(moov_bytes.len())..];
        if isobmff::is_fragmented(body) {
            return Ok(None);
        }
        let Ok(chunks) = isobmff::audio_chunk_ranges(body) else {
            return Ok(None); // damaged tables: the demuxer gives the precise error
        };
        if chunks
            .iter()
            .any(|&(off, len)| off.checked_add(len).is_none_or(|end| end > total))
        {
            return Ok(None);
        }
        let ranges = merge_ranges(
            &chunks,
            prefix.len() as u64,
            self.opts.merge_gap,
            self.opts.max_request,
        );
        let planned: u64 = ranges.iter().map(|r| r.1).sum();
        let already = self.fetched.load(Ordering::Relaxed);
        if (already + planned) as f64 > total as f64 * FULL_READ_SHARE {
            return Ok(None);
        }
        pieces.push((moov_at, moov_bytes));
        Ok(Some(Plan { pieces, ranges }))
    }

    /// Write what is already here, then fetch the planned ranges into a sparse file.
    async fn fetch_plan(
        &self,
        dest: &Path,
        prefix: &[u8],
        plan: Plan,
    ) -> Result<FetchSummary, NetError> {
        let mut file = create(dest).await?;
        file.set_len(self.total).await.map_err(write_err)?;
        file.write_all(prefix).await.map_err(write_err)?;
        for (at, bytes) in &plan.pieces {
            file.seek(std::io::SeekFrom::Start(*at))
                .await
                .map_err(write_err)?;
            file.write_all(bytes).await.map_err(write_err)?;
        }
        file.flush().await.map_err(write_err)?;
        drop(file);
        let batches = batch_ranges(
            &plan.ranges,
            self.opts.max_ranges_per_request,
            self.opts.max_request,
        );
        let mut batches = batches.into_iter().peekable();
        // The first multi-range request goes alone: its answer tells whether the server
        // answers several ranges at once before the others are sent (a server that does not
        // would otherwise answer each of the first wave with the whole file or a hull).
        if let Some(first) = batches.next_if(|b| b.len() > 1) {
            self.fetch_batch(dest, first).await?;
        }
        let requests: Vec<_> = batches.map(|batch| self.fetch_batch(dest, batch)).collect();
        futures_util::stream::iter(requests)
            .buffer_unordered(self.opts.concurrency.max(1))
            .try_collect::<()>()
            .await?;
        // A small file may have come whole with the first request.
        let method = if self.fetched.load(Ordering::Relaxed) >= self.total {
            FetchMethod::Full
        } else {
            FetchMethod::Range
        };
        Ok(self.summary(method))
    }

    /// Continue a file whose first bytes are `prefix` with the rest of the source.
    async fn rest_of_file(&self, dest: &Path, prefix: &[u8]) -> Result<FetchSummary, NetError> {
        if self.total > self.opts.max_bytes {
            return Err(too_large(self.opts.max_bytes));
        }
        let mut file = create(dest).await?;
        file.write_all(prefix).await.map_err(write_err)?;
        file.flush().await.map_err(write_err)?;
        drop(file);
        let held = prefix.len() as u64;
        if held < self.total {
            self.range_into(dest, held, self.total - held).await?;
        }
        Ok(self.summary(FetchMethod::Full))
    }

    /// Stream a whole-file answer into `dest`.
    async fn whole_body(
        &self,
        resp: reqwest::Response,
        dest: &Path,
    ) -> Result<FetchOutcome, NetError> {
        if let Some(declared) = resp.content_length()
            && declared > self.opts.max_bytes
        {
            return Err(too_large(self.opts.max_bytes));
        }
        let content_type = resp
            .headers()
            .get(CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let final_url = resp.url().to_string();
        let mut file = create(dest).await?;
        let mut pos = 0u64;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(NetError::from_reqwest)?;
            self.count(chunk.len())?;
            file.write_all(&chunk).await.map_err(write_err)?;
            pos += chunk.len() as u64;
        }
        file.flush().await.map_err(write_err)?;
        let mut summary = self.summary(FetchMethod::Full);
        summary.source_size = Some(pos);
        Ok(FetchOutcome {
            summary,
            content_type,
            final_url,
        })
    }

    fn summary(&self, method: FetchMethod) -> FetchSummary {
        FetchSummary {
            method,
            bytes_fetched: self.fetched.load(Ordering::Relaxed),
            source_size: Some(self.total),
            requests: self.requests.load(Ordering::Relaxed),
        }
    }
}

/// What to fetch for a ranged read.
struct Plan {
    /// Bytes already fetched on the way (box headers, `moov`) and where they go.
    pieces: Vec<(u64, Vec<u8>)>,
    /// (offset, length) of the requests to make.
    ranges: Vec<(u64, u64)>,
}

/// Sorted chunk ranges → requests: parts below `held` dropped (already fetched), the
/// smallest gaps between neighbours bridged (each at most `gap` bytes, all together at most
/// [`WASTE_SHARE`] of the data, so the bytes fetched stay near the audio's own), anything
/// longer than `max_request` split.
fn merge_ranges(chunks: &[(u64, u64)], held: u64, gap: u64, max_request: u64) -> Vec<(u64, u64)> {
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
fn batch_ranges(ranges: &[(u64, u64)], max_parts: usize, max_bytes: u64) -> Vec<&[(u64, u64)]> {
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
fn range_header(ranges: &[(u64, u64)]) -> String {
    let specs: Vec<String> = ranges.iter().map(|&(a, len)| range_spec(a, len)).collect();
    format!("bytes={}", specs.join(","))
}

/// The ranges of one multi-range request, and which of them the answer delivered.
struct Asked<'a> {
    /// (offset, length), sorted, neither overlapping nor touching.
    ranges: &'a [(u64, u64)],
    got: Vec<bool>,
}

impl<'a> Asked<'a> {
    fn new(ranges: &'a [(u64, u64)]) -> Self {
        Asked {
            ranges,
            got: vec![false; ranges.len()],
        }
    }

    /// Take the answer's range `first..=last`: it must be one range asked, or a run of
    /// consecutive ones with the gaps between (a server may coalesce them, RFC 9110
    /// §14.2), none of them delivered before.
    fn claim(&mut self, first: u64, last: u64) -> Result<(), NetError> {
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

    fn missing(&self) -> Vec<(u64, u64)> {
        (self.ranges.iter().zip(&self.got))
            .filter(|(_, got)| !**got)
            .map(|(r, _)| *r)
            .collect()
    }

    fn bytes(&self) -> u64 {
        self.ranges.iter().map(|r| r.1).sum()
    }
}

/// The answer to a ranged request no longer fits the file first seen.
fn changed(status: u16) -> NetError {
    NetError::SourceUnreachable {
        status: Some(status),
        message: format!(
            "the source stopped answering the requested byte ranges (HTTP {status}); \
             it may have changed during the transfer"
        ),
    }
}

fn malformed_err(e: Malformed) -> NetError {
    NetError::unreachable(e.to_string())
}

/// `If-Range` needs a strong validator: a non-weak `ETag`, else `Last-Modified`.
fn validator(resp: &reqwest::Response) -> Option<String> {
    let h = resp.headers();
    if let Some(etag) = h.get(ETAG).and_then(|v| v.to_str().ok())
        && !etag.starts_with("W/")
    {
        return Some(etag.to_owned());
    }
    h.get(LAST_MODIFIED)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Bytes gathered before [`PartWriter`] writes them.
const WRITE_BATCH: usize = 256 * 1024;

/// Writes the parts of one answer into the spool file, gathered and made in batches on the
/// blocking pool: a part is a few hundred bytes (an audio chunk), and a thread hop per seek
/// and per write, as `tokio::fs` makes them, cost more than the transfer itself. Holds at
/// most [`WRITE_BATCH`] bytes (slices of the chunks received) plus one chunk.
struct PartWriter {
    file: std::sync::Arc<std::fs::File>,
    /// (offset, bytes) not yet written.
    pending: Vec<(u64, bytes::Bytes)>,
    pending_bytes: usize,
    /// Where the next bytes go.
    at: u64,
}

impl PartWriter {
    async fn open(dest: &Path) -> Result<Self, NetError> {
        let file = open_spool(dest).await?.into_std().await;
        Ok(PartWriter {
            file: std::sync::Arc::new(file),
            pending: Vec::new(),
            pending_bytes: 0,
            at: 0,
        })
    }

    fn seek(&mut self, at: u64) {
        self.at = at;
    }

    async fn write(&mut self, data: bytes::Bytes) -> Result<(), NetError> {
        let n = data.len();
        self.pending.push((self.at, data));
        self.at += n as u64;
        self.pending_bytes += n;
        if self.pending_bytes >= WRITE_BATCH {
            self.flush().await?;
        }
        Ok(())
    }

    async fn flush(&mut self) -> Result<(), NetError> {
        use std::os::unix::fs::FileExt;
        if self.pending.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.pending);
        self.pending_bytes = 0;
        let file = std::sync::Arc::clone(&self.file);
        tokio::task::spawn_blocking(move || {
            batch
                .iter()
                .try_for_each(|(at, data)| file.write_all_at(data, *at))
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r)
        .map_err(write_err)
    }
}

/// A handle of its own on the spool file, so that requests in flight write side by side.
async fn open_spool(dest: &Path) -> Result<File, NetError> {
    OpenOptions::new()
        .write(true)
        .open(dest)
        .await
        .map_err(write_err)
}

async fn create(dest: &Path) -> Result<File, NetError> {
    File::create(dest)
        .await
        .map_err(|e| NetError::io("cannot create the spool file", e))
}

fn write_err(e: std::io::Error) -> NetError {
    NetError::io("cannot write the spool file", e)
}

fn too_large(max_bytes: u64) -> NetError {
    NetError::SourceTooLarge(format!(
        "the source is larger than the limit of {max_bytes} bytes"
    ))
}

#[cfg(test)]
mod tests {
    use super::{Asked, MAX_RANGE_HEADER, batch_ranges, merge_ranges, range_header};

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
