"""The trigger form of ``video_pipeline``: the run options table as Airflow ``Param``s."""

from __future__ import annotations

from airflow.sdk import Param

from include.core.options import OPTIONS


def dag_params() -> dict[str, Param]:
    """One ``Param`` per option with a form section, in the table's order (the form's order)."""
    return {
        o.name: Param(o.default, description=o.description, **o.json_schema())
        for o in OPTIONS
        if o.is_param
    }
