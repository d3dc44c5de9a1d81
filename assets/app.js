// audiotap's page: upload a video (tus, resumable) or give its URL, follow the job's
// events, then listen to and download each output. Plain JavaScript, no framework, no
// build step; it only talks to this server's API.
"use strict";

const PRESETS = {
  speech: { output: { format: "wav", sample_rate: 16000, channels: 1 } },
  wav: { output: { format: "wav" } },
  wav24: { output: { format: "wav", bit_depth: 24 } },
  m4a: { output: { format: "m4a" } },
};
// Bytes per PATCH. A broken PATCH keeps what arrived, so this only bounds one request.
const CHUNK = 50 * 1024 * 1024;
// Waits before each retry of a failed request; reset once bytes move again.
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000];
const KEY_STORE = "audiotap.key";

const $ = (id) => document.getElementById(id);
const keysRequired = document.body.dataset.keys === "required";

// ---------------------------------------------------------------------------------------
// The API key (only when the server has keys)

function apiKey() {
  return sessionStorage.getItem(KEY_STORE) || "";
}

function authHeaders(extra) {
  const h = Object.assign({}, extra || {});
  const key = apiKey();
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

/// A problem+json answer as one line for people.
async function problemText(res) {
  try {
    const p = await res.json();
    return (p.detail || p.title || "HTTP " + res.status) + (p.code ? " (" + p.code + ")" : "");
  } catch (_) {
    return "HTTP " + res.status;
  }
}

class ApiError extends Error {
  constructor(message, status, fatal) {
    super(message);
    this.status = status;
    this.fatal = fatal;
  }
}

async function api(path, init) {
  const opts = Object.assign({}, init || {});
  opts.headers = authHeaders(opts.headers);
  const res = await fetch(path, opts);
  if (res.status === 401) {
    showKeyForm("The server refused the request: " + (await problemText(res)));
    throw new ApiError("an API key is needed", 401, true);
  }
  return res;
}

function showKeyForm(message) {
  $("key-section").hidden = false;
  if (message) $("key-hint").textContent = message;
}

// ---------------------------------------------------------------------------------------
// tus 1.0 upload: POST to create, PATCH to send, HEAD to find where to resume

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function b64(text) {
  return btoa(String.fromCharCode(...new TextEncoder().encode(text)));
}

function fingerprint(file, options) {
  return ["audiotap.tus", file.name, file.size, file.lastModified, options].join("|");
}

/// One PATCH with the bytes of `blob` at `offset`; resolves to the answer's headers.
function patch(url, blob, offset, onProgress) {
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PATCH", url);
    const headers = authHeaders({
      "Tus-Resumable": "1.0.0",
      "Upload-Offset": String(offset),
      "Content-Type": "application/offset+octet-stream",
    });
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => onProgress(offset + e.loaded);
    xhr.onload = () => {
      if (xhr.status === 204) {
        resolve({
          offset: Number(xhr.getResponseHeader("Upload-Offset")),
          job: xhr.getResponseHeader("Location") || xhr.getResponseHeader("Audiotap-Job-Location"),
        });
        return;
      }
      let message = "HTTP " + xhr.status;
      try {
        const p = JSON.parse(xhr.responseText);
        message = (p.detail || message) + (p.code ? " (" + p.code + ")" : "");
      } catch (_) { /* not a problem document */ }
      // Worth a retry: server trouble, a busy upload, a stale offset. Not: the request itself.
      const retry = xhr.status >= 500 || xhr.status === 409 || xhr.status === 423;
      reject(new ApiError(message, xhr.status, !retry));
    };
    xhr.onerror = () => reject(new ApiError("the connection broke", 0, false));
    xhr.send(blob);
  });
}

async function head(url) {
  const res = await api(url, { method: "HEAD", headers: { "Tus-Resumable": "1.0.0" } });
  if (!res.ok) throw new ApiError("HTTP " + res.status + " on HEAD " + url, res.status, res.status < 500);
  return {
    offset: Number(res.headers.get("Upload-Offset")),
    job: res.headers.get("Audiotap-Job-Location"),
  };
}

async function create(file, options) {
  const meta = "filename " + b64(file.name) + ",options " + b64(options);
  const res = await api("/v1/uploads", {
    method: "POST",
    headers: { "Tus-Resumable": "1.0.0", "Upload-Length": String(file.size), "Upload-Metadata": meta },
  });
  if (res.status !== 201) throw new ApiError(await problemText(res), res.status, true);
  return res.headers.get("Location");
}

