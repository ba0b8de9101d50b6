"""The production topology under load and under failure (see conftest.py for the setup).

Batch throughput, a media worker killed mid-encode, and an upload through a presigned S3 URL as
a run's source with the scheduler restarted mid-run — all through REST, Celery and the s3:// store.
"""

from __future__ import annotations

import hashlib
import os
import signal
import time
from pathlib import Path

import psutil
import pytest
import requests

from include.core.media import ffprobe
from include.stages.ingest import video_id_for
from include.storage import artifact_key, video_prefix
from tests.integration.conftest import REPORT

pytestmark = pytest.mark.integration

MEDIA_TASKS = {"analyze", "edit", "animate", "render_chunk", "render", "qc", "thumbnail"}


def _trigger(cluster, clip: Path, tenant: str, source: str | None = None) -> str:
    vid = video_id_for(tenant, hashlib.sha256(clip.read_bytes()).hexdigest())
    # the generated clips show no text and say no words: the title hint is what there is to
    # narrate (a video without any narration is silent, and QC stops it)
    _, created = cluster.client.trigger(vid, {"tenant": tenant, "source": source or str(clip),
                                              "title_hint": "a cluster test clip"})
    assert created, f"run {vid} already existed"
    return vid


def _tis(cluster, run_id: str) -> dict[str, dict]:
    return {t["task_id"]: t for t in cluster.client.task_instances(run_id)}


def _assert_success(cluster, run_id: str, timeout: float = 420) -> dict[str, dict]:
    run = cluster.client.wait(run_id, timeout=timeout)
    tis = _tis(cluster, run_id)
    assert run["state"] == "success", {t: (ti["state"], ti["try_number"]) for t, ti in tis.items()}
    for task_id, ti in tis.items():
        assert ti["queue"] == ("media" if task_id in MEDIA_TASKS else "default"), (task_id, ti["queue"])
    return tis


def _check_final(cluster, tenant: str, vid: str, tmp_path: Path) -> dict:
    """final.mp4 is a complete video; temp keys of interrupted writes never sit under final names."""
    store = cluster.store
    local = store.get_file(artifact_key(tenant, vid, "render", "final.mp4"), tmp_path / f"{vid}.mp4")
    info = ffprobe(local)
    assert float(info["format"]["duration"]) > 1.0
    assert {s["codec_type"] for s in info["streams"]} == {"video", "audio"}
    keys = store.list(video_prefix(tenant, vid))
    finals = [k for k in keys if not k.rsplit("/", 1)[-1].startswith(".")]
    assert not [k for k in finals if ".partial" in k], finals
    return {"keys": keys, "garbage": [k for k in keys if k not in finals]}


def _tree(pid: int) -> list[psutil.Process]:
    root = psutil.Process(pid)
    return [root, *root.children(recursive=True)]


def _ffmpeg_args(process: psutil.Process) -> list[str]:
    """An ffmpeg's command line; [] for any other process, or one that has just exited (a probe
    ends between listing the tree and reading its arguments: gone, or a zombie not yet reaped)."""
    try:
        return process.cmdline() if process.name() == "ffmpeg" else []
    except psutil.Error:
        return []


def _cpu_seconds(pids: list[int]) -> float:
    """CPU time of these processes and everything below them, including reaped children."""
    total = 0.0
    for pid in pids:
        for p in _tree(pid):
            try:
                t = p.cpu_times()
                total += t.user + t.system + t.children_user + t.children_system
            except psutil.NoSuchProcess:
                pass
    return total


def _machine_busy_seconds() -> float:
    """CPU seconds every process on this machine has used (to tell a slow cluster from a busy box)."""
    t = psutil.cpu_times()
    return t.user + t.nice + t.system + t.irq + t.softirq + t.steal


def test_topology(cluster):
    status = cluster.run("status")
    for component in ("api-server", "scheduler", "dag-processor", "triggerer", "worker-media", "worker-default"):
        assert f"{component}: running" in status, status
    assert "health: ok" in status
    pools = {p["name"]: p["slots"] for p in cluster.client._call("GET", "/pools")["pools"]}
    assert pools.get("media_encode", 0) >= 1, pools


