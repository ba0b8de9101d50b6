"""Captions stage: SRT + VTT sidecars parse and match the EDL's caption events."""

from __future__ import annotations

import json

import pysubs2
import pytest

from include.core.errors import FatalError
from include.stages import sidecar
from include.stages.settings import Settings

EVENTS = [
    {"start": 0.0, "end": 1.234, "text": "Here is the dashboard"},
    {"start": 1.3, "end": 2.5, "text": "R&D <beta> numbers"},
    {"start": 3661.005, "end": 3662.0, "text": "这是我们的仪表板"},
]


def write_edl(folder, events):
    path = folder / "edl.json"
    path.write_text(json.dumps({"captions": {"file": "captions.ass", "events": events}}),
                    encoding="utf-8")
    return path


def test_srt_and_vtt_parse_and_match_the_events(tmp_path):
    result = sidecar.run(write_edl(tmp_path, EVENTS), Settings(), tmp_path / "out")
    assert result == {"events": 3, "files": ["captions.srt", "captions.vtt"]}
    vtt = (tmp_path / "out" / "captions.vtt").read_text(encoding="utf-8")
    srt = (tmp_path / "out" / "captions.srt").read_text(encoding="utf-8")
    assert vtt.startswith("WEBVTT\n\n00:00:00.000 --> 00:00:01.234\n")
    assert "01:01:01.005 --> 01:01:02.000" in vtt and "R&amp;D &lt;beta&gt; numbers" in vtt
    assert srt.startswith("1\n00:00:00,000 --> 00:00:01,234\nHere is the dashboard\n\n2\n")
    for name in ("captions.srt", "captions.vtt"):
        subs = pysubs2.load(str(tmp_path / "out" / name))
        assert [(line.start, line.end) for line in subs] == [
            (round(e["start"] * 1000), round(e["end"] * 1000)) for e in EVENTS]
        assert subs[2].plaintext == "这是我们的仪表板"


def test_no_events_gives_valid_empty_files(tmp_path):
    sidecar.run(write_edl(tmp_path, []), Settings(), tmp_path / "out")
    assert (tmp_path / "out" / "captions.vtt").read_text() == "WEBVTT\n"
    assert len(pysubs2.load(str(tmp_path / "out" / "captions.vtt"))) == 0
    assert (tmp_path / "out" / "captions.srt").read_text() == ""


def test_malformed_events_are_fatal(tmp_path):
    with pytest.raises(FatalError, match="malformed caption event"):
        sidecar.run(write_edl(tmp_path, [{"start": 0.0}]), Settings(), tmp_path / "out")
