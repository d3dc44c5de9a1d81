//! Remote sources read with HTTP Range requests: [`fetch_source`] fetches a URL into a local
//! spool file, only the byte ranges a [`Planner`] asks for where the server answers ranges.
//!
//! # Design
//!
//! The fetcher reads the file's head, then hands what it read to the planner it is given
//! (for an MP4/MOV, `media::mp4::AudioRanges`: box headers on the way to `moov`, then
//! `moov`, then where every audio track's chunks lie), reading what the planner asks on the
//! way. It fetches just the ranges planned (neighbours merged, large ranges split, several
//! requests in flight; the arithmetic is in `plan`) and writes them at their own offsets
//! into a sparse local file of the source's size (`spool`), so the demuxers read it as
//! the whole file: the video's bytes are holes that cost neither network nor disk.
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
//! without Range support, a file the planner does not plan (not MP4/MOV, or interleaved too
//! finely to gain: MKV, MPEG-TS, fragmented MP4), or a file whose planned ranges are most of
//! it. Every request goes through the guarded client; every ranged answer must carry the
//! expected `Content-Range`, and `If-Range` makes a source that changes mid-transfer fail
//! cleanly instead of mixing two versions.
//!
//! This file is the fetcher's HTTP protocol, about 600 lines: the head, the plan loop,
//! ranged and multi-range answers and their fallbacks all drive one `Fetcher`'s state
//! (the validator, the byte count against the cap, whether several ranges per request
//! still work), so they stay together; its pure arithmetic is in `plan`, its file I/O in
//! `spool`.

mod plan;
mod spool;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};

use futures_util::{StreamExt, TryStreamExt};
use reqwest::header::{CONTENT_RANGE, CONTENT_TYPE, ETAG, IF_RANGE, LAST_MODIFIED, RANGE};
use reqwest::{StatusCode, Url};
use tokio::io::{AsyncWrite, AsyncWriteExt};

use super::byteranges::{Event, Malformed, Parser, parse_content_range};
use super::{NetError, UrlGuard};
use crate::sparse::{Known, Planner, Step};
use plan::{Asked, WASTE_SHARE, batch_ranges, merge_ranges, range_header};
use spool::{PartWriter, create, create_sparse, open_at, write_err};

/// The first request asks for this much: enough for `ftyp` and a small leading `moov`.
const HEAD_BYTES: u64 = 64 * 1024;
/// When the planned ranges cover more than this share of the file, read it whole.
const FULL_READ_SHARE: f64 = 0.75;
/// Default cap on the ranges asked in one request.
pub const MAX_RANGES_PER_REQUEST: usize = 200;
/// Reads a planner may ask for before the source is read whole instead: bounds a planner
/// that never settles (the MP4 planner stops after 4096 top-level boxes).
const MAX_PLAN_READS: usize = 8192;

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

