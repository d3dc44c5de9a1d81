// audiotap's page: upload a video (tus, resumable) or give its URL, follow the job's
// events, then listen to and download each output. Plain JavaScript modules, no framework,
// no build step; it only talks to this server's API (through client.js).
import { ApiError, api, apiKey, follow, problemText, setApiKey, upload, whenUnauthorized } from "/assets/client.js";

const PRESETS = {
  speech: { output: { format: "wav", sample_rate: 16000, channels: 1 } },
  wav: { output: { format: "wav" } },
  wav24: { output: { format: "wav", bit_depth: 24 } },
  m4a: { output: { format: "m4a" } },
};

const $ = (id) => document.getElementById(id);
const keysRequired = document.body.dataset.keys === "required";

function showKeyForm(message) {
  $("key-section").hidden = false;
  if (message) $("key-hint").textContent = message;
}

whenUnauthorized(showKeyForm);

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
    setApiKey($("api-key").value.trim());
    $("key-hint").textContent = "Key set for this tab.";
    refreshJobs();
  });
  $("key-forget").addEventListener("click", () => {
    setApiKey("");
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
