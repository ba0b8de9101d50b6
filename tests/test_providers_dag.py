"""One ``dag.test()`` run with every stage on a cloud provider, all pointed at local stand-ins.

Credentials reach the tasks the production way: Airflow Connections (``AIRFLOW_CONN_*``
environment variables here), read by the DAG layer and handed to the stages as plain config.
"""

from __future__ import annotations

import hashlib
import json

import pytest

from include.stages.ingest import video_id_for
from include.storage import ArtifactStore, artifact_key
from tests.fakes.cloud import (
    API_KEY,
    CLIENT_ID,
    CLIENT_SECRET,
    REFRESH_TOKEN,
    FakeCloud,
)

pytestmark = pytest.mark.usefixtures("airflow_db")


@pytest.fixture
def clouds(tmp_path, monkeypatch):
    with FakeCloud() as api, FakeCloud(tls_dir=tmp_path / "tls") as google:
        def conn(**fields):
            return json.dumps({"conn_type": "generic", **fields})

        monkeypatch.setenv("AIRFLOW_CONN_OPENAI_DEFAULT", conn(host=api.url + "/v1", password=API_KEY))
        monkeypatch.setenv("AIRFLOW_CONN_ANTHROPIC_DEFAULT", conn(host=api.url, password=API_KEY))
        monkeypatch.setenv("AIRFLOW_CONN_ELEVENLABS_DEFAULT", conn(host=api.url, password=API_KEY))
        monkeypatch.setenv("AIRFLOW_CONN_YOUTUBE_DEFAULT", conn(extra={
            "client_id": CLIENT_ID, "client_secret": CLIENT_SECRET, "refresh_token": REFRESH_TOKEN,
            "token_uri": google.url + "/token", "api_endpoint": google.url}))
        monkeypatch.setenv("HTTPLIB2_CA_CERTS", str(google.ca_file))
        yield api, google


def test_every_stage_on_a_cloud_provider(sample_clip, clouds, monkeypatch):
    """... and the first videos.insert meets a used-up quota: publish defers (dag.test runs the
    trigger inline), waits the shortened reset, resumes and uploads once."""
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import ROOT

    api, google = clouds
    clip, _truth = sample_clip
    tenant = "cloud"
    store = ArtifactStore()
    vid = video_id_for(tenant, hashlib.sha256(clip.read_bytes()).hexdigest())
    for stale in store.list(f"tenants/{tenant}/"):
        store.path(stale).unlink(missing_ok=True)
    google.quota_exceeded("upload_start")
    monkeypatch.setenv("VIDEO_PUBLISH_QUOTA_WAIT", "1")  # instead of until midnight Pacific
    dag = DagBag(dag_folder=str(ROOT / "dags")).get_dag("video_pipeline")
    dagrun = dag.test(run_conf={
        "tenant": tenant, "source": str(clip), "title_hint": "Cloud tour",
        "llm_provider": "openai", "vision_provider": "anthropic", "tts_provider": "elevenlabs",
        "publish_target": "youtube", "privacy": "unlisted", "openai_model": "gpt-test",
        "anthropic_model": "claude-test", "elevenlabs_voice": "voice-rachel",
    })
    states = {ti.task_id: str(ti.state) for ti in dagrun.get_task_instances()}
    assert str(dagrun.state) == "success", states

    key = lambda stage, name: artifact_key(tenant, vid, stage, name)  # noqa: E731
    segments = store.get_json(key("analyze", "segments.json"))["segments"]
    assert all(seg["description"].startswith("A screen with charts") for seg in segments)
    assert len(api.hits("messages")) == len(segments)  # one vision request per keyframe

    script = store.get_json(key("script", "script.json"))
    assert script["writer"] == "openai"
    assert all(len(s["text"].split()) <= s["word_budget"] for s in script["segments"])
    prompt = api.hits("chat")[0].body.decode()
    assert "A screen with charts" in prompt and "Cloud tour" in prompt

    voice = store.get_json(key("voiceover", "voiceover.json"))
    assert voice["provider"] == "elevenlabs" and voice["voice"] == "voice-rachel"
    assert {seg["timing"] for seg in voice["segments"]} == {"exact"}
    texts = [seg["text"] for seg in script["segments"]]
    # Equal texts may be served from the cache once the first one is spoken.
    assert len(set(texts)) <= len(api.hits("elevenlabs")) <= len(texts)
    assert store.list(f"tenants/{tenant}/tts-cache/")  # paid audio is kept for reruns

    meta = store.get_json(key("metadata", "metadata.json"))
    assert meta["title"] == "A cloud written title"

    final = store.path(key("render", "final.mp4")).read_bytes()
    (upload,) = google.uploads.values()
    assert bytes(upload.data) == final
    assert upload.metadata["snippet"]["title"] == meta["title"]
    assert upload.metadata["status"]["privacyStatus"] == "unlisted"
    receipt = store.get_json(key("publish", "receipt.json"))
    assert receipt["video_id"] == upload.video_id and receipt["target"] == "youtube"
    assert list(google.videos) == [upload.video_id] and len(google.hits("upload_start")) == 2
    assert receipt["waited_seconds"] == 1.0 and receipt["action"] == "uploaded"  # via resume()
    assert store.get_json(key("publish", "state/youtube.receipt.json")) == receipt
    assert store.get_json(key("publish", "state/youtube.session.json"))["done"]
    # dag.test runs the sidecar tasks (thumbnail, captions) before publish: both go along.
    assert google.thumbnails[upload.video_id] == store.path(key("thumbnail", "thumbnail.jpg")).read_bytes()
    ((caption_meta, caption_body),) = google.captions
    assert caption_body == store.path(key("captions", "captions.srt")).read_bytes()
    assert receipt["files"] == ["final.mp4", "thumbnail.jpg", "captions.srt"]

    usage = store.get_json(key("publish", "usage.json"))
    assert set(usage["stages"]) == {"analyze", "script", "voiceover", "metadata"}
    assert usage["total"]["input_tokens"] > 0 and usage["total"]["characters"] > 0
    assert usage["total"]["audio_seconds"] > 0
    spoken = usage["stages"]["voiceover"]
    assert spoken["requests"] == len(api.hits("elevenlabs"))
    assert spoken["requests"] + spoken.get("cached", 0) == len(texts)


def test_provider_params_are_trigger_form_enums():
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import ROOT

    params = DagBag(dag_folder=str(ROOT / "dags")).get_dag("video_pipeline").params
    enums = {name: params.get_param(name).schema["enum"]
             for name in ("llm_provider", "vision_provider", "tts_provider", "publish_target")}
    assert enums == {
        "llm_provider": ["offline", "openai", "anthropic"],
        "vision_provider": ["none", "openai", "anthropic"],
        "tts_provider": ["piper", "espeak", "openai", "elevenlabs"],
        "publish_target": ["outbox", "youtube"],
    }
    assert (params["llm_provider"], params["vision_provider"], params["tts_provider"],
            params["publish_target"]) == ("offline", "none", "piper", "outbox")
    for name in ("openai_model", "anthropic_model", "openai_tts_model", "openai_voice",
                 "elevenlabs_model", "elevenlabs_voice", "piper_voice", "asr_model"):
        assert params[name] == "" and "Variable" in params.get_param(name).description
