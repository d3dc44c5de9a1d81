//! HTTP answers as the tests read them: [`Resp`], a fully read response that refuses any
//! 500, RFC 9457 problem checks, and hand-built multipart/form-data bodies.

use serde_json::Value;

/// A fully read response.
pub struct Resp {
    pub what: String,
    pub status: u16,
    pub headers: reqwest::header::HeaderMap,
    pub body: Vec<u8>,
}

/// Send and read the whole body. No test expects a 500: one fails the test right here.
pub async fn send(rb: reqwest::RequestBuilder) -> Resp {
    let (client, req) = rb.build_split();
    let req = req.expect("build request");
    let what = format!("{} {}", req.method(), req.url());
    let resp = client
        .execute(req)
        .await
        .unwrap_or_else(|e| panic!("{what}: request failed: {e:?}"));
    let status = resp.status().as_u16();
    let headers = resp.headers().clone();
    let body = resp
        .bytes()
        .await
        .unwrap_or_else(|e| panic!("{what}: reading the body failed: {e:?}"))
        .to_vec();
    let r = Resp {
        what,
        status,
        headers,
        body,
    };
    assert!(r.status != 500, "{}: answered 500: {}", r.what, r.text());
    r
}

impl Resp {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body[..self.body.len().min(4000)]).into_owned()
    }

    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("{}: body is not JSON ({e}): {}", self.what, self.text()))
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).map(|v| {
            v.to_str()
                .unwrap_or_else(|_| panic!("{}: header {name} is not ASCII", self.what))
                .to_string()
        })
    }

    pub fn content_type(&self) -> String {
        self.header("content-type").unwrap_or_default()
    }

    #[track_caller]
    pub fn expect_status(&self, status: u16) -> &Self {
        assert_eq!(
            self.status,
            status,
            "{}: status {} (expected {status}); body: {}",
            self.what,
            self.status,
            self.text()
        );
        self
    }

    /// Assert an RFC 9457 problem with this status (and code, when given); returns it.
    #[track_caller]
    pub fn expect_problem(&self, status: u16, code: Option<&str>) -> Value {
        self.expect_status(status);
        let p = check_problem(self);
        if let Some(code) = code {
            assert_eq!(
                p["code"], code,
                "{}: problem code {} (expected {code}): {p}",
                self.what, p["code"]
            );
        }
        p
    }

    /// Assert a problem with one of these codes.
    #[track_caller]
    pub fn expect_problem_any(&self, status: u16, codes: &[&str]) -> Value {
        let p = self.expect_problem(status, None);
        let code = p["code"].as_str().unwrap_or_default();
        assert!(
            codes.contains(&code),
            "{}: problem code {code:?} is not one of {codes:?}: {p}",
            self.what
        );
        p
    }
}

/// Every error answer is `application/problem+json` with `code`, `status`, `title`, `type`.
#[track_caller]
pub fn check_problem(r: &Resp) -> Value {
    let ct = r.content_type();
    assert!(
        ct.split(';')
            .next()
            .unwrap_or("")
            .trim()
            .eq_ignore_ascii_case("application/problem+json"),
        "{}: error answered with Content-Type {ct:?}, expected application/problem+json; body: {}",
        r.what,
        r.text()
    );
    let p = r.json();
    let code = p["code"].as_str().map(str::parse::<audiotap::ErrorCode>);
    assert!(
        code.is_some_and(|c| c.is_ok_and(|c| c.http_status() == r.status)),
        "{}: problem code not in the registry (src/error_code.rs), or with another status: {p}",
        r.what
    );
    assert_eq!(
        p["status"].as_u64(),
        Some(u64::from(r.status)),
        "{}: problem status differs from the HTTP status: {p}",
        r.what
    );
    assert!(
        p["title"].is_string() && p["type"].is_string(),
        "{}: problem without title/type: {p}",
        r.what
    );
    p
}

// ---------------------------------------------------------------------------------------
// Multipart (reqwest is built without its multipart feature)
// ---------------------------------------------------------------------------------------

pub struct Part {
    pub name: String,
    pub filename: Option<String>,
    pub content_type: Option<String>,
    pub data: Vec<u8>,
}

impl Part {
    pub fn file(name: &str, filename: &str, content_type: &str, data: Vec<u8>) -> Part {
        Part {
            name: name.into(),
            filename: Some(filename.into()),
            content_type: Some(content_type.into()),
            data,
        }
    }
    pub fn text(name: &str, content_type: &str, text: &str) -> Part {
        Part {
            name: name.into(),
            filename: None,
            content_type: Some(content_type.into()),
            data: text.as_bytes().to_vec(),
        }
    }
}

/// `(Content-Type header, body)` of a multipart/form-data request.
pub fn multipart(parts: &[Part]) -> (String, Vec<u8>) {
    let (content_type, body, _) = multipart_with_offsets(parts);
    (content_type, body)
}

/// [`multipart`], and where each part's data begins in the body.
pub fn multipart_with_offsets(parts: &[Part]) -> (String, Vec<u8>, Vec<usize>) {
    let boundary = format!("----audiotap-test-{:016x}", rand::random::<u64>());
    let mut body = Vec::new();
    let mut offsets = Vec::with_capacity(parts.len());
    for p in parts {
        body.extend_from_slice(format!("--{boundary}\r\n").as_bytes());
        let mut disp = format!("Content-Disposition: form-data; name=\"{}\"", p.name);
        if let Some(f) = &p.filename {
            disp.push_str(&format!("; filename=\"{f}\""));
        }
        body.extend_from_slice(disp.as_bytes());
        body.extend_from_slice(b"\r\n");
        if let Some(ct) = &p.content_type {
            body.extend_from_slice(format!("Content-Type: {ct}\r\n").as_bytes());
        }
        body.extend_from_slice(b"\r\n");
        offsets.push(body.len());
        body.extend_from_slice(&p.data);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (
        format!("multipart/form-data; boundary={boundary}"),
        body,
        offsets,
    )
}
