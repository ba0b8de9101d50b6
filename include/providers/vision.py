"""Keyframe descriptions from a vision model (OpenAI or Anthropic), for the script's context.

Each keyframe is downscaled to at most :data:`MAX_SIDE` pixels and sent as a JPEG; the answer is
one short sentence per keyframe, validated like every structured answer
(:mod:`include.providers.chat`).
"""

from __future__ import annotations

from pathlib import Path

import cv2
from pydantic import BaseModel

from include.core.errors import FatalError
from include.core.usage import Usage
from include.providers.chat import chat_client
from include.providers.cloud import ProviderConfig

MAX_SIDE = 512
JPEG_QUALITY = 80
MAX_DESCRIPTION_CHARS = 300
SYSTEM = (
    "You describe video keyframes for a narrator who cannot see them. Say in one plain sentence "
    "of at most 25 words what is on screen: the app or scene, the visible headings, what stands "
    "out. No speculation about anything off screen."
)


class KeyframeDescription(BaseModel):
    description: str


def describe_keyframes(
    keyframes: dict[str, Path], provider: str, config: ProviderConfig, usage: Usage
) -> dict[str, str]:
    """``{segment_id: description}`` for ``{segment_id: keyframe JPEG}``."""
    client = chat_client(provider, config, usage)
    descriptions = {}
    for segment_id, path in keyframes.items():
        answer = client.ask(SYSTEM, f"Keyframe of segment {segment_id}.", KeyframeDescription,
                            images=[downscaled_jpeg(path)])
        descriptions[segment_id] = " ".join(answer.description.split())[:MAX_DESCRIPTION_CHARS]
    return descriptions


class VisionDescriber:
    """A :class:`include.core.ports.KeyframeDescriber` backed by a vision chat model."""

    def __init__(self, provider: str, config: ProviderConfig) -> None:
        self.provider, self.config = provider, config
        self.usage = Usage(provider, config.model)

    def describe(self, keyframes: dict[str, Path]) -> dict[str, str]:
        return describe_keyframes(keyframes, self.provider, self.config, self.usage)


def downscaled_jpeg(path: Path, max_side: int = MAX_SIDE) -> bytes:
    """The image at ``path`` as JPEG bytes, scaled down so neither side exceeds ``max_side``."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise FatalError(f"the keyframe {Path(path).name} is not a readable image.")
    height, width = image.shape[:2]
    scale = min(1.0, max_side / max(height, width))
    if scale < 1.0:
        image = cv2.resize(image, (round(width * scale), round(height * scale)),
                           interpolation=cv2.INTER_AREA)
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
    if not ok:
        raise FatalError(f"the keyframe {Path(path).name} could not be encoded as JPEG.")
    return data.tobytes()