/// Upload `file` with the job options `options` (JSON text); resolves to the job's URL.
async function upload(file, options, onProgress) {
  const key = fingerprint(file, options);
  let url = localStorage.getItem(key);
  let at = null;
  if (url) {
    try {
      at = await head(url);
    } catch (_) {
      url = null; // expired, terminated or someone else's: start a new one
    }
  }
  if (!url) {
    url = await create(file, options);
    localStorage.setItem(key, url);
    at = { offset: 0, job: null };
  }
  let failures = 0;
  while (!at.job) {
    if (at.offset >= file.size) {
      at = await head(url);
      if (!at.job) throw new ApiError("the upload is complete but made no job", 0, true);
      break;
    }
    onProgress(at.offset);
    try {
      const end = Math.min(file.size, at.offset + CHUNK);
      at = await patch(url, file.slice(at.offset, end), at.offset, onProgress);
      failures = 0;
    } catch (e) {
      if (e.fatal || failures >= RETRY_DELAYS.length) {
        localStorage.removeItem(key);
        throw e;
      }
      await sleep(RETRY_DELAYS[failures++]);
      // Where the server got to: the bytes that did arrive are kept.
      try {
        at = await head(url);
      } catch (h) {
        if (h.fatal) throw h;
        at = { offset: at.offset, job: null };
      }
    }
  }
  localStorage.removeItem(key);
  onProgress(file.size);
  return at.job;
}

// ---------------------------------------------------------------------------------------
// The job's events (Server-Sent Events over fetch, so the API key can be sent)

async function follow(jobId, onEvent) {
  let lastId = null;
  let failures = 0;
  for (;;) {
    const headers = lastId ? { "Last-Event-ID": lastId } : {};
    let res;
    try {
      res = await api("/v1/jobs/" + jobId + "/events", { headers });
    } catch (e) {
      if (e.fatal || failures >= RETRY_DELAYS.length) throw e;
      await sleep(RETRY_DELAYS[failures++] || 1000);
      continue;
    }
    if (res.status === 204) return;
    if (!res.ok) throw new ApiError(await problemText(res), res.status, true);
    const reader = res.body.getReader();
    const decoder = new TextDecoder();
    let buffer = "";
    let ended = false;
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true });
        let cut;
        while ((cut = buffer.search(/\r?\n\r?\n/)) >= 0) {
          const block = buffer.slice(0, cut);
          buffer = buffer.slice(cut).replace(/^\r?\n\r?\n/, "");
          const ev = { event: "message", data: [], id: null };
          for (const line of block.split(/\r?\n/)) {
            if (!line || line.startsWith(":")) continue;
            const i = line.indexOf(":");
            const field = i < 0 ? line : line.slice(0, i);
            const value = i < 0 ? "" : line.slice(i + 1).replace(/^ /, "");
            if (field === "event") ev.event = value;
            else if (field === "data") ev.data.push(value);
            else if (field === "id") ev.id = value;
          }
          if (ev.id !== null) lastId = ev.id;
          if (!ev.data.length) continue;
          onEvent(ev.event, JSON.parse(ev.data.join("\n")));
          if (ev.event === "end") ended = true;
        }
        failures = 0;
      }
    } catch (_) {
      // The stream broke: reconnect below with Last-Event-ID.
    }
    if (ended) return;
    await sleep(RETRY_DELAYS[Math.min(failures++, RETRY_DELAYS.length - 1)] || 1000);
  }
}

// ---------------------------------------------------------------------------------------
// Showing a job

function setStatus(text) {
  $("status").textContent = text;
}

function showError(text) {
  const el = $("error");
  el.textContent = text;
  el.hidden = !text;
}

function renderStep(step) {
  let li = $("steps").querySelector('[data-step="' + step.name + '"]');
  if (!li) {
    li = document.createElement("li");
    li.dataset.step = step.name;
    $("steps").appendChild(li);
  }
  li.dataset.status = step.status;
  li.textContent = step.name + ": " + step.status;
}

function outputsOf(job) {
  if (Array.isArray(job.outputs)) return job.outputs;
  return job.output ? [Object.assign({ name: "output", kind: "audio" }, job.output)] : [];
}

/// A URL the page can use for an output: direct without keys, a blob with one (media
/// elements cannot send an Authorization header).
async function mediaUrl(url) {
  if (!apiKey()) return url;
  const res = await api(url);
  if (!res.ok) throw new ApiError(await problemText(res), res.status, true);
  return URL.createObjectURL(await res.blob());
}

