"""The studio (upload, review, rerun) on Airflow's own api-server, with a link in the UI's nav bar.

The app itself lives in ``include/studio/``; this file only registers it. Airflow loads every
plugin in every task process too (for their listeners), so the studio app — FastAPI, its routes
and templates, about a CPU-second — is imported on its first request, not here (issue #13;
``tests/test_studio_plugin.py``).
"""

from __future__ import annotations

import asyncio

from airflow.plugins_manager import AirflowPlugin


class StudioApp:
    """An ASGI app that imports ``include.studio.app`` (off the event loop) on its first call and
    hands every request to it unchanged."""

    app = None

    async def __call__(self, scope, receive, send) -> None:
        if StudioApp.app is None:
            StudioApp.app = await asyncio.to_thread(_load)
        await StudioApp.app(scope, receive, send)


def _load():
    from include.studio.app import app

    return app


class StudioPlugin(AirflowPlugin):
    name = "studio"
    fastapi_apps = [{"app": StudioApp(), "url_prefix": "/studio", "name": "Video studio"}]
    external_views = [
        {"name": "Studio", "href": "/studio/videos", "destination": "nav"},
    ]
