"""Studio: upload, review and rerun pages plus a JSON API, served by Airflow's api-server.

``plugins/studio_plugin.py`` mounts :data:`include.studio.app.app` under ``/studio``.

- ``auth.py``: who is calling (Airflow user → tenant), the only place that uses Airflow's auth API
- ``videos.py``: a tenant's view of runs, stages, artifacts, scripts and reruns
- ``uploads.py``: upload init → bytes (presigned S3 PUT or chunked parts) → finalize (dedup)
- ``app.py``: routes (REST under ``/studio/api``, server-rendered pages) and error mapping
"""
