"""The store's key layout is pinned: existing stores must stay readable, so every key spelled by
include.core.keys is compared with the literal it was before the layout moved there."""

from __future__ import annotations

import hashlib

from include.core import keys

T, V, U = "acme", "acme-0123456789abcdef", "acme." + "f" * 32


def test_video_keys():
    assert keys.video_id_for("acme", "0123456789abcdef" + "9" * 48) == V
    assert keys.VIDEO_ID_RE.fullmatch(V)
    assert keys.video_prefix(T, V) == "tenants/acme/videos/acme-0123456789abcdef"
    assert keys.artifact_key(T, V, "render", "final.mp4") == \
        "tenants/acme/videos/acme-0123456789abcdef/render/final.mp4"
    assert keys.artifact_name("metadata", "metadata.json") == keys.METADATA == "metadata/metadata.json"
    assert keys.keyframe_name("s003") == "analyze/keyframes/s003.jpg"
    assert keys.is_store_key("tenants/acme/uploads/x") and not keys.is_store_key("/tenants/acme")
    assert keys.is_tenant_key("tenants/acme/x", "acme") and not keys.is_tenant_key("tenants/acmex/y", "acme")


def test_review_and_publish_keys():
    base = "tenants/acme/videos/acme-0123456789abcdef/"
    assert keys.script_key(T, V) == base + "script/script.json"
    assert keys.reviewed_script_key(T, V) == base + "review/script.json"
    assert keys.decision_key(T, V, "r1") == base + "review/decisions/r1.json"
    assert keys.qc_decision_key(T, V, "0123abcd0123abcd") == base + "review/qc/0123abcd0123abcd.json"
    assert keys.qc_report_key(T, V) == base + "qc/qc.json"
    assert keys.review_key(T, V, keys.LEGACY_APPROVAL) == base + "review/approval.json"
    assert keys.review_key(T, V, "history") == base + "review/history"
    assert keys.receipt_name("youtube") == "youtube.receipt"
    assert keys.publish_state_key(T, V, "youtube.receipt") == base + "publish/state/youtube.receipt.json"
    assert keys.receipt_key(T, V) == base + "publish/receipt.json"


def test_upload_keys():
    up = "tenants/acme/uploads/" + U
    assert keys.uploads_prefix(T) == "tenants/acme/uploads/"
    assert keys.new_upload_id(T, "f" * 32) == U and keys.UPLOAD_ID_RE.match(U)[1] == "acme"
    assert keys.upload_prefix(T, U) == up
    assert keys.upload_key(T, U, keys.UPLOAD_RECORD) == up + "/upload.json"
    assert keys.upload_key(T, U, keys.UPLOAD_FINALIZED) == up + "/finalized.json"
    assert keys.upload_key(T, U, keys.UPLOAD_SEALED) == up + "/sealed.json"
    assert keys.upload_part_key(T, U, 7) == up + "/parts/000007"
    assert keys.sealed_copy_name("abc", "clip.mp4") == "sealed-abc-clip.mp4"
    assert len(keys.sealed_copy_name("v", "x" * 200)) == 100
    assert keys.seal_key_for(up + "/clip.mp4") == up + "/sealed.json"
    file_re = keys.upload_file_re(T)
    assert file_re.fullmatch(up + "/clip.mp4")
    assert not any(file_re.fullmatch(up + n) for n in ("/upload.json", "/sealed.json", "/finalized.json",
                                                       "/parts/000001"))
    assert not file_re.fullmatch("tenants/globex/uploads/" + U + "/clip.mp4")
    assert keys.is_upload_part_path(tuple((up + "/parts/000001").split("/")))
    assert not keys.is_upload_part_path(tuple((up + "/clip.mp4").split("/")))
    assert keys.UPLOAD_PART_SEARCH.search(up + "/parts/000001")


def test_tenant_caches_and_studio_records():
    assert keys.tts_cache_key(T, "ab12.wav") == "tenants/acme/tts-cache/ab12.wav"
    sha = lambda s: hashlib.sha256(s.encode()).hexdigest()  # noqa: E731
    assert keys.idempotency_key("alice", "k-1") == \
        f"studio/idempotency/{sha('alice')[:24]}/{sha('k-1')[:40]}.json"
