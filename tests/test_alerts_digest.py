"""``ingest/alerts/digest.py`` directly: grouping by window (pure), reading the alerts that changed
in a window, and queueing one digest per closed window and channel (real embedded node).

``tests/test_alerts_matching.py`` drives digests end to end through ``evaluate``; here each function
is called on its own with alerts written at chosen instants, so window edges and lookback can be
pinned without a whole pipeline."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, time, timedelta
from typing import Any

from alerts_support import deliveries
from elasticsearch import Elasticsearch

from ingest import store
from ingest.alerts import delivery, digest, state
from ingest.alerts.matching import Hit
from ingest.alerts.rules import Channel, QuietHours, Rule
from ingest.indexer import bulk_write
from ingest.settings import Settings

NOW = datetime(2024, 5, 1, 10, 17, tzinfo=UTC)
CHANNELS = {"log": Channel(name="log", type="log"), "archive": Channel(name="archive", type="log")}
HOURLY = Rule(name="hourly", query="أرمينيا", channels=("log", "archive"), mode="hourly")


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


# ---- by_window: pure -------------------------------------------------------------------------------

def _changed(story: str, changed_at: str) -> dict[str, Any]:
    return {"story_id": story, "changed_at": changed_at}


def test_by_window_groups_hourly_by_the_utc_hour_of_the_last_change() -> None:
    """Windows are half-open UTC hours whatever offset a timestamp was written with."""
    alerts = [_changed("edge", "2024-05-01T09:00:00+00:00"),
              _changed("late", "2024-05-01T09:59:59.999+00:00"),
              _changed("next", "2024-05-01T10:00:00+00:00"),
              _changed("riyadh", "2024-05-01T12:30:00+03:00")]
    groups = digest.by_window(HOURLY, alerts)
    assert {start: [a["story_id"] for a in group] for start, group in groups.items()} == {
        at("2024-05-01T09:00:00+00:00"): ["edge", "late", "riyadh"],  # input order kept
        at("2024-05-01T10:00:00+00:00"): ["next"],
    }
    assert all(start.utcoffset() == timedelta(0) for start in groups)


def test_by_window_groups_daily_by_the_utc_day() -> None:
    """23:30 at UTC-2 is already the next UTC day: the digest day is the UTC one."""
    daily = HOURLY.model_copy(update={"mode": "daily"})
    groups = digest.by_window(daily, [_changed("west", "2024-05-01T23:30:00-02:00"),
                                      _changed("midnight", "2024-05-01T00:00:00+00:00"),
                                      _changed("evening", "2024-05-01T23:59:00+00:00")])
    assert {start: [a["story_id"] for a in group] for start, group in groups.items()} == {
        at("2024-05-01T00:00:00+00:00"): ["midnight", "evening"],
        at("2024-05-02T00:00:00+00:00"): ["west"],
    }


def test_a_window_with_more_stories_than_a_digest_holds_keeps_the_newest() -> None:
    many = [_changed(f"s{n:03d}", f"2024-05-01T09:{n // 60:02d}:{n % 60:02d}+00:00")
            for n in range(digest.MAX_STORIES + 3)]
    [group] = digest.by_window(HOURLY, many).values()
    assert [a["story_id"] for a in group] == [a["story_id"] for a in many[3:]]


def test_by_window_of_nothing_is_empty() -> None:
    assert digest.by_window(HOURLY, []) == {}


# ---- changed_alerts and queue_digests: on the node ------------------------------------------------

def _indices(settings: Settings) -> tuple[str, str]:
    prefix = settings.es.index_prefix
    return store.alias_name(prefix, state.ALERTS_KIND), store.alias_name(prefix, delivery.DELIVERIES_KIND)


def _hit(story: str, source: str) -> Hit:
    return Hit(f"{story}-{source}", story, f"اشتباكات {story}", f"https://{source}.example/{story}", source,
               f"صحيفة {source}", None, (source,), (), ())


def _record(es: Elasticsearch, index: str, rule: Rule, story: str, when: str, source: str = "a") -> None:
    """The alert of (rule, story) as evaluate records it at ``when``: created, or a new outlet."""
    state.record(es, index, rule, story, [_hit(story, source)], at(when))


def _stories(queued: dict[str, Any]) -> list[str]:
    return [s["story_id"] for s in queued["message"]["stories"]]


def _digests(es: Elasticsearch, settings: Settings) -> dict[tuple[str, str], dict[str, Any]]:
    """Queued digest deliveries by (window start, channel)."""
    found = [d for d in deliveries(es, settings) if d["kind"] == "digest"]
    by_key = {(d["window_start"], d["channel"]): d for d in found}
    assert len(by_key) == len(found), "two deliveries for one window and channel"
    return by_key


def test_changed_alerts_reads_one_rules_last_changes_in_a_half_open_span(settings: Settings,
                                                                         es: Elasticsearch) -> None:
    """A story belongs to the window of its last change (new outlets move it), edges half-open."""
    alerts, _ = _indices(settings)
    other = HOURLY.model_copy(update={"name": "other"})
    _record(es, alerts, HOURLY, "before", "2024-05-01T09:59:59+00:00")
    _record(es, alerts, HOURLY, "start", "2024-05-01T10:00:00+00:00")
    _record(es, alerts, HOURLY, "grew", "2024-05-01T09:30:00+00:00")
    _record(es, alerts, HOURLY, "grew", "2024-05-01T10:20:00+00:00", source="b")  # new outlet: changed now
    _record(es, alerts, HOURLY, "moved-on", "2024-05-01T10:10:00+00:00")
    _record(es, alerts, HOURLY, "moved-on", "2024-05-01T11:10:00+00:00", source="b")  # last change: later
    _record(es, alerts, HOURLY, "last", "2024-05-01T10:59:59+00:00")
    _record(es, alerts, HOURLY, "end", "2024-05-01T11:00:00+00:00")
    _record(es, alerts, other, "other-rule", "2024-05-01T10:30:00+00:00")
    found = digest.changed_alerts(es, alerts, HOURLY, at("2024-05-01T10:00:00+00:00"),
                                  at("2024-05-01T11:00:00+00:00"))
    assert [a["story_id"] for a in found] == ["start", "grew", "last"]  # oldest change first
    assert {a["rule"] for a in found} == {"hourly"}


def test_queue_digests_one_per_closed_window_and_channel(settings: Settings, es: Elasticsearch) -> None:
    """The current window is not closed yet; a later run queues it and leaves the others alone."""
    alerts, queue = _indices(settings)
    _record(es, alerts, HOURLY, "s1", "2024-05-01T08:10:00+00:00")
    _record(es, alerts, HOURLY, "s2", "2024-05-01T08:40:00+00:00")
    _record(es, alerts, HOURLY, "s3", "2024-05-01T09:20:00+00:00")
    _record(es, alerts, HOURLY, "s4", "2024-05-01T10:05:00+00:00")  # the window NOW is in

    assert digest.queue_digests(es, alerts, queue, HOURLY, CHANNELS, NOW) == Counter(queued=4)
    queued = _digests(es, settings)
    h8, h9, h10 = (f"2024-05-01T{h:02d}:00:00+00:00" for h in (8, 9, 10))
    assert set(queued) == {(start, channel) for start in (h8, h9) for channel in ("log", "archive")}
    eight = queued[(h8, "log")]
    assert eight["window_end"] == h9 and eight["status"] == "pending"
    assert _stories(eight) == ["s2", "s1"]  # newest change first
    assert sorted(eight["story_ids"]) == ["s1", "s2"]
    assert _stories(queued[(h9, "archive")]) == ["s3"]

    later = digest.queue_digests(es, alerts, queue, HOURLY, CHANNELS, at("2024-05-01T11:30:00+00:00"))
    assert later == Counter(queued=2, already_queued=4)
    again = _digests(es, settings)
    assert {k: v for k, v in again.items() if k in queued} == queued  # untouched, not rewritten
    assert _stories(again[(h10, "log")]) == _stories(again[(h10, "archive")]) == ["s4"]


def test_queue_digests_looks_back_one_day_of_hourly_windows(settings: Settings, es: Elasticsearch) -> None:
    """A missed run catches up on the last 24 closed hours; a change before them is not sent."""
    alerts, queue = _indices(settings)
    _record(es, alerts, HOURLY, "oldest", "2024-04-30T10:00:00+00:00")
    _record(es, alerts, HOURLY, "too-old", "2024-04-30T09:59:00+00:00")
    assert digest.queue_digests(es, alerts, queue, HOURLY, CHANNELS, NOW) == Counter(queued=2)
    assert {window for window, _ in _digests(es, settings)} == {"2024-04-30T10:00:00+00:00"}


def test_queue_digests_without_changes_queues_nothing(settings: Settings, es: Elasticsearch) -> None:
    """Another rule's alerts are not this rule's changes: no empty digest is sent."""
    alerts, queue = _indices(settings)
    _record(es, alerts, HOURLY.model_copy(update={"name": "other"}), "s1", "2024-05-01T09:20:00+00:00")
    assert digest.queue_digests(es, alerts, queue, HOURLY, CHANNELS, NOW) == Counter()
    assert deliveries(es, settings) == []


def test_daily_digest_waits_for_the_end_of_quiet_hours(settings: Settings, es: Elasticsearch) -> None:
    """Yesterday's UTC day, held until the quiet span around ``now`` ends."""
    alerts, queue = _indices(settings)
    quiet = QuietHours(start=time(10, 0), end=time(11, 0), tz="UTC")
    daily = HOURLY.model_copy(update={"name": "daily", "mode": "daily", "quiet_hours": quiet})
    _record(es, alerts, daily, "yesterday", "2024-04-30T22:00:00+00:00")
    _record(es, alerts, daily, "today", "2024-05-01T01:00:00+00:00")
    assert digest.queue_digests(es, alerts, queue, daily, CHANNELS, NOW) == Counter(queued=2)
    queued = _digests(es, settings)
    assert {channel for _, channel in queued} == {"log", "archive"}
    held = queued[("2024-04-30T00:00:00+00:00", "log")]
    assert held["window_start"] == "2024-04-30T00:00:00+00:00"
    assert held["window_end"] == "2024-05-01T00:00:00+00:00"
    assert held["message"]["mode"] == "daily" and held["not_before"] == "2024-05-01T11:00:00+00:00"
    assert _stories(held) == ["yesterday"]


def test_a_busy_day_does_not_truncate_the_newest_window(settings: Settings, es: Elasticsearch) -> None:
    """More changes over the day than one digest holds: the window that just closed still gets all
    of its stories (its delivery id is fixed, a partial digest could never be completed)."""
    alerts, queue = _indices(settings)
    old = [state.new_alert(HOURLY, f"old{n}", [_hit(f"old{n}", "a")], at("2024-04-30T10:30:00+00:00"))
           for n in range(499)]
    new = [state.new_alert(HOURLY, f"new{n}", [_hit(f"new{n}", "a")], at(f"2024-05-01T09:3{n}:00+00:00"))
           for n in range(2)]
    report = bulk_write(es, alerts, [{"_id": a["alert_id"], **a} for a in old + new], refresh=True)
    assert not report.failed, report.failed
    digest.queue_digests(es, alerts, queue, HOURLY, CHANNELS, NOW)
    newest = _digests(es, settings).get(("2024-05-01T09:00:00+00:00", "log"))
    assert newest is not None
    assert sorted(_stories(newest)) == ["new0", "new1"]
