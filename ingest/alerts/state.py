"""One alert per rule per story, kept in the ``alerts`` index and updated as outlets join.

Why ``notify_pending`` lives on the alert: queueing its delivery is derived from this state on
every evaluation, so a worker dying between recording an alert and queueing its delivery loses
nothing; the next evaluation, from any entry point, queues it (idempotently).

Why a deterministic id plus optimistic concurrency: the node has no Painless, so there is no
scripted upsert. ``_id = hash(rule, story)`` makes the first write a conditional create; later
changes are read-merge-write guarded by ``if_seq_no``/``if_primary_term``, retried on conflict,
so two workers evaluating overlapping batches still end with one alert holding both updates.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from elasticsearch import ConflictError, Elasticsearch, NotFoundError

from ingest import store
from ingest.alerts.matching import Hit
from ingest.alerts.rules import Rule
from ingest.errors import TransientError

ALERTS_KIND = "alerts"
MAX_HIGHLIGHTS = 20
MAX_CONFLICT_RETRIES = 8


def pending(es: Elasticsearch, index: str, size: int = 500) -> list[dict[str, Any]]:
    """Alerts whose current version has not been queued for delivery yet (with seq_no)."""
    with store.translated(f"reading alerts pending notification from {index}"):
        es.indices.refresh(index=index)
        resp = es.search(index=index, query={"term": {"notify_pending": True}}, size=size,
                         sort=[{"changed_at": "asc"}], seq_no_primary_term=True)
    return list(resp["hits"]["hits"])


def mark_notified(es: Elasticsearch, index: str, hit: dict[str, Any]) -> bool:
    """Clear ``notify_pending`` unless the alert changed meanwhile (then its newer version is
    pending and the next evaluation queues it); returns whether it was cleared."""
    with store.translated(f"marking alert {hit['_id']} as queued"):
        try:
            es.update(index=index, id=hit["_id"], doc={"notify_pending": False}, if_seq_no=hit["_seq_no"],
                      if_primary_term=hit["_primary_term"])
        except ConflictError:
            return False
    return True


class AlertConflict(TransientError):
    """Too many concurrent writers on one alert; the next run will merge again."""

    reason = "alert_conflict"


def alert_id(rule_name: str, story_id: str) -> str:
    """Same rule and story -> same alert, on every worker and run."""
    return hashlib.sha256(f"{rule_name}\x1f{story_id}".encode()).hexdigest()[:32]


@dataclass(frozen=True)
class AlertChange:
    """What recording a story's hits did: ``new``, ``update`` (new outlets) or ``unchanged``."""

    kind: Literal["new", "update", "unchanged"]
    alert: dict[str, Any]
    new_outlets: tuple[str, ...] = ()


def _hit_fields(hits: Sequence[Hit]) -> dict[str, Any]:
    outlets = {s: s for h in hits for s in h.sources}
    outlets.update({h.source_id: h.source_name for h in hits if h.source_id})
    return {
        "article_ids": [h.article_id for h in hits],
        "sources": list(outlets),
        "outlets": [{"id": k, "name": v} for k, v in outlets.items()],
        "matched_terms": [t for h in hits for t in h.matched_terms],
        "highlights": [{"article_id": x.article_id, "field": x.field, "fragment": x.fragment}
                       for h in hits for x in h.highlights],
        "articles": [{"id": h.article_id, "title": h.title, "url": h.url, "source_id": h.source_id,
                      "source_name": h.source_name, "published_at": h.published_at} for h in hits],
    }


def _union(old: list[Any], new: list[Any], key: Any = None) -> list[Any]:
    seen = {key(x) if key else x for x in old}
    out = list(old)
    for item in new:
        k = key(item) if key else item
        if k not in seen:
            seen.add(k)
            out.append(item)
    return out


def merge(current: dict[str, Any], hits: Sequence[Hit], now: datetime) -> AlertChange:
    """Fold new hits into an alert; the version moves only when new outlets appear."""
    fresh = _hit_fields(hits)
    merged = dict(current)
    for name in ("article_ids", "sources", "matched_terms"):
        merged[name] = _union(current.get(name, []), fresh[name])
    merged["outlets"] = _union(current.get("outlets", []), fresh["outlets"], key=lambda o: o["id"])
    merged["articles"] = _union(current.get("articles", []), fresh["articles"], key=lambda a: a["id"])
    merged["highlights"] = _union(current.get("highlights", []), fresh["highlights"],
                                  key=lambda x: (x["article_id"], x["field"], x["fragment"]))[:MAX_HIGHLIGHTS]
    merged["sources_count"] = len(merged["sources"])
    new_outlets = tuple(s for s in merged["sources"] if s not in set(current.get("sources", [])))
    if merged == current:
        return AlertChange("unchanged", current)
    merged["updated_at"] = now.isoformat()
    if new_outlets:
        merged["version"] = int(current.get("version", 1)) + 1
        merged["changed_at"] = now.isoformat()
        merged["new_outlets"] = list(new_outlets)
        merged["notify_pending"] = True  # cleared only once this version's delivery is queued
    return AlertChange("update" if new_outlets else "unchanged", merged, new_outlets)


def new_alert(rule: Rule, story_id: str, hits: Sequence[Hit], now: datetime) -> dict[str, Any]:
    fields = _hit_fields(hits)
    fields["matched_terms"] = list(dict.fromkeys(fields["matched_terms"]))
    fields["highlights"] = fields["highlights"][:MAX_HIGHLIGHTS]
    stamp = now.isoformat()
    return {"alert_id": alert_id(rule.name, story_id), "rule": rule.name, "story_id": story_id,
            "mode": rule.mode, "title": hits[0].title, "version": 1, **fields,
            "sources_count": len(fields["sources"]), "created_at": stamp, "updated_at": stamp,
            "changed_at": stamp, "new_outlets": list(fields["sources"]), "notify_pending": True}


def record(es: Elasticsearch, index: str, rule: Rule, story_id: str, hits: Sequence[Hit],
           now: datetime) -> AlertChange:
    """Create or merge the alert for (rule, story) with optimistic concurrency."""
    aid = alert_id(rule.name, story_id)
    for _ in range(MAX_CONFLICT_RETRIES):
        with store.translated(f"recording alert {aid} (rule {rule.name!r})"):
            change = _record_once(es, index, aid, rule, story_id, hits, now)
        if change is not None:
            return change
    raise AlertConflict(f"alert {aid} (rule {rule.name!r}, story {story_id}): too many concurrent updates")


def _record_once(es: Elasticsearch, index: str, aid: str, rule: Rule, story_id: str, hits: Sequence[Hit],
                 now: datetime) -> AlertChange | None:
    """One optimistic attempt; ``None`` means another writer won the race (re-read and merge)."""
    try:
        current = es.get(index=index, id=aid)
    except NotFoundError:
        doc = new_alert(rule, story_id, hits, now)
        try:
            es.create(index=index, id=aid, document=doc)
        except ConflictError:
            return None  # another worker created it first: merge into theirs
        return AlertChange("new", doc, tuple(doc["sources"]))
    change = merge(current["_source"], hits, now)
    if change.alert is current["_source"]:
        return change
    try:
        es.index(index=index, id=aid, document=change.alert, if_seq_no=current["_seq_no"],
                 if_primary_term=current["_primary_term"])
    except ConflictError:
        return None
    return change