function describe(out) {
  const facts = [];
  if (out.format || out.codec) facts.push(out.codec || out.format);
  if (out.sample_rate) facts.push(out.sample_rate + " Hz");
  if (out.channels) facts.push(out.channels + (out.channels === 1 ? " channel" : " channels"));
  if (out.bit_depth) facts.push(out.bit_depth + "-bit");
  if (typeof out.duration === "number") facts.push(out.duration.toFixed(2) + " s");
  if (typeof out.size === "number") facts.push((out.size / 1024).toFixed(1) + " KiB");
  if (out.copied) facts.push("copied untouched");
  return facts.join(" · ");
}

/// Draw a waveform output (BBC audiowaveform JSON, version 2: min/max pairs per point,
/// channels interleaved) onto a canvas.
function drawWaveform(canvas, wf) {
  const channels = wf.channels || 1;
  const scale = wf.bits === 16 ? 32768 : 128;
  const points = Math.floor(wf.data.length / (2 * channels));
  const w = (canvas.width = canvas.clientWidth * (window.devicePixelRatio || 1));
  const h = (canvas.height = canvas.clientHeight * (window.devicePixelRatio || 1));
  const g = canvas.getContext("2d");
  g.clearRect(0, 0, w, h);
  g.fillStyle = "#0b63ce";
  const band = h / channels;
  for (let c = 0; c < channels; c++) {
    const mid = band * c + band / 2;
    for (let x = 0; x < w; x++) {
      const p = Math.min(points - 1, Math.floor((x / w) * points));
      const i = 2 * (p * channels + c);
      const lo = wf.data[i] / scale, hi = wf.data[i + 1] / scale;
      g.fillRect(x, mid - hi * (band / 2), 1, Math.max(1, (hi - lo) * (band / 2)));
    }
  }
}

async function renderOutput(jobId, out, index) {
  const box = document.createElement("div");
  box.className = "output";
  box.dataset.kind = out.kind || "audio";
  const title = document.createElement("h3");
  title.textContent = out.name || "output " + (index + 1);
  box.appendChild(title);
  const facts = document.createElement("p");
  facts.className = "facts";
  facts.textContent = describe(out);
  box.appendChild(facts);
  $("outputs").appendChild(box);
  const url = out.url || "/v1/jobs/" + jobId + "/output";
  if (out.kind === "waveform") {
    const canvas = document.createElement("canvas");
    canvas.setAttribute("role", "img");
    canvas.setAttribute("aria-label", "Waveform of " + (out.name || "the audio"));
    box.appendChild(canvas);
    const res = await api(url);
    if (res.ok && (res.headers.get("Content-Type") || "").includes("json")) drawWaveform(canvas, await res.json());
    return;
  }
  if (out.kind === "analysis") {
    const pre = document.createElement("pre");
    const res = await api(url);
    pre.textContent = res.ok ? JSON.stringify(await res.json(), null, 2) : await problemText(res);
    box.appendChild(pre);
    return;
  }
  const src = await mediaUrl(url);
  const audio = document.createElement("audio");
  audio.controls = true;
  audio.preload = "metadata";
  audio.src = src;
  audio.setAttribute("aria-label", "Listen to " + (out.name || "the audio"));
  box.appendChild(audio);
  const a = document.createElement("a");
  a.className = "download";
  a.href = src;
  const ext = (out.key || "").split(".").pop() || (out.format || "audio");
  a.download = jobId + "." + ext;
  a.textContent = "Download " + (out.name || "the audio") + " (" + ext + ")";
  box.appendChild(a);
}

let shown = null; // the job the "current" section follows

async function show(jobId) {
  shown = jobId;
  const section = $("current");
  section.hidden = false;
  section.dataset.state = "queued";
  section.dataset.job = jobId;
  $("job-id").textContent = jobId.slice(0, 8);
  $("steps").textContent = "";
  $("outputs").textContent = "";
  $("job-progress").value = 0;
  showError("");
  setStatus("Waiting for the job…");
  const rendered = new Set();
  await follow(jobId, async (name, data) => {
    if (shown !== jobId) return;
    if (name === "status") {
      section.dataset.state = data.status;
      setStatus("Job " + data.status + (data.attempts > 1 ? " (attempt " + data.attempts + ")" : ""));
    } else if (name === "step") {
      renderStep(data);
    } else if (name === "progress") {
      $("job-progress").value = data.progress;
    } else if (name === "end") {
      section.dataset.state = data.status;
      if (data.error) {
        showError(data.error.message + " (" + data.error.code + ")");
        setStatus("Job " + data.status);
      } else {
        setStatus("Job " + data.status);
      }
      const outs = outputsOf(data);
      for (let i = 0; i < outs.length; i++) {
        const key = outs[i].name || String(i);
        if (rendered.has(key)) continue;
        rendered.add(key);
        try {
          await renderOutput(jobId, outs[i], i);
        } catch (e) {
          showError(e.message);
        }
      }
      section.dataset.done = "true";
      refreshJobs();
    }
  });
}

