"""YouTube publishing with google-api-python-client against a local TLS stand-in.

The stand-in serves HTTPS with a certificate generated for this run (YouTube's media-upload URIs
keep ``https``); ``HTTPLIB2_CA_CERTS`` makes httplib2 trust it, as it would a proxy's private CA.
Publish state (upload session, receipt) goes through the real :class:`StoreLedger` on a
``file://`` artifact store, as in a task.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
from datetime import datetime, timezone

import pytest

from include.core.errors import FatalError, RetryableError
from include.core.files import sha256_of
from include.core.ports import PublishOptions
from include.pipeline import StoreLedger
from include.providers import publishers, youtube
from include.providers.cloud import ProviderConfig, QuotaWait
from include.stages import publish
from include.storage import ArtifactStore
from tests.conftest import ROOT
from tests.fakes.cloud import (
    CLIENT_ID,
    CLIENT_SECRET,
    QUOTA_COSTS,
    REFRESH_TOKEN,
    FakeCloud,
    youtube_error,
)

CHUNK = 256 * 1024
TENANT, VIDEO = "acme", "acme-0123456789abcdef"
SIZE = 4 * CHUNK + 1234  # five chunks, the last one short
UPDATE_UNITS = sum(QUOTA_COSTS[r] for r in ("videos_list", "videos_update", "thumbnail",
                                             "caption_list", "caption_update"))


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
    monkeypatch.setattr(youtube, "RESUME_BACKOFF", 0.05)
    monkeypatch.setattr(youtube, "HTTP_RETRIES", 0)


@pytest.fixture
def files(tmp_path):
    video = tmp_path / "final.mp4"
    video.write_bytes(os.urandom(SIZE))
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


@pytest.fixture
def store_root(tmp_path):
    return f"file://{tmp_path / 'store'}"


def connection(cloud, **extra) -> ProviderConfig:
    values = {"client_id": CLIENT_ID, "client_secret": CLIENT_SECRET,
              "refresh_token": REFRESH_TOKEN, "token_uri": cloud.url + "/token",
              "api_endpoint": cloud.url}
    # A short timeout: a connection that dies without a reset is noticed by its silence.
    return ProviderConfig(conn_id="youtube_default", extra={**values, **extra}, timeout=3)


def ledger_for(store_root: str) -> StoreLedger:
    return StoreLedger(ArtifactStore(store_root), TENANT, VIDEO)


def run(cloud, files, tmp_path, store_root, options=None, out="out", **extra) -> dict:
    """One publish stage run, as the task does it."""
    video, meta, thumb, captions = files
    config = publishers.PublisherConfig(outbox_root=tmp_path, youtube=connection(cloud, **extra),
                                        chunk_bytes=CHUNK)
    return publish.run(
        video, meta, tmp_path / out, publisher=publishers.get_publisher("youtube", config),
        ledger=ledger_for(store_root),
        options=options or PublishOptions(tenant=TENANT, privacy="unlisted"), video_id=VIDEO,
        thumbnail_path=thumb, captions_path=captions,
    )


def test_upload_in_chunks_with_snippet_status_thumbnail_and_captions(cloud, files, tmp_path,
                                                                      store_root, caplog):
    video, meta, thumb, captions = files
    caplog.set_level(logging.INFO)
    options = PublishOptions(tenant=TENANT, privacy="private", made_for_kids=False,
                             publish_at="2030-01-02T03:04:05Z")
    receipt = run(cloud, files, tmp_path, store_root, options)
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
    assert receipt == json.loads((tmp_path / "out" / "receipt.json").read_text())
    assert receipt == ledger_for(store_root).get("youtube.receipt")
    assert receipt["video_id"] == upload.video_id and receipt["action"] == "uploaded"
    assert receipt["url"] == f"https://www.youtube.com/watch?v={upload.video_id}"
    assert receipt["files"] == ["final.mp4", "thumbnail.jpg", "captions.srt"]
    assert receipt["sha256"] == sha256_of(video)
    assert (receipt["privacy"], receipt["privacy_requested"]) == ("private", "private")
    assert receipt["warnings"] == []
    assert "privacy asked private, YouTube set private" in caplog.text
    session = ledger_for(store_root).get("youtube.session")
    assert session["done"] and session["video_id"] == upload.video_id
    assert session["confirmed"] == 4 * CHUNK and session["bytes"] == SIZE
    assert cloud.units == QUOTA_COSTS["upload_start"] + QUOTA_COSTS["thumbnail"] + QUOTA_COSTS["caption"]


def test_chunked_upload_puts_each_chunk_with_its_content_range(cloud, files, tmp_path, store_root):
    video = files[0]
    run(cloud, files, tmp_path, store_root)
    (upload,) = cloud.uploads.values()
    assert bytes(upload.data) == video.read_bytes()
    assert [r.headers["Content-Range"] for r in cloud.hits("upload_put")] == [
        f"bytes {a}-{min(a + CHUNK, SIZE) - 1}/{SIZE}" for a in range(0, SIZE, CHUNK)]


def test_dropped_connection_resumes_from_the_servers_range(cloud, files, tmp_path, store_root):
    video = files[0]
    # The third chunk's connection dies twice (httplib2 itself retries once); the client then
    # asks where the upload stands (bytes */total) and goes on from there.
    cloud.fail("upload_put", "drop", times=2, after=2)
    cloud.fail("upload_put", 503, after=2, headers={"Retry-After": "0"})  # and a 503 later on
    receipt = run(cloud, files, tmp_path, store_root)
    (upload,) = cloud.uploads.values()
    assert bytes(upload.data) == video.read_bytes()
    ranges = [r.headers["Content-Range"] for r in cloud.hits("upload_put")]
    assert ranges.count(f"bytes */{SIZE}") >= 2  # asked where it stood, twice
    assert receipt["video_id"] == upload.video_id and len(cloud.videos) == 1


def test_session_is_saved_before_the_first_byte_and_a_retry_resumes_it(cloud, files, tmp_path,
                                                                        store_root, caplog):
    """The task dies after two chunks (every later PUT fails): the next try asks YouTube where
    the saved session stands and sends only the rest; no second upload is started."""
    video = files[0]
    cloud.fail("upload_put", "drop", times=2 * (youtube.MAX_RESUMES + 1), after=2)
    with pytest.raises(RetryableError, match="failed 6 times in a row"):
        run(cloud, files, tmp_path, store_root)
    session = ledger_for(store_root).get("youtube.session")
    assert session["upload_uri"].startswith(cloud.url) and session["confirmed"] == 2 * CHUNK
    assert session["sha256"] == sha256_of(video) and not session.get("done")
    assert ledger_for(store_root).get("youtube.receipt") is None and not cloud.videos
    before = len(cloud.hits("upload_put"))

    caplog.set_level(logging.INFO)
    cloud.faults.clear()
    receipt = run(cloud, files, tmp_path, store_root)
    (upload,) = cloud.uploads.values()
    assert len(cloud.hits("upload_start")) == 1 and bytes(upload.data) == video.read_bytes()
    ranges = [r.headers["Content-Range"] for r in cloud.hits("upload_put")[before:]]
    assert ranges[0] == f"bytes */{SIZE}"  # the status query first
    assert ranges[1:] == [f"bytes {a}-{min(a + CHUNK, SIZE) - 1}/{SIZE}"
                          for a in range(2 * CHUNK, SIZE, CHUNK)]
    assert "resuming the saved upload session at byte 524288" in caplog.text
    assert receipt["video_id"] == upload.video_id and list(cloud.videos) == [upload.video_id]


def test_session_saved_before_the_first_byte_is_resumed_from_zero(cloud, files, tmp_path,
                                                                  store_root):
    cloud.fail("upload_put", "drop", times=2 * (youtube.MAX_RESUMES + 1))  # not one byte lands
    with pytest.raises(RetryableError):
        run(cloud, files, tmp_path, store_root)
    session = ledger_for(store_root).get("youtube.session")
    (upload,) = cloud.uploads.values()
    assert session["upload_uri"].endswith(f"upload_id={next(iter(cloud.uploads))}")
    assert session["confirmed"] == 0 and not upload.data
    cloud.faults.clear()
    run(cloud, files, tmp_path, store_root)
    assert len(cloud.hits("upload_start")) == 1 and bytes(upload.data) == files[0].read_bytes()


def test_lost_answer_to_the_last_chunk_is_resolved_by_the_status_query(cloud, files, tmp_path,
                                                                       store_root, caplog):
    """YouTube stored the whole file, but its answer never arrives and the try gives up; the
    next try's status query answers the finished video: one video, and the receipt has it."""
    caplog.set_level(logging.INFO)
    cloud.fail("upload_put", "drop_answer", after=4)
    cloud.fail("upload_put", "drop", times=2 * (youtube.MAX_RESUMES + 1))
    with pytest.raises(RetryableError):
        run(cloud, files, tmp_path, store_root)
    (upload,) = cloud.uploads.values()
    assert len(upload.data) == SIZE and list(cloud.videos) == [upload.video_id]
    assert ledger_for(store_root).get("youtube.receipt") is None

    cloud.faults.clear()
    receipt = run(cloud, files, tmp_path, store_root)
    assert list(cloud.videos) == [upload.video_id] and len(cloud.hits("upload_start")) == 1
    assert receipt["video_id"] == upload.video_id and receipt["action"] == "uploaded"
    assert "had already finished (status query answered the video" in caplog.text
    assert cloud.thumbnails[upload.video_id] and cloud.tracks


