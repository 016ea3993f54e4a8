"""The URL frontier: one Elasticsearch document per canonical URL, the crawler's memory across runs.

Why in Elasticsearch (StormCrawler keeps the same kind of status index with a ``nextFetchDate``):
every worker sees the same state, so a URL listed by five feeds is fetched once, a 404 is not
refetched before ``fetch_permanent_ttl``, a transient failure backs off and is given up after
``fetch_max_attempts``, and a pass killed at any point is resumed by the next one (a lease whose
worker died expires and the entry is offered again; an extracted article waits in its entry until
it is indexed). Time always comes from the caller (``now``), so a controllable clock drives it.

Politeness across workers: a **lease per host** (a document in the ``hosts`` index taken with
optimistic concurrency). Only the lease holder talks to a host, polls and fetches alike, so the
``Fetcher``'s per-host concurrency and delay hold across every task and worker; the holder leaves
the earliest time of the next request (wall clock: politeness protects a real server) for the next
holder. Chosen over "one task per host group" because it needs no coordinator: any number of tasks
may race; a fetch task that loses counts ``fetch:host_busy`` and its entries wait for the next
pass, a poll waits for the lease (bounded) because its source is due now. A redirect to another
host takes that host's lease before its first request (``HostLeases.gate``), or fails transiently
(``host_busy``) when another worker holds it. robots.txt is cached per origin in the same index,
once per ``robots_cache_ttl`` for all workers.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from elasticsearch import ConflictError, Elasticsearch, NotFoundError
from pydantic import TypeAdapter

from ingest import store
from ingest.errors import IngestError, PermanentError, StoreError
from ingest.fetch import FetchFailed, hold_host, host_free_at
from ingest.models import Article, FeedItem, to_json_dict
from ingest.settings import Settings
from ingest.store import alias_name

log = logging.getLogger(__name__)

DISCOVERED, LEASED, EXTRACTED, DONE = "discovered", "leased", "extracted", "done"
FAILED_PERMANENT, FAILED_TRANSIENT = "failed_permanent", "failed_transient"
ITEM = TypeAdapter(FeedItem)
ARTICLE = TypeAdapter(Article)


def frontier_index(settings: Settings) -> str:
    return alias_name(settings.es.index_prefix, "frontier")


def hosts_index(settings: Settings) -> str:
    return alias_name(settings.es.index_prefix, "hosts")


def host_key(url: str) -> str:
    """The politeness unit: scheme-less ``host:port`` (what the Fetcher's per-host limits use)."""
    return urlsplit(url).netloc.lower()


# ---- discover --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Discovery:
    """What one bulk upsert did: items new to the frontier, ids that gained this source (and of
    those, the ones already done: the indexed article gains the source), write failures by id."""

    new: tuple[FeedItem, ...] = ()
    added: tuple[str, ...] = ()
    carried: tuple[str, ...] = ()
    known: int = 0
    failed: Mapping[str, str] = field(default_factory=dict)


def discover(es: Elasticsearch, settings: Settings, items: Sequence[FeedItem], *, now: datetime,
             rounds: int = 3) -> Discovery:
    """Upsert every listed URL in ONE bulk call (after one multi-get): a new entry (``create``), or
    this source added to an existing one (``index`` guarded by its sequence number). Why not a
    script: the embedded node has no painless; optimistic concurrency gives the same guarantee, and
    an entry another worker wrote in between is simply read and written again (``rounds``)."""
    index = frontier_index(settings)
    by_id = {i.doc_id: i for i in items}
    todo, new, added, carried, failed, known = list(by_id), [], [], [], {}, 0
    for _ in range(rounds):
        if not todo:
            break
        with store.translated("frontier: discover"):
            docs = {d["_id"]: d for d in es.mget(index=index, ids=todo)["docs"]}
        operations: list[dict[str, Any]] = []
        pending: list[tuple[str, str]] = []  # (doc_id, what) in bulk order
        for doc_id in todo:
            item, doc = by_id[doc_id], docs[doc_id]
            listing = {"id": item.source_id, "feed": item.feed_url, "first_seen": now.isoformat()}
            if not doc.get("found"):
                operations += [{"create": {"_index": index, "_id": doc_id}}, _new_entry(item, listing, now)]
                pending.append((doc_id, "new"))
                continue
            source = doc["_source"]
            if any(s.get("id") == item.source_id for s in source.get("sources", [])):
                known += 1
                continue
            source = {**source, "sources": [*source.get("sources", []), listing],
                      "updated_at": now.isoformat()}
            operations += [{"index": {"_index": index, "_id": doc_id, "if_seq_no": doc["_seq_no"],
                                      "if_primary_term": doc["_primary_term"]}}, source]
            pending.append((doc_id, "carried" if source.get("status") == DONE else "added"))
        if not operations:
            todo = []
            break
        with store.translated("frontier: discover"):
            response = es.bulk(operations=operations)
        todo = []
        for (doc_id, what), result in zip(pending, response["items"], strict=True):
            outcome = next(iter(result.values()))
            if outcome.get("status") == 409:
                todo.append(doc_id)  # someone wrote it in between: read it again
            elif "error" in outcome:
                error = outcome["error"]
                failed[doc_id] = f"{error.get('type', 'error')}: {error.get('reason', '')}"
            elif what == "new":
                new.append(by_id[doc_id])
            else:
                known += 1
                added.append(doc_id)
                if what == "carried":
                    carried.append(doc_id)
    for doc_id in todo:
        failed[doc_id] = "es_conflict: kept changing"
    for doc_id, reason in failed.items():
        log.warning("frontier: %s (%s) not recorded: %s", by_id[doc_id].url, doc_id, reason)
    return Discovery(tuple(new), tuple(added), tuple(carried), known, failed)


def _new_entry(item: FeedItem, listing: Mapping[str, Any], now: datetime) -> dict[str, Any]:
    return {"url": item.url, "canonical_url": item.canonical_url, "host": host_key(item.url),
            "status": DISCOVERED, "sources": [dict(listing)], "item": to_json_dict(item), "attempts": 0,
            "next_fetch_at": now.isoformat(), "last_reason": "", "lease_owner": "",
            "discovered_at": now.isoformat(), "updated_at": now.isoformat()}


# ---- lease -----------------------------------------------------------------------------------

def _due(now: datetime) -> dict[str, Any]:
    """Entries to (re)fetch: new ones, failures whose ``next_fetch_at`` passed, expired leases."""
    at = now.isoformat()
    return {"bool": {"minimum_should_match": 1, "should": [
        {"term": {"status": DISCOVERED}},
        {"bool": {"filter": [{"terms": {"status": [FAILED_TRANSIENT, FAILED_PERMANENT]}},
                             {"range": {"next_fetch_at": {"lte": at}}}]}},
        {"bool": {"filter": [{"term": {"status": LEASED}}, {"range": {"lease_expires_at": {"lte": at}}}]}},
    ]}}


def due_hosts(es: Elasticsearch, settings: Settings, *, now: datetime) -> list[str]:
    """Hosts with at least one due entry (what the fetch stage is planned over)."""
    with store.translated("frontier: due hosts"):
        es.indices.refresh(index=frontier_index(settings))
        response = es.search(index=frontier_index(settings), size=0, query=_due(now),
                             aggs={"hosts": {"terms": {"field": "host", "size": 10000}}})
    return sorted(b["key"] for b in response["aggregations"]["hosts"]["buckets"])


@dataclass(frozen=True)
class HostLease:
    host: str
    owner: str
    not_before: float  # wall-clock time of the earliest allowed request (per_host_delay across leases)


@dataclass(frozen=True)
class NotYet:
    """The lease is free but the host's delay runs until ``until`` (wall clock): come back then."""

    until: float


def lease_host(es: Elasticsearch, settings: Settings, host: str, *, owner: str,
               now: datetime, turn_by: float = 0.0) -> HostLease | NotYet | None:
    """Take the host's lease unless another live worker holds it (None = busy).

    With ``turn_by`` (wall clock), a free lease whose delay ends before then is not taken yet
    (``NotYet``): the worker that just gave it back would otherwise take it again at once, hold it
    through the delay and starve every other worker waiting for the host."""
    index, doc_id = hosts_index(settings), f"lease:{host}"
    expires = (now + timedelta(seconds=settings.frontier.lease_seconds)).isoformat()
    doc = {"kind": "lease", "host": host, "lease_owner": owner, "lease_expires_at": expires}
    with store.translated("frontier: lease host"):
        try:
            got = es.get(index=index, id=doc_id)
        except NotFoundError:
            try:
                es.index(index=index, id=doc_id, document={**doc, "next_request_at": 0.0}, op_type="create")
            except ConflictError:
                return None
            return HostLease(host, owner, 0.0)
        held = got["_source"]
        if held.get("lease_owner") not in ("", owner) and _expires(held) > now:
            return None
        not_before = float(held.get("next_request_at") or 0.0)
        if time.time() < not_before <= turn_by:
            return NotYet(not_before)
        try:
            es.index(index=index, id=doc_id, document={**doc, "next_request_at": not_before},
                     if_seq_no=got["_seq_no"], if_primary_term=got["_primary_term"])
        except ConflictError:
            return None
    return HostLease(host, owner, not_before)


def _expires(held: Mapping[str, Any]) -> datetime:
    """The lease's expiry as a time (not its text: ``…T11:01+03:00`` sorts after ``…T08:10Z``)."""
    raw = held.get("lease_expires_at")
    return datetime.fromisoformat(raw) if raw else datetime.min.replace(tzinfo=UTC)


def release_host(es: Elasticsearch, settings: Settings, lease: HostLease, *, next_request_at: float) -> None:
    """Give the lease back (only if still ours), leaving when the next request may start."""
    index, doc_id = hosts_index(settings), f"lease:{lease.host}"
    with store.translated("frontier: release host"):
        got = es.get(index=index, id=doc_id)
        if got["_source"].get("lease_owner") != lease.owner:
            return  # expired and taken over: the new holder's state stands
        try:
            es.index(index=index, id=doc_id, if_seq_no=got["_seq_no"], if_primary_term=got["_primary_term"],
                     document={**got["_source"], "lease_owner": "", "next_request_at": next_request_at})
        except ConflictError:
            return


class HostLeases:
    """The host leases one worker holds for one step (a poll, a fetch batch), given back by
    ``release`` with this process's real next allowed request time.

    ``take`` retries a busy lease for up to ``wait`` seconds; ``gate`` is the ``Fetcher``'s hook
    for hosts not taken beforehand (redirect targets): never waits (no two workers can each hold
    one host and wait for the other's), raises ``FetchFailed("host_busy")`` instead.
    """

    RETRY_EVERY = 0.05

    def __init__(self, es: Elasticsearch, settings: Settings, *, owner: str, now: datetime) -> None:
        self.es, self.settings, self.owner, self.now = es, settings, owner, now
        self.held: dict[str, HostLease] = {}

    def take(self, host: str, *, wait: float = 0.0) -> bool:
        if host in self.held:
            return True
        give_up = time.monotonic() + wait
        while True:
            left = give_up - time.monotonic()
            lease = lease_host(self.es, self.settings, host, owner=self.owner, now=self.now,
                               turn_by=time.time() + left if left > 0 else 0.0)
            if isinstance(lease, HostLease):
                break
            if left <= 0:
                return False
            pause = lease.until - time.time() if isinstance(lease, NotYet) else self.RETRY_EVERY
            time.sleep(min(max(pause, 0.0), left))
        self.held[host] = lease
        hold_host(host, lease.not_before)
        return True

    async def gate(self, host: str) -> None:
        if host not in self.held and not await asyncio.to_thread(self.take, host):
            raise FetchFailed(f"{host} is leased by another worker", reason="host_busy")

    def release(self) -> None:
        """Give every lease back; one that cannot be (the node failed that request) does not keep
        the others held until they expire: the first failure is raised after the rest."""
        first: IngestError | None = None
        for host, lease in list(self.held.items()):
            try:
                release_host(self.es, self.settings, lease, next_request_at=host_free_at(host))
            except IngestError as exc:  # unreachable (StoreUnavailable) or refused (StoreError)
                first = first or exc
        self.held.clear()
        if first is not None:
            raise first


@dataclass(frozen=True)
class Entry:
    """A leased frontier entry: the item to fetch (as first listed), every source, attempts so far."""

    doc_id: str
    item: FeedItem
    sources: tuple[str, ...]
    attempts: int


def lease_due(es: Elasticsearch, settings: Settings, host: str, *, owner: str, now: datetime) -> list[Entry]:
    """Lease up to ``fetch_max_per_host`` due entries of ``host``; an entry another worker leased
    first (sequence number changed) is left to it."""
    index = frontier_index(settings)
    query = {"bool": {"filter": [{"term": {"host": host}}, _due(now)]}}
    with store.translated("frontier: lease entries"):
        es.indices.refresh(index=index)
        hits = es.search(index=index, query=query, size=settings.frontier.max_per_host,
                         seq_no_primary_term=True, sort=[{"next_fetch_at": "asc"}],
                         source_excludes=["article"])["hits"]["hits"]
        if not hits:
            return []
        lease = {"status": LEASED, "lease_owner": owner, "updated_at": now.isoformat(),
                 "lease_expires_at": (now + timedelta(seconds=settings.frontier.lease_seconds)).isoformat()}
        operations: list[dict[str, Any]] = []
        for hit in hits:
            operations.append({"update": {"_index": index, "_id": hit["_id"], "if_seq_no": hit["_seq_no"],
                                          "if_primary_term": hit["_primary_term"]}})
            operations.append({"doc": lease})
        response = es.bulk(operations=operations)
    won = {str(next(iter(r.values()))["_id"]) for r in response["items"]
           if next(iter(r.values())).get("status") in (200, 201)}
    return [Entry(h["_id"], ITEM.validate_python(h["_source"]["item"]),
                  tuple(s["id"] for s in h["_source"].get("sources", [])),
                  int(h["_source"].get("attempts", 0)))
            for h in hits if h["_id"] in won]


# ---- outcomes --------------------------------------------------------------------------------

def extracted(entry: Entry, article: Article, now: datetime) -> tuple[str, dict[str, Any]]:
    """Partial update: the article staged in its entry until ``dedup_and_index`` takes it."""
    return entry.doc_id, {"status": EXTRACTED, "article": to_json_dict(article),
                          "attempts": entry.attempts + 1,
                          "last_reason": "", "lease_owner": "", "updated_at": now.isoformat()}


def failed(entry: Entry, exc: BaseException, reason: str, settings: Settings,
           now: datetime) -> tuple[str, dict[str, Any], str]:
    """Partial update for a failure, and the label to count: permanent (and internal) failures wait
    ``fetch_permanent_ttl``; transient ones back off exponentially from ``fetch_retry_base`` (at least
    a capped Retry-After) and are given up after ``fetch_max_attempts``."""
    attempts = entry.attempts + 1
    permanent = isinstance(exc, PermanentError) or not isinstance(exc, IngestError)
    if permanent or attempts >= settings.frontier.max_attempts:
        status, wait = FAILED_PERMANENT, settings.frontier.permanent_ttl
        label = reason if permanent else f"gave_up:{reason}"
    else:
        status, label = FAILED_TRANSIENT, reason
        retry_after = min(getattr(exc, "retry_after", None) or 0.0, settings.poll.retry_after_cap)
        wait = max(settings.frontier.retry_base * 2 ** (attempts - 1), retry_after)
    return entry.doc_id, {"status": status, "attempts": attempts, "last_reason": label,
                          "last_error": str(exc)[:500], "lease_owner": "", "updated_at": now.isoformat(),
                          "next_fetch_at": (now + timedelta(seconds=wait)).isoformat()}, label


def record(es: Elasticsearch, settings: Settings, updates: Iterable[tuple[str, Mapping[str, Any]]]) -> None:
    """Write partial updates in one bulk call (nothing is lost silently: a refusal raises)."""
    operations: list[dict[str, Any]] = []
    for doc_id, doc in updates:
        operations += [{"update": {"_index": frontier_index(settings), "_id": doc_id}}, {"doc": dict(doc)}]
    if not operations:
        return
    with store.translated("frontier: record outcomes"):
        response = es.bulk(operations=operations, refresh=True)
    errors = [next(iter(r.values())) for r in response["items"] if "error" in next(iter(r.values()))]
    if errors:
        raise StoreError(f"frontier: {len(errors)} outcomes not recorded, first: {errors[0]}")


@dataclass(frozen=True)
class Staged:
    """An extracted article waiting in the frontier, with every source that listed its URL."""

    article: Article
    sources: tuple[str, ...]


def staged(es: Elasticsearch, settings: Settings, *, limit: int = 2000) -> list[Staged]:
    """Every article extracted but not yet indexed, whichever pass (or killed worker) extracted it."""
    with store.translated("frontier: read staged articles"):
        es.indices.refresh(index=frontier_index(settings))
        hits = es.search(index=frontier_index(settings), size=limit, query={"term": {"status": EXTRACTED}},
                         sort=[{"updated_at": "asc"}])["hits"]["hits"]
    return [Staged(ARTICLE.validate_python(h["_source"]["article"]),
                   tuple(s["id"] for s in h["_source"].get("sources", []))) for h in hits]


def done(doc_id: str, now: datetime) -> tuple[str, dict[str, Any]]:
    at = now.isoformat()
    return doc_id, {"status": DONE, "article": None, "done_at": at, "updated_at": at}


# ---- robots.txt, shared ----------------------------------------------------------------------

class RobotsStore:
    """The ``Fetcher``'s shared robots.txt cache: one fetch per origin per ``robots_cache_ttl`` for
    every worker (documents ``robots:<origin>`` in the hosts index)."""

    def __init__(self, es: Elasticsearch, settings: Settings, now: datetime) -> None:
        self.es, self.settings, self.now = es, settings, now

    def get(self, origin: str) -> str | None:
        with store.translated("frontier: read robots.txt"):
            try:
                doc = self.es.get(index=hosts_index(self.settings), id=f"robots:{origin}")["_source"]
            except NotFoundError:
                return None
        fetched = datetime.fromisoformat(doc["robots_fetched_at"])
        if (self.now - fetched).total_seconds() >= self.settings.fetch.robots_cache_ttl:
            return None
        return str(doc.get("robots_text") or "")

    def put(self, origin: str, text: str) -> None:
        with store.translated("frontier: save robots.txt"):
            self.es.index(index=hosts_index(self.settings), id=f"robots:{origin}",
                          document={"kind": "robots", "host": origin, "robots_text": text,
                                    "robots_fetched_at": self.now.isoformat()})
