"""video_pipeline: raw footage in, a narrated, captioned, published video out. One run per video.

    ingest → analyze → script → review_gate → voiceover → edit → render ──────→ publish
                                                                  ↘ metadata ──↗
                                                                  ↘ thumbnail ─↗
                                                                  ↘ captions ──↗

Each task downloads its inputs from the artifact store, calls a pure stage in
``include/stages/``, uploads the outputs and returns their keys through XCom. Clearing a task
with its downstream reruns from that stage; upstream artifacts stay untouched.
"""

from __future__ import annotations

from datetime import timedelta

from airflow.sdk import Param, dag, task

from include.pipeline import (
    CONNECTIONS,
    StageIO,
    StoreFileCache,
    connection_config,
    provider_for,
    run_usage,
    stage_io,
)
from include.review import ScriptReview
from include.review_gate import ReviewGateSensor
from include.stages import (
    analyze,
    edit,
    ingest,
    metadata,
    publish,
    render,
    script,
    sidecar,
    thumbnail,
    voiceover,
)
from include.stages.settings import (
    ASPECTS,
    CAPTION_STYLES,
    LLM_PROVIDERS,
    MODEL_RE,
    ORIGINAL_AUDIO,
    PRIVACY,
    PUBLISH_TARGETS,
    SCRIPT_MODES,
    SYNC_MODES,
    TTS_PROVIDERS,
    VIDEO_PRESETS,
    VISION_PROVIDERS,
)
from include.storage import PROJECT_ROOT, configured

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


def _choice_param(name: str, what: str) -> Param:
    """A model or voice name; empty means the Airflow Variable ``name`` (or a built-in default)."""
    return Param("", type="string", pattern=MODEL_RE.pattern, section="Cloud providers",
                 description=f"{what}. Empty: the Airflow Variable {name}.")


PARAMS = {
    "tenant": Param(
        "default", type="string", pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", section="Source",
        description="Workspace the video belongs to (lowercase letters, digits, '-', '_').",
    ),
    "source": Param(
        "", type="string", minLength=1, maxLength=2048, section="Source",
        description="Absolute path or file:// URI on the workers, s3://conn@bucket/key, "
        "or an uploaded key tenants/<tenant>/uploads/….",
    ),
    "title_hint": Param(
        "", type="string", maxLength=200, section="Script",
        description="What the video is about; used for the narration and the title.",
    ),
    "script_mode": Param(
        "autopilot", enum=list(SCRIPT_MODES), section="Script",
        values_display={"autopilot": "Autopilot", "review_before_tts": "Review before voiceover"},
        description="autopilot runs straight through; review_before_tts waits for an approved script.",
    ),
    "voice": Param(
        "en-us", type="string", pattern=r"^[A-Za-z0-9_+.-]{1,64}$", section="Voice & captions",
        description="Voice name for the offline espeak-ng voice (en-us, en, de, fr, …).",
    ),
    "caption_style": Param(
        "karaoke", enum=list(CAPTION_STYLES), section="Voice & captions",
        description="Burned-in caption look: clean, bold, or karaoke (spoken word highlighted).",
    ),
    "sync_mode": Param(
        "fit", enum=list(SYNC_MODES), section="Voice & captions",
        description="fit: each narration plays over its footage; trim: cut the video to the voice; "
        "pad: hold the last frame until the voice ends.",
    ),
    "publish_target": Param(
        "outbox", enum=list(PUBLISH_TARGETS), section="Publish",
        description="Where the finished video goes: outbox (a local folder) or youtube "
        "(connection youtube_default).",
    ),
    "privacy": Param(
        "private", enum=list(PRIVACY), section="Publish",
        description="Visibility on the publish target.",
    ),
    "publish_at": Param(
        "", type="string", maxLength=40, section="Publish",
        description="YouTube only: ISO 8601 time (2026-12-24T09:00:00Z) at which a private video "
        "goes public. Empty: no schedule.",
    ),
    "made_for_kids": Param(
        False, type="boolean", section="Publish",
        description="YouTube only: declare the video made for kids (COPPA).",
    ),
    "llm_provider": Param(
        "offline", enum=list(LLM_PROVIDERS), section="Cloud providers",
        description="Who writes the script and metadata: offline (built in), openai "
        "(connection openai_default, any OpenAI-compatible server) or anthropic.",
    ),
    "vision_provider": Param(
        "none", enum=list(VISION_PROVIDERS), section="Cloud providers",
        description="Describe each segment's keyframe for the script: none, openai or anthropic.",
    ),
    "tts_provider": Param(
        "espeak", enum=list(TTS_PROVIDERS), section="Cloud providers",
        description="Narration voice: espeak (offline), piper (offline neural, optional extra), "
        "openai or elevenlabs (with word timings).",
    ),
    "openai_model": _choice_param("openai_model", "OpenAI chat/vision model"),
    "anthropic_model": _choice_param("anthropic_model", "Anthropic model"),
    "openai_tts_model": _choice_param("openai_tts_model", "OpenAI speech model"),
    "openai_voice": _choice_param("openai_voice", "OpenAI voice (alloy, nova, …)"),
    "elevenlabs_model": _choice_param("elevenlabs_model", "ElevenLabs model id"),
    "elevenlabs_voice": _choice_param("elevenlabs_voice", "ElevenLabs voice id"),
    "piper_voice": _choice_param("piper_voice", "Piper voice package or .onnx path"),
    "dead_air_min_seconds": Param(
        1.0, type="number", minimum=0.2, maximum=60, section="Edit",
        description="Cut stretches both silent and frozen on screen that last longer than this.",
    ),
    "dead_air_margin_seconds": Param(
        0.25, type="number", minimum=0, maximum=2, section="Edit",
        description="Seconds of each dead-air stretch kept at both ends of the cut.",
    ),
    "music": Param(
        "", type="string", maxLength=2048, section="Render",
        description="Optional music bed, looped and ducked under the narration: an absolute path "
        "on the workers or an uploaded key tenants/<tenant>/uploads/….",
    ),
    "aspect": Param(
        "16:9", enum=list(ASPECTS), section="Render",
        description="16:9 (letterboxed) or a 9:16 short (centre-cropped) from the same edit.",
    ),
    "original_audio": Param(
        "drop", enum=list(ORIGINAL_AUDIO), section="Render",
        description="drop the footage's own sound, or duck it under the narration.",
    ),
    "video_preset": Param(
        "veryfast", enum=list(VIDEO_PRESETS), section="Render",
        description="x264 preset: slower presets make smaller files for the same quality.",
    ),
    "thumbnail_title": Param(
        True, type="boolean", section="Render",
        description="Draw the video's title on the thumbnail.",
    ),
}


