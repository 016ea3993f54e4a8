"""Digest mode: one message per rule, channel and closed hourly/daily window, grouped by story.

Why built from the alerts index after the window closes: the alerts already hold one entry per
story (all outlets, all articles), so a digest is a read of the stories that changed in the
window. Its delivery id is hash(rule, window): any worker, any number of runs, one digest.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from elasticsearch import Elasticsearch, helpers

from ingest import store
from ingest.alerts import delivery, render
from ingest.alerts.rules import Channel, Rule
from ingest.alerts.schedule import closed_windows, quiet_until, window_start

MAX_STORIES = 500  # per digest message
log = logging.getLogger(__name__)


def changed_alerts(es: Elasticsearch, index: str, rule: Rule, start: datetime, end: datetime) -> list[dict]:
    """Alerts of ``rule`` whose last change (first fired, or gained outlets) fell in [start, end),
    oldest first: all of them (a day of 24 hourly windows may hold more than one digest shows)."""
    span = {"gte": start.isoformat(), "lt": end.isoformat()}
    query = {"bool": {"filter": [{"term": {"rule": rule.name}}, {"range": {"changed_at": span}}]}}
    with store.translated(f"reading alerts of rule {rule.name!r} for its digest"):
        es.indices.refresh(index=index)
        hits = [h["_source"] for h in helpers.scan(es, index=index, query={"query": query}, size=1000)]
    return sorted(hits, key=lambda a: a["changed_at"])


def by_window(rule: Rule, alerts: list[dict[str, Any]]) -> dict[datetime, list[dict[str, Any]]]:
    """Alerts grouped by the window their last change fell in, the newest ``MAX_STORIES`` of each."""
    groups: dict[datetime, list[dict[str, Any]]] = {}
    for alert in alerts:
        start = window_start(rule.mode, datetime.fromisoformat(alert["changed_at"]))
        groups.setdefault(start, []).append(alert)
    for start, group in groups.items():
        if len(group) > MAX_STORIES:
            log.warning("digest of rule %s, window %s: %d stories, the newest %d sent", rule.name,
                        start.isoformat(), len(group), MAX_STORIES)
            groups[start] = group[-MAX_STORIES:]
    return groups


def queue_digests(es: Elasticsearch, alerts_index: str, deliveries_index: str, rule: Rule,
                  channels: Mapping[str, Channel], now: datetime) -> Counter[str]:
    """Queue the digest of every recently closed window that had changes (idempotent)."""
    windows = closed_windows(rule.mode, now)
    alerts = changed_alerts(es, alerts_index, rule, windows[0][0], windows[-1][1])
    counts: Counter[str] = Counter()
    for start, group in sorted(by_window(rule, alerts).items()):
        end = start + (windows[0][1] - windows[0][0])
        msg = render.digest_message(rule.name, rule.mode, (start, end), group, now)
        counts += delivery.queue(es, deliveries_index, rule, channels, msg,
                                 ("digest", rule.name, start.isoformat()), now=now,
                                 not_before=quiet_until(rule.quiet_hours, now))
    return counts
