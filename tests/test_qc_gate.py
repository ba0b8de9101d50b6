"""The qc task (include/qc_gate.py) under ``dag.test()``: a video that fails QC is not let through;
``on_qc_fail=fail`` fails the task with the reasons, ``review`` waits for a decision on that
final.mp4 and follows it. The QC stage, the store and the trigger are real; the failing video is
a generated 4 s clip with a silent sound track (its EDL says it should be narrated)."""

from __future__ import annotations

import subprocess
import threading
import time
from datetime import timedelta

import pytest

from include.core.edl import AudioPlan, CaptionTrack, Clip, Edl, Narration, Output, Source
from include.review import QcReview, ReviewConflict, qc_report_key
from include.storage import ArtifactStore, artifact_key

pytestmark = pytest.mark.usefixtures("airflow_db")
DURATION = 4.0


@pytest.fixture(scope="module")
def silent_final(tmp_path_factory):
    """A 4 s 320x180 video whose audio track is silent, and an EDL that narrates it."""
    folder = tmp_path_factory.mktemp("qc_gate")
    final = folder / "final.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i",
                    f"testsrc2=s=320x180:r=30:d={DURATION}", "-f", "lavfi", "-i",
                    "anullsrc=r=48000:cl=stereo", "-t", str(DURATION), "-c:v", "libx264",
                    "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-c:a", "aac", str(final)],
                   check=True)
    edl = Edl(sync_mode="fit", output=Output(320, 180, 30, DURATION), source=Source(DURATION, True),
              clips=(Clip("s01", 0.0, DURATION, 1.0, 0.0, 0.0, DURATION),),
              narration=(Narration("s01", 0.0, 3.0, 0.0, 3.0),),
              audio=AudioPlan(), captions=CaptionTrack(style="clean", events=(
                  {"start": 0.2, "end": 1.5, "text": "Here is the dashboard", "words": [
                      {"word": w, "start": 0.2 + 0.3 * i, "end": 0.45 + 0.3 * i}
                      for i, w in enumerate("Here is the dashboard".split())]},)))
    edl.write(folder / "edl.json")
    from include.stages import caption_track as captions

    captions.write_ass(list(edl.captions.events), folder / "captions.ass", "clean", 320, 180)
    return folder


def _qc_dag(tenant: str, vid: str, store: ArtifactStore, folder):
    """A two-task DAG: one task hands over render's and edit's artifacts, then the real QcGate."""
    from airflow.sdk import dag, task

    from include.airflow_params import dag_params
    from include.qc_gate import QcGate

    keys = {name: store.put_file(folder / name, artifact_key(tenant, vid, stage, name))
            for stage, name in (("render", "final.mp4"), ("edit", "edl.json"),
                                ("edit", "captions.ass"))}
    store.put_json({"revision": "r1", "run_id": vid, "segments": [
        {"id": "s01", "start": 0.0, "end": 4.0, "text": "Here is the dashboard"}]},
        artifact_key(tenant, vid, "script", "script.json"))

    @dag(dag_id=f"qc_gate_{tenant}", schedule=None, params=dag_params())
    def qc_only():
        @task
        def upstream() -> dict:
            return {"video_id": vid, "tenant": tenant, "artifacts": keys, "result": {}}

        made = upstream()
        QcGate(task_id="qc", rendered=made, edited=made, retries=0, poll_interval=0.2,
               execution_timeout=timedelta(minutes=10))

    made = qc_only()
    _register(made)
    return made


