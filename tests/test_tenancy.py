"""Run provenance (include/tenancy.py) and the uploads-only source policy, without a server; one
``dag.test()`` run started by a user mapped to another tenant fails at ingest."""

from __future__ import annotations

import json

import pytest

from include import tenancy
from include.core.errors import FatalError
from include.stages import ingest
from include.storage import ArtifactStore

MAPPING = {"alice": "acme", "bob": "globex"}
UPLOAD = f"tenants/globex/uploads/globex.{'a' * 32}"


def test_who_started_the_run_decides(monkeypatch):
    monkeypatch.delenv(tenancy.SERVICE_USER_ENV, raising=False)
    assert tenancy.run_origin("bob", "globex", MAPPING) == "tenant"
    assert tenancy.run_origin("studio", "acme", MAPPING) == "tenant"
    for operator in ("admin", "ops-carol", None, "", "dag_test"):
        assert tenancy.run_origin(operator, "acme", MAPPING) == "operator"
    with pytest.raises(FatalError, match="started by 'bob', who belongs to tenant 'globex' and may not"):
        tenancy.run_origin("bob", "acme", MAPPING)
    monkeypatch.setenv(tenancy.SERVICE_USER_ENV, "studio-prod")
    assert tenancy.run_origin("studio", "acme", MAPPING) == "operator"
    assert tenancy.run_origin("studio-prod", "acme", MAPPING) == "tenant"


@pytest.mark.parametrize("raw", ['["alice"]', '{"alice": "ACME"}', '{"alice": 3}', "{not json"])
def test_a_malformed_mapping_is_one_sentence(raw):
    with pytest.raises(FatalError, match="studio_tenants Variable must be a JSON object"):
        tenancy.parse_tenants(raw)


def test_mapping_forms():
    assert tenancy.parse_tenants(json.dumps(MAPPING)) == MAPPING
    assert tenancy.parse_tenants(MAPPING) == MAPPING
    assert tenancy.parse_tenants("null") == {}


@pytest.mark.parametrize(
    "source",
    [
        "/data/videos/clip.mp4",
        "file:///data/videos/clip.mp4",
        "s3://aws_default@bucket/tenants/globex/uploads/x/clip.mp4",
        f"tenants/acme/uploads/acme.{'a' * 32}/clip.mp4",  # another tenant's upload
        f"{UPLOAD}/parts/000001",
        f"{UPLOAD}/upload.json",
        f"{UPLOAD}/sealed.json",
        f"{UPLOAD}/../../acme/uploads/x/clip.mp4",
        f"{UPLOAD}/clip.mp4\n",
        "tenants/globex/uploads/clip.mp4",
        f"tenants/globex/uploads/acme.{'a' * 32}/clip.mp4",
        f"tenants/globex/videos/globex-{'0' * 16}/render/final.mp4",
    ],
)
def test_tenant_runs_take_only_their_uploaded_files(source):
    with pytest.raises(FatalError, match="not allowed for a run started from the studio or by a tenant user"):
        ingest.check_source_reference(source, tenant="globex", uploads_only=True)


def test_operator_runs_keep_paths_and_uris():
    for source in ("/data/videos/clip.mp4", "s3://aws_default@bucket/raw/clip.mp4", f"{UPLOAD}/clip.mp4"):
        ingest.check_source_reference(source, tenant="globex")
    ingest.check_source_reference(f"{UPLOAD}/clip.mp4", tenant="globex", uploads_only=True)


def test_only_sealed_uploads_are_accepted(tmp_path):
    store = ArtifactStore(f"file://{tmp_path}")
    key = f"{UPLOAD}/clip.mp4"
    store.put_bytes(b"not really a video", key)
    with pytest.raises(FatalError, match="is not a finalized upload of tenant 'globex'"):
        tenancy.check_upload(store, key, "globex", "source")
    store.put_json({"key": f"{UPLOAD}/other.mp4"}, f"{UPLOAD}/{tenancy.SEALED}")
    with pytest.raises(FatalError, match="is not a finalized upload"):
        tenancy.check_upload(store, key, "globex", "source")
    store.put_json({"key": key}, f"{UPLOAD}/{tenancy.SEALED}")
    tenancy.check_upload(store, key, "globex", "source")


def test_a_run_for_another_tenant_fails_at_ingest(airflow_db, tmp_path, sample_clip):
    """dag.test() records the triggering user ``dag_test``; map it to globex and ask for acme."""
    from airflow.dag_processing.dagbag import DagBag

    from tests.conftest import ROOT

    variables = tmp_path / "variables.json"
    variables.write_text(json.dumps({"studio_tenants": json.dumps({"dag_test": "globex"})}))
    dag = DagBag(dag_folder=str(ROOT / "dags")).get_dag("video_pipeline")
    clip, _ = sample_clip
    run = dag.test(run_conf={"tenant": "acme", "source": str(clip)}, variable_file_path=str(variables))
    tis = {ti.task_id: ti for ti in run.get_task_instances()}
    assert str(run.state) == "failed"
    assert str(tis["ingest"].state) == "failed" and tis["ingest"].try_number == 1
    assert str(tis["analyze"].state) == "upstream_failed"
