"""The artifact store's key layout: the one place a store key is spelled.

Everything under the store root (``VIDEO_STORE_ROOT``)::

    tenants/<tenant>/
        videos/<video_id>/<stage>/<file>          a stage's artifacts (artifact_key)
            script/script.json                    the generated script
            review/script.json                    the reviewed (edited) script
            review/decisions/<revision>.json      one decision per script revision
            review/approval.json                  a decision from before revisions (legacy)
            review/history/<…>.json               edits and decisions moved aside
            publish/state/<name>.json             the publish ledger (<target>.receipt, …)
            publish/receipt.json                  the publish stage's receipt artifact
        uploads/<tenant>.<32 hex>/                one studio upload (upload_prefix)
            upload.json                           what was announced
            parts/<000001>                        raw parts of a file-store upload
            <file>                                the uploaded file (the run's source)
            sealed-<etag>-<file>                  the sealed copy of a presigned (S3) upload
            sealed.json                           the seal: the only uploads a studio run may read
            finalized.json                        finalize's answer (a retry gets it again)
        tts-cache/<entry>                         paid TTS audio, reused by every video
    studio/idempotency/<user hash>/<key hash>.json   Idempotency-Key records of the studio

Existing stores must stay readable: these functions produce the same bytes as before they were
gathered here (``tests/test_keys.py`` pins them).
"""

from __future__ import annotations

import hashlib
import re

TENANTS = "tenants"
VIDEOS = "videos"
UPLOADS = "uploads"
TTS_CACHE = "tts-cache"

VIDEO_ID_RE = re.compile(r"[a-z0-9][a-z0-9_-]{0,62}-[0-9a-f]{16}")
UPLOAD_ID_RE = re.compile(r"^([a-z0-9][a-z0-9_-]{0,62})\.([0-9a-f]{32})$")

# names inside an upload's folder
UPLOAD_RECORD = "upload.json"
UPLOAD_FINALIZED = "finalized.json"
UPLOAD_SEALED = "sealed.json"
UPLOAD_PARTS = "parts"

# names inside a video's folder, relative (``<stage>/<file>``)
SCRIPT = "script/script.json"
REVIEWED_SCRIPT = "review/script.json"
METADATA = "metadata/metadata.json"
RECEIPT = "publish/receipt.json"
PUBLISH_STATE = "state"  # publish/state/<name>.json
LEGACY_APPROVAL = "approval.json"  # review/approval.json


def video_id_for(tenant: str, sha256: str) -> str:
    """The pipeline-wide id of a video: tenant plus the first 16 hex digits of its SHA-256."""
    return f"{tenant}-{sha256[:16]}"


# ---- tenants and videos


def tenant_prefix(tenant: str) -> str:
    return f"{TENANTS}/{tenant}"


def is_store_key(ref: str) -> bool:
    """``ref`` names a key in the store (not a path or a URI)."""
    return ref.startswith(f"{TENANTS}/")


def is_tenant_key(ref: str, tenant: str) -> bool:
    """``ref`` is a key under ``tenant``'s folder."""
    return ref.startswith(f"{tenant_prefix(tenant)}/")


def video_prefix(tenant: str, video_id: str) -> str:
    return f"{tenant_prefix(tenant)}/{VIDEOS}/{video_id}"


def artifact_name(stage: str, name: str) -> str:
    """An artifact's name relative to its video's folder."""
    return f"{stage}/{name}"


def artifact_key(tenant: str, video_id: str, stage: str, name: str) -> str:
    return f"{video_prefix(tenant, video_id)}/{artifact_name(stage, name)}"


def keyframe_name(segment_id) -> str:
    return artifact_name("analyze", f"keyframes/{segment_id}.jpg")


# ---- review (include/review.py owns what they mean)


def script_key(tenant: str, video_id: str) -> str:
    return f"{video_prefix(tenant, video_id)}/{SCRIPT}"


def reviewed_script_key(tenant: str, video_id: str) -> str:
    return f"{video_prefix(tenant, video_id)}/{REVIEWED_SCRIPT}"


def review_key(tenant: str, video_id: str, name: str) -> str:
    return artifact_key(tenant, video_id, "review", name)


def decision_key(tenant: str, video_id: str, revision_part: str) -> str:
    """``revision_part`` is already one safe key part (``include.review`` makes it)."""
    return review_key(tenant, video_id, f"decisions/{revision_part}.json")


