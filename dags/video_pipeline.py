"""video_pipeline: raw footage in, a narrated, captioned, published video out. One run per video.

    ingest → analyze → script → review_gate → voiceover → edit → chunk_plan → render → qc → publish
                                review_gate → animate (beside voiceover, edit) → render
                      chunk_plan → render_chunk[i] (mapped; none below chunk_seconds) → render
                      edit → metadata, thumbnail, captions → publish

Each task downloads its inputs from the artifact store, calls a pure stage in
``include/stages/``, uploads the outputs and returns their keys through XCom. Clearing a task
with its downstream reruns from that stage; upstream artifacts stay untouched.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import dag, task

from include.core import keys
from include.core.edl import Edl
from include.airflow_params import dag_params
from include.pipeline import (
    StageIO,
    StoreFileCache,
    keyframe_describer,
    script_writer,
    speech,
    stage_io,
    text_reader,
    transcriber,
)
from include.publish_operator import PublishOperator
from include.qc_gate import EXECUTION_TIMEOUT as QC_TIMEOUT
from include.qc_gate import QcGate
from include.review_gate import ReviewGateSensor

# Every task process parses this file, so it imports only what builds the DAG. A task imports its
# stage (and whatever that needs: OpenCV, NumPy, pysubs2 ...) on its first line, inside the
# callable: `publish` and `captions` never load OpenCV. tests/test_task_imports.py holds this.

RETRIES = dict(
    retries=3,
    retry_delay=timedelta(seconds=15),
    retry_exponential_backoff=2.0,
    max_retry_delay=timedelta(minutes=10),
)
# Heavy stages run on the `media` Celery queue (ffmpeg hosts) and share the media_encode pool
# (airflow_settings.yaml); everything else goes to the default queue. LocalExecutor ignores queues.
MEDIA = dict(queue="media", pool="media_encode")
# Stages that call the script writer (an LLM when configured) share the llm_requests pool.
LLM = dict(pool="llm_requests")
# Uploads share the youtube_uploads pool (airflow_settings.yaml): a few at a time per deployment.
UPLOADS = dict(pool="youtube_uploads")
# A task's dict is one XCom (return_value), the only one anything reads. Left to infer it from
# `-> dict`, Airflow would push every key as an XCom of its own too: five more Execution API
# requests and rows per task (250 of a batch of five runs' 900 requests).
ONE_XCOM = dict(multiple_outputs=False)


@dag(
    dag_id="video_pipeline",
    schedule=None,
    catchup=False,
    max_active_runs=4,
    params=dag_params(),
    default_args=RETRIES,
    tags=["video"],
    doc_md=__doc__,
)
def video_pipeline():
    @task(**ONE_XCOM, execution_timeout=timedelta(hours=1), **RETRIES)
    def ingest_source() -> dict:
        from include import tenancy
        from include.stages import ingest
        from include.storage import configured

        with stage_io("ingest") as io:
            settings = io.settings
            # who started the run decides its tenant and footage (include/tenancy.py)
            tenancy.check_run(io.store, settings, _triggering_user())
            if keys.is_store_key(settings.source):
                fileobj, name = io.store.path(settings.source).open("rb"), settings.source.rsplit("/", 1)[-1]
            elif settings.source.startswith("s3://"):
                fileobj, name = io.store.open_uri(settings.source), settings.source.rsplit("/", 1)[-1]
            else:
                fileobj, name = ingest.open_local_source(settings.source)
            from airflow.sdk import get_current_context

            hours = float(configured("VIDEO_MAX_SOURCE_HOURS", "video_max_source_hours", "4"))
            with fileobj:
                result = ingest.run(fileobj, name, settings, io.out_dir, max_duration=hours * 3600,
                                    run_id=get_current_context()["run_id"])
            io.video_id = result["video_id"]
            return io.publish(result)

    @task(**ONE_XCOM, execution_timeout=timedelta(hours=1), **RETRIES, **MEDIA)
    def analyze_footage(ingested: dict) -> dict:
        from include.stages import analyze

        with stage_io("analyze", ingested) as io:
            src = io.fetch(ingested["artifacts"][ingested["result"]["source_file"]])
            info = io.store.get_json(ingested["artifacts"]["source.json"])
            return io.publish(analyze.run(
                src, io.out_dir, source_info=info, reader=text_reader(),
                transcriber=transcriber(io.settings),
                describer=keyframe_describer(io.settings)))

    @task(**ONE_XCOM, execution_timeout=timedelta(minutes=30), **RETRIES, **LLM)
    def write_script(analyzed: dict) -> dict:
        from include.review import ScriptReview
        from include.stages import script

        with stage_io("script", analyzed) as io:
            segments = io.fetch(analyzed["artifacts"]["segments.json"])
            written = io.publish(script.run(
                segments, io.out_dir, writer=script_writer(io.settings),
                title_hint=io.settings.title_hint, words_per_minute=io.settings.words_per_minute,
                run_id=io.run_id))
            # A new revision: edits and decisions made against an earlier script go to history.
            ScriptReview(io.store, io.tenant, io.video_id).discard(keep_current=True)
            return written

    @task(**ONE_XCOM, execution_timeout=timedelta(minutes=30), **RETRIES)
    def make_voiceover(reviewed: dict) -> dict:
        from include.stages import voiceover

        with stage_io("voiceover", reviewed) as io:
            script_path = io.fetch(io.script_key())
            return io.publish(voiceover.run(
                script_path, io.out_dir, tts=speech(io.settings), voice=io.settings.voice,
                cache=StoreFileCache(io.store, io.tenant), aligner=transcriber(io.settings)))

    @task(**ONE_XCOM, execution_timeout=timedelta(minutes=30), **RETRIES, **MEDIA)
    def edit_timeline(ingested: dict, analyzed: dict, reviewed: dict, voiced: dict) -> dict:
        from include.stages import edit
        from include.stages import timeline_export

        with stage_io("edit", ingested) as io:
            result = edit.run(
                io.fetch(analyzed["artifacts"]["segments.json"]),
                io.fetch(io.script_key()),
                io.fetch(voiced["artifacts"]["voiceover.json"]),
                io.fetch(ingested["artifacts"]["source.json"]),
                io.settings,
                io.out_dir,
            )
            # the hand-off to an editor: timeline.otio (+ FCPXML, FCP 7 XML) from the same EDL
            edl = Edl.load(io.out_dir / "edl.json")
            result["timeline"] = timeline_export.export(
                edl, io.out_dir, source_name=ingested["result"]["source_file"], name=io.video_id)
            published = io.publish(result)
            # the chunks of a long video (include/stages/render_chunks.py; [] below chunk_seconds)
            from include.stages import render_chunks

            published["render_chunks"] = render_chunks.plan(edl, io.settings.chunk_seconds,
                                                            slots=io.settings.chunk_slots)
            return published

    @task(**ONE_XCOM, execution_timeout=timedelta(minutes=5), **RETRIES)
    def chunk_plan(edited: dict) -> list:
        # Airflow maps only over a task's return value: this hands on edit's "render_chunks" list
        # (a fraction of a second between edit and render).
        return edited["render_chunks"]

    @task(**ONE_XCOM, execution_timeout=timedelta(hours=1), **RETRIES, **MEDIA)
    def render_chunk(ingested: dict, edited: dict, animated: dict, chunk: dict) -> dict:
        from include.stages import render_chunks

        with stage_io("render_chunk", ingested) as io:
            return io.publish(render_chunks.render_chunk(
                io.fetch(ingested["artifacts"][ingested["result"]["source_file"]]),
                io.fetch(edited["artifacts"]["edl.json"]),
                io.out_dir,
                chunk,
                files=_render_files(io, edited, animated),
                preset=io.settings.video_preset,
                frame_rate=io.settings.frame_rate,
                progress=_log_progress(io),
            ))

    @task(**ONE_XCOM, execution_timeout=timedelta(minutes=15), **RETRIES, **MEDIA)
    def make_graphics(analyzed: dict, reviewed: dict) -> dict:
        # what it draws needs no timing (include/stages/animate.py): beside voiceover and edit
        from include.stages import animate

        with stage_io("animate", analyzed) as io:
            return io.publish(animate.run(io.fetch(analyzed["artifacts"]["segments.json"]),
                                          io.fetch(io.script_key()), io.settings, io.out_dir))

    # none_failed: runs when render_chunk was skipped (no chunks: an expand over []), never when
    # an upstream task failed (then it is upstream_failed, like every all_success task).
    @task(**ONE_XCOM, execution_timeout=timedelta(hours=2), trigger_rule="none_failed", **RETRIES, **MEDIA)
    def render_video(ingested: dict, edited: dict, voiced: dict, animated: dict,
                     chunks=None) -> dict:
        chunks = [c for c in (chunks or []) if c]
        if chunks:  # a long video: join the chunks, mix the whole audio once
            from include.stages import render_chunks

            with stage_io("render", ingested) as io:
                files = {"voiceover.wav": io.fetch(voiced["artifacts"]["voiceover.wav"])}
                if io.settings.music:
                    files[io.settings.music] = _music(io)
                ordered = sorted(chunks, key=lambda c: c["result"]["index"])
                paths = [io.fetch(c["artifacts"][c["result"]["file"]]) for c in ordered]
                return io.publish(render_chunks.join(
                    io.fetch(ingested["artifacts"][ingested["result"]["source_file"]]),
                    io.fetch(edited["artifacts"]["edl.json"]),
                    paths,
                    io.out_dir,
                    files=files,
                    progress=_log_progress(io),
                ))
        from include.stages import render

        with stage_io("render", ingested) as io:
            files = _render_files(io, edited, animated)
            files["voiceover.wav"] = io.fetch(voiced["artifacts"]["voiceover.wav"])
            if io.settings.music:
                files[io.settings.music] = _music(io)
            return io.publish(render.run(
                io.fetch(ingested["artifacts"][ingested["result"]["source_file"]]),
                io.fetch(edited["artifacts"]["edl.json"]),
                io.out_dir,
                files=files,
                preset=io.settings.video_preset,
                frame_rate=io.settings.frame_rate,
                progress=_log_progress(io),
            ))

    @task(**ONE_XCOM, execution_timeout=timedelta(minutes=15), **RETRIES, **MEDIA)
    def make_thumbnail(ingested: dict, reviewed: dict, edited: dict) -> dict:
        from include.stages import thumbnail

        with stage_io("thumbnail", ingested) as io:
            title = io.store.get_json(io.script_key()).get("title", "")
            return io.publish(thumbnail.run(
                io.fetch(ingested["artifacts"][ingested["result"]["source_file"]]),
                io.fetch(edited["artifacts"]["edl.json"]),
                io.settings,
                io.out_dir,
                title=title,
            ))

    @task(**ONE_XCOM, execution_timeout=timedelta(minutes=15), **RETRIES)
    def export_captions(edited: dict) -> dict:
        from include.stages import sidecar

        with stage_io("captions", edited) as io:
            return io.publish(sidecar.run(io.fetch(edited["artifacts"]["edl.json"]), io.out_dir))

    @task(**ONE_XCOM, execution_timeout=timedelta(minutes=15), **RETRIES, **LLM)
    def write_metadata(analyzed: dict, reviewed: dict, edited: dict) -> dict:
        from include.stages import metadata

        with stage_io("metadata", reviewed) as io:
            return io.publish(metadata.run(
                io.fetch(io.script_key()),
                io.fetch(edited["artifacts"]["edl.json"]),
                io.fetch(analyzed["artifacts"]["segments.json"]),
                io.out_dir,
                writer=script_writer(io.settings),
                title_hint=io.settings.title_hint,
                privacy=io.settings.privacy,
            ))

    ingested = ingest_source.override(task_id="ingest")()
    analyzed = analyze_footage.override(task_id="analyze")(ingested)
    scripted = write_script.override(task_id="script")(analyzed)
    reviewed = ReviewGateSensor(task_id="review_gate", scripted=scripted, retries=1,
                                retry_delay=timedelta(seconds=30))
    voiced = make_voiceover.override(task_id="voiceover")(reviewed.output)
    edited = edit_timeline.override(task_id="edit")(ingested, analyzed, reviewed.output, voiced)
    animated = make_graphics.override(task_id="animate")(analyzed, reviewed.output)
    planned = chunk_plan(edited)
    chunked = render_chunk.partial(ingested=ingested, edited=edited, animated=animated).expand(
        chunk=planned)
    rendered = render_video.override(task_id="render")(ingested, edited, voiced, animated, chunked)
    described = write_metadata.override(task_id="metadata")(analyzed, reviewed.output, edited)
    thumbnailed = make_thumbnail.override(task_id="thumbnail")(ingested, reviewed.output, edited)
    captioned = export_captions.override(task_id="captions")(edited)
    # Operators, not @tasks: a failed QC may wait deferred for a reviewer (include/qc_gate.py),
    # a used-up YouTube quota defers publish (include/publish_operator.py).
    checked = QcGate(task_id="qc", rendered=rendered, edited=edited,
                     execution_timeout=QC_TIMEOUT, **RETRIES, **MEDIA)
    published = PublishOperator(task_id="publish", rendered=rendered, described=described,
                                thumbnailed=thumbnailed, captioned=captioned,
                                execution_timeout=timedelta(hours=1), **RETRIES, **UPLOADS)
    checked >> published


def _triggering_user() -> str | None:
    from airflow.sdk import get_current_context

    return getattr(get_current_context()["dag_run"], "triggering_user_name", None)


def _render_files(io: StageIO, edited: dict, animated: dict) -> dict:
    """The captions and the motion-graphics clips the EDL names (none with animate off)."""
    files = {"captions.ass": io.fetch(edited["artifacts"]["captions.ass"])}
    files.update({name: io.fetch(key, f"animate__{name}")
                  for name, key in animated["artifacts"].items() if name != "animate.json"})
    return files


def _music(io: StageIO):
    """The music bed as a local file: fetched from the store for a key, else the worker path."""
    from pathlib import Path

    music = io.settings.music
    if not music:
        return None
    return io.fetch(music) if keys.is_store_key(music) else Path(music)


def _log_progress(io: StageIO):
    import logging

    log = logging.getLogger("airflow.task")
    last = {"pct": -10.0}

    def report(percent: float, speed: str) -> None:
        if percent - last["pct"] >= 10 or percent >= 100:
            last["pct"] = percent
            log.info("render %s: %.0f%% (speed %s)", io.video_id, percent, speed)

    return report


video_pipeline()
