"""Source state transitions: adaptive interval, Retry-After, backoff, auto-disable (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingest.models import to_json_dict
from ingest.settings import load_settings
from ingest.sourcestate import SourceState, after_failure, after_not_modified, after_success, state_from_dict

NOW = datetime(2022, 9, 13, 12, 0, tzinfo=UTC)
S = load_settings(poll_min_interval=300, poll_max_interval=3600, poll_max_failures=3)


def test_mostly_new_items_halve_the_interval_within_bounds() -> None:
    state = SourceState("s", interval_s=1200)
    after = after_success(state, S, now=NOW, seen=10, new=8, etag='"e1"', last_modified="Tue, 13 Sep 2022")
    assert after.interval_s == 600 and after.next_poll_at == NOW + timedelta(seconds=600)
    assert (after.etag, after.last_modified) == ('"e1"', "Tue, 13 Sep 2022")
    assert (after.failures, after.polls) == (0, 1)
    assert after_success(SourceState("s", interval_s=400), S, now=NOW, seen=10, new=10).interval_s == 300


def test_mostly_known_items_grow_the_interval_up_to_the_maximum() -> None:
    assert after_success(SourceState("s", interval_s=1200), S, now=NOW, seen=10, new=0).interval_s == 1800
    assert after_success(SourceState("s", interval_s=3000), S, now=NOW, seen=10, new=1).interval_s == 3600


def test_in_between_keeps_the_interval_and_304_grows_it() -> None:
    assert after_success(SourceState("s", interval_s=1200), S, now=NOW, seen=10, new=3).interval_s == 1200
    after = after_not_modified(SourceState("s", interval_s=1200, etag='"x"'), S, now=NOW)
    assert after.interval_s == 1800 and after.etag == '"x"' and after.last_status == "not_modified"


def test_failures_back_off_exponentially_and_disable_after_n() -> None:
    state = SourceState("s")
    waits = []
    for _ in range(3):
        state = after_failure(state, S, now=NOW, reason="http_500", message="boom")
        waits.append((state.next_poll_at - NOW).total_seconds())
    assert waits == [300, 600, 1200]
    assert state.disabled and state.disabled_reason == "3 consecutive failures, last: http_500"
    assert state.health.startswith("disabled") and not state.is_due(NOW + timedelta(days=30))


def test_retry_after_is_honoured_when_longer_than_the_backoff() -> None:
    state = after_failure(SourceState("s"), S, now=NOW, reason="http_429", message="slow down",
                          retry_after=2000)
    assert state.next_poll_at == NOW + timedelta(seconds=2000)
    assert not state.is_due(NOW + timedelta(seconds=1999)) and state.is_due(NOW + timedelta(seconds=2000))


def test_success_resets_failures() -> None:
    state = after_failure(SourceState("s", interval_s=600), S, now=NOW, reason="timeout", message="t")
    state = after_success(state, S, now=NOW, seen=5, new=1)
    assert state.failures == 0 and state.last_error == "" and state.health == "ok"


def test_json_round_trip() -> None:
    state = after_success(SourceState("s", url="https://x.example/rss"), S, now=NOW, seen=3, new=3)
    assert state_from_dict(to_json_dict(state)) == state
