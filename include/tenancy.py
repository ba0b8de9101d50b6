"""Tenants and run provenance: who may start which run with which footage.

One model for the api-server (the studio, the auth manager) and the workers (the DAG):

- ``studio_tenants`` (Airflow Variable, JSON ``{"alice": "acme", ...}``) maps *tenant users* to
  their tenant. Tenant users have no Airflow permissions at all
  (:class:`include.studio.auth_manager.TenantAuthManager`); they work through the studio only.
- The studio acts on Airflow as its own *service identity* (``STUDIO_AIRFLOW_USER``, default
  ``studio``), after its own tenant check. Its password is a generated secret.
- Every other Airflow user (admins, operators) and the CLI are trusted with any tenant and any
  source.

:func:`check_run` is the DAG's guard (first thing in ``ingest``): a run started by a tenant user
must be for that user's tenant, and a run started by a tenant user or by the studio may only read
finalized uploads of its tenant (no worker paths, no ``s3://`` URIs, no ``parts/`` keys).
"""

from __future__ import annotations

import json
import os
from typing import Any

from include.core import keys
from include.core.errors import FatalError
from include.core.options import TENANT_RE

TENANTS_VARIABLE = "studio_tenants"
SERVICE_USER_ENV = "STUDIO_AIRFLOW_USER"
SERVICE_PASSWORD_ENV = "STUDIO_AIRFLOW_PASSWORD"
# Written by the studio's finalize (next to the upload) *before* it triggers the run: the DAG
# accepts an upload key as a tenant run's source only when this record names it.
SEALED = keys.UPLOAD_SEALED


def service_user() -> str:
    """The studio's own Airflow user (the only identity the studio calls Airflow's API with)."""
    return os.environ.get(SERVICE_USER_ENV, "").strip() or "studio"


def parse_tenants(raw: Any) -> dict[str, str]:
    """The ``studio_tenants`` mapping (JSON text or a dict); FatalError when it is malformed."""
    try:
        mapping = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        mapping = []  # not JSON: refused below
    if mapping is None:
        mapping = {}
    if not isinstance(mapping, dict) or not all(
        isinstance(u, str) and isinstance(t, str) and TENANT_RE.match(t) for u, t in mapping.items()
    ):
        raise FatalError(
            f"the {TENANTS_VARIABLE} Variable must be a JSON object mapping user names to tenant names."
        )
    return mapping


def tenants() -> dict[str, str]:
    """The current ``studio_tenants`` mapping (works in the api-server and in tasks)."""
    from airflow.sdk import Variable

    return parse_tenants(Variable.get(TENANTS_VARIABLE, default="{}"))


def run_origin(triggering_user: str | None, tenant: str, mapping: dict[str, str]) -> str:
    """``"tenant"`` for a run a tenant user or the studio started, ``"operator"`` otherwise.

    Raises FatalError when a tenant user started a run for another tenant.
    """
    user = triggering_user or ""
    if user in mapping:
        if mapping[user] != tenant:
            raise FatalError(
                f"run refused: it was started by {user!r}, who belongs to tenant {mapping[user]!r} "
                f"and may not start runs for tenant {tenant!r}."
            )
        return "tenant"
    if user == service_user():
        return "tenant"
    return "operator"


def check_upload(store, ref: str, tenant: str, what: str) -> None:
    """``ref`` (already shaped like an upload key of ``tenant``) was finalized in the studio."""
    sealed = keys.seal_key_for(ref)
    record = store.get_json(sealed) if store.exists(sealed) else None
    if not isinstance(record, dict) or record.get("key") != ref or not store.exists(ref):
        raise FatalError(
            f"{what} {ref!r} is not a finalized upload of tenant {tenant!r}: upload it in the studio first."
        )


def check_run(store, settings, triggering_user: str | None) -> str:
    """The DAG's provenance guard: tenant and footage of this run fit whoever started it.

    Returns the run's origin (``"tenant"`` or ``"operator"``); raises FatalError otherwise.
    """
    from include.stages import ingest

    origin = run_origin(triggering_user, settings.tenant, tenants())
    uploads_only = origin == "tenant"
    ingest.check_source_reference(settings.source, tenant=settings.tenant, uploads_only=uploads_only)
    if uploads_only:
        check_upload(store, settings.source, settings.tenant, "source")
        if settings.music:
            ingest.check_source_reference(settings.music, tenant=settings.tenant, uploads_only=True,
                                          what="music")
            check_upload(store, settings.music, settings.tenant, "music")
    return origin
