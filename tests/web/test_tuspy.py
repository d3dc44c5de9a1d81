"""tus conformance with a client that is not ours: tuspy (PyPI, module tusclient), uploading,
pausing and resuming (in a new uploader, as after a restart), with its sha1 checksums, and
terminating."""

import json
from pathlib import Path

import pytest
import requests
from tusclient import client as tus_client
from tusclient.exceptions import TusCommunicationError, TusUploadFailed
from tusclient.storage import filestorage

from conftest import MEDIA, cli_extract

SRC = MEDIA / "mp4_aac_long.mp4"
OPTIONS = {"output": {"format": "wav", "sample_rate": 16000, "channels": 1}, "metadata": {"client": "tuspy"}}
META = {"filename": SRC.name, "options": json.dumps(OPTIONS)}
SPEECH = ["--sample-rate", "16000", "--channels", "1"]


def job_of(server, upload_url):
    status, headers, _ = server.request("HEAD", upload_url.replace(server.url(), ""),
                                        headers={"Tus-Resumable": "1.0.0"})
    assert status == 200
    assert int(headers["Upload-Offset"]) == SRC.stat().st_size
    return headers["Audiotap-Job-Location"].rsplit("/", 1)[1]


def test_tuspy_uploads_and_the_job_runs(server):
    c = tus_client.TusClient(server.url("/v1/uploads"))
    up = c.uploader(str(SRC), chunk_size=16 * 1024, metadata=META)
    up.upload()
    assert up.offset == SRC.stat().st_size
    # The PATCH that brought the last byte answered with the job's location.
    location = up.request.response_headers.get("location")
    assert location and location.startswith("/v1/jobs/"), up.request.response_headers
    job = server.wait_job(location.rsplit("/", 1)[1])
    assert job["status"] == "succeeded", job
    assert job["source"]["filename"] == SRC.name and job["metadata"] == {"client": "tuspy"}
    assert server.output(job["id"]) == cli_extract(SRC, SPEECH)


def test_tuspy_pauses_and_resumes_in_a_new_uploader(server, tmp_path):
    size = SRC.stat().st_size
    storage = filestorage.FileStorage(str(tmp_path / "tus-urls.json"))
    c = tus_client.TusClient(server.url("/v1/uploads"))
    first = c.uploader(str(SRC), chunk_size=8192, metadata=META, store_url=True, url_storage=storage)
    first.upload(stop_at=size // 3)
    paused_at = first.offset
    assert size // 3 <= paused_at < size
    # Another uploader (as after a restart) finds the URL in its storage and asks the
    # server where to go on: it does not start over.
    again = c.uploader(str(SRC), chunk_size=8192, metadata=META, store_url=True, url_storage=storage)
    assert again.url == first.url
    assert again.offset == paused_at
    sent = []
    original = again.upload_chunk

    def counting():
        before = again.offset
        original()
        sent.append(again.offset - before)

    again.upload_chunk = counting
    again.upload()
    assert sum(sent) == size - paused_at
    job = server.wait_job(job_of(server, again.url))
    assert job["status"] == "succeeded", job
    assert server.output(job["id"]) == cli_extract(SRC, SPEECH)


def test_tuspy_checksums_are_verified(server):
    c = tus_client.TusClient(server.url("/v1/uploads"))
    up = c.uploader(str(SRC), chunk_size=32 * 1024, metadata=META, upload_checksum=True)
    up.upload()
    job = server.wait_job(job_of(server, up.url))
    assert job["status"] == "succeeded", job


def test_tuspy_upload_is_terminated(server):
    c = tus_client.TusClient(server.url("/v1/uploads"))
    up = c.uploader(str(SRC), chunk_size=8192, metadata=META)
    up.upload(stop_at=20000)
    files = list(Path(server.data, "tus").iterdir())
    assert len(files) == 1 and files[0].stat().st_size == up.offset
    # tuspy has no terminate call of its own: the tus DELETE, with the uploader's headers.
    r = requests.delete(up.url, headers=up.get_headers())
    assert r.status_code == 204, r.text
    assert list(Path(server.data, "tus").iterdir()) == []
    head = requests.head(up.url, headers=up.get_headers())
    assert head.status_code == 410
    with pytest.raises((TusCommunicationError, TusUploadFailed)):
        up.upload()
    status, _, body = server.request("GET", "/v1/jobs")
    assert json.loads(body)["jobs"] == []
