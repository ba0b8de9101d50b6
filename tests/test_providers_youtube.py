"""YouTube publishing with google-api-python-client against a local TLS stand-in.

The stand-in serves HTTPS with a certificate generated for this run (YouTube's media-upload URIs
keep ``https``); ``HTTPLIB2_CA_CERTS`` makes httplib2 trust it, as it would a proxy's private CA.
"""

from __future__ import annotations

import json
import logging
import os

import pytest

from include.core.errors import FatalError
from include.providers import youtube
from include.providers.cloud import ProviderConfig
from include.stages import publish
from include.core.options import Settings
from tests.fakes.cloud import CLIENT_ID, CLIENT_SECRET, REFRESH_TOKEN, FakeCloud

CHUNK = 256 * 1024


@pytest.fixture(scope="module")
def cloud(tmp_path_factory):
    with FakeCloud(tls_dir=tmp_path_factory.mktemp("tls")) as server:
        before = os.environ.get("HTTPLIB2_CA_CERTS")
        os.environ["HTTPLIB2_CA_CERTS"] = str(server.ca_file)
        try:
            yield server
        finally:
            if before is None:
                os.environ.pop("HTTPLIB2_CA_CERTS", None)
            else:
                os.environ["HTTPLIB2_CA_CERTS"] = before


@pytest.fixture(autouse=True)
def _fresh(cloud, monkeypatch):
    cloud.reset()
    monkeypatch.setattr(youtube, "RESUME_BACKOFF", 0.1)


@pytest.fixture
def files(tmp_path):
    video = tmp_path / "final.mp4"
    video.write_bytes(os.urandom(4 * CHUNK + 1234))  # five chunks, the last one short
    meta = tmp_path / "metadata.json"
    meta.write_text(json.dumps({
        "title": "Tour of the dashboard", "description": "What it does.\n\n0:00 Intro",
        "tags": ["dashboard", "tour"], "category_id": "28", "language": "en",
    }))
    thumb = tmp_path / "thumbnail.jpg"
    thumb.write_bytes(b"\xff\xd8\xff\xe0fake-jpeg")
    captions = tmp_path / "captions.srt"
    captions.write_text("1\n00:00:00,000 --> 00:00:01,000\nHello\n")
    return video, meta, thumb, captions


def connection(cloud, **extra) -> ProviderConfig:
    values = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
              "refresh_token": REFRESH_TOKEN, "token_uri": cloud.url + "/token",
              "api_endpoint": cloud.url}
    # A short timeout: a connection that dies without a reset is noticed by its silence.
    return ProviderConfig(conn_id="youtube_default", extra={**values, **extra}, timeout=3)


def run(cloud, files, tmp_path, settings=None, **extra):
    video, meta, thumb, captions = files
    from include.providers import publishers

    settings = settings or Settings(publish_target="youtube", privacy="unlisted")
    config = publishers.PublisherConfig(outbox_root=tmp_path, youtube=connection(cloud, **extra),
                                        chunk_bytes=CHUNK)
    publisher = publishers.get_publisher("youtube", config)
    return publisher.publish(video, json.loads(meta.read_text()), settings, "t-1",
                             thumbnail=thumb, captions=captions)


def test_upload_in_chunks_with_snippet_status_thumbnail_and_captions(cloud, files, tmp_path, caplog):
    video, meta, thumb, captions = files
    caplog.set_level(logging.INFO)
    out = tmp_path / "out"
    out.mkdir()
    settings = Settings(publish_target="youtube", privacy="private", made_for_kids=False,
                        publish_at="2030-01-02T03:04:05Z")
    receipt = publish.run(video, meta, settings, out, video_id="t-1", outbox_root=tmp_path,
                          youtube=connection(cloud), thumbnail_path=thumb, captions_path=captions)
    (upload,) = cloud.uploads.values()
    assert bytes(upload.data) == video.read_bytes()
    assert upload.metadata["snippet"] == {
        "title": "Tour of the dashboard", "description": "What it does.\n\n0:00 Intro",
        "tags": ["dashboard", "tour"], "categoryId": "28", "defaultLanguage": "en",
        "defaultAudioLanguage": "en",
    }
    assert upload.metadata["status"] == {"privacyStatus": "private", "publishAt": "2030-01-02T03:04:05Z",
                                         "selfDeclaredMadeForKids": False}
    assert all(r.headers["Authorization"] == "Bearer access-token" for r in cloud.hits("upload_start"))
    assert cloud.thumbnails[upload.video_id] == thumb.read_bytes()
    ((caption_meta, caption_body),) = cloud.captions
    assert caption_meta["snippet"]["videoId"] == upload.video_id
    assert caption_body == captions.read_bytes()
    assert receipt == json.loads((out / "receipt.json").read_text())
    assert receipt["video_id"] == upload.video_id
    assert receipt["url"] == f"https://www.youtube.com/watch?v={upload.video_id}"
    assert receipt["files"] == ["final.mp4", "thumbnail.jpg", "captions.srt"]
    assert (receipt["privacy"], receipt["privacy_requested"]) == ("private", "private")
    assert receipt["warnings"] == []
    assert "privacy asked private, YouTube set private" in caplog.text


