"""Per-source poll state, kept in Elasticsearch (the ``sources`` index kind).

Why in Elasticsearch: any worker on any machine must see the same ETag, interval and failure
count, so workers stay stateless. The transitions are pure functions (``after_*``) so the policy
(adaptive interval, Retry-After, exponential backoff, auto-disable) is unit-tested without I/O.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import elastic_transport
from elasticsearch import ApiError, Elasticsearch

from ingest.errors import StoreError, StoreUnavailable
from ingest.models import to_json_dict
from ingest.settings import Settings
from ingest.store import alias_name

# Adaptive interval: shrink when most items are new, grow when most are known.
MOSTLY_NEW = 0.5
MOSTLY_KNOWN = 0.1
SHRINK, GROW = 0.5, 1.5
BACKOFF_BASE = 2.0


@dataclass(frozen=True)
class SourceState:
    source_id: str
    url: str = ""
    etag: str = ""
    last_modified: str = ""
    interval_s: float = 0.0
    next_poll_at: datetime | None = None
    last_polled_at: datetime | None = None
    last_success_at: datetime | None = None
    last_status: str = ""
    last_error: str = ""
    failures: int = 0
    disabled: bool = False
    disabled_reason: str = ""
    items_seen: int = 0
    items_new: int = 0
    polls: int = 0

    def is_due(self, now: datetime) -> bool:
        return not self.disabled and (self.next_poll_at is None or self.next_poll_at <= now)

    @property
    def health(self) -> str:
        if self.disabled:
            return f"disabled ({self.disabled_reason})"
        if self.failures:
            return f"failing x{self.failures} ({self.last_status})"
        return "ok" if self.polls else "never polled"


def after_success(state: SourceState, settings: Settings, *, now: datetime, seen: int, new: int,
                  etag: str = "", last_modified: str = "", status: str = "ok") -> SourceState:
    """A poll that answered: reset failures, keep validators, adapt the interval to the new share."""
    interval = _adapt(state.interval_s or settings.poll_min_interval, seen, new, settings)
    return dataclasses.replace(
        state, etag=etag or state.etag, last_modified=last_modified or state.last_modified,
        interval_s=interval, next_poll_at=now + timedelta(seconds=interval), last_polled_at=now,
        last_success_at=now, last_status=status, last_error="", failures=0, items_seen=seen,
        items_new=new, polls=state.polls + 1)


def after_not_modified(state: SourceState, settings: Settings, *, now: datetime) -> SourceState:
    """A 304: nothing new, so poll less often."""
    return after_success(state, settings, now=now, seen=0, new=0, status="not_modified")


def after_failure(state: SourceState, settings: Settings, *, now: datetime, reason: str, message: str,
                  retry_after: float | None = None) -> SourceState:
    """Back off exponentially (at least ``Retry-After``); disable after ``poll_max_failures``."""
    failures = state.failures + 1
    backoff = min(settings.poll_max_interval, settings.poll_min_interval * BACKOFF_BASE ** (failures - 1))
    wait = max(backoff, retry_after or 0.0)
    disabled = failures >= settings.poll_max_failures
    return dataclasses.replace(
        state, next_poll_at=now + timedelta(seconds=wait), last_polled_at=now, last_status=reason,
        last_error=message[:500], failures=failures, disabled=disabled, polls=state.polls + 1,
        disabled_reason=f"{failures} consecutive failures, last: {reason}" if disabled else "")


def _adapt(interval: float, seen: int, new: int, settings: Settings) -> float:
    share = new / seen if seen else 0.0
    if seen and share >= MOSTLY_NEW:
        interval *= SHRINK
    elif share <= MOSTLY_KNOWN:
        interval *= GROW
    return min(settings.poll_max_interval, max(settings.poll_min_interval, interval))


def load_states(es: Elasticsearch, settings: Settings, source_ids: Iterable[str]) -> dict[str, SourceState]:
    """Stored state per id (a fresh state for ids never seen), in one multi-get."""
    ids = list(source_ids)
    if not ids:
        return {}
    try:
        docs = es.mget(index=alias_name(settings.index_prefix, "sources"), ids=ids)["docs"]
    except (elastic_transport.ConnectionError, elastic_transport.ConnectionTimeout) as exc:
        raise StoreUnavailable(f"reading source state failed: {type(exc).__name__}") from exc
    except ApiError as exc:
        raise StoreError(f"reading source state failed: {exc.message}") from exc
    found = {d["_id"]: state_from_dict(d["_source"]) for d in docs if d.get("found")}
    return {i: found.get(i, SourceState(source_id=i)) for i in ids}


def save_state(es: Elasticsearch, settings: Settings, state: SourceState) -> None:
    try:
        es.index(index=alias_name(settings.index_prefix, "sources"), id=state.source_id,
                 document=to_json_dict(state))
    except (elastic_transport.ConnectionError, elastic_transport.ConnectionTimeout) as exc:
        raise StoreUnavailable(f"saving source state failed: {type(exc).__name__}") from exc
    except ApiError as exc:
        raise StoreError(f"saving source state of {state.source_id} failed: {exc.message}") from exc


def state_from_dict(doc: dict[str, Any]) -> SourceState:
    """Inverse of ``to_json_dict`` (dates back to aware datetimes); also used for XCom payloads."""
    values = dict(doc)
    for name in ("next_poll_at", "last_polled_at", "last_success_at"):
        if values.get(name):
            values[name] = datetime.fromisoformat(values[name]).astimezone(UTC)
    return SourceState(**values)
