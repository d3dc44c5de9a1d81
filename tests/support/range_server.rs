//! The test Range server: an HTTP/1.1 file server on loopback for URL inputs, that counts
//! the requests and body bytes it serves and logs the ranges asked, answering several
//! ranges as nginx does or, to test the fallbacks, as other servers do.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Path as UrlPath, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;

/// How the server answers a request for several ranges.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Multi {
    /// `multipart/byteranges`, a part per range, as nginx does.
    Parts,
    /// One range spanning all those asked.
    Coalesce,
    /// The first range asked only.
    FirstOnly,
    /// The whole file (`200`), as nginx does with `max_ranges 1`.
    Ignore,
    /// Parts, the second of which is one byte off what was asked (Content-Range and data).
    WrongRange,
    /// Parts, the last of which is cut short (its Content-Range left as asked).
    Truncated,
}

/// The ranges (first, last) of each ranged request, in order.
type RangeLog = Arc<Mutex<Vec<Vec<(u64, u64)>>>>;

#[derive(Clone)]
struct Files {
    files: Arc<HashMap<String, Arc<Vec<u8>>>>,
    ranges: bool,
    multi: Multi,
    /// After this many requests the file "changes" (new ETag), as if replaced upstream.
    change_after: Option<u64>,
    served: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
    log: RangeLog,
}

/// A running [`range_server`]; it serves until the test process ends.
pub struct RangeServer {
    port: u16,
    served: Arc<AtomicU64>,
    requests: Arc<AtomicU64>,
    log: RangeLog,
}

impl RangeServer {
    /// `http://127.0.0.1:PORT/<name>`
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }
    /// Forgets what was served so far.
    pub fn reset(&self) {
        self.served.store(0, Ordering::SeqCst);
        self.requests.store(0, Ordering::SeqCst);
        self.log.lock().unwrap().clear();
    }
    /// Requests answered (any path, ranged or not).
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::SeqCst)
    }
    /// Ranged requests made, and the ranges they asked for in all.
    pub fn ranged(&self) -> (usize, usize) {
        let log = self.log.lock().unwrap();
        (log.len(), log.iter().map(Vec::len).sum())
    }
    /// The ranges (first, last) of each ranged request, in order.
    pub fn ranges_asked(&self) -> Vec<Vec<(u64, u64)>> {
        self.log.lock().unwrap().clone()
    }
    /// Body bytes sent (payload only, not multipart framing).
    pub fn served(&self) -> u64 {
        self.served.load(Ordering::SeqCst)
    }
}

/// An HTTP/1.1 file server on 127.0.0.1 (keep-alive), with `Range: bytes=a-b,c-d,...`
/// support when `ranges` (several ranges answered `multipart/byteranges`), a strong `ETag`
/// honoured through `If-Range`, and a count of the body bytes it sends (payload only).
pub fn range_server(
    files: Vec<(String, Vec<u8>)>,
    ranges: bool,
    change_after: Option<u64>,
) -> RangeServer {
    range_server_with(files, ranges, change_after, Multi::Parts)
}

/// [`range_server`] answering several ranges as `multi` says.
pub fn range_server_with(
    files: Vec<(String, Vec<u8>)>,
    ranges: bool,
    change_after: Option<u64>,
    multi: Multi,
) -> RangeServer {
    let state = Files {
        files: Arc::new(files.into_iter().map(|(n, b)| (n, Arc::new(b))).collect()),
        ranges,
        multi,
        change_after,
        served: Arc::new(AtomicU64::new(0)),
        requests: Arc::new(AtomicU64::new(0)),
        log: Arc::new(Mutex::new(Vec::new())),
    };
    let served = state.served.clone();
    let requests = state.requests.clone();
    let log = state.log.clone();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new()
                .route("/{name}", axum::routing::get(serve_file))
                .with_state(state);
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(listener, app).await.unwrap();
        });
    });
    RangeServer {
        port,
        served,
        requests,
        log,
    }
}