def test_chunked_upload_puts_each_chunk_with_its_content_range(cloud, files, tmp_path):
    video = files[0]
    size = video.stat().st_size
    run(cloud, files, tmp_path)
    (upload,) = cloud.uploads.values()
    assert bytes(upload.data) == video.read_bytes()
    assert [r.headers["Content-Range"] for r in cloud.hits("upload_put")] == [
        f"bytes {a}-{min(a + CHUNK, size) - 1}/{size}" for a in range(0, size, CHUNK)]


def test_dropped_connection_resumes_from_the_servers_range(cloud, files, tmp_path):
    video = files[0]
    # The third chunk's connection dies twice (httplib2 itself retries once); the client then
    # asks where the upload stands (bytes */total) and goes on from there.
    cloud.fail("upload_put", "drop", times=2, after=2)
    cloud.fail("upload_put", 503, after=2, headers={"Retry-After": "0"})  # and a 503 later on
    receipt = run(cloud, files, tmp_path)
    (upload,) = cloud.uploads.values()
    assert bytes(upload.data) == video.read_bytes()
    ranges = [r.headers["Content-Range"] for r in cloud.hits("upload_put")]
    assert ranges.count(f"bytes */{video.stat().st_size}") >= 2  # asked where it stood, twice
    assert receipt["video_id"] == upload.video_id and len(cloud.uploads) == 1


def test_unaudited_project_gets_private_and_the_receipt_says_so(cloud, files, tmp_path):
    cloud.returned_privacy = "private"
    receipt = run(cloud, files, tmp_path, Settings(publish_target="youtube", privacy="public"))
    assert (receipt["privacy"], receipt["privacy_requested"]) == ("private", "public")
    assert "not audited" in receipt["warnings"][0]


def test_refused_thumbnail_is_a_warning_not_a_second_upload(cloud, files, tmp_path):
    cloud.fail("thumbnail", 403, body={"error": {"code": 403, "message": "no custom thumbnails",
                                                 "errors": [{"reason": "forbidden"}]}})
    receipt = run(cloud, files, tmp_path)
    assert len(cloud.uploads) == 1 and cloud.captions
    assert "thumbnail was not set" in receipt["warnings"][0]


def test_revoked_refresh_token_is_fatal_and_says_how_to_fix(cloud, files, tmp_path):
    with pytest.raises(FatalError, match=r"refused the refresh token \(invalid_grant\): re-authorise"
                                         r".*youtube_default.*7 days"):
        run(cloud, files, tmp_path, refresh_token="revoked")
    assert len(cloud.hits("token")) == 1 and not cloud.hits("upload_start")


def test_missing_credentials_are_fatal(cloud, files, tmp_path):
    with pytest.raises(FatalError, match="lacks refresh_token"):
        run(cloud, files, tmp_path, refresh_token="")


@pytest.mark.parametrize("reason,says", [("quotaExceeded", "midnight Pacific time"),
                                         ("uploadLimitExceeded", "retry in 24 hours")])
def test_quota_errors_fail_once_and_say_when_to_retry(reason, says, cloud, files, tmp_path):
    cloud.fail("upload_start", 403, body={"error": {"code": 403, "message": "quota",
                                                    "errors": [{"reason": reason}]}})
    with pytest.raises(FatalError, match=says):
        run(cloud, files, tmp_path)
    assert len(cloud.hits("upload_start")) == 1  # no retry storm


def test_rejected_access_token_is_fatal(cloud, files, tmp_path):
    cloud.fail("upload_start", 401, times=3, body={"error": {"code": 401, "message": "Invalid Credentials",
                                                    "errors": [{"reason": "authError"}]}})
    with pytest.raises(FatalError, match="rejected the access token"):
        run(cloud, files, tmp_path)
