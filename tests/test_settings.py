"""The run options table (include/core/options.py): DAG Params, Settings and the studio agree.

``tests/golden/dag_params.json`` is ``{name: Param.dump()}`` of the hand-written PARAMS block that
``dags/video_pipeline.py`` had before the table, plus ``on_republish``, ``on_qc_fail``, ``asr_model``, ``zoom``, ``frame_rate`` and ``chunk_slots`` (and Piper
as the default voice). To
change an option on purpose, edit the table and regenerate the golden file::

    python -c "import json; from include.airflow_params import dag_params; \\
      print(json.dumps({k: p.dump() for k, p in dag_params().items()}, indent=2, ensure_ascii=False))" \\
      > tests/golden/dag_params.json
"""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from include.airflow_params import dag_params
from include.core.errors import FatalError
from include.core.options import (
    BY_NAME,
    OPTIONS,
    PROVIDER_CHOICES,
    STUDIO_OPTIONS,
    Settings,
    fatal_from,
)
from include.studio.uploads import UploadInit
from tests.conftest import ROOT

GOLDEN = json.loads((ROOT / "tests" / "golden" / "dag_params.json").read_text())
# Context a sample needs to pass the cross-field rules (the minimum against the margin).
CONTEXT = {"dead_air_min_seconds": {"dead_air_margin_seconds": 0.0},
           "dead_air_margin_seconds": {"dead_air_min_seconds": 60.0}}
# Values beyond the generic ones (enum members, range ends, both booleans) each option must take.
GOOD = {
    "tenant": ["acme", "a", "0", "a" * 63, "t-1_x"],
    "source": ["/footage/x.mp4", "s3://conn@bucket/k.mp4", "s" * 2048],
    "title_hint": ["", "x" * 200, "Ünïcode title …"],
    "voice": ["en", "en-us", "en+f3", "v" * 64, "de_DE.x"],
    "publish_at": ["", "2026-12-24T09:00:00Z", "2026-12-24T09:00:00+01:00"],
    "music": ["", "/srv/music/bed.mp3", "tenants/default/uploads/u1/bed.mp3"],
    **{name: ["", "gpt-4o-mini", "llama3.1:8b", "org/model", "/m/x.onnx", "m" * 200]
       for name in PROVIDER_CHOICES},
}
# Values each option must refuse, as the Param and Settings (and the studio) do.
BAD = {
    "tenant": ["", "Acme", "-acme", "a b", "a" * 64, "acme/x", 5],
    "source": ["s" * 2049, 5],
    "title_hint": ["x" * 201, 5],
    "voice": ["", "a b", "v" * 65, "en/us", 5],
    "publish_at": ["p" * 41, 5],
    **{name: ["a b", "m" * 201, "x;y", 5] for name in PROVIDER_CHOICES},
    "music": ["m" * 2049, 5],
}


def _generic_samples(option) -> tuple[list, list]:
    good, bad = [option.default], []
    if option.enum:
        good += list(option.enum)
        bad += ["nope", option.enum[0] + " ", "", 3, True]
    elif option.type is bool:
        good += [True, False]
        bad += ["yes", "true", 1, 0]
    elif option.type in (int, float):
        good += [option.minimum, option.maximum]
        step = 1 if option.type is int else 0.01
        bad += [option.minimum - step, option.maximum + step, "1", True if option.type is int else "x"]
        if option.type is int:
            bad.append(option.minimum + 0.5)
    return good, bad


def _samples(option) -> tuple[list, list]:
    good, bad = _generic_samples(option)
    good += GOOD.get(option.name, [])
    bad += BAD.get(option.name, [])
    if option.name in ("width", "height"):
        good = [v for v in good if v % 2 == 0]  # odd sizes break the even rule, not the range
    return good, bad


def _settings_error(name: str, value) -> str | None:
    try:
        Settings.from_mapping({**CONTEXT.get(name, {}), name: value})
    except FatalError as exc:
        return str(exc)
    return None


def _param_accepts(name: str, value) -> bool:
    from airflow.sdk.exceptions import ParamValidationError

    try:
        dag_params()[name].resolve(value)
    except ParamValidationError:
        return False
    return True


# ---------------------------------------------------------------------------------- the Params


def test_dag_params_equal_the_golden_dump():
    dumped = {k: p.dump() for k, p in dag_params().items()}
    assert list(dumped) == list(GOLDEN)  # the trigger form's order
    assert dumped == GOLDEN