CRASH = """
import json, sys
sys.path.insert(0, {root!r})
from include.core.ports import PublishOptions
from include.pipeline import StoreLedger
from include.providers.cloud import ProviderConfig
from include.providers.publishers import PublisherConfig, get_publisher
from include.stages import publish
from include.storage import ArtifactStore
a = json.loads(sys.argv[1])
config = PublisherConfig(outbox_root=a["out"], youtube=ProviderConfig(
    conn_id="youtube_default", extra=a["extra"], timeout=30), chunk_bytes=a["chunk"])
publish.run(a["video"], a["meta"], a["out"], publisher=get_publisher("youtube", config),
            ledger=StoreLedger(ArtifactStore(a["store"]), a["tenant"], a["video_id"]),
            options=PublishOptions(tenant=a["tenant"], privacy="unlisted"),
            video_id=a["video_id"], thumbnail_path=a["thumb"], captions_path=a["captions"])
"""


def test_process_killed_right_after_videos_insert_answered_leaves_one_video(
        cloud, files, tmp_path, store_root, caplog):
    """The worker dies (SIGKILL) while setting the thumbnail, after YouTube answered the
    upload: the retry finds the receipt, uploads nothing and re-sets thumbnail and captions."""
    video, meta, thumb, captions = files
    cloud.fail("thumbnail", "hold")
    args = {"out": str(tmp_path / "child"), "chunk": CHUNK, "store": store_root,
            "tenant": TENANT, "video_id": VIDEO, "video": str(video), "meta": str(meta),
            "thumb": str(thumb), "captions": str(captions),
            "extra": connection(cloud).extra}
    child = subprocess.Popen([sys.executable, "-c", CRASH.format(root=str(ROOT)),
                              json.dumps(args)], env=os.environ.copy())
    try:
        assert cloud.holding.wait(120), "the child never reached thumbnails.set"
        child.send_signal(signal.SIGKILL)
        assert child.wait(30) == -signal.SIGKILL
    finally:
        cloud.release.set()
        if child.poll() is None:
            child.kill()
    (first,) = cloud.videos
    early = ledger_for(store_root).get("youtube.receipt")
    assert early["video_id"] == first and "action" not in early  # saved before thumbnails.set
    assert first not in cloud.thumbnails and not cloud.captions

    caplog.set_level(logging.INFO)
    receipt = run(cloud, files, tmp_path, store_root)
    assert list(cloud.videos) == [first] and len(cloud.hits("upload_start")) == 1
    assert receipt["video_id"] == first and receipt["action"] == "updated"
    assert "not uploaded again" in receipt["note"] and "not uploaded again" in caplog.text
    assert cloud.thumbnails[first] == thumb.read_bytes()
    assert [t["body"] for t in cloud.tracks.values()] == [captions.read_bytes()]