// ---------------------------------------------------------------------------------------
// The form

function optionsText() {
  const text = $("options").value.trim() || "{}";
  let parsed;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new ApiError("The options are not valid JSON: " + e.message, 0, true);
  }
  if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
    throw new ApiError("The options must be a JSON object", 0, true);
  }
  if ("source" in parsed) throw new ApiError("Leave source out of the options", 0, true);
  return { text: JSON.stringify(parsed), value: parsed };
}

function applyPreset() {
  const p = PRESETS[$("preset").value];
  if (p) $("options").value = JSON.stringify(p, null, 2);
}

async function submit(ev) {
  ev.preventDefault();
  const start = $("start");
  const file = $("file").files[0];
  const url = $("url").value.trim();
  showError("");
  if (!file && !url) {
    $("current").hidden = false;
    showError("Choose a file or give a URL.");
    return;
  }
  start.disabled = true;
  try {
    const opts = optionsText();
    let jobUrl;
    $("current").hidden = false;
    $("current").dataset.state = "uploading";
    delete $("current").dataset.done;
    $("steps").textContent = "";
    $("outputs").textContent = "";
    if (file) {
      $("upload-block").hidden = false;
      setStatus("Uploading " + file.name + "…");
      const total = file.size;
      const bar = $("upload-progress");
      jobUrl = await upload(file, opts.text, (sent) => {
        bar.value = total ? sent / total : 1;
        $("upload-text").textContent = Math.floor((100 * sent) / Math.max(1, total)) + " %";
      });
    } else {
      $("upload-block").hidden = true;
      const body = Object.assign({}, opts.value, { source: { url } });
      const res = await api("/v1/jobs", {
        method: "POST",
        headers: { "Content-Type": "application/json" },
        body: JSON.stringify(body),
      });
      if (!res.ok) throw new ApiError(await problemText(res), res.status, true);
      jobUrl = res.headers.get("Location");
    }
    const jobId = jobUrl.split("/").pop();
    refreshJobs();
    await show(jobId);
  } catch (e) {
    $("current").dataset.state = "error";
    setStatus("");
    showError(e.message);
  } finally {
    start.disabled = false;
  }
}

// ---------------------------------------------------------------------------------------
// Recent jobs

async function refreshJobs() {
  const list = $("jobs");
  let res;
  try {
    res = await api("/v1/jobs?limit=10");
  } catch (_) {
    list.textContent = "";
    return;
  }
  if (!res.ok) return;
  const page = await res.json();
  list.textContent = "";
  for (const job of page.jobs) {
    const li = document.createElement("li");
    const b = document.createElement("button");
    b.type = "button";
    const what = job.source.filename || job.source.url || "upload";
    b.textContent = job.id.slice(0, 8) + " · " + job.status + " · " + what;
    b.addEventListener("click", () => show(job.id));
    li.appendChild(b);
    list.appendChild(li);
  }
  if (!page.jobs.length) list.textContent = "No jobs yet.";
}

// ---------------------------------------------------------------------------------------
// Wiring

function init() {
  if (keysRequired) {
    $("key-section").hidden = false;
    $("api-key").value = apiKey();
  }
  $("key-form").addEventListener("submit", (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY_STORE, $("api-key").value.trim());
    $("key-hint").textContent = "Key set for this tab.";
    refreshJobs();
  });
  $("key-forget").addEventListener("click", () => {
    sessionStorage.removeItem(KEY_STORE);
    $("api-key").value = "";
    $("key-hint").textContent = "Key forgotten.";
  });
  $("preset").addEventListener("change", applyPreset);
  $("options").addEventListener("input", () => {
    $("preset").value = "custom";
  });
  applyPreset();
  $("file").addEventListener("change", () => {
    const f = $("file").files[0];
    $("file-name").textContent = f ? f.name + " (" + f.size + " bytes)" : "";
    if (f) $("url").value = "";
  });
  const drop = $("drop");
  drop.addEventListener("dragover", (e) => {
    e.preventDefault();
    drop.classList.add("over");
  });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    if (e.dataTransfer.files.length) {
      $("file").files = e.dataTransfer.files;
      $("file").dispatchEvent(new Event("change"));
    }
  });
  $("job-form").addEventListener("submit", submit);
  $("refresh").addEventListener("click", refreshJobs);
  refreshJobs();
}

init();