def qc_decision_key(tenant: str, video_id: str, file_part: str) -> str:
    """A reviewer's call on a final.mp4 that failed QC; ``file_part`` names the file (the first
    16 hex digits of its sha256, made safe by ``include.review``)."""
    return review_key(tenant, video_id, f"qc/{file_part}.json")


# ---- quality check

QC_REPORT = "qc/qc.json"


def qc_report_key(tenant: str, video_id: str) -> str:
    return f"{video_prefix(tenant, video_id)}/{QC_REPORT}"


# ---- publish


def receipt_name(target: str) -> str:
    """The ledger name of a target's current receipt."""
    return f"{target}.receipt"


def publish_state_key(tenant: str, video_id: str, name: str) -> str:
    return artifact_key(tenant, video_id, "publish", f"{PUBLISH_STATE}/{name}.json")


def receipt_key(tenant: str, video_id: str) -> str:
    """The publish stage's ``receipt.json`` artifact (also the ledger's legacy fallback)."""
    return f"{video_prefix(tenant, video_id)}/{RECEIPT}"


# ---- uploads


def uploads_prefix(tenant: str) -> str:
    """``tenants/<tenant>/uploads/`` (with the slash: every upload key starts with it)."""
    return f"{tenant_prefix(tenant)}/{UPLOADS}/"


def new_upload_id(tenant: str, hex32: str) -> str:
    return f"{tenant}.{hex32}"


def upload_prefix(tenant: str, upload_id: str) -> str:
    return f"{uploads_prefix(tenant)}{upload_id}"


def upload_key(tenant: str, upload_id: str, name: str) -> str:
    """A file in one upload's folder (the upload itself, its records, its sealed copy)."""
    return f"{upload_prefix(tenant, upload_id)}/{name}"


def upload_part_key(tenant: str, upload_id: str, n: int) -> str:
    return upload_key(tenant, upload_id, f"{UPLOAD_PARTS}/{n:06d}")


def sealed_copy_name(version: str, filename: str) -> str:
    """The sealed copy of a presigned upload: one level in its folder (what tenancy accepts)."""
    return f"sealed-{version}-{filename}"[:100]


def upload_dir_of(key: str) -> str:
    """The upload folder of an upload's file key."""
    return key.rsplit("/", 1)[0]


def seal_key_for(key: str) -> str:
    """The seal record next to an upload's file key."""
    return f"{upload_dir_of(key)}/{UPLOAD_SEALED}"


def upload_file_re(tenant: str) -> re.Pattern:
    """An upload's file (``tenants/<t>/uploads/<t>.<32 hex>/<file>``); not its parts or records."""
    t = re.escape(tenant)
    records = "|".join(re.escape(n[: -len(".json")]) for n in (UPLOAD_RECORD, UPLOAD_FINALIZED, UPLOAD_SEALED))
    return re.compile(
        rf"{TENANTS}/{t}/{UPLOADS}/{t}\.[0-9a-f]{{32}}/"
        rf"(?!(?:{records})\.json$)[A-Za-z0-9][A-Za-z0-9._-]{{0,99}}"
    )


def is_upload_part_path(parts: tuple[str, ...]) -> bool:
    """Path components ``…/uploads/<upload id>/parts/<n>``: a raw part of an unfinished upload."""
    return any(parts[i] == UPLOADS and parts[i + 2] == UPLOAD_PARTS for i in range(len(parts) - 3))


UPLOAD_PART_SEARCH = re.compile(rf"(^|/){UPLOADS}/[^/]+/{UPLOAD_PARTS}/")


# ---- tenant-wide caches


def tts_cache_prefix(tenant: str) -> str:
    return f"{tenant_prefix(tenant)}/{TTS_CACHE}"


def tts_cache_key(tenant: str, entry: str) -> str:
    return f"{tts_cache_prefix(tenant)}/{entry}"


# ---- the studio's own records


def _sha(text: str | bytes) -> str:
    return hashlib.sha256(text.encode() if isinstance(text, str) else text).hexdigest()


def idempotency_key(user_name: str, key: str) -> str:
    """The record of one user's ``Idempotency-Key`` (both hashed: no user text in a key)."""
    return f"studio/idempotency/{_sha(user_name)[:24]}/{_sha(key)[:40]}.json"