/// Fetch `url` into `dest` (created or truncated): the ranges `planner` plans when the
/// server answers ranges (for an MP4/MOV, its `moov` and audio), else the whole body. On
/// error `dest` is removed.
///
/// `client` should come from [`crate::net::guarded_client`] with the same `guard`. Refused
/// with `source_too_large` once more than `opts.max_bytes` would be fetched (or a whole
/// source declares more); a non-2xx answer or a network failure is `source_unreachable`.
pub async fn fetch_source(
    client: &reqwest::Client,
    guard: &UrlGuard,
    url: &str,
    dest: &Path,
    opts: &RangeOptions,
    planner: &mut dyn Planner,
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
    let result = fetcher.run(dest, planner).await;
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
    async fn run(
        mut self,
        dest: &Path,
        planner: &mut dyn Planner,
    ) -> Result<FetchOutcome, NetError> {
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
        let head = self.body_bytes(resp, last + 1).await?;
        let mut pieces = vec![(0, head)];
        let summary = match self.plan_ranges(planner, &mut pieces).await? {
            Some(ranges) => self.fetch_plan(dest, &pieces, &ranges).await?,
            None => self.rest_of_file(dest, &pieces[0].1).await?,
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

    /// Stream the body of `resp` into `sink`, every chunk counted against the fetch cap.
    /// With `len`, the body must be exactly that long (the answer to a range asked).
    /// Returns the bytes received.
    async fn stream_body(
        &self,
        resp: reqwest::Response,
        sink: &mut (impl AsyncWrite + Unpin),
        len: Option<u64>,
    ) -> Result<u64, NetError> {
        let mut got = 0u64;
        let mut body = resp.bytes_stream();
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(NetError::from_reqwest)?;
            if len.is_some_and(|len| got + chunk.len() as u64 > len) {
                return Err(NetError::unreachable(
                    "the source sent more than the range asked",
                ));
            }
            self.count(chunk.len())?;
            sink.write_all(&chunk).await.map_err(write_err)?;
            got += chunk.len() as u64;
        }
        sink.flush().await.map_err(write_err)?;
        if len.is_some_and(|len| got != len) {
            return Err(NetError::unreachable("the transfer ended early"));
        }
        Ok(got)
    }

    /// The body of a ranged answer, which must be exactly `len` bytes.
    async fn body_bytes(&self, resp: reqwest::Response, len: u64) -> Result<Vec<u8>, NetError> {
        // The capacity is a hint: the length is the server's word until the bytes come.
        let mut out = Vec::with_capacity(usize::try_from(len.min(1 << 20)).unwrap_or(0));
        self.stream_body(resp, &mut out, Some(len)).await?;
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
        let mut file = open_at(dest, start).await?;
        self.stream_body(resp, &mut file, Some(len)).await?;
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

    /// Ask `planner` which ranges to fetch beyond `pieces` (the head of the file), reading
    /// into `pieces` what it asks for on the way. `None`: read the whole file.
    async fn plan_ranges(
        &self,
        planner: &mut dyn Planner,
        pieces: &mut Vec<(u64, Vec<u8>)>,
    ) -> Result<Option<Vec<(u64, u64)>>, NetError> {
        let total = self.total;
        let within = |at: u64, len: u64| at.checked_add(len).is_some_and(|end| end <= total);
        for _ in 0..MAX_PLAN_READS {
            match planner.next(&Known::new(total, pieces)) {
                Step::Read { at, len } if len > 0 && within(at, len) => {
                    let bytes = self.fetch_bytes(at, len).await?;
                    let i = pieces.partition_point(|p| p.0 <= at);
                    pieces.insert(i, (at, bytes));
                }
                // A read outside the file is no plan to follow.
                Step::Read { .. } | Step::Whole => return Ok(None),
                Step::Ranges(mut chunks) => {
                    if !chunks.iter().all(|&(at, len)| within(at, len)) {
                        return Ok(None);
                    }
                    chunks.sort_unstable();
                    let held = pieces[0].1.len() as u64;
                    let ranges =
                        merge_ranges(&chunks, held, self.opts.merge_gap, self.opts.max_request);
                    let planned: u64 = ranges.iter().map(|r| r.1).sum();
                    let already = self.fetched.load(Ordering::Relaxed);
                    if (already + planned) as f64 > total as f64 * FULL_READ_SHARE {
                        return Ok(None);
                    }
                    return Ok(Some(ranges));
                }
            }
        }
        Ok(None)
    }

    /// Write what is already here, then fetch the planned ranges into a sparse file.
    async fn fetch_plan(
        &self,
        dest: &Path,
        pieces: &[(u64, Vec<u8>)],
        ranges: &[(u64, u64)],
    ) -> Result<FetchSummary, NetError> {
        let pieces: Vec<(u64, &[u8])> = pieces.iter().map(|(at, b)| (*at, b.as_slice())).collect();
        create_sparse(dest, self.total, &pieces).await?;
        let batches = batch_ranges(
            ranges,
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

    /// Continue a file whose first bytes are `head` with the rest of the source.
    async fn rest_of_file(&self, dest: &Path, head: &[u8]) -> Result<FetchSummary, NetError> {
        if self.total > self.opts.max_bytes {
            return Err(too_large(self.opts.max_bytes));
        }
        let held = head.len() as u64;
        create_sparse(dest, held, &[(0, head)]).await?;
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
        let received = self.stream_body(resp, &mut file, None).await?;
        let mut summary = self.summary(FetchMethod::Full);
        summary.source_size = Some(received);
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

fn too_large(max_bytes: u64) -> NetError {
    NetError::SourceTooLarge(format!(
        "the source is larger than the limit of {max_bytes} bytes"
    ))
}
