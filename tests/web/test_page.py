"""The page at GET /, driven in headless Chromium as a person would: upload a video (tus),
give a URL, watch the job, listen, download; a broken connection mid-upload; a bad file; API
keys. Set UPDATE_SCREENSHOT=1 to rewrite docs/page.png from the first test."""

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import Select, WebDriverWait

from conftest import API_KEY, BAD, MEDIA, ROOT, cli_extract

SPEECH = ["--sample-rate", "16000", "--channels", "1"]


def open_page(browser, base):
    browser.get(base + "/")
    WebDriverWait(browser, 20).until(lambda d: d.execute_script("return document.readyState") == "complete")


def choose(browser, path, preset="speech"):
    Select(browser.find_element(By.ID, "preset")).select_by_value(preset)
    browser.find_element(By.ID, "file").send_keys(str(path))
    browser.find_element(By.ID, "start").click()


def wait_done(browser, timeout=90):
    """Wait for the job on the page to end; returns its state (succeeded, failed, error)."""
    def ended(d):
        cur = d.find_element(By.ID, "current")
        if cur.get_attribute("data-done") == "true" or cur.get_attribute("data-state") == "error":
            return cur.get_attribute("data-state")
        return False
    return WebDriverWait(browser, timeout).until(ended)


def job_id(browser):
    return browser.find_element(By.ID, "current").get_attribute("data-job")


def wait_download(folder, timeout=30):
    deadline = time.time() + timeout
    while time.time() < deadline:
        done = [p for p in Path(folder).iterdir() if not p.name.endswith(".crdownload")]
        if done:
            return done[0]
        time.sleep(0.1)
    raise AssertionError("no download arrived in %s" % folder)


def play(browser):
    """Play the first <audio> on the page; returns its position after a moment of play."""
    audio = browser.find_element(By.CSS_SELECTOR, "#outputs audio")
    WebDriverWait(browser, 20).until(lambda d: d.execute_script("return arguments[0].readyState >= 1", audio))
    duration = browser.execute_script("return arguments[0].duration", audio)
    browser.execute_async_script(
        "const [a, done] = arguments; a.play().then(() => done(true), e => done(String(e)))", audio)
    WebDriverWait(browser, 20).until(lambda d: d.execute_script("return arguments[0].currentTime > 0.2", audio))
    return duration


def test_upload_listen_and_download_equal_the_cli(server, browser):
    src = MEDIA / "mp4_aac.mp4"
    open_page(browser, server.url())
    choose(browser, src)
    assert wait_done(browser) == "succeeded", browser.find_element(By.ID, "error").text
    assert abs(play(browser) - 2.0) < 0.05
    steps = {li.get_attribute("data-step"): li.get_attribute("data-status")
             for li in browser.find_elements(By.CSS_SELECTOR, "#steps li")}
    assert steps["extract"] == "succeeded" and steps["store"] == "succeeded", steps
    assert browser.find_element(By.ID, "job-progress").get_attribute("value") == "1"
    browser.find_element(By.CSS_SELECTOR, "#outputs a.download").click()
    got = wait_download(browser.downloads).read_bytes()
    assert got == cli_extract(src, SPEECH)
    # The job shows up in the recent jobs list, with the file's name.
    WebDriverWait(browser, 10).until(lambda d: "mp4_aac.mp4" in d.find_element(By.ID, "jobs").text)
    shot = ROOT / "target" / "page-tests" / "page.png"
    shot.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(shot))
    if os.environ.get("UPDATE_SCREENSHOT") == "1":
        shutil.copy(shot, ROOT / "docs" / "page.png")


def test_a_pasted_url_is_extracted(server, browser, file_server):
    open_page(browser, server.url())
    Select(browser.find_element(By.ID, "preset")).select_by_value("wav")
    browser.find_element(By.ID, "url").send_keys(file_server + "/mkv_aac.mkv")
    browser.find_element(By.ID, "start").click()
    assert wait_done(browser) == "succeeded", browser.find_element(By.ID, "error").text
    play(browser)
    job = server.job(job_id(browser))
    assert job["source"]["url"] == file_server + "/mkv_aac.mkv"
    assert server.output(job["id"]) == cli_extract(MEDIA / "mkv_aac.mkv", [])


