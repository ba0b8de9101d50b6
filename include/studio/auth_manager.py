"""Airflow's auth manager for this project: SimpleAuthManager, minus every permission of tenant users.

``AIRFLOW__CORE__AUTH_MANAGER=include.studio.auth_manager.TenantAuthManager`` (scripts/env.sh).

A *tenant user* is a user named in the ``studio_tenants`` Variable whose role is below ``op``.
They still sign in (``POST /auth/token``, the login page), so the studio knows who they are, but
Airflow grants them nothing: no DAG, run, task, XCom, log, variable, connection, pool, config,
asset or view — every ``/api/v2`` and ``/ui`` call answers 403, and their Airflow UI is empty.
The studio checks their tenant itself and acts on Airflow with its own service identity
(``include.studio.videos.StudioAirflow``). Operators (``op``, ``admin``) keep Airflow's full UI.

If ``studio_tenants`` cannot be read as a mapping, every user below ``op`` is treated as a tenant
user (fail closed). Each refusal is logged on ``studio.audit`` with the door (``airflow-api``,
``airflow-ui``) and the request it came from.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from typing import Any

from airflow.api_fastapi.auth.managers.base_auth_manager import (
    COOKIE_NAME_JWT_TOKEN,
    BaseAuthManager,
)
from airflow.api_fastapi.auth.managers.simple.simple_auth_manager import (
    SimpleAuthManager,
)
from airflow.api_fastapi.auth.managers.simple.user import SimpleAuthManagerUser
from starlette.requests import Request
from starlette.responses import RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from include.core.errors import FatalError

audit = logging.getLogger("studio.audit")
OPERATOR_ROLES = {"OP", "ADMIN"}
STUDIO_HOME = "/studio/videos"
# Paths that are not pages of Airflow's UI (its REST calls, login, plugins, static files).
NOT_UI_PAGES = ("/studio", "/auth", "/api/", "/ui/", "/execution", "/static", "/pluginsv2", "/public")
TENANTS_TTL = 5.0  # seconds a tenants lookup is reused (a removed mapping takes effect within it)

_request: contextvars.ContextVar[str] = contextvars.ContextVar("studio_request", default="")
_cache: dict[str, Any] = {"at": -1e9, "mapping": None}
_cache_lock = threading.Lock()


def _tenants() -> dict[str, str] | None:
    """``studio_tenants``, cached for :data:`TENANTS_TTL`; None when it is malformed."""
    from include import tenancy

    with _cache_lock:
        if time.monotonic() - _cache["at"] < TENANTS_TTL:
            return _cache["mapping"]
    try:
        mapping = tenancy.tenants()
    except FatalError:
        mapping = None
    with _cache_lock:
        _cache.update(at=time.monotonic(), mapping=mapping)
    return mapping


def is_operator(user: SimpleAuthManagerUser) -> bool:
    return (user.role or "").upper() in OPERATOR_ROLES


def tenant_of(user: SimpleAuthManagerUser) -> str | None:
    """The user's tenant if they are a tenant user, ``"?"`` when the mapping is unreadable."""
    if is_operator(user):
        return None
    mapping = _tenants()
    if mapping is None:
        return "?"
    return mapping.get(user.get_name())


def _door() -> str | None:
    """Where the current request came in; None for the studio (it logs its own refusals)."""
    path = _request.get().split(" ", 1)[-1]
    if path.startswith("/studio"):
        return None
    return "airflow-api" if path.startswith(("/api/", "/auth/", "/execution/")) else "airflow-ui"


class _RequestContext:
    """Remembers the request line for the audit log (contextvars reach the thread pool), and
    sends a tenant user who opens an Airflow UI page to the studio, where their videos are."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            _request.set(f"{scope['method']} {scope['path']}")
            if await self._tenant_opens_ui_page(scope):
                response = RedirectResponse(f"{scope.get('root_path', '')}{STUDIO_HOME}", status_code=303)
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    async def _tenant_opens_ui_page(scope: Scope) -> bool:
        request = Request(scope)
        if request.method != "GET" or scope["path"].startswith(NOT_UI_PAGES):
            return False
        token = request.cookies.get(COOKIE_NAME_JWT_TOKEN)
        if not token or "text/html" not in request.headers.get("accept", ""):
            return False
        from airflow.api_fastapi.app import get_auth_manager

        try:
            user = await get_auth_manager().get_user_from_token(token)
        except Exception:  # an expired or forged cookie: Airflow's own login flow handles it
            return False
        return bool(tenant_of(user))


class TenantAuthManager(SimpleAuthManager):
    """SimpleAuthManager; users mapped to a tenant (role below op) are authorized for nothing."""

    def get_fastapi_middlewares(self):
        return [*super().get_fastapi_middlewares(), (_RequestContext, {})]

    def filter_authorized_menu_items(self, menu_items, *, user):
        return [] if tenant_of(user) else super().filter_authorized_menu_items(menu_items, user=user)


def _deny_tenant_users(name: str):
    allowed = getattr(SimpleAuthManager, name)

    def check(self, **kwargs) -> bool:
        user = kwargs["user"]
        tenant = tenant_of(user)
        if tenant:
            door = _door()
            if door:
                target = next(
                    (str(kwargs[k]) for k in ("access_entity", "access_view", "resource_name") if kwargs.get(k)),
                    "",
                )
                audit.warning(
                    "%s: refused %s %s %s to tenant user %r (tenant %r) at %s",
                    door, name, kwargs.get("method") or "", target, user.get_name(), tenant,
                    _request.get() or "?",
                )
            return False
        return allowed(self, **kwargs)

    check.__name__ = name
    check.__doc__ = f"{name} of SimpleAuthManager; always False for tenant users."
    return check


# Every authorization question Airflow asks (the batch_*/filter_*/get_authorized_* helpers of
# BaseAuthManager all end here), so a new resource type is denied to tenants by default.
for _name in sorted(n for n in dir(BaseAuthManager) if n.startswith("is_authorized_")):
    setattr(TenantAuthManager, _name, _deny_tenant_users(_name))
