"""The studio in Debian's Chromium (Playwright, no browser download), against the session's Airflow.

bob (tenant globex) uploads a clip through the page, waits for the review, edits a segment,
continues, plays the final video, edits the narration again and reruns from voiceover. Every
page is saved as a screenshot under test-output/screenshots/.
"""

from __future__ import annotations

import hashlib
import os

import pytest
import requests

from include.sample_media import make_sample
from include.stages.ingest import video_id_for
from tests.conftest import OUT

pytestmark = pytest.mark.scheduler

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SHOTS = OUT / "screenshots"


@pytest.fixture(scope="module")
def page(airflow_server):
    from playwright.sync_api import sync_playwright

    if not os.path.exists(CHROMIUM):
        pytest.fail("chromium is missing: run `make test` (scripts/system_deps.sh --test installs it)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    token = requests.post(
        f"{airflow_server.url}/auth/token", json={"username": "bob", "password": "bob"}, timeout=30
    ).json()["access_token"]
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        context.add_cookies(
            [{"name": "_token", "value": token, "url": airflow_server.url}]
        )  # the UI's session
        tab = context.new_page()
        yield tab
        browser.close()


def _open(page, url: str, shot: str) -> float:
    page.goto(url)
    page.screenshot(path=str(SHOTS / f"{shot}.png"), full_page=True)
    load_ms = page.evaluate("performance.getEntriesByType('navigation')[0].duration")
    print(f"page {shot}: {load_ms:.0f} ms")
    return load_ms


def test_upload_review_play_and_rerun_in_the_browser(page, airflow_server, tmp_path):
    client, studio = airflow_server.client, f"{airflow_server.url}/studio"
    clip = tmp_path / "browser clip.mp4"
    make_sample(clip, seconds=9, size="320x180")
    vid = video_id_for("globex", hashlib.sha256(clip.read_bytes()).hexdigest())

    assert _open(page, f"{studio}/upload", "upload") < 2000
    page.set_input_files("#file", str(clip))
    page.fill("input[name=title_hint]", "Browser test")
    page.select_option("select[name=script_mode]", "review_before_tts")
    page.click("#upload-button")
    page.wait_for_url(f"**/studio/videos/{vid}", timeout=60_000)
    page.screenshot(path=str(SHOTS / "video-running.png"), full_page=True)

    assert client.wait_task(vid, "review_gate", {"deferred", "failed"}, timeout=400)["state"] == "deferred"
    assert _open(page, f"{studio}/videos/{vid}/review", "review") < 2000
    first = page.locator("textarea").first
    budget = int(first.get_attribute("data-budget"))
    first.fill(" ".join(["word"] * (budget + 3)))
    assert page.locator(".budget.over").count() == 1
    first.fill("Hello from the browser test.")
    assert page.locator(".budget .count").first.inner_text() == "5"
    assert page.locator(".budget.over").count() == 0
    page.click("#save-draft")
    page.wait_for_selector("text=Draft saved.")
    page.screenshot(path=str(SHOTS / "review-edited.png"), full_page=True)
    page.click("#approve")
    page.wait_for_url(f"**/studio/videos/{vid}", timeout=30_000)

    assert client.wait(vid, timeout=600)["state"] == "success"
    assert _open(page, f"{studio}/videos/{vid}", "video-final") < 3000
    playing = page.evaluate("""async () => {
        const v = document.querySelector('#player');
        v.muted = true;
        await v.play();
        await new Promise((r) => setTimeout(r, 1500));
        return {time: v.currentTime, duration: v.duration};
    }""")
    assert playing["time"] > 0.2 and playing["duration"] > 1, playing
    page.screenshot(path=str(SHOTS / "video-playing.png"), full_page=True)

    assert _open(page, f"{studio}/videos", "videos") < 2000
    assert page.locator(f"text={vid}").count() == 1

    # edit the narration of the finished video, then rerun from voiceover
    page.goto(f"{studio}/videos/{vid}/review")
    page.locator("textarea").first.fill("Edited after the final cut.")
    page.click("#save-draft")
    page.wait_for_selector("text=Draft saved.")
    page.screenshot(path=str(SHOTS / "review-after-final.png"), full_page=True)
    page.goto(f"{studio}/videos/{vid}")
    before = {t["task_id"]: t["try_number"] for t in client.task_instances(vid)}
    page.click("button.rerun[data-stage=voiceover]")
    listed = page.locator("#rerun-list li").all_inner_texts()
    assert listed[0] == "voiceover" and {"edit", "render", "publish"} <= set(listed)
    assert not {"ingest", "analyze", "script", "review_gate"} & set(listed)
    page.screenshot(path=str(SHOTS / "rerun-confirm.png"))
    with page.expect_response("**/rerun") as rerun:
        page.click("#rerun-confirm")
    assert rerun.value.status == 200
    assert client.wait(vid, timeout=600)["state"] == "success"
    after = {t["task_id"]: t["try_number"] for t in client.task_instances(vid)}
    assert after["ingest"] == before["ingest"] and after["review_gate"] == before["review_gate"]
    assert after["voiceover"] == before["voiceover"] + 1 and after["publish"] == before["publish"] + 1
    voice = requests.get(
        f"{studio}/api/videos/{vid}/artifacts/voiceover/voiceover.json",
        timeout=30,
        cookies={"_token": page.context.cookies()[0]["value"]},
    ).json()
    assert voice["segments"][0]["text"] == "Edited after the final cut."