def test_the_golden_dump_is_the_old_param_block_plus_the_new_options():
    assert GOLDEN["on_republish"]["value"] == "update_metadata"
    assert GOLDEN["on_republish"]["schema"] == {
        "enum": ["update_metadata", "replace", "new_video"], "section": "Publish"}
    assert len(GOLDEN) == 40 and list(GOLDEN).index("on_republish") == list(GOLDEN).index("made_for_kids") + 1
    assert GOLDEN["tts_provider"]["value"] == "piper", "Piper is the offline default voice"
    assert GOLDEN["asr_model"]["value"] == "", "empty: the Variable, else the packaged model"
    assert GOLDEN["zoom"]["value"] == "auto" and GOLDEN["zoom"]["schema"]["enum"] == ["auto", "off"]


def test_internal_settings_are_not_params():
    internal = {o.name for o in OPTIONS if not o.is_param}
    assert internal == {"words_per_minute", "width", "height", "fps"}
    assert not internal & set(dag_params())
    assert set(dag_params()) | internal == set(Settings.model_fields)


# ------------------------------------------------------------------------- round trips per option


@pytest.mark.parametrize("option", OPTIONS, ids=lambda o: o.name)
def test_option_round_trips(option):
    good, bad = _samples(option)
    for value in good:
        conf = {**CONTEXT.get(option.name, {}), option.name: value}
        settings = Settings.from_mapping(conf)
        assert getattr(settings, option.name) == value
        assert Settings.from_mapping(settings.to_dict()) == settings
        if option.is_param and not (option.required and value == option.default):
            assert _param_accepts(option.name, value), (option.name, value)
    for value in bad:
        assert _settings_error(option.name, value), (option.name, value)
        if option.is_param:
            assert not _param_accepts(option.name, value), (option.name, value)


def test_defaults_and_to_dict():
    settings = Settings()
    assert settings.to_dict() == {o.name: o.default for o in OPTIONS}
    assert list(settings.to_dict()) == [o.name for o in OPTIONS]
    assert Settings.from_mapping(None) == settings
    assert Settings.from_mapping({"unknown": 1, "voice": None}) == settings  # ignored both


def test_settings_are_frozen_and_output_size_turns_upright_for_shorts():
    settings = Settings.from_mapping({"width": 1920, "height": 1080})
    with pytest.raises(ValidationError):
        settings.width = 640
    assert settings.output_size == (1920, 1080)
    assert Settings.from_mapping({"width": 1920, "height": 1080, "aspect": "9:16"}).output_size == (1080, 1920)


def test_an_empty_source_is_for_the_form_and_ingest_to_refuse():
    """The Param requires a source (minLength 1); Settings keeps the empty default, so
    ``Settings()`` and its ``to_dict()`` stay valid, and ingest refuses an empty source."""
    from include.stages.ingest import check_source_reference

    assert GOLDEN["source"]["schema"]["minLength"] == 1 and not _param_accepts("source", "")
    settings = Settings.from_mapping({"source": ""})
    with pytest.raises(FatalError, match="^source is empty"):
        check_source_reference(settings.source, tenant=settings.tenant)


def test_direct_construction_validates_too():
    with pytest.raises(FatalError, match="tenant 'Bad' is not valid"):
        Settings(tenant="Bad")
    with pytest.raises(FatalError, match="^bogus is not a run option.$"):
        Settings(bogus=1)


# ---------------------------------------------------------------------------------- messages

