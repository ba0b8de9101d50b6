"""OpenAI and Anthropic script/metadata writers: the real SDKs against a local wire stand-in."""

from __future__ import annotations

import base64
import json
import time

import cv2
import numpy as np
import pytest

from include.core.errors import FatalError, RetryableError
from include.core.usage import Usage
from include.providers.cloud import ProviderConfig
from include.providers.vision import describe_keyframes
from include.stages import metadata, script
from include.stages.settings import Settings
from tests.fakes.cloud import API_KEY, FakeCloud

SEGMENTS = {
    "duration": 12.0,
    "segments": [
        {"id": "s01", "start": 0.0, "end": 4.0, "kept_duration": 4.0, "motion": 0.4,
         "dominant_color": "blue", "description": "A dashboard with three charts."},
        {"id": "s02", "start": 4.0, "end": 12.0, "kept_duration": 6.5, "static_ratio": 0.9,
         "edge_density": 0.2},
    ],
}


@pytest.fixture(scope="module")
def cloud():
    with FakeCloud() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(cloud):
    cloud.reset()


@pytest.fixture
def segments_path(tmp_path):
    path = tmp_path / "segments.json"
    path.write_text(json.dumps(SEGMENTS))
    return path


def config(cloud, provider: str, **overrides) -> ProviderConfig:
    base = cloud.url + "/v1" if provider == "openai" else cloud.url
    values = dict(conn_id=f"{provider}_default", api_key=API_KEY, base_url=base,
                  model="gpt-test" if provider == "openai" else "claude-test", max_retries=1)
    return ProviderConfig(**{**values, **overrides})


ROUTE = {"openai": "chat", "anthropic": "messages"}


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_script_fits_budgets_and_prompt_carries_the_context(provider, cloud, segments_path, tmp_path):
    result = script.run(segments_path, Settings(title_hint="Acme dashboard"), tmp_path,
                        writer=provider, config=config(cloud, provider))
    doc = json.loads((tmp_path / "script.json").read_text())
    assert doc["writer"] == provider
    for seg in doc["segments"]:
        assert len(seg["text"].split()) == seg["word_budget"]
    assert result["usage"]["provider"] == provider and result["usage"]["requests"] == 1
    assert result["usage"]["input_tokens"] > 0
    (request,) = cloud.hits(ROUTE[provider])
    prompt = json.dumps(request.json()["messages"])
    for needle in ("Acme dashboard", "word_budget", "A dashboard with three charts", "s02",
                   "seconds_of_footage"):
        assert needle in prompt
    if provider == "anthropic":  # anthropic 2.x authenticates with a bearer token
        assert request.headers["Authorization"] == f"Bearer {API_KEY}"
        assert request.json()["tool_choice"] == {"type": "tool", "name": "answer"}
    else:
        assert request.json()["response_format"]["json_schema"]["strict"] is True


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_invalid_json_is_repaired_once_then_retryable(provider, cloud, segments_path, tmp_path):
    cloud.chat_replies.append(json.dumps({"segments": "nope"}))
    script.run(segments_path, Settings(), tmp_path, writer=provider, config=config(cloud, provider))
    first, second = cloud.hits(ROUTE[provider])
    assert "not valid JSON for the schema" in json.dumps(second.json()["messages"])

    cloud.requests.clear()
    cloud.chat_replies.extend([json.dumps({"segments": 1}), json.dumps({"wrong": True})])
    with pytest.raises(RetryableError, match="twice returned JSON"):
        script.run(segments_path, Settings(), tmp_path, writer=provider,
                   config=config(cloud, provider))
    assert len(cloud.hits(ROUTE[provider])) == 2


def test_over_budget_answer_is_re_asked_then_trimmed(cloud, segments_path, tmp_path):
    long = {"segments": [{"id": "s01", "text": "word " * 40}, {"id": "s02", "text": "Fine."}]}
    cloud.chat_replies.extend([json.dumps(long)] * 2)
    script.run(segments_path, Settings(), tmp_path, writer="openai", config=config(cloud, "openai"))
    requests = cloud.hits("chat")
    assert len(requests) == 2
    assert "has 40 words; its budget is 10" in json.dumps(requests[1].json()["messages"])
    doc = json.loads((tmp_path / "script.json").read_text())
    assert len(doc["segments"][0]["text"].split()) == doc["segments"][0]["word_budget"] == 10


