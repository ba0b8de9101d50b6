"""Who is calling: the Airflow user behind a request, their tenant, and the token to forward.

:func:`studio_user` is the one place that uses Airflow's internal auth API
(``airflow.api_fastapi.core_api.security``): the same check as Airflow's own REST API, reading
the bearer token or the UI's ``_token`` cookie. Every studio route depends on it.

Tenants come from the Airflow Variable ``studio_tenants`` (JSON ``{"alice": "acme", ...}``,
loaded from ``airflow_settings.yaml``). Admins are the users Airflow lets edit that Variable —
they could give themselves any tenant anyway — and they see every tenant. Tenant users get no
Airflow permissions (``auth_manager.py``): the studio's checks here are the only way in for them.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from include.core.errors import FatalError
from include.tenancy import TENANTS_VARIABLE

TENANTS_TTL = 5.0  # the mapping is read on every request, on the event loop: a DB query
_tenants: tuple[float, dict[str, str]] | None = None

audit = logging.getLogger("studio.audit")
bearer_scheme = HTTPBearer(auto_error=False, description="A token from Airflow's POST /auth/token.")


@dataclass(frozen=True)
class StudioUser:
    name: str
    tenant: str | None  # None for an admin without a tenant of their own
    is_admin: bool
    # The caller's own JWT. Never forwarded: tenant users have no Airflow permissions, the studio
    # calls Airflow as its service identity (include/studio/videos.py: StudioAirflow.service).
    token: str = ""

    def can_access(self, tenant: str) -> bool:
        return self.is_admin or tenant == self.tenant


def refuse(user: StudioUser, action: str, target: str, status: int = 404) -> HTTPException:
    """Log a refused cross-tenant or out-of-prefix attempt; the caller raises the result."""
    audit.warning("studio: refused %s of %r to user %r (tenant %r)", action, target, user.name, user.tenant)
    detail = "not found" if status == 404 else "not allowed"
    return HTTPException(status, f"{target}: {detail}")


def tenant_map() -> dict[str, str]:
    """The Variable's mapping, cached for :data:`TENANTS_TTL` seconds (a change applies within them)."""
    global _tenants
    if _tenants is not None and _tenants[0] > time.monotonic():
        return _tenants[1]
    from include import tenancy

    try:
        mapping = tenancy.tenants()
    except FatalError:
        raise HTTPException(503, f"the {TENANTS_VARIABLE} Variable must be a JSON object user → tenant.") from None
    _tenants = (time.monotonic() + TENANTS_TTL, mapping)
    return mapping


async def studio_user(
    request: Request, bearer: HTTPAuthorizationCredentials | None = Depends(bearer_scheme)
) -> StudioUser:
    """The authenticated Airflow user and their tenant; 401 without valid credentials."""
    from airflow.api_fastapi.app import get_auth_manager
    from airflow.api_fastapi.auth.managers.base_auth_manager import (
        COOKIE_NAME_JWT_TOKEN,
    )
    from airflow.api_fastapi.auth.managers.models.resource_details import (
        VariableDetails,
    )
    from airflow.api_fastapi.core_api.security import get_user

    try:
        user = await get_user(request, None, bearer)
    except HTTPException:
        raise HTTPException(
            401,
            "sign in to Airflow first: a bearer token from POST /auth/token, or the Airflow UI's session.",
            headers={"WWW-Authenticate": "Bearer"},
        ) from None
    has_bearer = bearer is not None and bearer.scheme.lower() == "bearer"
    token = bearer.credentials if has_bearer else request.cookies.get(COOKIE_NAME_JWT_TOKEN, "")
    name = user.get_name()
    is_admin = get_auth_manager().is_authorized_variable(
        method="PUT", user=user, details=VariableDetails(key=TENANTS_VARIABLE)
    )
    tenant = tenant_map().get(name)
    if tenant is None and not is_admin:
        audit.warning("studio: user %r has no tenant in %s", name, TENANTS_VARIABLE)
        raise HTTPException(
            403, f"user {name!r} has no studio tenant; ask an admin to add it to {TENANTS_VARIABLE}."
        )
    return StudioUser(name=name, tenant=tenant, is_admin=is_admin, token=token)


def login_url(next_url: str) -> str:
    """Airflow's login page, coming back to ``next_url`` (for pages opened without a session)."""
    from airflow.api_fastapi.app import get_auth_manager

    return get_auth_manager().get_url_login(next_url=next_url)
