"""Deprecated path: the run options table and :class:`Settings` live in ``include.core.options``.

Kept as a re-export only while branches in flight still import ``include.stages.settings``;
import from ``include.core.options`` instead. Remove once nothing imports this module.
"""

from include.core.options import (  # noqa: F401
    ASPECTS,
    CAPTION_STYLES,
    LLM_PROVIDERS,
    MODEL_RE,
    ON_REPUBLISH,
    ORIGINAL_AUDIO,
    PRIVACY,
    PROVIDER_CHOICES,
    PUBLISH_TARGETS,
    SCRIPT_MODES,
    SYNC_MODES,
    TENANT_RE,
    TTS_PROVIDERS,
    VIDEO_PRESETS,
    VISION_PROVIDERS,
    VOICE_RE,
    Settings,
)