def test_transient_thumbnail_failure_retries_without_a_second_upload(cloud, files, tmp_path,
                                                                     store_root):
    cloud.fail("thumbnail", 503)
    with pytest.raises(RetryableError, match="YouTube answered 503"):
        run(cloud, files, tmp_path, store_root)
    receipt = run(cloud, files, tmp_path, store_root)
    assert len(cloud.videos) == 1 and len(cloud.hits("upload_start")) == 1
    assert receipt["action"] == "updated" and cloud.thumbnails[receipt["video_id"]]


def test_publishing_the_same_file_twice_more_updates_the_one_video(cloud, files, tmp_path,
                                                                   store_root):
    """'Clear publish' twice: one upload, the metadata follows metadata.json each time."""
    video, meta, thumb, captions = files
    first = run(cloud, files, tmp_path, store_root)
    units_after_upload = cloud.units
    meta.write_text(json.dumps({**json.loads(meta.read_text()), "title": "A better title"}))
    captions.write_text("1\n00:00:00,000 --> 00:00:01,000\nHello there\n")
    second = run(cloud, files, tmp_path, store_root,
                 PublishOptions(tenant=TENANT, privacy="public"))
    third = run(cloud, files, tmp_path, store_root,
                PublishOptions(tenant=TENANT, privacy="public"))
    (vid,) = cloud.videos
    assert first["video_id"] == second["video_id"] == third["video_id"] == vid
    assert len(cloud.hits("upload_start")) == 1 and len(cloud.uploads) == 1
    assert [second["action"], third["action"]] == ["updated", "updated"]
    assert cloud.videos[vid]["snippet"]["title"] == "A better title"
    assert cloud.videos[vid]["status"]["privacyStatus"] == "public"
    assert second["privacy"] == "public" and "not uploaded again" in third["note"]
    (track,) = cloud.tracks.values()  # the one caption track, replaced in place
    assert track["body"] == captions.read_bytes() and len(cloud.captions) == 1
    assert len(cloud.hits("videos_update")) == 2 and not cloud.deleted
    assert cloud.units == units_after_upload + 2 * UPDATE_UNITS
    print(f"\nunits: upload publish {units_after_upload}, each republish {UPDATE_UNITS}, "
          f"total {cloud.units} for 1 upload and 2 updates")