def _register(made) -> None:
    """Write an ad-hoc DAG to the metadata DB (dag.test() runs only DAGs it finds there)."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db

    # the "dags-folder" bundle row the DAG refers to: a freshly migrated DB has none until a
    # dag processor ran (this file alone failed with a FOREIGN KEY error on the dag insert)
    DagBundlesManager().sync_bundles_to_db()
    bag = DagBag(collect_dags=False)
    bag.bag_dag(made)
    sync_bag_to_db(bag, "dags-folder", None)


def _fresh(tenant: str):
    import shutil

    from include.storage import video_prefix

    store = ArtifactStore()
    vid = f"{tenant}-{'0' * 16}"
    shutil.rmtree(store.path(video_prefix(tenant, vid)).path, ignore_errors=True)
    return store, vid


def _states(run) -> dict:
    return {ti.task_id: str(ti.state) for ti in run.get_task_instances()}


def test_failed_qc_fails_the_run_with_its_reasons(silent_final, caplog, capfd):
    store, vid = _fresh("qcfail")
    run = _qc_dag("qcfail", vid, store, silent_final).test(
        run_conf={"tenant": "qcfail", "source": "/x.mp4"})
    assert str(run.state) == "failed" and _states(run)["qc"] == "failed"
    report = store.get_json(qc_report_key("qcfail", vid))  # stored before failing
    assert not report["passed"]
    assert "the final audio is silent" in report["summary"]
    assert "no narration is heard in final.mp4" in report["summary"]
    out, err = capfd.readouterr()
    assert ("qc: QC failed: the final audio is silent; no narration is heard in final.mp4; not "
            "published (on_qc_fail=fail).") in caplog.text + out + err
    ti = next(t for t in run.get_task_instances() if t.task_id == "qc")
    assert ti.try_number == 1  # a FatalError: no retry


def _decide_when_reported(store, tenant, vid, decision, reason=""):
    def reviewer():
        deadline = time.monotonic() + 240
        while not store.exists(qc_report_key(tenant, vid)) and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(1.0)  # the task is deferred by now
        QcReview(store, tenant, vid).decide(decision, by="tester", reason=reason)

    thread = threading.Thread(target=reviewer, daemon=True)
    thread.start()
    return thread


def test_review_mode_waits_and_an_approval_lets_it_through(silent_final):
    store, vid = _fresh("qcok")
    thread = _decide_when_reported(store, "qcok", vid, "approved")
    run = _qc_dag("qcok", vid, store, silent_final).test(
        run_conf={"tenant": "qcok", "source": "/x.mp4", "on_qc_fail": "review"})
    thread.join(5)
    assert str(run.state) == "success", _states(run)
    report = store.get_json(qc_report_key("qcok", vid))
    decision = QcReview(store, "qcok", vid).decision(report["final_sha256"])
    assert decision["decision"] == "approved" and decision["failures"] == report["failures"]
    with pytest.raises(ReviewConflict):  # a decision is final
        QcReview(store, "qcok", vid).decide("rejected", reason="changed my mind")


def test_review_mode_rejection_fails_with_the_reason(silent_final, caplog, capfd):
    store, vid = _fresh("qcno")
    thread = _decide_when_reported(store, "qcno", vid, "rejected", reason="voice missing")
    run = _qc_dag("qcno", vid, store, silent_final).test(
        run_conf={"tenant": "qcno", "source": "/x.mp4", "on_qc_fail": "review"})
    thread.join(5)
    assert str(run.state) == "failed" and _states(run)["qc"] == "failed"
    out, err = capfd.readouterr()
    assert "and tester rejected it: voice missing." in caplog.text + out + err


def test_a_decision_is_bound_to_the_file_it_judged(tmp_path):
    store = ArtifactStore(f"file://{tmp_path / 'store'}")
    review = QcReview(store, "t", "t-1")
    with pytest.raises(ReviewConflict):
        review.decide("approved")  # nothing to review yet
    store.put_json({"passed": True, "final_sha256": "a" * 64}, qc_report_key("t", "t-1"))
    with pytest.raises(ReviewConflict):
        review.decide("approved")  # it passed
    store.put_json({"passed": False, "final_sha256": "a" * 64, "failures": ["x"]},
                   qc_report_key("t", "t-1"))
    with pytest.raises(ReviewConflict):
        review.decide("approved", final_sha256="b" * 64)  # the reviewer saw another file
    review.decide("approved", by="ann")
    assert review.decision("a" * 64)["by"] == "ann"
    assert review.decision("b" * 64) is None  # a rerender is reviewed again
