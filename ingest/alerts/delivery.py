"""Deliveries: queued as documents first, then sent, so none is ever lost or sent twice.

Why queue-then-send: a delivery is written (conditional create, id = hash of alert, channel and
version: the idempotency key) before any network call. Sending claims it with optimistic
concurrency (``if_seq_no``), retries with exponential backoff (tenacity), and records the outcome.
What still fails stays ``pending`` with its attempts and error and is picked up by the next run;
a claim whose worker died is taken over after a lease. The same documents are the history.
"""

from __future__ import annotations

import hashlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from elasticsearch import ConflictError, Elasticsearch
from tenacity import Retrying, retry_if_exception_type, stop_after_attempt, wait_exponential

from ingest import store
from ingest.alerts import channels as chan
from ingest.alerts.messages import checked
from ingest.alerts.rules import Channel, Rule
from ingest.errors import IngestError, PermanentError, StoreError, StoreUnavailable, TransientError
from ingest.indexer import bulk_write
from ingest.settings import Settings

log = logging.getLogger("ingest.alerts")

DELIVERIES_KIND = "alert_deliveries"
LEASE = timedelta(minutes=10)
DUE_BATCH = 500


def delivery_id(*parts: str) -> str:
    """The idempotency key: the same alert version on the same channel is one delivery."""
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:32]


def queue(es: Elasticsearch, index: str, rule: Rule, kinds: Mapping[str, Channel], msg: dict,
          key_parts: tuple[str, ...], *, now: datetime, not_before: datetime | None) -> Counter[str]:
    """Create one pending delivery per channel of ``rule``; existing ones are left untouched."""
    msg = checked(msg)
    docs = [_delivery_doc(rule, kinds[name], msg, delivery_id(*key_parts, name), now, not_before)
            for name in rule.channels]
    with store.translated(f"queueing deliveries for rule {rule.name!r}"):
        report = bulk_write(es, index, docs, op_type="create")
    if report.failed:
        raise StoreError(f"queueing deliveries for rule {rule.name!r} failed: {report.failed}")
    return Counter({"queued": len(report.ok), "already_queued": len(report.conflicts)})


def _delivery_doc(rule: Rule, channel: Channel, msg: dict, key: str, now: datetime,
                  not_before: datetime | None) -> dict[str, Any]:
    stories = msg.get("stories") or [msg]
    stamp = now.isoformat()
    return {"_id": key, "delivery_id": key, "kind": msg["kind"], "rule": rule.name,
            "alert_id": msg.get("alert_id"), "story_id": msg.get("story_id"),
            "story_ids": [s["story_id"] for s in stories], "version": msg.get("version", 1),
            "article_ids": [a["id"] for s in stories for a in s.get("articles", [])],
            "matched_terms": list(dict.fromkeys(t for s in stories for t in s.get("matched_terms", []))),
            "highlights": msg.get("highlights", []), "channel": channel.name, "channel_type": channel.type,
            "status": "pending", "attempts": 0, "not_before": (not_before or now).isoformat(),
            "window_start": msg.get("window_start"), "window_end": msg.get("window_end"),
            "created_at": stamp, "updated_at": stamp, "message": msg}


def due(es: Elasticsearch, index: str, now: datetime) -> list[dict[str, Any]]:
    """Pending deliveries whose time has come, and claims abandoned longer than the lease."""
    pending = {"bool": {"filter": [{"term": {"status": "pending"}},
                                   {"range": {"not_before": {"lte": now.isoformat()}}}]}}
    stale = {"bool": {"filter": [{"term": {"status": "sending"}},
                                 {"range": {"claimed_at": {"lt": (now - LEASE).isoformat()}}}]}}
    with store.translated(f"reading due deliveries from {index}"):
        es.indices.refresh(index=index)
        resp = es.search(index=index, query={"bool": {"should": [pending, stale], "minimum_should_match": 1}},
                         sort=[{"created_at": "asc"}], size=DUE_BATCH, seq_no_primary_term=True)
    return list(resp["hits"]["hits"])