async fn serve_file(
    State(st): State<Files>,
    UrlPath(name): UrlPath<String>,
    headers: HeaderMap,
) -> Response {
    let n = st.requests.fetch_add(1, Ordering::SeqCst) + 1;
    let Some(body) = st.files.get(&name).cloned() else {
        return Response::builder()
            .status(StatusCode::NOT_FOUND)
            .body(Body::from("not found"))
            .unwrap();
    };
    let version = if st.change_after.is_some_and(|after| n > after) {
        2
    } else {
        1
    };
    let etag = format!("\"v{version}\"");
    let len = body.len() as u64;
    let range_header = headers.get(header::RANGE).and_then(|v| v.to_str().ok());
    // nginx refuses header lines over 8 KiB; the client keeps `Range` under 4 KiB.
    if range_header.is_some_and(|v| v.len() > 4096) {
        return Response::builder()
            .status(StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE)
            .body(Body::empty())
            .unwrap();
    }
    let ranges: Option<Vec<(u64, u64)>> = range_header
        .and_then(|v| v.strip_prefix("bytes="))
        .and_then(|v| {
            v.split(',')
                .map(|spec| {
                    let (a, b) = spec.split_once('-')?;
                    let a: u64 = a.parse().ok()?;
                    let b: u64 = if b.is_empty() {
                        len - 1
                    } else {
                        b.parse().ok()?
                    };
                    Some((a, b.min(len - 1)))
                })
                .collect()
        });
    let if_range_ok = headers
        .get(header::IF_RANGE)
        .is_none_or(|v| v.to_str().ok() == Some(etag.as_str()));
    if st.ranges
        && if_range_ok
        && let Some(ranges) = ranges
    {
        st.log.lock().unwrap().push(ranges.clone());
        if ranges.iter().any(|&(a, b)| a > b || a >= len) {
            return Response::builder()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                .body(Body::empty())
                .unwrap();
        }
        let (a, b) = match (ranges.len(), st.multi) {
            (1, _) | (_, Multi::FirstOnly) => ranges[0],
            (_, Multi::Coalesce) => (ranges[0].0, ranges.last().unwrap().1),
            (_, Multi::Ignore) => return whole_file(&st, &body, &etag),
            (_, multi) => return multipart(&st, &body, &etag, &ranges, multi),
        };
        if a > b || a >= len {
            return Response::builder()
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{len}"))
                .body(Body::empty())
                .unwrap();
        }
        let part = body[a as usize..=b as usize].to_vec();
        st.served.fetch_add(part.len() as u64, Ordering::SeqCst);
        return Response::builder()
            .status(StatusCode::PARTIAL_CONTENT)
            .header(header::CONTENT_RANGE, format!("bytes {a}-{b}/{len}"))
            .header(header::ACCEPT_RANGES, "bytes")
            .header(header::ETAG, &etag)
            .body(Body::from(part))
            .unwrap();
    }
    whole_file(&st, &body, &etag)
}

fn whole_file(st: &Files, body: &[u8], etag: &str) -> Response {
    st.served.fetch_add(body.len() as u64, Ordering::SeqCst);
    let mut r = Response::builder()
        .status(StatusCode::OK)
        .header(header::ETAG, etag);
    if st.ranges {
        r = r.header(header::ACCEPT_RANGES, "bytes");
    }
    r.body(Body::from(body.to_vec())).unwrap()
}

/// A `multipart/byteranges` answer laid out as nginx writes it, sent in 1000-byte chunks
/// so that boundaries and part headers straddle chunks.
fn multipart(st: &Files, body: &[u8], etag: &str, ranges: &[(u64, u64)], multi: Multi) -> Response {
    const BOUNDARY: &str = "00000000000000000042";
    let len = body.len() as u64;
    let mut out = Vec::new();
    for (i, &(mut a, mut b)) in ranges.iter().enumerate() {
        if multi == Multi::WrongRange && i == 1 {
            (a, b) = (a + 1, (b + 1).min(len - 1));
        }
        out.extend_from_slice(
            format!(
                "\r\n--{BOUNDARY}\r\nContent-Type: video/mp4\r\n\
                 Content-Range: bytes {a}-{b}/{len}\r\n\r\n"
            )
            .as_bytes(),
        );
        let mut part = &body[a as usize..=b as usize];
        if multi == Multi::Truncated && i == ranges.len() - 1 {
            part = &part[..part.len() / 2];
        }
        st.served.fetch_add(part.len() as u64, Ordering::SeqCst);
        out.extend_from_slice(part);
    }
    out.extend_from_slice(format!("\r\n--{BOUNDARY}--\r\n").as_bytes());
    let chunks: Vec<Result<bytes::Bytes, std::io::Error>> = out
        .chunks(1000)
        .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
        .collect();
    Response::builder()
        .status(StatusCode::PARTIAL_CONTENT)
        .header(
            header::CONTENT_TYPE,
            format!("multipart/byteranges; boundary={BOUNDARY}"),
        )
        .header(header::ACCEPT_RANGES, "bytes")
        .header(header::ETAG, etag)
        .body(Body::from_stream(futures_util::stream::iter(chunks)))
        .unwrap()
}
