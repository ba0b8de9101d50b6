"""DAG integrity: it imports, reads like the stage table, and every task is configured to retry."""

from __future__ import annotations

import pytest

from tests.conftest import ROOT

STAGES = ["ingest", "analyze", "script", "review_gate", "voiceover", "edit", "render", "metadata",
          "qc", "publish", "thumbnail", "captions", "animate", "chunk_plan", "render_chunk"]


@pytest.fixture(scope="module")
def dag(airflow_db):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}, bag.import_errors
    return bag.get_dag("video_pipeline")


def test_stage_table(dag):
    assert sorted(dag.task_ids) == sorted(STAGES)
    down = {t: sorted(dag.get_task(t).downstream_task_ids) for t in STAGES}
    assert down["ingest"] == ["analyze", "edit", "render", "render_chunk", "thumbnail"]
    assert down["analyze"] == ["animate", "edit", "metadata", "script"]
    assert down["script"] == ["review_gate"]
    # the graphics need no timing: animate draws them while the voice is synthesised
    assert down["review_gate"] == ["animate", "edit", "metadata", "thumbnail", "voiceover"]
    assert down["voiceover"] == ["edit", "render"]
    assert down["edit"] == ["captions", "chunk_plan", "metadata", "qc", "render",
                            "render_chunk", "thumbnail"]
    assert down["animate"] == ["render", "render_chunk"]
    # a long video: edit plans the chunks, render_chunk (mapped) renders them, render joins them
    assert down["chunk_plan"] == ["render_chunk"] and down["render_chunk"] == ["render"]
    assert down["render"] == ["publish", "qc"] and down["qc"] == ["publish"]
    assert down["metadata"] == ["publish"]
    assert down["thumbnail"] == ["publish"] and down["captions"] == ["publish"]
    assert down["publish"] == []


def test_chunks_are_mapped_on_the_media_queue_and_render_runs_without_them(dag):
    chunk, render = dag.get_task("render_chunk"), dag.get_task("render")
    assert chunk.is_mapped and not render.is_mapped
    assert (chunk.queue, chunk.pool) == ("media", "media_encode") == (render.queue, render.pool)
    assert dag.get_task("chunk_plan").queue != "media"
    # skipped chunks (an expand over []) let render run; a failed upstream does not
    assert render.trigger_rule == "none_failed"
    assert dag.get_task("qc").trigger_rule == dag.get_task("publish").trigger_rule == "all_success"


def test_every_task_retries_with_backoff(dag):
    for task in dag.tasks:
        assert task.retries >= 1, task.task_id
        assert task.execution_timeout is not None or task.task_id == "review_gate", task.task_id
        if task.task_id != "review_gate":
            assert task.retry_exponential_backoff, task.task_id
            assert task.max_retry_delay is not None, task.task_id


def test_params_are_documented_form_fields(dag):
    expected = {"tenant", "source", "title_hint", "script_mode", "voice", "caption_style",
                "sync_mode", "publish_target", "privacy", "aspect", "original_audio",
                "video_preset", "thumbnail_title", "dead_air_min_seconds",
                "dead_air_margin_seconds", "music"}
    assert expected <= set(dag.params.keys())
    for name in expected:
        assert dag.params.get_param(name).description, name
    assert dag.params.get_param("script_mode").schema["enum"] == ["autopilot", "review_before_tts"]
    assert dag.params.get_param("sync_mode").schema["enum"] == ["fit", "trim", "pad"]


def test_params_are_the_options_table(dag):
    import json

    golden = json.loads((ROOT / "tests" / "golden" / "dag_params.json").read_text())
    assert list(dag.params.keys()) == list(golden)
    assert {k: dag.params.get_param(k).dump() for k in dag.params.keys()} == golden


@pytest.mark.parametrize(
    "conf",
    [
        {"source": "/x.mp4", "tenant": "Bad Tenant"},
        {"source": "/x.mp4", "script_mode": "yolo"},
        {"source": ""},
        {"source": "/x.mp4", "privacy": "secret"},
    ],
)
def test_bad_conf_is_rejected_before_a_run(dag, conf):
    import copy

    from airflow.sdk.exceptions import ParamValidationError

    good = copy.deepcopy(dag.params)
    good.update({"source": "/x.mp4", "tenant": "acme"})
    good.validate()  # the control: a valid conf passes
    bad = copy.deepcopy(dag.params)
    with pytest.raises(ParamValidationError):
        bad.update({"source": "/x.mp4", **conf})
        bad.validate()


def test_every_task_returns_one_xcom(dag):
    """Downstream tasks, the studio and the bench read return_value only: a `-> dict` task left
    to Airflow's inference would also push each key as an XCom (and an API request) of its own."""
    for task in dag.tasks:
        assert getattr(task, "multiple_outputs", False) is False, task.task_id
