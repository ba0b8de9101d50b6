"""The studio's video page shows QC beside the video (include/studio/templates/video.html with
include.studio.videos._qc_panel), rendered from a qc.json as the qc stage writes it."""

from __future__ import annotations

from pathlib import Path

from jinja2 import Environment, FileSystemLoader, select_autoescape

from include.stages import qc
from include.studio.videos import _qc_panel

TEMPLATES = Path(__file__).resolve().parents[1] / "include" / "studio" / "templates"


def _report(passed: bool) -> dict:
    """A qc.json shaped by the stage's own check builders."""
    checks = {
        "loudness": qc._loudness_check(-70.0 if not passed else -14.1, None if not passed else -1.8),
        "duration": qc._duration_check(12.47, 12.47),
        "caption_onsets": qc._onsets_check([("Here", 0.5), ("is", 0.8)],
                                           [("Here", 0.0), ("is", 0.3)] if not passed
                                           else [("Here", 0.49), ("is", 0.81)]),
    }
    failures = [c["message"] for c in checks.values() if c["status"] == "fail"]
    return {"passed": not failures, "summary": qc.summary_sentence(failures), "failures": failures,
            "final_sha256": "ab" * 32, "checks": checks,
            "cost": {"total_seconds": 3.1, "total_over_duration": 0.25}}


def _page(report: dict, waiting: bool) -> str:
    env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape())
    video = {"video_id": "acme-0123456789abcdef", "title": "Tour", "state": "running",
             "tenant": "acme", "script_mode": "autopilot", "waiting_for_review": False,
             "final": "render/final.mp4", "thumbnail": None, "metadata": None, "receipt": None,
             "stages": [], "artifacts": ["edit/timeline.otio", "qc/qc.json"], "rerun_plan": {},
             "qc": _qc_panel(report), "waiting_for_qc_review": waiting,
             "timeline": ["edit/timeline.fcpxml", "edit/timeline.otio", "edit/timeline.xml"]}
    return env.get_template("video.html").render(video=video, base="/studio",
                                                 user={"name": "ann", "tenant": "acme"})


def test_a_failed_qc_waiting_for_review_shows_why_and_the_buttons():
    report = _report(passed=False)
    assert not report["passed"]
    html = _page(report, waiting=True)
    assert "Quality check: failed" in html
    assert "QC failed: the final audio is silent; captions appear 500 ms late" in html
    assert "-70.0 LUFS" in html and "median 500 ms" in html
    assert 'id="qc-approve"' in html and 'id="qc-reject"' in html
    assert f'data-sha="{"ab" * 32}"' in html
    assert "/artifacts/edit/timeline.otio" in html and ">timeline.fcpxml<" in html


def test_a_passed_qc_shows_its_figures_and_no_buttons():
    report = _report(passed=True)
    assert report["passed"], report
    html = _page(report, waiting=False)
    assert "Quality check: passed" in html and "-14.1 LUFS, -1.8 dBTP" in html
    assert 'id="qc-approve"' not in html
