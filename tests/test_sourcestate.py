"""Source state transitions: adaptive interval, Retry-After, backoff, auto-disable (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from ingest.models import to_json_dict
from ingest.settings import load_settings
from ingest.sourcestate import (
    SourceState,
    after_failure,
    after_not_modified,
    after_success,
    set_paused,
    state_from_dict,
)

NOW = datetime(2022, 9, 13, 12, 0, tzinfo=UTC)
S = load_settings(poll={"min_interval": 300, "max_interval": 3600, "max_failures": 3, "disable_after": 0})


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


def test_failures_back_off_linearly_then_disable_into_a_daily_probe() -> None:
    state = SourceState("s")
    waits = []
    for _ in range(3):
        state = after_failure(state, S, now=NOW, reason="http_500", message="boom")
        waits.append((state.next_poll_at - NOW).total_seconds())
    assert waits == [300, 600, 86400]  # 300 * n; the third failure disables: one probe a day
    assert state.disabled and state.disabled_reason == "3 consecutive failures, last: http_500"
    assert state.health.startswith("disabled")
    assert not state.is_due(NOW + timedelta(hours=23)) and state.is_due(NOW + timedelta(days=1))
    recovered = after_success(state, S, now=NOW + timedelta(days=1), seen=3, new=1)
    assert not recovered.disabled and recovered.failures == 0 and recovered.health == "ok"


def test_a_morning_outage_is_backed_off_not_disabled() -> None:
    """A count of failures alone disabled a site down for a few hours; the daily probe then landed in
    its next outage, every day. Disabling also needs ``disable_after`` seconds of failing."""
    cfg = load_settings(poll={"min_interval": 300, "max_interval": 3600, "max_failures": 3,
                              "disable_after": 86400})
    state, at = SourceState("s"), NOW
    for _ in range(8):  # 8 failures over 3 h: more than max_failures, far less than a day
        state = after_failure(state, cfg, now=at, reason="connect_error", message="refused")
        at = state.next_poll_at
    assert not state.disabled and state.failing_since == NOW and state.failures == 8
    assert (state.next_poll_at - NOW) < timedelta(hours=4)  # linear backoff, capped at max_interval
    day_later = after_failure(state, cfg, now=NOW + timedelta(days=1), reason="connect_error", message="x")
    assert day_later.disabled and day_later.next_poll_at == NOW + timedelta(days=2)
    healed = after_success(day_later, cfg, now=NOW + timedelta(days=2), seen=1, new=1)
    assert healed.failing_since is None and not healed.disabled
    again = after_failure(healed, cfg, now=NOW + timedelta(days=3), reason="http_500", message="y")
    assert again.failing_since == NOW + timedelta(days=3) and not again.disabled


def test_retry_after_is_capped_at_a_day() -> None:
    state = after_failure(SourceState("s"), S, now=NOW, reason="http_429", message="x",
                          retry_after=10 * 86400)
    assert state.next_poll_at == NOW + timedelta(seconds=86400)


def test_paused_source_is_never_due_and_enable_clears_an_auto_disable() -> None:
    state = set_paused(SourceState("s", next_poll_at=NOW), True)
    assert not state.is_due(NOW + timedelta(days=365)) and state.health.startswith("paused")
    disabled = SourceState("s", disabled=True, failures=5, next_poll_at=NOW + timedelta(days=1))
    enabled = set_paused(disabled, False)
    assert enabled.is_due(NOW) and not enabled.disabled and enabled.failures == 0


def test_unconditional_every_nth_poll_and_once_a_day() -> None:
    s = load_settings(poll={"unconditional_every": 3, "unconditional_interval": 86400})
    state = after_success(SourceState("s"), s, now=NOW, seen=1, new=1, etag='"a"', conditional=False)
    sent = []
    for hour in range(1, 7):
        now = NOW + timedelta(hours=hour)
        cond = state.conditional(s, now)
        sent.append(cond)
        state = after_success(state, s, now=now, seen=1, new=0, etag='"a"', conditional=cond)
    assert sent == [True, True, False, True, True, False]
    assert not state.conditional(s, NOW + timedelta(hours=6, days=1))  # a day since the last one


def test_unconditional_poll_counts_new_items_behind_an_unchanged_etag() -> None:
    state = SourceState("s", etag='"a"', last_unconditional_at=NOW)
    state = after_success(state, S, now=NOW, seen=4, new=2, etag='"a"', conditional=False)
    assert state.hidden_by_304 == 1
    state = after_success(state, S, now=NOW, seen=4, new=2, etag='"b"', conditional=False)
    assert state.hidden_by_304 == 1  # the ETag changed: a 304 would not have hidden them


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