@dag(
    dag_id="video_pipeline",
    schedule=None,
    catchup=False,
    max_active_runs=4,
    params=PARAMS,
    default_args=RETRIES,
    tags=["video"],
    doc_md=__doc__,
)
def video_pipeline():
    @task(execution_timeout=timedelta(hours=1), **RETRIES)
    def ingest_source() -> dict:
        with stage_io("ingest") as io:
            settings = io.settings
            ingest.check_source_reference(settings.source, tenant=settings.tenant)
            if settings.source.startswith("tenants/"):
                fileobj, name = io.store.path(settings.source).open("rb"), settings.source.rsplit("/", 1)[-1]
            elif settings.source.startswith("s3://"):
                fileobj, name = io.store.open_uri(settings.source), settings.source.rsplit("/", 1)[-1]
            else:
                fileobj, name = ingest.open_local_source(settings.source)
            with fileobj:
                result = ingest.run(fileobj, name, settings, io.out_dir)
            io.video_id = result["video_id"]
            return io.publish(result)

    @task(execution_timeout=timedelta(hours=1), **RETRIES, **MEDIA)
    def analyze_footage(ingested: dict) -> dict:
        with stage_io("analyze", ingested) as io:
            src = io.fetch(ingested["artifacts"][ingested["result"]["source_file"]])
            info = io.store.get_json(ingested["artifacts"]["source.json"])
            vision, vision_config = provider_for(io.settings, "vision")
            return io.publish(analyze.run(src, io.settings, io.out_dir, source_info=info,
                                          vision=vision, vision_config=vision_config))

    @task(execution_timeout=timedelta(minutes=30), **RETRIES, **LLM)
    def write_script(analyzed: dict) -> dict:
        with stage_io("script", analyzed) as io:
            segments = io.fetch(analyzed["artifacts"]["segments.json"])
            writer, config = provider_for(io.settings, "llm")
            written = io.publish(script.run(segments, io.settings, io.out_dir, writer=writer,
                                            config=config, run_id=io.run_id))
            # A new revision: edits and decisions made against an earlier script go to history.
            ScriptReview(io.store, io.tenant, io.video_id).discard(keep_current=True)
            return written

    @task(execution_timeout=timedelta(minutes=30), **RETRIES)
    def make_voiceover(reviewed: dict) -> dict:
        with stage_io("voiceover", reviewed) as io:
            script_path = io.fetch(io.script_key())
            provider, config = provider_for(io.settings, "tts")
            return io.publish(voiceover.run(script_path, io.settings, io.out_dir,
                                            provider=provider, config=config,
                                            cache=StoreFileCache(io.store, io.tenant)))

    @task(execution_timeout=timedelta(minutes=30), **RETRIES, **MEDIA)
    def edit_timeline(ingested: dict, analyzed: dict, reviewed: dict, voiced: dict) -> dict:
        with stage_io("edit", ingested) as io:
            return io.publish(edit.run(
                io.fetch(analyzed["artifacts"]["segments.json"]),
                io.fetch(io.script_key()),
                io.fetch(voiced["artifacts"]["voiceover.json"]),
                io.fetch(ingested["artifacts"]["source.json"]),
                io.settings,
                io.out_dir,
            ))

    @task(execution_timeout=timedelta(hours=2), **RETRIES, **MEDIA)
    def render_video(ingested: dict, edited: dict, voiced: dict) -> dict:
        with stage_io("render", ingested) as io:
            return io.publish(render.run(
                io.fetch(ingested["artifacts"][ingested["result"]["source_file"]]),
                io.fetch(edited["artifacts"]["edl.json"]),
                io.fetch(edited["artifacts"]["captions.ass"]),
                io.fetch(voiced["artifacts"]["voiceover.wav"]),
                io.settings,
                io.out_dir,
                music_path=_music(io),
                progress=_log_progress(io),
            ))

    @task(execution_timeout=timedelta(minutes=15), **RETRIES, **MEDIA)
    def make_thumbnail(ingested: dict, reviewed: dict, edited: dict) -> dict:
        with stage_io("thumbnail", ingested) as io:
            title = io.store.get_json(io.script_key()).get("title", "")
            return io.publish(thumbnail.run(
                io.fetch(ingested["artifacts"][ingested["result"]["source_file"]]),
                io.fetch(edited["artifacts"]["edl.json"]),
                io.settings,
                io.out_dir,
                title=title,
            ))

    @task(execution_timeout=timedelta(minutes=15), **RETRIES)
    def export_captions(edited: dict) -> dict:
        with stage_io("captions", edited) as io:
            return io.publish(sidecar.run(
                io.fetch(edited["artifacts"]["edl.json"]), io.settings, io.out_dir))

    @task(execution_timeout=timedelta(minutes=15), **RETRIES, **LLM)
    def write_metadata(reviewed: dict, edited: dict) -> dict:
        with stage_io("metadata", reviewed) as io:
            writer, config = provider_for(io.settings, "llm")
            return io.publish(metadata.run(
                io.fetch(io.script_key()),
                io.fetch(edited["artifacts"]["edl.json"]),
                io.settings,
                io.out_dir,
                writer=writer,
                config=config,
            ))

    @task(execution_timeout=timedelta(hours=1), **RETRIES, **UPLOADS)
    def publish_video(rendered: dict, described: dict, thumbnailed: dict, captioned: dict) -> dict:
        with stage_io("publish", rendered) as io:
            to_youtube = io.settings.publish_target == "youtube"
            receipt = publish.run(
                io.fetch(rendered["artifacts"]["final.mp4"]),
                io.fetch(described["artifacts"]["metadata.json"]),
                io.settings,
                io.out_dir,
                video_id=io.video_id,
                outbox_root=_outbox_root(),
                youtube=connection_config(CONNECTIONS["youtube"]) if to_youtube else None,
                thumbnail_path=io.fetch(thumbnailed["artifacts"]["thumbnail.jpg"], "thumbnail.jpg"),
                captions_path=io.fetch(captioned["artifacts"]["captions.srt"], "captions.srt"),
            )
            return io.publish({**receipt, "usage": run_usage(io.out_dir)})

    ingested = ingest_source.override(task_id="ingest")()
    analyzed = analyze_footage.override(task_id="analyze")(ingested)
    scripted = write_script.override(task_id="script")(analyzed)
    reviewed = ReviewGateSensor(task_id="review_gate", scripted=scripted, retries=1,
                                retry_delay=timedelta(seconds=30))
    voiced = make_voiceover.override(task_id="voiceover")(reviewed.output)
    edited = edit_timeline.override(task_id="edit")(ingested, analyzed, reviewed.output, voiced)
    rendered = render_video.override(task_id="render")(ingested, edited, voiced)
    described = write_metadata.override(task_id="metadata")(reviewed.output, edited)
    thumbnailed = make_thumbnail.override(task_id="thumbnail")(ingested, reviewed.output, edited)
    captioned = export_captions.override(task_id="captions")(edited)
    publish_video.override(task_id="publish")(rendered, described, thumbnailed, captioned)


def _outbox_root():
    from pathlib import Path

    return Path(configured("VIDEO_OUTBOX", "video_outbox", str(PROJECT_ROOT / ".data" / "outbox")))


def _music(io: StageIO):
    """The music bed as a local file: fetched from the store for a key, else the worker path."""
    from pathlib import Path

    music = io.settings.music
    if not music:
        return None
    return io.fetch(music) if music.startswith("tenants/") else Path(music)


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