MESSAGES = [
    ({"tenant": "Bad Tenant"},
     "tenant 'Bad Tenant' is not valid: use 1-63 lowercase letters, digits, '-' or '_'."),
    ({"tenant": 5}, "tenant 5 is not valid: use 1-63 lowercase letters, digits, '-' or '_'."),
    ({"source": "s" * 2049}, "source is longer than 2048 characters."),
    ({"title_hint": "x" * 201}, "title_hint is longer than 200 characters."),
    ({"script_mode": "yolo"}, "script_mode 'yolo' is not one of: autopilot, review_before_tts."),
    ({"voice": "a b"}, "voice 'a b' is not a valid voice name."),
    ({"caption_style": "fancy"}, "caption_style 'fancy' is not one of: clean, bold, karaoke."),
    ({"sync_mode": "stretch"}, "sync_mode 'stretch' is not one of: fit, trim, pad."),
    ({"publish_target": "vimeo"}, "publish_target 'vimeo' is not one of: outbox, youtube."),
    ({"privacy": "secret"}, "privacy 'secret' is not one of: private, unlisted, public."),
    ({"publish_at": "tomorrow"},
     "publish_at 'tomorrow' is not an ISO 8601 time (2026-12-24T09:00:00Z)."),
    ({"publish_at": "2026-12-24T09:00:00Z", "privacy": "unlisted"},
     "publish_at needs privacy 'private': YouTube makes the video public at that time."),
    ({"publish_at": "2" * 41}, "publish_at is longer than 40 characters."),
    ({"made_for_kids": "yes"}, "made_for_kids 'yes' is not true or false."),
    ({"on_republish": "delete"},
     "on_republish 'delete' is not one of: update_metadata, replace, new_video."),
    ({"on_qc_fail": "ignore"}, "on_qc_fail 'ignore' is not one of: fail, review."),
    ({"llm_provider": "gpt"}, "llm_provider 'gpt' is not one of: offline, openai, anthropic."),
    ({"vision_provider": "gemini"}, "vision_provider 'gemini' is not one of: none, openai, anthropic."),
    ({"tts_provider": "say"}, "tts_provider 'say' is not one of: piper, espeak, openai, elevenlabs."),
    *[({name: "a b"}, f"{name} 'a b' is not a valid model or voice name.") for name in PROVIDER_CHOICES],
    ({"dead_air_min_seconds": 0.4, "dead_air_margin_seconds": 0.25},
     "dead_air_min_seconds must be more than twice the margin and at most 60."),
    ({"dead_air_min_seconds": 0.1, "dead_air_margin_seconds": 0.0},
     "dead_air_min_seconds must be between 0.2 and 60."),
    ({"dead_air_min_seconds": 61}, "dead_air_min_seconds must be between 0.2 and 60."),
    ({"chunk_seconds": -1}, "chunk_seconds must be between 0 and 3600."),
    ({"chunk_seconds": "60"}, "chunk_seconds '60' is not a number."),
    ({"chunk_slots": 0}, "chunk_slots must be between 1 and 64."),
    ({"dead_air_min_seconds": "1"}, "dead_air_min_seconds '1' is not a number."),
    ({"dead_air_margin_seconds": 2.5}, "dead_air_margin_seconds must be between 0 and 2."),
    ({"dead_air_margin_seconds": -0.1}, "dead_air_margin_seconds must be between 0 and 2."),
    ({"music": "relative/bed.mp3"},
     "music must be an absolute path on the workers or a key under tenants/default/."),
    ({"music": "tenants/other/uploads/bed.mp3", "tenant": "acme"},
     "music must be an absolute path on the workers or a key under tenants/acme/."),
    ({"music": "tenants/acme/../other/bed.mp3", "tenant": "acme"},
     "music must be an absolute path on the workers or a key under tenants/acme/."),
    ({"music": "tenants/acme/uploads/u1/parts/000001", "tenant": "acme"},
     "music must be a finished file, not one part of an unfinished upload."),
    ({"aspect": "4:3"}, "aspect '4:3' is not one of: 16:9, 9:16."),
    ({"original_audio": "keep"}, "original_audio 'keep' is not one of: drop, duck."),
    ({"zoom": "on"}, "zoom 'on' is not one of: auto, off."),
    ({"video_preset": "placebo"},
     "video_preset 'placebo' is not one of: ultrafast, superfast, veryfast, faster, fast, medium, slow."),
    ({"thumbnail_title": "no"}, "thumbnail_title 'no' is not true or false."),
    ({"frame_rate": "vfr"}, "frame_rate 'vfr' is not one of: variable, constant."),
    ({"animate": "lots"}, "animate 'lots' is not one of: auto, minimal, off."),
    ({"outro_text": "x" * 81}, "outro_text is longer than 80 characters."),
    ({"outro_url": "see our site"},
     "outro_url 'see our site' must be a link without spaces, at most 200 characters."),
    ({"brand_color": "blue"}, "brand_color 'blue' is not a colour like #2563EB."),
    ({"brand_font": "Sans;rm"}, "brand_font 'Sans;rm' is not a font family name or font file path."),
    ({"words_per_minute": 30}, "words_per_minute must be between 60 and 240."),
    ({"width": 100}, "output size must be between 160 and 3840 pixels per side."),
    ({"height": 4000}, "output size must be between 160 and 3840 pixels per side."),
    ({"width": 641}, "output width and height must be even numbers."),
    ({"height": 361}, "output width and height must be even numbers."),
    ({"width": 640.5}, "width 640.5 is not a whole number."),
    ({"fps": 0}, "fps must be between 1 and 60."),
    ({"fps": 61}, "fps must be between 1 and 60."),
]


@pytest.mark.parametrize("conf,message", MESSAGES, ids=[str(c)[:40] for c, _ in MESSAGES])
def test_bad_values_get_one_clear_sentence(conf, message):
    with pytest.raises(FatalError) as raised:
        Settings.from_mapping(conf)
    assert str(raised.value) == message