def deliver_due(es: Elasticsearch, index: str, channels: Mapping[str, Channel], settings: Settings,
                now: datetime) -> Counter[str]:
    """Send every due delivery; returns counts by outcome (sent, pending, failed, ...).

    One delivery's store error (other than the node being gone) is that delivery's outcome: it
    stays in the queue and the loop goes on with the next.
    """
    counts: Counter[str] = Counter()
    for hit in due(es, index, now):
        try:
            counts[deliver_one(es, index, hit, channels, settings, now)] += 1
        except StoreUnavailable:
            raise
        except IngestError as exc:
            log.error("delivery %s: %s (kept for the next run)", hit["_id"], exc)
            counts[f"error:{exc.reason}"] += 1
    return counts


def _claim(es: Elasticsearch, index: str, hit: dict[str, Any], now: datetime) -> dict[str, Any] | None:
    with store.translated(f"claiming delivery {hit['_id']}"):
        try:
            return dict(es.update(index=index, id=hit["_id"], if_seq_no=hit["_seq_no"],
                                  if_primary_term=hit["_primary_term"],
                                  doc={"status": "sending", "claimed_at": now.isoformat()}))
        except ConflictError:
            return None  # another worker claimed it first: it sends, we do not


def deliver_one(es: Elasticsearch, index: str, hit: dict[str, Any], channels: Mapping[str, Channel],
                settings: Settings, now: datetime) -> str:
    """Claim, send with retries, record; returns the outcome label."""
    doc = hit["_source"]
    claim = _claim(es, index, hit, now)
    if claim is None:
        return "claimed_elsewhere"
    channel = channels.get(doc["channel"])
    tries = 0

    def attempt() -> None:
        nonlocal tries
        tries += 1
        if channel is None:
            raise chan.DeliveryRefused(f"channel {doc['channel']!r} is no longer configured",
                                       reason="unknown_channel")
        chan.send(channel, doc["message"], doc["delivery_id"], settings)

    update = _send(attempt, settings, doc)
    attempts = int(doc.get("attempts", 0)) + tries
    update.update(attempts=attempts, updated_at=now.isoformat())
    if update["status"] == "pending" and attempts >= settings.alerts.max_attempts:
        update["status"] = "failed"
    with store.translated(f"recording the outcome of delivery {hit['_id']}"):
        try:
            es.update(index=index, id=hit["_id"], doc=update, if_seq_no=claim["_seq_no"],
                      if_primary_term=claim["_primary_term"])
        except ConflictError:
            # Our lease ran out and another worker took the delivery over: its record wins.
            log.warning("delivery %s: claim taken over by another worker; outcome %s not recorded",
                        hit["_id"], update["status"])
            return "claim_lost"
    return str(update["status"])


def _send(attempt: Callable[[], None], settings: Settings, doc: dict[str, Any]) -> dict[str, Any]:
    retrying = Retrying(stop=stop_after_attempt(max(1, settings.alerts.retry_attempts)),
                        wait=wait_exponential(multiplier=settings.alerts.retry_wait, max=60),
                        retry=retry_if_exception_type(TransientError), reraise=True)
    try:
        retrying(attempt)
    except PermanentError as exc:
        log.warning("delivery %s (rule %s, channel %s) refused: %s", doc["delivery_id"], doc["rule"],
                    doc["channel"], exc)
        return {"status": "failed", "last_error": str(exc), "error_reason": exc.reason}
    except TransientError as exc:
        log.warning("delivery %s (rule %s, channel %s) failed, kept for the next run: %s",
                    doc["delivery_id"], doc["rule"], doc["channel"], exc)
        return {"status": "pending", "last_error": str(exc), "error_reason": exc.reason}
    return {"status": "sent", "sent_at": _utcnow_iso(), "last_error": None, "error_reason": None}


def _utcnow_iso() -> str:
    return datetime.now(UTC).isoformat()


def history(es: Elasticsearch, index: str, *, rule: str | None = None, status: str | None = None,
            size: int = 50) -> list[dict[str, Any]]:
    """Most recent deliveries first, optionally for one rule or status."""
    wanted = (("rule", rule), ("status", status))
    filters: Iterable[dict[str, Any]] = [{"term": {k: v}} for k, v in wanted if v]
    with store.translated(f"reading delivery history from {index}"):
        es.indices.refresh(index=index)
        resp = es.search(index=index, query={"bool": {"filter": list(filters)}},
                         sort=[{"created_at": "desc"}], size=size)
    return [h["_source"] for h in resp["hits"]["hits"]]