@pytest.mark.parametrize("policy", ["update_metadata", "replace", "new_video"])
def test_new_final_under_each_on_republish_policy(policy, cloud, files, tmp_path, store_root):
    video = files[0]
    first = run(cloud, files, tmp_path, store_root)
    old_bytes = video.read_bytes()
    video.write_bytes(os.urandom(SIZE - 100))  # a rerun from voiceover made a new final.mp4
    receipt = run(cloud, files, tmp_path, store_root,
                  PublishOptions(tenant=TENANT, privacy="unlisted", on_republish=policy))
    new_sha = sha256_of(video)
    if policy == "update_metadata":
        assert list(cloud.videos) == [first["video_id"]] and len(cloud.uploads) == 1
        assert cloud.videos[first["video_id"]]["data"] == old_bytes
        assert receipt["video_id"] == first["video_id"] and receipt["action"] == "updated"
        assert receipt["sha256"] == first["sha256"] and receipt["final_sha256"] == new_sha
        assert "keeps the delivered file" in receipt["note"]
    elif policy == "replace":
        assert list(cloud.videos) == [receipt["video_id"]] != [first["video_id"]]
        assert cloud.videos[receipt["video_id"]]["data"] == video.read_bytes()
        assert cloud.deleted == [first["video_id"]] and receipt["action"] == "replaced"
        assert receipt["previous"] == [{"video_id": first["video_id"], "location": first["url"],
                                        "sha256": first["sha256"],
                                        "published_at": first["published_at"],
                                        "retired": "deleted"}]
        assert "retire_pending" not in ledger_for(store_root).get("youtube.receipt")
    else:
        assert set(cloud.videos) == {first["video_id"], receipt["video_id"]}
        assert not cloud.deleted and receipt["action"] == "new_video"
        assert receipt["previous"][0]["video_id"] == first["video_id"]
    assert ledger_for(store_root).get("youtube.receipt") == receipt
    # And publishing that file once more uploads nothing new.
    uploads = len(cloud.uploads)
    again = run(cloud, files, tmp_path, store_root,
                PublishOptions(tenant=TENANT, privacy="unlisted", on_republish=policy))
    assert len(cloud.uploads) == uploads and again["video_id"] == receipt["video_id"]


def test_replace_crashing_before_the_delete_deletes_on_the_next_try(cloud, files, tmp_path,
                                                                    store_root):
    video = files[0]
    first = run(cloud, files, tmp_path, store_root)
    video.write_bytes(os.urandom(SIZE))
    options = PublishOptions(tenant=TENANT, on_republish="replace")
    cloud.fail("videos_delete", 503)
    with pytest.raises(RetryableError):
        run(cloud, files, tmp_path, store_root, options)
    pending = ledger_for(store_root).get("youtube.receipt")
    assert pending["retire_pending"][0]["video_id"] == first["video_id"]
    receipt = run(cloud, files, tmp_path, store_root, options)
    assert cloud.deleted == [first["video_id"]] and list(cloud.videos) == [receipt["video_id"]]
    assert len(cloud.uploads) == 2 and receipt["previous"][0]["retired"] == "deleted"


