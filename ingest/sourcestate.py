"""Per-source poll state, kept in Elasticsearch (the ``sources`` index kind).

Why in Elasticsearch: any worker on any machine must see the same ETag, interval and failure
count, so workers stay stateless. The transitions are pure functions (``after_*``) taking ``now``
from the caller, so the policy (adaptive interval, capped Retry-After, backoff, slow probing of an
auto-disabled source) is unit-tested without I/O and a controllable clock drives whole passes.

Backoff is linear (``poll_min_interval * failures``, capped at ``poll_max_interval``), not
exponential: Media Cloud moved to linear because exponential backoff "is extreme" for feeds that
recover after an outage of a few hours; linear keeps probing at a useful rate and the cap plus
auto-disable (then one probe per ``disabled_probe_interval``) bound the cost of a dead feed.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import elastic_transport
from elasticsearch import ApiError, Elasticsearch
from pydantic import TypeAdapter

from ingest.errors import StoreError, StoreUnavailable
from ingest.models import to_json_dict
from ingest.settings import Settings
from ingest.store import alias_name

# Adaptive interval: shrink when most items are new, grow when most are known.
MOSTLY_NEW = 0.5
MOSTLY_KNOWN = 0.1
SHRINK, GROW = 0.5, 1.5


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
    paused: bool = False  # a person's `ingest sources disable ID`: never polled until `enable`
    conditional_polls: int = 0  # conditional polls since the last unconditional one
    last_unconditional_at: datetime | None = None
    hidden_by_304: int = 0  # unconditional polls that found new items behind unchanged validators
    moved_to: str = ""  # where ``url`` answered 301/308: polled instead until ``url`` is edited
    failing_since: datetime | None = None  # the first of the current run of failures

    def poll_url(self, configured: str) -> str:
        """The URL to poll: the permanent new location of ``configured``, if it moved."""
        return self.moved_to if self.moved_to and self.url == configured else configured

    def is_due(self, now: datetime) -> bool:
        """Due at ``next_poll_at``; an auto-disabled source too (slow probing); a paused one never."""
        return not self.paused and (self.next_poll_at is None or self.next_poll_at <= now)

    def conditional(self, settings: Settings, now: datetime) -> bool:
        """Send the validators this time? No every Nth poll and at least once per interval: feeds that
        keep an ETag while their content changes (Media Cloud turned conditional GET off for them)."""
        if not (self.etag or self.last_modified) or self.last_unconditional_at is None:
            return False
        if self.conditional_polls + 1 >= settings.poll.unconditional_every:
            return False
        return (now - self.last_unconditional_at).total_seconds() < settings.poll.unconditional_interval

    @property
    def health(self) -> str:
        moved = f"; moved to {self.moved_to}" if self.moved_to else ""
        return self._health + moved

    @property
    def _health(self) -> str:
        if self.paused:
            return "paused (ingest sources enable to resume)"
        if self.disabled:
            return f"disabled ({self.disabled_reason})"
        if self.failures:
            return f"failing x{self.failures} ({self.last_status})"
        return "ok" if self.polls else "never polled"


def after_success(state: SourceState, settings: Settings, *, now: datetime, seen: int, new: int,
                  etag: str = "", last_modified: str = "", status: str = "ok",
                  conditional: bool = True) -> SourceState:
    """A poll that answered: reset failures (and an auto-disable), keep validators, adapt the interval
    to the share of new items. An unconditional poll that got the validators it already had but found
    new items counts in ``hidden_by_304``: a conditional GET would have hidden them."""
    interval = _adapt(state.interval_s or settings.poll.min_interval, seen, new, settings)
    same = bool(etag and etag == state.etag) or bool(last_modified and last_modified == state.last_modified)
    hidden = int(not conditional and new > 0 and same)
    return dataclasses.replace(
        state, etag=etag or state.etag, last_modified=last_modified or state.last_modified,
        interval_s=interval, next_poll_at=now + timedelta(seconds=interval), last_polled_at=now,
        last_success_at=now, last_status=status, last_error="", failures=0, items_seen=seen,
        items_new=new, polls=state.polls + 1, disabled=False, disabled_reason="", failing_since=None,
        conditional_polls=state.conditional_polls + 1 if conditional else 0,
        last_unconditional_at=state.last_unconditional_at if conditional else now,
        hidden_by_304=state.hidden_by_304 + hidden)


def after_not_modified(state: SourceState, settings: Settings, *, now: datetime) -> SourceState:
    """A 304 (only a conditional poll gets one): nothing new, so poll less often."""
    return after_success(state, settings, now=now, seen=0, new=0, status="not_modified")


def after_failure(state: SourceState, settings: Settings, *, now: datetime, reason: str, message: str,
                  retry_after: float | None = None) -> SourceState:
    """Back off linearly (at least ``Retry-After``, capped at ``retry_after_cap``). Auto-disable (one
    probe per ``disabled_probe_interval``) needs both ``max_failures`` failures in a row and
    ``disable_after`` seconds of failing: a count alone disabled a site down for one morning, and a
    daily probe then kept landing in its next morning's outage (the simulated week lost a week of
    one outlet that way)."""
    failures = state.failures + 1
    since = state.failing_since or now
    backoff = min(settings.poll.max_interval, settings.poll.min_interval * failures)
    wait = max(backoff, min(retry_after or 0.0, settings.poll.retry_after_cap))
    disabled = (failures >= settings.poll.max_failures
                and (now - since).total_seconds() >= settings.poll.disable_after)
    if disabled:
        wait = max(wait, settings.poll.disabled_probe_interval)
    return dataclasses.replace(
        state, next_poll_at=now + timedelta(seconds=wait), last_polled_at=now, last_status=reason,
        last_error=message[:500], failures=failures, disabled=disabled, polls=state.polls + 1,
        failing_since=since,
        disabled_reason=f"{failures} consecutive failures, last: {reason}" if disabled else "")


def set_paused(state: SourceState, paused: bool) -> SourceState:
    """A person's override: ``disable`` pauses; ``enable`` resumes, clears an auto-disable and the
    failure count, and makes the source due at once."""
    if paused:
        return dataclasses.replace(state, paused=True)
    return dataclasses.replace(state, paused=False, disabled=False, disabled_reason="", failures=0,
                               failing_since=None, next_poll_at=None)


def _adapt(interval: float, seen: int, new: int, settings: Settings) -> float:
    share = new / seen if seen else 0.0
    if seen and share >= MOSTLY_NEW:
        interval *= SHRINK
    elif share <= MOSTLY_KNOWN:
        interval *= GROW
    return min(settings.poll.max_interval, max(settings.poll.min_interval, interval))


def load_states(es: Elasticsearch, settings: Settings, source_ids: Iterable[str]) -> dict[str, SourceState]:
    """Stored state per id (a fresh state for ids never seen), in one multi-get."""
    ids = list(source_ids)
    if not ids:
        return {}
    try:
        docs = es.mget(index=alias_name(settings.es.index_prefix, "sources"), ids=ids)["docs"]
    except (elastic_transport.ConnectionError, elastic_transport.ConnectionTimeout) as exc:
        raise StoreUnavailable(f"reading source state failed: {type(exc).__name__}") from exc
    except ApiError as exc:
        raise StoreError(f"reading source state failed: {exc.message}") from exc
    found = {d["_id"]: state_from_dict(d["_source"]) for d in docs if d.get("found")}
    return {i: found.get(i, SourceState(source_id=i)) for i in ids}


def save_state(es: Elasticsearch, settings: Settings, state: SourceState) -> None:
    try:
        es.index(index=alias_name(settings.es.index_prefix, "sources"), id=state.source_id,
                 document=to_json_dict(state))
    except (elastic_transport.ConnectionError, elastic_transport.ConnectionTimeout) as exc:
        raise StoreUnavailable(f"saving source state failed: {type(exc).__name__}") from exc
    except ApiError as exc:
        raise StoreError(f"saving source state of {state.source_id} failed: {exc.message}") from exc


STATE = TypeAdapter(SourceState)


def state_from_dict(doc: dict[str, Any]) -> SourceState:
    """Inverse of ``to_json_dict`` (validated; dates back to aware UTC datetimes)."""
    state = STATE.validate_python(doc)
    dates = {f.name: getattr(state, f.name).astimezone(UTC) for f in dataclasses.fields(state)
             if isinstance(getattr(state, f.name), datetime)}
    return dataclasses.replace(state, **dates)
