//! URL input: a tiny local HTTP server serves the fixtures; the output equals the one of
//! the same file read locally, and unreachable sources fail with `source_unreachable`.

use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};

use super::{file_output, s};
use crate::support::*;

struct Server {
    port: u16,
    requests: Arc<Mutex<Vec<String>>>,
}

/// A tiny HTTP/1.1 server on 127.0.0.1: GET/HEAD `/<name>` serves the fixture with
/// Content-Length (and honours single `Range: bytes=a-b` requests with 206), anything
/// else is a 404. One response per connection.
fn serve(files: Vec<(String, Vec<u8>)>) -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let requests = Arc::new(Mutex::new(Vec::new()));
    let log = requests.clone();
    let files = Arc::new(files);
    std::thread::spawn(move || {
        for conn in listener.incoming() {
            let Ok(conn) = conn else { continue };
            let files = files.clone();
            let log = log.clone();
            std::thread::spawn(move || {
                let _ = handle(conn, &files, &log);
            });
        }
    });
    Server { port, requests }
}

fn handle(
    conn: TcpStream,
    files: &[(String, Vec<u8>)],
    log: &Mutex<Vec<String>>,
) -> std::io::Result<()> {
    let mut reader = BufReader::new(conn.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut range = None;
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h)? == 0 || h.trim().is_empty() {
            break;
        }
        let lower = h.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("range:") {
            range = Some(v.trim().to_string());
        }
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    log.lock()
        .unwrap()
        .push(format!("{method} {path} range={range:?}"));
    let mut w = conn;
    let body = files
        .iter()
        .find(|(n, _)| path == format!("/{n}"))
        .map(|(_, b)| b);
    let Some(body) = body else {
        let msg = b"not found";
        write!(
            w,
            "HTTP/1.1 404 Not Found\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            msg.len()
        )?;
        if method != "HEAD" {
            w.write_all(msg)?;
        }
        return w.flush();
    };
    let len = body.len();
    let span = range.as_deref().and_then(|r| {
        let r = r.strip_prefix("bytes=")?;
        let (a, b) = r.split_once('-')?;
        let (a, b): (usize, usize) = if a.is_empty() {
            let n: usize = b.parse().ok()?;
            (len.saturating_sub(n), len - 1)
        } else {
            let a: usize = a.parse().ok()?;
            let b = if b.is_empty() {
                len - 1
            } else {
                b.parse::<usize>().ok()?.min(len - 1)
            };
            (a, b)
        };
        (a <= b && a < len).then_some((a, b))
    });
    let (status, slice, extra) = match span {
        Some((a, b)) => (
            "206 Partial Content",
            &body[a..=b],
            format!("Content-Range: bytes {a}-{b}/{len}\r\n"),
        ),
        None => ("200 OK", &body[..], String::new()),
    };
    write!(
        w,
        "HTTP/1.1 {status}\r\nContent-Type: application/octet-stream\r\nAccept-Ranges: bytes\r\n{extra}Content-Length: {}\r\nConnection: close\r\n\r\n",
        slice.len()
    )?;
    if method != "HEAD" {
        w.write_all(slice)?;
    }
    w.flush()
}

fn url_run(args: &[&str]) -> Run {
    let mut cmd = std::process::Command::new(bin());
    cmd.args(args);
    cmd.env_remove("RUST_LOG");
    // In case the CLI applies the service's private-address guard: allow loopback.
    cmd.env("AUDIOTAP_URL_ALLOWLIST", "127.0.0.1");
    run_cmd(cmd, None, DEFAULT_TIMEOUT)
}

#[test]
fn url_input_matches_file_input() {
    let names = ["mp4_aac.mp4", "mkv_aac.mkv"];
    let server = serve(
        names
            .iter()
            .map(|n| (n.to_string(), std::fs::read(&fixture(n).path).unwrap()))
            .collect(),
    );
    for name in names {
        let dir = tmpdir();
        let out = dir.path().join("o.wav");
        let url = format!("http://127.0.0.1:{}/{name}", server.port);
        let r = url_run(&["extract", &url, "-o", &s(&out), "--json"]);
        assert!(
            r.success(),
            "{name} over HTTP: {}\nrequests: {:?}",
            r.describe(),
            server.requests.lock().unwrap()
        );
        assert_eq!(r.json()["input"], url.as_str());
        let a = read_wav(&out).unwrap();
        let b = file_output(fixture(name));
        assert!(
            a.raw == b.raw,
            "{name}: URL output differs from file output"
        );
    }
    let p = url_run(&[
        "probe",
        &format!("http://127.0.0.1:{}/mp4_aac.mp4", server.port),
        "--json",
    ]);
    assert!(p.success(), "{}", p.describe());
    assert_eq!(p.json()["container"], "mp4");
    println!("requests: {:#?}", server.requests.lock().unwrap());
}

#[test]
fn url_404_is_source_unreachable() {
    let server = serve(vec![]);
    let dir = tmpdir();
    let out = dir.path().join("o.wav");
    let url = format!("http://127.0.0.1:{}/missing.mp4", server.port);
    let r = url_run(&["extract", &url, "-o", &s(&out)]);
    r.assert_error(1, Some("source_unreachable"));
    assert_eq!(dir_entries(dir.path()), Vec::<String>::new());
}

#[test]
fn url_connection_refused_is_source_unreachable() {
    let port = closed_port();
    let dir = tmpdir();
    let out = dir.path().join("o.wav");
    let r = url_run(&[
        "extract",
        &format!("http://127.0.0.1:{port}/a.mp4"),
        "-o",
        &s(&out),
    ]);
    r.assert_error(1, Some("source_unreachable"));
    assert_eq!(dir_entries(dir.path()), Vec::<String>::new());
}