def test_batch_of_five_videos(cluster, short_clip):
    workers = [cluster.pid("worker-media"), cluster.pid("worker-default")]
    services = {c: cluster.pid(c) for c in ("scheduler", "api-server", "dag-processor", "triggerer")}
    cpu_before, busy_before = _cpu_seconds(workers), _machine_busy_seconds()
    services_before = {c: _cpu_seconds([pid]) for c, pid in services.items()}
    started = time.monotonic()
    runs = {f"batch{i}": _trigger(cluster, short_clip, f"batch{i}") for i in range(1, 6)}
    for vid in runs.values():
        _assert_success(cluster, vid, timeout=1500)  # a safety net: five runs of nine-plus tasks share two cores
    wall = time.monotonic() - started
    cpu = _cpu_seconds(workers) - cpu_before
    services_cpu = {c: _cpu_seconds([pid]) - services_before[c] for c, pid in services.items()}
    footage = 5 * float(ffprobe(short_clip)["format"]["duration"])
    cores = os.cpu_count() or 1
    busy = (_machine_busy_seconds() - busy_before) / (wall * cores)
    REPORT["batch: 5 videos (12 s clips)"] = (
        f"wall {wall:.0f} s, worker CPU {cpu:.0f} s on {cores} cores: wall / (CPU / cores) = "
        f"{wall / (cpu / cores):.2f} (1.0 = the workers kept every core busy); the machine's cores "
        f"were {busy:.0%} busy meanwhile (Airflow's own services and anything else running); "
        f"{cpu / footage:.2f} worker CPU-s per second of footage; Airflow's services "
        f"{sum(services_cpu.values()):.0f} CPU-s ("
        + ", ".join(f"{c} {v:.1f}" for c, v in services_cpu.items()) + ")"
    )
    assert cpu > 0


def test_media_worker_killed_mid_encode_is_rescheduled(cluster, sample_clip, tmp_path):
    clip, _ = sample_clip
    tenant = "crash"
    vid = _trigger(cluster, clip, tenant)
    cluster.client.wait_task(vid, "render", {"running"}, timeout=300)

    # The render's ffmpeg, below the media worker (the task runs in a process group of its own).
    worker = cluster.pid("worker-media")
    deadline = time.monotonic() + 60
    encoder = None
    while encoder is None:
        assert time.monotonic() < deadline, "no render ffmpeg below the media worker"
        encoder = next((p for p in _tree(worker)
                        if any(".final.mp4.partial" in a for a in _ffmpeg_args(p))), None)
        time.sleep(0.2)
    victims = _tree(worker)
    for p in victims:  # the host dies: worker, its pool, the task supervisor, the task, ffmpeg
        p.send_signal(signal.SIGKILL)
    killed = time.monotonic()
    psutil.wait_procs(victims, timeout=10)
    cluster.run("up", "worker-media")

    tis = _assert_success(cluster, vid, timeout=420)
    recovered = time.monotonic() - killed
    assert tis["render"]["try_number"] >= 2, tis["render"]
    found = _check_final(cluster, tenant, vid, tmp_path)
    REPORT["crash: media worker kill -9 mid-encode → run success"] = (
        f"{recovered:.0f} s after the kill (render try {tis['render']['try_number']}, "
        f"{len(found['garbage'])} leftover temp key(s), none under a final name)"
    )


def test_presigned_upload_then_a_run_that_survives_a_scheduler_restart(cluster, local_s3, short_clip, tmp_path):
    """A browser-style upload through a presigned PUT URL is the run's source; the scheduler is
    restarted while the run is in flight (the running task is adopted, the rest gets scheduled)."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    tenant = "uploader"
    key = f"tenants/{tenant}/uploads/{short_clip.name}"
    bucket, _, prefix = cluster.store.root_url.split("@", 1)[1].partition("/")
    url = S3Hook(aws_conn_id=local_s3.conn_id).generate_presigned_url(
        "put_object", params={"Bucket": bucket, "Key": f"{prefix}/{key}", "ContentType": "video/mp4"},
        http_method="PUT",
    )
    put = requests.put(url, data=short_clip.read_bytes(), headers={"Content-Type": "video/mp4"}, timeout=60)
    assert put.status_code == 200, put.text
    head = local_s3.client().head_object(Bucket=bucket, Key=f"{prefix}/{key}")
    assert head["ContentLength"] == short_clip.stat().st_size

    vid = _trigger(cluster, short_clip, tenant, source=key)
    cluster.client.wait_task(vid, "analyze", {"running", "success"}, timeout=300)
    before = cluster.pid("scheduler")
    restarted = time.monotonic()
    cluster.run("down", "scheduler")
    cluster.run("up", "scheduler")
    assert cluster.pid("scheduler") != before
    _assert_success(cluster, vid)
    REPORT["scheduler restart mid-run → run success"] = f"{time.monotonic() - restarted:.0f} s after the restart"
    _check_final(cluster, tenant, vid, tmp_path)
    receipt = cluster.store.get_json(artifact_key(tenant, vid, "publish", "receipt.json"))
    assert (Path(receipt["location"]) / "final.mp4").stat().st_size > 0
