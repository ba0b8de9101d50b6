"""The studio (upload, review, rerun) on Airflow's own api-server, with a link in the UI's nav bar.

The app itself lives in ``include/studio/``; this file only registers it.
"""

from airflow.plugins_manager import AirflowPlugin

from include.studio.app import app


class StudioPlugin(AirflowPlugin):
    name = "studio"
    fastapi_apps = [{"app": app, "url_prefix": "/studio", "name": "Video studio"}]
    external_views = [
        {"name": "Studio", "href": "/studio/videos", "destination": "nav"},
    ]