def test_metadata_copy_from_the_model_passes_the_limits(cloud, tmp_path):
    script_path, edl_path = tmp_path / "script.json", tmp_path / "edl.json"
    script_path.write_text(json.dumps({"title": "Hint", "language": "en", "segments": [
        {"id": "s01", "text": "Here is the dashboard."}]}))
    edl_path.write_text(json.dumps({"output": {"duration": 12.0}, "narration": []}))
    result = metadata.run(script_path, edl_path, Settings(), tmp_path, writer="anthropic",
                          config=config(cloud, "anthropic"))
    doc = json.loads((tmp_path / "metadata.json").read_text())
    assert doc["title"] == result["title"] == "A cloud written title"
    assert doc["tags"] == ["dashboard", "tour", "cloud"]
    assert doc["description"].startswith("A summary from the model.")
    assert result["usage"]["requests"] == 1


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_429_honours_retry_after(provider, cloud, segments_path, tmp_path):
    cloud.fail(ROUTE[provider], 429, headers={"Retry-After": "1"})
    started = time.monotonic()
    script.run(segments_path, Settings(), tmp_path, writer=provider, config=config(cloud, provider))
    assert time.monotonic() - started >= 1.0
    assert len(cloud.hits(ROUTE[provider])) == 2


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_server_errors_and_dead_hosts_are_retryable(provider, cloud, segments_path, tmp_path):
    cloud.fail(ROUTE[provider], 500, times=2)
    with pytest.raises(RetryableError, match="answered 500"):
        script.run(segments_path, Settings(), tmp_path, writer=provider,
                   config=config(cloud, provider, max_retries=1))
    dead = config(cloud, provider, base_url="http://127.0.0.1:9", max_retries=0)
    with pytest.raises(RetryableError, match="could not be reached"):
        script.run(segments_path, Settings(), tmp_path, writer=provider, config=dead)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_bad_key_and_unknown_model_are_fatal_at_once(provider, cloud, segments_path, tmp_path):
    with pytest.raises(FatalError, match=f"rejected the API key .*{provider}_default"):
        script.run(segments_path, Settings(), tmp_path, writer=provider,
                   config=config(cloud, provider, api_key="wrong"))
    assert len(cloud.hits(ROUTE[provider])) == 1  # no retry
    cloud.fail(ROUTE[provider], 404, body={"error": {"message": "model not found"}})
    with pytest.raises(FatalError, match="does not know the model"):
        script.run(segments_path, Settings(), tmp_path, writer=provider,
                   config=config(cloud, provider))
    with pytest.raises(FatalError, match="no .* API key"):
        script.run(segments_path, Settings(), tmp_path, writer=provider,
                   config=config(cloud, provider, api_key=""))


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_keyframes_are_sent_downscaled_and_described(provider, cloud, tmp_path):
    frame = tmp_path / "s01.jpg"
    cv2.imwrite(str(frame), np.full((720, 1280, 3), 200, np.uint8))
    usage = Usage(provider, "m")
    assert describe_keyframes({"s01": frame}, provider, config(cloud, provider), usage) == {
        "s01": "A screen with charts (1 image)."}
    (request,) = cloud.hits(ROUTE[provider])
    content = request.json()["messages"][-1]["content"]
    if provider == "openai":
        data = next(p for p in content if p["type"] == "image_url")["image_url"]["url"]
        data = data.removeprefix("data:image/jpeg;base64,")
    else:
        data = next(p for p in content if p["type"] == "image")["source"]["data"]
    image = cv2.imdecode(np.frombuffer(base64.b64decode(data), np.uint8), cv2.IMREAD_COLOR)
    assert image.shape[:2] == (288, 512)
    assert usage.to_dict()["requests"] == 1
