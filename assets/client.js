// audiotap's API from the page: the API key, problem+json errors, a tus 1.0 upload client
// (POST to create, PATCH to send, HEAD to find where to resume) and the job's event stream
// (Server-Sent Events read over fetch, so the API key can be sent). No UI here.

// Bytes per PATCH. A broken PATCH keeps what arrived, so this only bounds one request.
const CHUNK = 50 * 1024 * 1024;
// Waits before each retry of a failed request; reset once bytes move again.
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000];
const KEY_STORE = "audiotap.key";

// ---------------------------------------------------------------------------------------
// The API key (only when the server has keys), kept in the tab's session storage

export function apiKey() {
  return sessionStorage.getItem(KEY_STORE) || "";
}

export function setApiKey(key) {
  if (key) sessionStorage.setItem(KEY_STORE, key);
  else sessionStorage.removeItem(KEY_STORE);
}

// Called with the server's message when it refuses a request for want of a key.
let onUnauthorized = () => {};
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

function authHeaders(extra) {
  const h = Object.assign({}, extra || {});
  const key = apiKey();
  if (key) h["Authorization"] = "Bearer " + key;
  return h;
}

/// A problem+json answer as one line for people.
export async function problemText(res) {
  try {
    const p = await res.json();
    return (p.detail || p.title || "HTTP " + res.status) + (p.code ? " (" + p.code + ")" : "");
  } catch (_) {
    return "HTTP " + res.status;
  }
}

export class ApiError extends Error {
  constructor(message, status, fatal) {
    super(message);
    this.status = status;
    this.fatal = fatal;
  }
}

export async function api(path, init) {
  const opts = Object.assign({}, init || {});
  opts.headers = authHeaders(opts.headers);
  const res = await fetch(path, opts);
  if (res.status === 401) {
    onUnauthorized("The server refused the request: " + (await problemText(res)));
    throw new ApiError("an API key is needed", 401, true);
  }
  return res;
}

// ---------------------------------------------------------------------------------------
// tus 1.0 upload: POST to create, PATCH to send, HEAD to find where to resume

export function sleep(ms) {
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
export async function upload(file, options, onProgress) {
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

export async function follow(jobId, onEvent) {
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
