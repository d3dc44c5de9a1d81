"""Harness for the page and tus client tests: the real `audiotap serve` on a loopback
port, headless Chromium (Debian's, through /usr/bin/chromedriver), a loopback file server
and a proxy that cuts a connection mid-request. Run by scripts/web-test.sh; nothing here
contacts an address outside 127.0.0.1."""

import http.server
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MEDIA = ROOT / "fixtures" / "media"
BAD = ROOT / "fixtures" / "bad"
API_KEY = "page-test-key-0123456789abcdef"


def binary():
    if os.environ.get("AUDIOTAP_BIN"):
        return Path(os.environ["AUDIOTAP_BIN"])
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    return target / "debug" / "audiotap"


class Server:
    """One `audiotap serve` with its own data dir; stopped by `stop()`."""

    def __init__(self, env=None):
        self.data = tempfile.mkdtemp(prefix="audiotap-web-")
        full = {k: v for k, v in os.environ.items() if not k.startswith("AUDIOTAP_") and not k.lower().endswith("_proxy")}
        full.update({
            "AUDIOTAP_LISTEN": "127.0.0.1:0",
            "AUDIOTAP_DATA_DIR": self.data,
            "AUDIOTAP_WORKERS": "2",
            "AUDIOTAP_LOG": "audiotap=info",
            # The URL test's file server is on loopback.
            "AUDIOTAP_URL_ALLOWLIST": "127.0.0.1",
        })
        full.update(env or {})
        self.log = []
        self.proc = subprocess.Popen([str(binary()), "serve"], env=full, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        found = threading.Event()
        self.base = None

        def drain():
            for line in self.proc.stderr:
                self.log.append(line.rstrip())
                m = re.search(r"audiotap: listening on (http://\S+)", line)
                if m and not found.is_set():
                    self.base = m.group(1).rstrip("/")
                    found.set()

        threading.Thread(target=drain, daemon=True).start()
        if not found.wait(30):
            self.stop()
            raise RuntimeError("audiotap serve did not start:\n" + "\n".join(self.log))

    @property
    def port(self):
        return int(self.base.rsplit(":", 1)[1])

    def url(self, path=""):
        return self.base + path

    def request(self, method, path, body=None, headers=None, key=None):
        """(status, headers, body bytes) of one request, errors included."""
        h = dict(headers or {})
        if key:
            h["Authorization"] = "Bearer " + key
        req = urllib.request.Request(self.url(path), data=body, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                return r.status, r.headers, r.read()
        except urllib.error.HTTPError as e:
            return e.code, e.headers, e.read()

    def job(self, job_id, key=None):
        status, _, body = self.request("GET", "/v1/jobs/" + job_id, key=key)
        assert status == 200, body
        return json.loads(body)

    def wait_job(self, job_id, key=None, timeout=60):
        deadline = time.time() + timeout
        while time.time() < deadline:
            job = self.job(job_id, key)
            if job["status"] in ("succeeded", "failed", "canceled"):
                return job
            time.sleep(0.2)
        raise AssertionError("job %s did not end: %s" % (job_id, job))

    def output(self, job_id, key=None):
        status, _, body = self.request("GET", "/v1/jobs/%s/output" % job_id, key=key)
        assert status == 200, body
        return body

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.data, ignore_errors=True)


@pytest.fixture
def start_server():
    servers = []

    def start(env=None):
        s = Server(env)
        servers.append(s)
        return s

    yield start
    for s in servers:
        s.stop()


@pytest.fixture
def server(start_server):
    return start_server()


def cli_extract(src, args, suffix=".wav"):
    """The CLI's output for the same options (the reference the page's download must equal)."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / ("out" + suffix)
        subprocess.run([str(binary()), "extract", str(src), "-o", str(out), *args], check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return out.read_bytes()


@pytest.fixture(scope="session")
def big_video(tmp_path_factory):
    """A video of about 1 MB (40 s of tone, tiny picture), made with the ffmpeg CLI: big
    enough that a connection can be cut well inside one request."""
    out = tmp_path_factory.mktemp("media") / "tone40.mp4"
    subprocess.run([
        "ffmpeg", "-v", "error", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000:duration=40",
        "-f", "lavfi", "-i", "color=c=gray:size=64x64:rate=5:duration=40",
        "-c:a", "aac", "-b:a", "192k", "-c:v", "libx264", "-preset", "ultrafast", "-shortest", str(out),
    ], check=True)
    return out


# ---------------------------------------------------------------------------------------
# Chromium

@pytest.fixture
def browser(tmp_path):
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    downloads = tmp_path / "downloads"
    downloads.mkdir()
    opts = webdriver.ChromeOptions()
    opts.binary_location = os.environ.get("CHROMIUM", "/usr/bin/chromium")
    for a in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
              "--window-size=1100,1500", "--autoplay-policy=no-user-gesture-required",
              "--no-proxy-server", "--disable-features=HttpsUpgrades"):
        opts.add_argument(a)
    opts.add_experimental_option("prefs", {
        "download.default_directory": str(downloads),
        "download.prompt_for_download": False,
    })
    service = Service(os.environ.get("CHROMEDRIVER", "/usr/bin/chromedriver"))
    driver = webdriver.Chrome(service=service, options=opts)
    driver.execute_cdp_cmd("Browser.setDownloadBehavior", {"behavior": "allow", "downloadPath": str(downloads)})
    driver.downloads = downloads
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


# ---------------------------------------------------------------------------------------
# Loopback helpers

@pytest.fixture
def file_server():
    """Serves fixtures/media over HTTP on 127.0.0.1 (for the URL source test)."""
    handler = lambda *a, **k: http.server.SimpleHTTPRequestHandler(*a, directory=str(MEDIA), **k)  # noqa: E731

    class Quiet(http.server.ThreadingHTTPServer):
        daemon_threads = True

    srv = Quiet(("127.0.0.1", 0), handler)
    srv.RequestHandlerClass.log_message = lambda *a: None
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield "http://127.0.0.1:%d" % srv.server_address[1]
    srv.shutdown()


class CuttingProxy:
    """Forwards 127.0.0.1:port to the server, reading each request's head to log it, and
    cuts the first PATCH once `cut_after` of its body bytes have gone through: the client's
    side is reset, the server's sees the body end early."""

    def __init__(self, upstream_port, cut_after):
        self.upstream = upstream_port
        self.cut_after = cut_after
        self.cut_done = threading.Event()
        self.requests = []  # dicts: method, path, headers, sent (body bytes forwarded)
        self.lock = threading.Lock()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, path=""):
        return "http://127.0.0.1:%d%s" % (self.port, path)

    def _accept(self):
        while True:
            try:
                client, _ = self.sock.accept()
            except OSError:
                return
            up = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self._pump_up, args=(client, up), daemon=True).start()
            threading.Thread(target=self._pump_down, args=(up, client), daemon=True).start()

    def _pump_down(self, up, client):
        try:
            while True:
                data = up.recv(65536)
                if not data:
                    break
                client.sendall(data)
        except OSError:
            pass
        finally:
            for s in (client, up):
                try:
                    s.close()
                except OSError:
                    pass

    def _pump_up(self, client, up):
        buf = b""
        req = None  # the request whose body is passing
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                buf += data
                while buf:
                    if req is None:
                        end = buf.find(b"\r\n\r\n")
                        if end < 0:
                            break
                        head, buf = buf[:end + 4], buf[end + 4:]
                        lines = head.decode("latin-1").split("\r\n")
                        method, path = lines[0].split(" ")[:2]
                        headers = {}
                        for line in lines[1:]:
                            if ":" in line:
                                k, v = line.split(":", 1)
                                headers[k.strip().lower()] = v.strip()
                        req = {"method": method, "path": path, "headers": headers, "sent": 0,
                               "length": int(headers.get("content-length", "0"))}
                        with self.lock:
                            self.requests.append(req)
                        up.sendall(head)
                    take = min(len(buf), req["length"] - req["sent"])
                    body, buf = buf[:take], buf[take:]
                    if (req["method"] == "PATCH" and not self.cut_done.is_set()
                            and req["sent"] + len(body) >= self.cut_after):
                        body = body[: max(0, self.cut_after - req["sent"])]
                        up.sendall(body)
                        req["sent"] += len(body)
                        req["cut"] = True
                        self.cut_done.set()
                        # The client sees a reset; the server sees the body end early.
                        client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
                        client.close()
                        up.shutdown(socket.SHUT_WR)
                        return
                    up.sendall(body)
                    req["sent"] += len(body)
                    if req["sent"] >= req["length"]:
                        req = None
        except OSError:
            pass
        finally:
            try:
                up.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def close(self):
        self.sock.close()


@pytest.fixture
def cutting_proxy():
    proxies = []

    def make(upstream_port, cut_after):
        p = CuttingProxy(upstream_port, cut_after)
        proxies.append(p)
        return p

    yield make
    for p in proxies:
        p.close()