def test_video_deleted_on_youtube_is_uploaded_again(cloud, files, tmp_path, store_root):
    first = run(cloud, files, tmp_path, store_root)
    cloud.videos.clear()  # someone deleted it in YouTube Studio
    receipt = run(cloud, files, tmp_path, store_root)
    assert list(cloud.videos) == [receipt["video_id"]] != [first["video_id"]]
    assert receipt["action"] == "uploaded" and "gone" in receipt["note"]
    assert len(cloud.hits("upload_start")) == 2


def test_unaudited_project_gets_private_and_the_receipt_says_so(cloud, files, tmp_path, store_root):
    cloud.returned_privacy = "private"
    receipt = run(cloud, files, tmp_path, store_root,
                  PublishOptions(tenant=TENANT, privacy="public"))
    assert (receipt["privacy"], receipt["privacy_requested"]) == ("private", "public")
    assert "not audited" in receipt["warnings"][0]


def test_refused_thumbnail_is_a_warning_not_a_second_upload(cloud, files, tmp_path, store_root):
    cloud.fail("thumbnail", 403, body={"error": {"code": 403, "message": "no custom thumbnails",
                                                 "errors": [{"reason": "forbidden"}]}})
    receipt = run(cloud, files, tmp_path, store_root)
    assert len(cloud.uploads) == 1 and cloud.captions
    assert "thumbnail was not set" in receipt["warnings"][0]


def test_revoked_refresh_token_is_fatal_and_says_how_to_fix(cloud, files, tmp_path, store_root):
    with pytest.raises(FatalError, match=r"refused the refresh token \(invalid_grant\): re-authorise"
                                         r".*youtube_default.*7 days"):
        run(cloud, files, tmp_path, store_root, refresh_token="revoked")
    assert len(cloud.hits("token")) == 1 and not cloud.hits("upload_start")


def test_missing_credentials_are_fatal(cloud, files, tmp_path, store_root):
    with pytest.raises(FatalError, match="lacks refresh_token"):
        run(cloud, files, tmp_path, store_root, refresh_token="")


@pytest.mark.parametrize("reason,says", [("quotaExceeded", "midnight Pacific time"),
                                         ("uploadLimitExceeded", "upload limit")])
def test_quota_errors_ask_to_wait_until_the_reset(reason, says, cloud, files, tmp_path,
                                                  store_root):
    cloud.quota_exceeded(reason=reason)
    with pytest.raises(QuotaWait, match=says) as caught:
        run(cloud, files, tmp_path, store_root)
    assert len(cloud.hits("upload_start")) == 1  # no retry storm
    assert caught.value.kind == "quota"
    local = caught.value.until.astimezone(youtube.QUOTA_RESET_ZONE)  # next midnight Pacific
    left = (caught.value.until - datetime.now(timezone.utc)).total_seconds()
    assert (local.hour, local.minute) == (0, 5) and 0 < left <= 24 * 3600 + 300
    # After the reset the same publish goes through: one video.
    receipt = run(cloud, files, tmp_path, store_root)
    assert list(cloud.videos) == [receipt["video_id"]] and len(cloud.hits("upload_start")) == 2
    assert cloud.units == QUOTA_COSTS["upload_start"] + QUOTA_COSTS["thumbnail"] + QUOTA_COSTS["caption"]


def test_long_retry_after_mid_upload_waits_and_resumes_the_session(cloud, files, tmp_path,
                                                                    store_root):
    cloud.fail("upload_put", 429, after=2, headers={"Retry-After": "120"},
               body=youtube_error(429, "rateLimitExceeded"))
    with pytest.raises(QuotaWait, match="asked to wait 120 s") as caught:
        run(cloud, files, tmp_path, store_root)
    assert caught.value.kind == "retry_after"
    assert 100 < (caught.value.until - datetime.now(timezone.utc)).total_seconds() <= 120
    receipt = run(cloud, files, tmp_path, store_root)
    assert len(cloud.hits("upload_start")) == 1 and list(cloud.videos) == [receipt["video_id"]]


def test_rejected_access_token_is_fatal(cloud, files, tmp_path, store_root):
    cloud.fail("upload_start", 401, times=3, body={"error": {"code": 401, "message": "Invalid Credentials",
                                                    "errors": [{"reason": "authError"}]}})
    with pytest.raises(FatalError, match="rejected the access token"):
        run(cloud, files, tmp_path, store_root)
