//! tus on S3 (and two nodes on PostgreSQL): the bytes go straight into a multipart upload,
//! terminating an upload aborts it, and two nodes take turns with one upload.

use super::{broken_patch, create, head, job_of, metadata, offset_of, patch, tus, wait_offset};
use crate::support::s3::TestS3;
use crate::support::*;
use reqwest::Method;
use serde_json::json;

/// The settings that keep a server's objects on the test run's S3 server, each run under its
/// own prefix, or `None` to skip (failing instead under CI).
fn s3_env() -> Option<Vec<(String, String)>> {
    let s3 = TestS3::from_env("tus on S3")?;
    let prefix = format!("tus-test-{}-{}/", std::process::id(), rand::random::<u32>());
    Some(s3.server_env(&prefix))
}

/// A WAV of about `seconds` of 48 kHz stereo noise: a real input larger than S3's 5 MiB
/// smallest part, so the upload spans whole parts and a tail.
fn big_wav(seconds: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 2,
        sample_rate: 48_000,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = std::io::Cursor::new(Vec::new());
    let mut w = hound::WavWriter::new(&mut out, spec).expect("wav writer");
    let mut x: u32 = 12345;
    for _ in 0..48_000 * seconds * 2 {
        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        w.write_sample(((x >> 16) as i16) / 4).expect("sample");
    }
    w.finalize().expect("finalize");
    out.into_inner()
}

/// Send `bytes` in PATCHes of `sizes` (cycled), through the servers in turn; a hang-up
/// after half of the second PATCH. Returns the final answer.
async fn upload_across(servers: &[&TestServer], up: &str, bytes: &[u8], sizes: &[usize]) -> Resp {
    let mut at = 0;
    let mut n = 0;
    loop {
        let srv = servers[n % servers.len()];
        let len = sizes[n % sizes.len()].min(bytes.len() - at);
        if n == 1 {
            broken_patch(srv, up, at, &bytes[at..at + len], len / 2).await;
            wait_offset(srv, up, at + len / 2).await;
            at += len / 2;
            n += 1;
            continue;
        }
        let r = patch(srv, up, at, &bytes[at..at + len]).await;
        r.expect_status(204);
        at += len;
        assert_eq!(offset_of(&r), at);
        if at == bytes.len() {
            return r;
        }
        n += 1;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_s3_the_bytes_go_into_a_multipart_upload() {
    let Some(env) = s3_env() else { return };
    let srv = TestServer::start(ServerConfig::new().envs(&env)).await;
    let wav = big_wav(70); // about 13 MiB: two whole parts and a last one
    let opts = json!({"output": {"format": "wav"}});
    let up = create(&srv, wav.len(), &metadata("noise.wav", &opts)).await;
    let r = upload_across(&[&srv], &up, &wav, &[3 << 20, 4 << 20, 1 << 20]).await;
    let id = job_of(&r);
    let job = srv.wait_status(&id, "succeeded").await;
    assert_eq!(job["source"]["size"], wav.len());
    // A WAV in, the same WAV out: the object S3 joined is the bytes sent, in order.
    let out = srv.get(&format!("/v1/jobs/{id}/output")).await.body;
    assert_eq!(sha256_hex(&out), sha256_hex(&wav));
    // Nothing of it on local disk.
    assert_eq!(
        dir_entries(&srv.data_dir().join("tus")),
        Vec::<String>::new()
    );
    // Terminating another one aborts its multipart upload; its tail goes too.
    let other = create(&srv, wav.len(), &metadata("b.wav", &opts)).await;
    patch(&srv, &other, 0, &wav[..(6 << 20)])
        .await
        .expect_status(204);
    send(tus(&srv, Method::DELETE, &other))
        .await
        .expect_status(204);
    head(&srv, &other).await.expect_status(410);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_nodes_on_one_store_take_turns_with_one_upload() {
    let Some(mut env) = s3_env() else { return };
    let Some(admin) = pg::admin_url("tus across two nodes") else {
        return;
    };
    let url = pg::fresh_database(&admin).await;
    env.push(("AUDIOTAP_DATABASE_URL".into(), url));
    let a = TestServer::start(
        ServerConfig::new()
            .envs(&env)
            .env("AUDIOTAP_NODE_ID", "node-a"),
    )
    .await;
    let b = TestServer::start(
        ServerConfig::new()
            .envs(&env)
            .env("AUDIOTAP_NODE_ID", "node-b"),
    )
    .await;
    let wav = big_wav(40);
    let opts = json!({"output": {"format": "wav"}});
    let up = create(&a, wav.len(), &metadata("two.wav", &opts)).await;
    let r = upload_across(&[&a, &b], &up, &wav, &[2 << 20, 3 << 20]).await;
    let id = job_of(&r);
    let job = b.wait_status(&id, "succeeded").await;
    let out = a.get(&format!("/v1/jobs/{id}/output")).await.body;
    assert_eq!(sha256_hex(&out), sha256_hex(&wav), "{job:#}");
}
