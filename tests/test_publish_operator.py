"""The publish operator's quota wait: it defers to a trigger (freeing the worker) instead of
failing or hammering, within a limit; the trigger fires at its moment and carries the time
waited so far."""

from __future__ import annotations

import asyncio
import time
from datetime import datetime, timedelta, timezone

import pytest
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from include.providers import youtube
from include.providers.cloud import QuotaWait
from include.publish_operator import PublishOperator, WaitTrigger


@pytest.fixture
def operator():
    return PublishOperator(task_id="publish", rendered={}, described={}, thumbnailed={},
                           captioned={})


def quota() -> QuotaWait:
    return QuotaWait("YouTube's daily API quota is used up (quotaExceeded).",
                     until=youtube.next_quota_reset())


def test_quota_wait_defers_until_midnight_pacific(operator, monkeypatch):
    monkeypatch.delenv("VIDEO_PUBLISH_QUOTA_WAIT", raising=False)
    monkeypatch.delenv("VIDEO_PUBLISH_MAX_WAIT", raising=False)
    wait = quota()
    with pytest.raises(TaskDeferred) as deferred:
        operator.wait(wait, waited=0.0)
    trigger = deferred.value.trigger
    assert isinstance(trigger, WaitTrigger) and deferred.value.method_name == "resume"
    moment = datetime.fromisoformat(trigger.moment)
    assert abs((moment - wait.until).total_seconds()) < 5
    assert abs(trigger.waited - (wait.until - datetime.now(timezone.utc)).total_seconds()) < 5
    assert deferred.value.timeout > timedelta(seconds=trigger.waited)
    assert "quotaExceeded" in trigger.reason


def test_quota_wait_is_shortened_by_the_setting_and_logged(operator, monkeypatch, caplog):
    monkeypatch.setenv("VIDEO_PUBLISH_QUOTA_WAIT", "2")
    with pytest.raises(TaskDeferred) as deferred:
        operator.wait(quota(), waited=3.0)
    assert deferred.value.trigger.waited == 5.0  # 3 s before plus this 2 s wait
    assert "Deferring for 2 s" in caplog.text and "worker slot is free" in caplog.text


def test_retry_after_waits_its_own_time(operator, monkeypatch):
    monkeypatch.setenv("VIDEO_PUBLISH_QUOTA_WAIT", "2")  # only for quota resets
    wait = QuotaWait("429", until=datetime.now(timezone.utc) + timedelta(seconds=120),
                     kind="retry_after")
    with pytest.raises(TaskDeferred) as deferred:
        operator.wait(wait, waited=0.0)
    assert 110 < deferred.value.trigger.waited <= 120


def test_a_wait_past_the_limit_fails_with_the_reason(operator, monkeypatch):
    monkeypatch.setenv("VIDEO_PUBLISH_QUOTA_WAIT", "2")
    monkeypatch.setenv("VIDEO_PUBLISH_MAX_WAIT", "10")
    with pytest.raises(AirflowFailException, match=r"quotaExceeded.*limit of 10 s"):
        operator.wait(quota(), waited=9.0)


def test_trigger_serializes_and_fires_at_its_moment():
    from airflow.sdk.module_loading import import_string

    moment = datetime.now(timezone.utc) + timedelta(seconds=0.5)
    classpath, kwargs = WaitTrigger(moment.isoformat(), 7.5, "quota").serialize()
    trigger = import_string(classpath)(**kwargs)  # as the triggerer rebuilds it

    async def first_event():
        async for event in trigger.run():
            return event

    started = time.monotonic()
    event = asyncio.run(first_event())
    elapsed = time.monotonic() - started
    assert datetime.now(timezone.utc) >= moment
    assert event.payload == {"waited": 7.5, "reason": "quota", "until": moment.isoformat()}
    print(f"\ntrigger fired after {elapsed:.3f} s for a 0.5 s wait")
