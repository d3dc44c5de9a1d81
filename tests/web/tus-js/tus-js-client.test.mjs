// tus conformance with tus-js-client (npm) in Node: uploading, pausing and resuming, and
// terminating, against the real `audiotap serve` on a loopback port. Run by
// scripts/web-test.sh with `node --test`; TUS_NODE_DIR names where npm installed the client.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");
const require = createRequire(path.join(process.env.TUS_NODE_DIR || root, "package.json"));
const tus = require("tus-js-client");
const bin = process.env.AUDIOTAP_BIN ||
  path.join(process.env.CARGO_TARGET_DIR || path.join(root, "target"), "debug", "audiotap");
const src = path.join(root, "fixtures", "media", "mp4_aac_long.mp4");
const data = fs.readFileSync(src);
const options = { output: { format: "wav", sample_rate: 16000, channels: 1 } };

let server;
let base;
let dataDir;

before(async () => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "audiotap-tusjs-"));
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith("AUDIOTAP_")));
  Object.assign(env, { AUDIOTAP_LISTEN: "127.0.0.1:0", AUDIOTAP_DATA_DIR: dataDir, AUDIOTAP_WORKERS: "2" });
  server = spawn(bin, ["serve"], { env, stdio: ["ignore", "ignore", "pipe"] });
  base = await new Promise((resolve, reject) => {
    let log = "";
    const timer = setTimeout(() => reject(new Error("no listening line:\n" + log)), 30000);
    server.stderr.on("data", (chunk) => {
      log += chunk;
      const m = /audiotap: listening on (http:\/\/\S+)\r?\n/.exec(log);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
  });
});

after(() => {
  server.kill("SIGTERM");
  fs.rmSync(dataDir, { recursive: true, force: true });
});

function newUpload(handlers) {
  return new tus.Upload(data, {
    endpoint: base + "/v1/uploads",
    chunkSize: 16 * 1024,
    retryDelays: [0, 200, 500],
    metadata: { filename: path.basename(src), options: JSON.stringify(options) },
    uploadSize: data.length,
    ...handlers,
  });
}

async function head(url) {
  const res = await fetch(url, { method: "HEAD", headers: { "Tus-Resumable": "1.0.0" } });
  return { status: res.status, offset: Number(res.headers.get("Upload-Offset")), job: res.headers.get("Audiotap-Job-Location") };
}

async function waitJob(location) {
  for (let i = 0; i < 300; i++) {
    const job = await (await fetch(base + location)).json();
    if (["succeeded", "failed", "canceled"].includes(job.status)) return job;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error("the job did not end");
}

function cliSha256() {
  const out = path.join(dataDir, "cli.wav");
  execFileSync(bin, ["extract", src, "-o", out, "--sample-rate", "16000", "--channels", "1"], { stdio: "ignore" });
  return createHash("sha256").update(fs.readFileSync(out)).digest("hex");
}

test("tus-js-client uploads and the job runs", async () => {
  const response = await new Promise((resolve, reject) => {
    newUpload({ onSuccess: (p) => resolve(p.lastResponse), onError: reject }).start();
  });
  const location = response.getHeader("Location");
  assert.match(location, /^\/v1\/jobs\//);
  const job = await waitJob(location);
  assert.equal(job.status, "succeeded", JSON.stringify(job.error));
  assert.equal(job.source.filename, path.basename(src));
  assert.equal(job.output.sha256, cliSha256());
});

test("tus-js-client pauses and resumes without starting over", async () => {
  let upload;
  let paused = false;
  let resumedFrom = null;
  const done = new Promise((resolve, reject) => {
    upload = newUpload({
      onProgress: (sent) => {
        if (!paused && sent > data.length / 3) {
          paused = true;
          upload.abort().then(() => resolve("paused"), reject);
        } else if (paused && resumedFrom === null) {
          resumedFrom = sent;
        }
      },
      onError: reject,
    });
    upload.start();
  });
  assert.equal(await done, "paused");
  const atPause = await head(upload.url);
  assert.equal(atPause.status, 200);
  assert.ok(atPause.offset > 0 && atPause.offset < data.length, JSON.stringify(atPause));
  const response = await new Promise((resolve, reject) => {
    upload.options.onSuccess = (p) => resolve(p.lastResponse);
    upload.options.onError = reject;
    upload.start();
  });
  // The resumed upload went on from the server's offset, not from the start.
  assert.ok(resumedFrom >= atPause.offset, `resumed at ${resumedFrom}, server had ${atPause.offset}`);
  const job = await waitJob(response.getHeader("Location"));
  assert.equal(job.status, "succeeded", JSON.stringify(job.error));
  assert.equal(job.output.sha256, cliSha256());
});

test("tus-js-client terminates an upload", async () => {
  const jobsBefore = (await (await fetch(base + "/v1/jobs")).json()).jobs.length;
  let upload;
  const stopped = new Promise((resolve, reject) => {
    let once = false;
    upload = newUpload({
      onProgress: (sent) => {
        if (!once && sent > 20000) {
          once = true;
          upload.abort(true).then(resolve, reject);
        }
      },
      onError: reject,
    });
    upload.start();
  });
  await stopped;
  assert.equal((await head(upload.url)).status, 410);
  assert.deepEqual(fs.readdirSync(path.join(dataDir, "tus")), []);
  // A PATCH after termination is refused, and no job came of it.
  const res = await fetch(upload.url, {
    method: "PATCH",
    headers: { "Tus-Resumable": "1.0.0", "Upload-Offset": "0", "Content-Type": "application/offset+octet-stream" },
    body: data.subarray(0, 10),
  });
  assert.equal(res.status, 410);
  assert.equal((await (await fetch(base + "/v1/jobs")).json()).jobs.length, jobsBefore);
});
