"""Pure pipeline stages: functions of (local input files, settings) -> output files + small result.

Nothing in this package imports Airflow; the DAG layer (``dags/video_pipeline.py``) moves bytes
between object storage and a temp dir and maps :mod:`include.core.errors` to Airflow's retry
semantics.
"""