def test_every_option_has_a_message_case():
    assert {name for conf, _ in MESSAGES for name in conf} >= {o.name for o in OPTIONS}


# ------------------------------------------------------------------------------------ studio

def _studio_error(name: str, value) -> str | None:
    try:
        UploadInit(filename="clip.mp4", size=1, **{name: value})
    except ValidationError as exc:
        return str(fatal_from(exc))
    return None


def test_studio_exposes_the_table_s_studio_options():
    assert STUDIO_OPTIONS == ("title_hint", "script_mode", "voice", "caption_style",
                              "publish_target", "privacy", "animate", "outro_text", "outro_url",
                              "brand_color", "brand_font")
    assert {"filename", "size", "content_type", "tenant"} | set(STUDIO_OPTIONS) == set(UploadInit.model_fields)
    body = UploadInit(filename="clip.mp4", size=1)
    assert {n: getattr(body, n) for n in STUDIO_OPTIONS} == {n: BY_NAME[n].default for n in STUDIO_OPTIONS}


def test_the_upload_form_is_drawn_from_the_table():
    """Every studio option is a field of the upload page, named as the option, with the
    table's choices, limits and default; nothing else is."""
    from html.parser import HTMLParser
    from types import SimpleNamespace

    from include.studio import app

    html = app.templates.get_template("upload.html").render(
        user=SimpleNamespace(name="alice", tenant="acme", is_admin=False), base="/studio",
        options=BY_NAME, studio_options=[BY_NAME[n] for n in STUDIO_OPTIONS],
        form_defaults={"script_mode": "review_before_tts"}, placeholders={}, max_bytes=1)
    fields: dict[str, dict] = {}

    class Form(HTMLParser):
        select = None

        def handle_starttag(self, tag, attrs):
            a = dict(attrs)
            if tag in ("input", "select") and a.get("name") not in (None, "file"):
                fields[a["name"]] = {"tag": tag, **a, "options": [], "selected": None}
                self.select = a["name"] if tag == "select" else None
            elif tag == "option" and self.select:
                fields[self.select]["options"].append(a["value"])
                if "selected" in a:
                    fields[self.select]["selected"] = a["value"]

    Form().feed(html)
    assert list(fields) == list(STUDIO_OPTIONS)
    for name, field in fields.items():
        option = BY_NAME[name]
        if option.enum:
            assert field["tag"] == "select" and field["options"] == list(option.enum)
            assert field["selected"] == ("review_before_tts" if name == "script_mode"
                                         else option.default)
        else:
            assert field["value"] == option.default
            assert field.get("maxlength") == (str(option.max_length) if option.max_length
                                              else None)
            if option.html_type == "text":
                assert field.get("pattern") == option.html_pattern
    assert fields["brand_color"]["type"] == "color"
    assert fields["animate"]["options"] == ["auto", "minimal", "off"]


@pytest.mark.parametrize("name", STUDIO_OPTIONS)
def test_studio_accepts_and_refuses_what_settings_does(name):
    good, bad = _samples(BY_NAME[name])
    for value in good:
        assert _studio_error(name, value) is None and _settings_error(name, value) is None, value
    for value in bad:  # refused, with the same sentence
        assert _studio_error(name, value) == _settings_error(name, value) is not None, value


def test_studio_tenant_uses_the_tenant_pattern():
    for value in GOOD["tenant"]:
        UploadInit(filename="clip.mp4", size=1, tenant=value)
    for value in BAD["tenant"]:
        with pytest.raises(ValidationError):
            UploadInit(filename="clip.mp4", size=1, tenant=value)


def test_trailing_newline_is_refused_though_the_param_pattern_lets_it_through():
    """JSON-schema patterns use Python's ``re.search`` in Airflow, where ``$`` also matches before
    a final newline; Settings and the studio (pydantic's regex) refuse it, so such a run fails
    at its first task with the usual sentence."""
    for name, value in (("tenant", "acme\n"), ("voice", "en\n"), ("openai_model", "gpt\n")):
        assert _param_accepts(name, value)
        assert _settings_error(name, value)
        assert name not in STUDIO_OPTIONS or _studio_error(name, value)


def test_html_patterns_are_the_table_s_patterns():
    assert BY_NAME["tenant"].html_pattern == r"[a-z0-9][a-z0-9_\-]{0,62}"
    assert BY_NAME["voice"].html_pattern == r"[A-Za-z0-9_+.\-]{1,64}"