def test_an_upload_cut_mid_way_resumes_without_starting_over(server, browser, cutting_proxy, big_video):
    size = big_video.stat().st_size
    proxy = cutting_proxy(server.port, cut_after=size // 2)
    open_page(browser, proxy.url())
    choose(browser, big_video)
    assert wait_done(browser, timeout=120) == "succeeded", browser.find_element(By.ID, "error").text
    assert proxy.cut_done.is_set(), "the proxy never cut the upload"
    patches = [r for r in proxy.requests if r["method"] == "PATCH"]
    first, last = patches[0], patches[-1]
    assert first.get("cut") and first["sent"] == size // 2, first
    # The upload went on from where the server had got to, not from 0 ...
    resumed_at = int(last["headers"]["upload-offset"])
    assert 0 < resumed_at <= size // 2, [p["headers"].get("upload-offset") for p in patches]
    assert last["sent"] == last["length"] == size - resumed_at
    # ... so the server received every byte once (the browser may resend the cut request
    # by itself; the server refuses it before reading its body).
    status, _, metrics = server.request("GET", "/metrics")
    received = [line.split()[-1] for line in metrics.decode().splitlines()
                if line.startswith("audiotap_upload_bytes_total")]
    assert received == [str(size)], (received, size)
    assert server.output(job_id(browser)) == cli_extract(big_video, SPEECH)


def test_a_bad_file_shows_the_errors_message(server, browser):
    open_page(browser, server.url())
    choose(browser, BAD / "random.bin")
    assert wait_done(browser) == "failed"
    job = server.job(job_id(browser))
    shown = browser.find_element(By.ID, "error").text
    assert job["error"]["message"] and job["error"]["message"] in shown, (shown, job["error"])
    assert job["error"]["code"] in shown


def test_with_api_keys_the_page_needs_the_key(start_server, browser):
    srv = start_server({"AUDIOTAP_API_KEYS": API_KEY})
    open_page(browser, srv.url())
    assert browser.find_element(By.ID, "key-section").is_displayed()
    # Without the key: refused, and the page says so.
    choose(browser, MEDIA / "mp4_aac.mp4")
    assert wait_done(browser) == "error"
    assert "API key" in browser.find_element(By.ID, "error").text
    status, _, _ = srv.request("GET", "/v1/jobs")
    assert status == 401
    # With it: the same upload goes through, and the output plays from a blob.
    browser.find_element(By.ID, "api-key").send_keys(API_KEY)
    browser.find_element(By.CSS_SELECTOR, "#key-form button[type=submit]").click()
    browser.find_element(By.ID, "start").click()
    assert wait_done(browser) == "succeeded", browser.find_element(By.ID, "error").text
    play(browser)
    src = browser.find_element(By.CSS_SELECTOR, "#outputs audio").get_attribute("src")
    assert src.startswith("blob:"), src
    jobs = json.loads(srv.request("GET", "/v1/jobs", key=API_KEY)[2])["jobs"]
    assert [j["status"] for j in jobs] == ["succeeded"]


def test_keyboard_alone_reaches_every_control(server, browser):
    open_page(browser, server.url())
    reached = set()
    body = browser.find_element(By.TAG_NAME, "body")
    for _ in range(30):
        body.send_keys("\ue004")  # Tab
        reached.add(browser.execute_script("return document.activeElement.id"))
    for control in ("file", "url", "preset", "options", "start", "refresh"):
        assert control in reached, (control, reached)
    # Every form control has a label.
    unlabeled = browser.execute_script(
        "return [...document.querySelectorAll('input, select, textarea')]"
        ".filter(e => !e.labels || !e.labels.length).map(e => e.id)")
    assert unlabeled == [], unlabeled


@pytest.mark.parametrize("name", ["app.js", "client.js", "style.css", "icon.svg"])
def test_the_page_needs_nothing_from_elsewhere(server, name):
    status, headers, body = server.request("GET", "/assets/" + name)
    assert status == 200 and body
    body = body.replace(b"http://www.w3.org/2000/svg", b"")  # a namespace name, not a fetch
    assert b"http://" not in body and b"https://" not in body
    status, headers, html = server.request("GET", "/")
    assert status == 200 and b"/assets/app.js" in html
    assert "default-src 'self'" in headers["Content-Security-Policy"]
