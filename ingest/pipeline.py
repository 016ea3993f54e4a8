"""The stage functions the Airflow DAG and the CLI both call: poll (= discover) -> fetch+extract
(leased from the frontier, per host) -> dedup+index (the staged articles).

Why these shapes: XCom carries ids and counters only (``PollReport``, ``FetchReport``,
``IndexResult``: dataclasses validated both ways by pydantic ``TypeAdapter``, see ``to_xcom`` /
``from_xcom``); bodies stay in the frontier between fetch/extract and dedup/index. Every outcome is
counted in a ``RunSummary`` by reason; any exception of one item or one source is contained there
(``internal:<ExceptionType>``, logged with the URL) and the run goes on; only Elasticsearch being
down raises (``StoreUnavailable``) so a retry redoes the idempotent step. Every time-dependent
decision takes ``now`` from the caller; ``datetime.now(UTC)`` is read only at the edge.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from elasticsearch import Elasticsearch
from pydantic import TypeAdapter

from ingest import dates, dedup, documents, frontier, markup, store, stories
from ingest.charset import decode_html
from ingest.config import Source, load_sources
from ingest.dedup import registry
from ingest.errors import IngestError, StoreError, StoreUnavailable
from ingest.extract import chain_for, select
from ingest.feeds import ParsedFeed, parse_feed, parse_sitemap
from ingest.fetch import Fetched, Fetcher
from ingest.indexer import bulk_write
from ingest.models import Article, FeedItem, Page
from ingest.settings import Settings
from ingest.sourcestate import (
    SourceState,
    after_failure,
    after_not_modified,
    after_success,
    load_states,
    save_state,
)
from ingest.summary import RunSummary, summary
from ingest.urls import BadURL, canonical_link, host_of

log = logging.getLogger(__name__)
SITEMAP_TYPES = ("application/xml", "text/xml", "application/x-gzip", "application/gzip",
                 "application/octet-stream", "text/plain")
Progress = Callable[[str], None]
T = TypeVar("T")


def internal(exc: BaseException) -> str:
    """The counter label of an unexpected exception: a bug, contained at the item/source boundary."""
    return f"internal:{type(exc).__name__}"


def to_xcom(value: Any) -> Any:
    """A payload dataclass as JSON-ready data (the inverse of ``from_xcom``)."""
    return TypeAdapter(type(value)).dump_python(value, mode="json")


def from_xcom(kind: type[T], data: Any) -> T:
    """Validate an XCom payload back into its dataclass (wrong shapes fail loudly)."""
    return TypeAdapter(kind).validate_python(data)


@dataclass(frozen=True)
class PollResult:
    """Items of one source new to the frontier, the source's updated state, counters (in process)."""

    source_id: str
    items: tuple[FeedItem, ...]
    state: SourceState
    summary: RunSummary
    error: str = ""

    def report(self) -> PollReport:
        return PollReport(self.source_id, len(self.items), self.summary, self.error)


@dataclass(frozen=True)
class PollReport:
    """What a poll task hands on through XCom: counters, no items (they are in the frontier)."""

    source_id: str
    discovered: int
    summary: RunSummary
    error: str = ""


@dataclass(frozen=True)
class ExtractResult:
    articles: tuple[Article, ...]
    summary: RunSummary


@dataclass(frozen=True)
class FetchReport:
    """A fetch task's XCom: ids of the entries it extracted (staged in the frontier), counters."""

    extracted: tuple[str, ...]
    summary: RunSummary


@dataclass(frozen=True)
class IndexResult:
    indexed: tuple[str, ...]
    failed: Mapping[str, str] = field(default_factory=dict)
    summary: RunSummary = field(default_factory=RunSummary)


# ---- poll = discover -------------------------------------------------------------------------

def due_sources(settings: Settings, sources: Sequence[Source], *, es: Elasticsearch, now: datetime,
                force: bool = False) -> tuple[list[Source], RunSummary]:
    """The enabled sources due at ``now`` (all enabled, unpaused ones with ``force``), and what was
    skipped by reason. An auto-disabled source is due once per ``disabled_probe_interval``."""
    enabled = [s for s in sources if s.enabled]
    states = load_states(es, settings, [s.id for s in enabled])
    due, skipped = [], {"poll:source_not_enabled": len(sources) - len(enabled)}
    for source in enabled:
        state = states[source.id]
        if state.paused:
            skipped["poll:source_paused"] = skipped.get("poll:source_paused", 0) + 1
        elif force or state.is_due(now):
            due.append(source)
        else:
            skipped["poll:not_due"] = skipped.get("poll:not_due", 0) + 1
    return due, summary(skipped={k: v for k, v in skipped.items() if v})


def poll_source(settings: Settings, source: Source, *, es: Elasticsearch | None = None,
                persist: bool = True, now: datetime | None = None,
                lease_wait: float | None = None) -> PollResult:
    """Conditional GET + parse one source under its host's lease; upsert every listed URL into the
    frontier in one bulk call; only after that write succeeded save the source state (validators,
    next poll, a 301/308's new location: the next poll goes straight there).

    The host lease makes the per-host delay hold between polls of parallel workers (the DAG maps one
    task per source): a busy lease is waited for up to ``lease_wait`` seconds (``source_deadline``
    by default), then the poll is skipped (``poll:host_busy``) and the source stays due.
    With ``persist=False`` (``ingest sources check``) nothing is read from or written to
    Elasticsearch and every parsed item counts as new. Any exception but ``StoreUnavailable`` is
    contained here: the source counts as failed with the reason, the run goes on.
    """
    now = now or datetime.now(UTC)
    es = es if es is not None or not persist else store.connect(settings)
    state = load_states(es, settings, [source.id])[source.id] if es is not None else SourceState(source.id)
    url = state.poll_url(source.url)
    state = dataclasses.replace(state, url=source.url, moved_to=state.moved_to if url != source.url else "")
    conditional = state.conditional(settings, now)
    leases = frontier.HostLeases(es, settings, owner=worker_id(), now=now) if es is not None and persist \
        else None
    wait = settings.fetch.source_deadline if lease_wait is None else lease_wait
    if leases is not None and not leases.take(frontier.host_key(url), wait=wait):
        return PollResult(source.id, (), state, summary(skipped={"poll:host_busy": 1}))
    try:
        robots = frontier.RobotsStore(es, settings, now) if leases is not None else None
        fetched, parsed = asyncio.run(_poll(settings, source, url, state, conditional, robots, leases))
    except StoreUnavailable:
        raise
    except Exception as exc:  # one source must never end the run
        reason = exc.reason if isinstance(exc, IngestError) else internal(exc)
        if not isinstance(exc, IngestError):
            log.exception("poll %s (%s): unexpected %s", source.id, url, type(exc).__name__)
        new_state = after_failure(state, settings, now=now, reason=reason, message=str(exc),
                                  retry_after=getattr(exc, "retry_after", None))
        return _finish(es, settings, persist, PollResult(
            source.id, (), new_state, summary(sources_polled=1, sources_failed=1,
                                              failed={f"poll:{reason}": 1}), str(exc)))
    finally:
        if leases is not None:
            leases.release()
    moved = {"poll:moved_permanently": 1} if fetched.moved_to else {}
    if fetched.moved_to:
        log.info("source %s moved permanently: %s -> %s", source.id, url, fetched.moved_to)
        state = dataclasses.replace(state, moved_to=fetched.moved_to)
    if fetched.status == 304:
        new_state = after_not_modified(state, settings, now=now)
        return _finish(es, settings, persist, PollResult(
            source.id, (), new_state, summary(sources_polled=1, skipped={"poll:not_modified": 1, **moved})))
    items = _unique(parsed.items)
    skipped = {f"poll:{k}": v for k, v in parsed.skipped.items()} | moved
    if len(items) > settings.poll.feed_max_items:
        skipped["poll:over_item_cap"] = len(items) - settings.poll.feed_max_items
        items = items[: settings.poll.feed_max_items]
    found = frontier.discover(es, settings, items, now=now) if es is not None and persist else \
        frontier.Discovery(new=tuple(items))
    also = _also_carried(es, settings, source.id, found.carried) if found.carried and es is not None else {}
    etag, last_modified = fetched.headers.get("etag", ""), fetched.headers.get("last-modified", "")
    if found.failed:  # not every URL is in the frontier: keep the old validators so the next poll sees them
        etag, last_modified = "", ""
    new_state = after_success(state, settings, now=now, seen=len(items), new=len(found.new), etag=etag,
                              last_modified=last_modified, status="malformed" if parsed.malformed else "ok",
                              conditional=conditional)
    if new_state.hidden_by_304 > state.hidden_by_304:
        skipped["poll:etag_hid_new_items"] = 1
    if parsed.malformed:
        new_state = dataclasses.replace(new_state, last_error=parsed.malformed[:500])
    skipped["poll:known"] = found.known
    failed = {f"discover:{r.split(':')[0]}": 0 for r in found.failed.values()}
    for r in found.failed.values():
        failed[f"discover:{r.split(':')[0]}"] += 1
    counts = summary(sources_polled=1, items_seen=len(items), new=len(found.new),
                     feeds_malformed=1 if parsed.malformed else 0, also_carried=len(found.carried),
                     skipped={k: v for k, v in skipped.items() if v}, failed={**failed, **also})
    return _finish(es, settings, persist, PollResult(source.id, found.new, new_state, counts))


def interleaved_by_host(sources: Sequence[Source]) -> list[Source]:
    """One source per host in turn: the per-host delay before a host's next feed is spent polling
    the other hosts, not waiting (a pass over ten feeds of one host costs ten delays otherwise)."""
    by_host: dict[str, list[Source]] = {}
    for source in sources:
        by_host.setdefault(frontier.host_key(source.url), []).append(source)
    queues = list(by_host.values())
    return [q[i] for i in range(max(map(len, queues), default=0)) for q in queues if i < len(q)]


def _also_carried(es: Elasticsearch, settings: Settings, source_id: str,
                  ids: Sequence[str]) -> dict[str, int]:
    """An already indexed article listed by one more outlet gains the source ("also carried by"),
    in the article and in the dedup registry; a failure is counted, the poll goes on."""
    failed: dict[str, int] = {}
    for doc_id in ids:
        for index in (store.alias_name(settings.es.index_prefix, "articles"), registry.alias(settings)):
            try:
                registry.add_source(es, index, doc_id, source_id)
            except StoreUnavailable:
                raise
            except IngestError as exc:
                failed[f"also_carried:{exc.reason}"] = failed.get(f"also_carried:{exc.reason}", 0) + 1
    return failed


def _finish(es: Elasticsearch | None, settings: Settings, persist: bool, result: PollResult) -> PollResult:
    if persist and es is not None:
        save_state(es, settings, result.state)
    return result


async def _poll(settings: Settings, source: Source, url: str, state: SourceState, conditional: bool,
                robots: frontier.RobotsStore | None,
                leases: frontier.HostLeases | None) -> tuple[Fetched, ParsedFeed]:
    headers = {}
    if conditional and state.etag:
        headers["If-None-Match"] = state.etag
    if conditional and state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    poller = POLLERS[source.kind]
    async with Fetcher(settings, deadline=settings.fetch.source_deadline, robots_cache=robots,
                       gate=leases.gate if leases is not None else None) as fetcher:
        fetched = await fetcher.get(url, accept=poller.accept(settings), headers=headers)
        if fetched.status == 304:
            return fetched, ParsedFeed(())
        return fetched, await poller.read(fetcher, settings, source, fetched)


async def _read_feed(fetcher: Fetcher, settings: Settings, source: Source, fetched: Fetched) -> ParsedFeed:
    return parse_feed(fetched.body, source_id=source.id, feed_url=fetched.final_url,
                      content_type=fetched.headers.get("content-type", ""))


async def _read_sitemap(fetcher: Fetcher, settings: Settings, source: Source, fetched: Fetched) -> ParsedFeed:
    """A sitemap, or the newest ``sitemap_max_children`` sitemaps of an index (a bad child is skipped)."""
    parsed = parse_sitemap(fetched.body, source_id=source.id, sitemap_url=fetched.final_url)
    if not parsed.children:
        return parsed
    items: list[FeedItem] = []
    skipped: dict[str, int] = {}
    for child in parsed.children[: settings.poll.sitemap_max_children]:
        try:
            page = await fetcher.get(child, accept=SITEMAP_TYPES)
            sub = parse_sitemap(page.body, source_id=source.id, sitemap_url=page.final_url)
        except IngestError as exc:
            skipped[f"child_{exc.reason}"] = skipped.get(f"child_{exc.reason}", 0) + 1
            continue
        items.extend(sub.items)
        for reason, n in sub.skipped.items():
            skipped[reason] = skipped.get(reason, 0) + n
    return ParsedFeed(tuple(items), skipped, parsed.malformed)


@dataclass(frozen=True)
class Poller:
    """How one source kind is read: accepted content types and body -> items."""

    accept: Callable[[Settings], Sequence[str]]
    read: Callable[[Fetcher, Settings, Source, Fetched], Awaitable[ParsedFeed]]


# Source kinds by name (Scrapy-style registry): a new kind is one entry here plus its parser.
POLLERS: dict[str, Poller] = {
    "feed": Poller(lambda settings: settings.fetch.feed_content_types, _read_feed),
    "sitemap": Poller(lambda settings: SITEMAP_TYPES, _read_sitemap),
}


def _unique(items: Iterable[FeedItem]) -> list[FeedItem]:
    """First item per document id (a feed may list the same article twice)."""
    seen: dict[str, FeedItem] = {}
    for item in items:
        seen.setdefault(item.doc_id, item)
    return list(seen.values())


# ---- fetch + extract -------------------------------------------------------------------------

def worker_id() -> str:
    """A lease owner name unique to this process and call (host, pid, random)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def fetch_due(settings: Settings, hosts: Sequence[str], *, es: Elasticsearch | None = None,
              now: datetime | None = None, sources: Sequence[Source] | None = None,
              owner: str | None = None) -> FetchReport:
    """Fetch and extract the due frontier entries of ``hosts``: lease each host (a host another
    worker holds is counted ``fetch:host_busy`` and left to it), lease its due entries, fetch them
    with one Fetcher sharing robots.txt through Elasticsearch, stage each article (or the failure
    with its reason) in its entry in one bulk write, give the host leases back.

    A redirect to another host is followed under that host's lease, taken before its first request
    (``HostLeases.gate``); when another worker holds it the entry fails transiently (``host_busy``)
    and is retried after its backoff. Chosen over re-queueing the target as its own frontier entry:
    the entry keeps its document id and sources, and the redirect costs no extra pass."""
    now = now or datetime.now(UTC)
    es = es if es is not None else store.connect(settings)
    by_id = {s.id: s for s in (sources if sources is not None else load_sources(settings.files.sources_file))}
    leases = frontier.HostLeases(es, settings, owner=owner or worker_id(), now=now)
    entries, busy = [], 0
    try:
        for host in hosts:
            if not leases.take(host):
                busy += 1
                continue
            entries.extend(frontier.lease_due(es, settings, host, owner=leases.owner, now=now))
        robots = frontier.RobotsStore(es, settings, now)
        outcomes = asyncio.run(_fetch_entries(settings, entries, robots, leases))
        updates, counts = _outcomes(settings, entries, outcomes, by_id, now)
        frontier.record(es, settings, updates)
    finally:
        leases.release()
    extracted = tuple(doc_id for doc_id, doc in updates if doc["status"] == frontier.EXTRACTED)
    skipped = {"fetch:host_busy": busy} if busy else {}
    return FetchReport(extracted, counts + summary(skipped=skipped))


def _outcomes(settings: Settings, entries: Sequence[frontier.Entry],
              outcomes: Sequence[Fetched | BaseException],
              by_id: Mapping[str, Source], now: datetime) -> tuple[list[tuple[str, dict]], RunSummary]:
    updates: list[tuple[str, dict]] = []
    failed: dict[str, int] = {}
    fetched = 0
    for entry, outcome in zip(entries, outcomes, strict=True):
        if isinstance(outcome, Fetched):
            fetched += 1
            try:
                updates.append(frontier.extracted(entry, build_article(outcome, entry.item,
                                                                      by_id.get(entry.item.source_id)), now))
                continue
            except Exception as exc:  # one page must never end the run
                stage, error = "extract", exc
        else:
            stage, error = "fetch", outcome
        reason = error.reason if isinstance(error, IngestError) else internal(error)
        if not isinstance(error, IngestError):
            log.error("%s %s: unexpected %s: %s", stage, entry.item.url, type(error).__name__, error,
                      exc_info=error)  # a bug: its traceback
        doc_id, doc, label = frontier.failed(entry, error, reason, settings, now)
        updates.append((doc_id, doc))
        failed[f"{stage}:{label}"] = failed.get(f"{stage}:{label}", 0) + 1
    extracted = sum(1 for _, doc in updates if doc["status"] == frontier.EXTRACTED)
    return updates, summary(fetched=fetched, extracted=extracted, failed=failed)


async def _fetch_entries(settings: Settings, entries: Sequence[frontier.Entry], robots: frontier.RobotsStore,
                         leases: frontier.HostLeases) -> list[Fetched | BaseException]:
    """All leased entries with one Fetcher (each host paced from what its previous holder left)."""
    async with Fetcher(settings, robots_cache=robots, gate=leases.gate) as fetcher:
        return list(await asyncio.gather(*(_fetch_one(fetcher, settings, e.item) for e in entries)))


def fetch_and_extract(settings: Settings, items: Sequence[FeedItem], *,
                      sources: Sequence[Source] | None = None) -> ExtractResult:
    """Fetch and extract a given list of items, without the frontier (benchmarks, evaluations,
    the bad-input tests); the scheduled path is ``fetch_due``."""
    by_id = {s.id: s for s in (sources if sources is not None else _sources_for(settings, items))}
    unique = _unique(items)
    outcomes = asyncio.run(_fetch_all(settings, unique))
    articles: list[Article] = []
    failed: dict[str, int] = {}
    fetched = 0
    for item, outcome in zip(unique, outcomes, strict=True):
        if not isinstance(outcome, Fetched):
            reason = outcome.reason if isinstance(outcome, IngestError) else internal(outcome)
            failed[f"fetch:{reason}"] = failed.get(f"fetch:{reason}", 0) + 1
            continue
        fetched += 1
        try:
            articles.append(build_article(outcome, item, by_id.get(item.source_id)))
        except Exception as exc:  # one page must never end the run
            reason = exc.reason if isinstance(exc, IngestError) else internal(exc)
            if not isinstance(exc, IngestError):
                log.error("extract %s: unexpected %s: %s", item.url, type(exc).__name__, exc, exc_info=exc)
            failed[f"extract:{reason}"] = failed.get(f"extract:{reason}", 0) + 1
    return ExtractResult(tuple(articles), summary(fetched=fetched, extracted=len(articles), failed=failed))


def _sources_for(settings: Settings, items: Sequence[FeedItem]) -> list[Source]:
    return load_sources(settings.files.sources_file) if items else []


async def _fetch_all(settings: Settings, items: Sequence[FeedItem]) -> list[Fetched | BaseException]:
    async with Fetcher(settings) as fetcher:
        return list(await asyncio.gather(*(_fetch_one(fetcher, settings, item) for item in items)))


async def _fetch_one(fetcher: Fetcher, settings: Settings, item: FeedItem) -> Fetched | BaseException:
    """The response, or the error as a value: one bad page must not cancel the others."""
    try:
        return await fetcher.get(item.url, accept=settings.fetch.html_content_types)
    except StoreUnavailable:
        raise
    except Exception as exc:  # contained per item, counted by the caller
        if not isinstance(exc, IngestError):
            log.error("fetch %s: unexpected %s: %s", item.url, type(exc).__name__, exc, exc_info=exc)
        return exc


def build_article(fetched: Fetched, item: FeedItem, source: Source | None) -> Article:
    """Decode, extract (trafilatura -> readability -> feed summary) and assemble the Article."""
    decoded = decode_html(fetched.body, fetched.headers.get("content-type", ""))
    page = Page(item, fetched.final_url, fetched.status, fetched.content_type, decoded.encoding,
                decoded.text, fetched.fetched_at)
    candidate = select(page.html, page.final_url, item, chain_for(source.extractor if source else ""))
    flags = [f"charset_{decoded.method}"]
    canonical = item.canonical_url
    root = markup.parse(page.html)  # one tree for rel=canonical, then the dates (which strip it)
    try:
        canonical = canonical_link(root, page.final_url)
    except BadURL:
        flags.append("no_rel_canonical")
    if canonical != item.canonical_url:
        flags.append("rel_canonical_differs")
    when = dates.publication_date(root, page.final_url, fetched_at=page.fetched_at,
                                  htmldate=candidate.date, feed=item.published_at)
    flags.extend(f"date_rejected_{reason}" for reason in when.rejected)
    return Article(
        doc_id=item.doc_id, url=item.url, canonical_url=canonical, source_id=item.source_id,
        source_name=source.name if source else item.source_id, domain=host_of(page.final_url),
        feed=item.feed_url, title=candidate.title or item.title, body=candidate.text,
        lang=candidate.lang or (source.lang if source else ""), country=source.country if source else "",
        description=candidate.description, summary=item.summary[:2000], site_name=candidate.site_name,
        authors=candidate.authors or item.authors, tags=tuple(dict.fromkeys([*item.tags, *candidate.tags])),
        image=candidate.image, published_at=when.value, date_source=when.source,
        fetched_at=page.fetched_at, extraction_method=candidate.method, extraction_flags=tuple(flags))


def _date(value: str) -> datetime | None:
    """An extractor's ISO date as an aware datetime; ``None`` when the page gave none."""
    try:
        parsed = datetime.fromisoformat(value) if value else None
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed is not None and parsed.tzinfo is None else parsed


# ---- dedup + index ---------------------------------------------------------------------------

def dedup_and_index(settings: Settings, articles: Sequence[Article], *, es: Elasticsearch | None = None,
                    extra_sources: Mapping[str, Sequence[str]] | None = None,
                    now: datetime | None = None) -> IndexResult:
    """Dedup decisions merged into each document, then one bulk write; failures keep their reason.

    A dedup failure of the batch (other than the node being down) is retried article by article,
    so one bad document is isolated with its reason and never takes its batch with it.
    ``extra_sources``: every other outlet that listed the URL (from the frontier).
    """
    if not articles:
        return IndexResult(())
    es = es if es is not None else store.connect(settings)
    moved: list[str] = []
    pairs, failed = _decide(es, settings, articles, moved)
    extra = extra_sources or {}
    stamp = (now or datetime.now(UTC)).isoformat()
    docs = []
    for a, d in pairs:
        doc = {**documents.article_document(a), **d.document_fields(), "indexed_at": stamp, "_id": a.doc_id}
        doc["sources"] = sorted({*doc.get("sources", []), a.source_id, *extra.get(a.doc_id, ())})
        docs.append(doc)
    # refresh=True, not wait_for: wait_for idles up to refresh_interval (1 s) per call (bench/indexing.py).
    report = bulk_write(es, store.alias_name(settings.es.index_prefix, "articles"), docs, refresh=True)
    reasons = {**failed, **report.failed}
    counted: dict[str, int] = {}
    try:  # after the batch is indexed: nothing already under a moved founder is missed
        stories.relabel(es, settings, moved)
    except IngestError as exc:  # the batch stands; its merged stories stay split in the index
        log.warning("relabelling the articles of merged stories %s failed: %s", moved, exc)
        counted[f"relabel:{exc.reason}"] = 1
    for reason in reasons.values():
        counted[f"index:{reason.split(':')[0]}"] = counted.get(f"index:{reason.split(':')[0]}", 0) + 1
    duplicates = sum(1 for a, d in pairs if d.is_duplicate and a.doc_id in set(report.ok))
    return IndexResult(tuple(report.ok), reasons, summary(indexed=len(report.ok), duplicates=duplicates,
                                                          failed=counted))


def _decide(es: Elasticsearch, settings: Settings, articles: Sequence[Article],
            moved: list[str]) -> tuple[list[tuple[Article, Any]], dict[str, str]]:
    try:
        return list(zip(articles, dedup.decide(es, settings, articles, moved), strict=True)), {}
    except StoreUnavailable:
        raise
    except Exception as exc:  # isolate the bad document(s) below
        log.warning("dedup of a batch of %d failed (%s): deciding one by one", len(articles), exc)
    pairs, failed = [], {}
    for article in articles:
        try:
            pairs.append((article, dedup.decide(es, settings, [article], moved)[0]))
        except StoreUnavailable:
            raise
        except Exception as exc:  # this document only
            reason = exc.reason if isinstance(exc, IngestError) else internal(exc)
            log.error("dedup %s (%s): %s: %s", article.url, article.doc_id, reason, exc,
                      exc_info=not isinstance(exc, IngestError))  # a bug: its traceback
            failed[article.doc_id] = f"{reason}: {exc}"
    return pairs, failed


def index_staged(settings: Settings, *, es: Elasticsearch | None = None,
                 now: datetime | None = None) -> IndexResult:
    """Dedup and index every article staged in the frontier (by this pass or a killed one), each
    attributed to every source that listed its URL; then mark them done (a refused one waits)."""
    now = now or datetime.now(UTC)
    es = es if es is not None else store.connect(settings)
    staged = frontier.staged(es, settings)
    if not staged:
        return IndexResult(())
    extra = {s.article.doc_id: s.sources for s in staged}
    result = dedup_and_index(settings, [s.article for s in staged], es=es, extra_sources=extra, now=now)
    for s in staged:  # the registry also learns every outlet (it already has the first)
        for source_id in s.sources:
            if source_id != s.article.source_id and s.article.doc_id in result.indexed:
                try:
                    registry.add_source(es, registry.alias(settings), s.article.doc_id, source_id)
                except StoreError as exc:
                    log.warning("dedup registry: %s: %s", s.article.doc_id, exc)
    frontier.record(es, settings, [frontier.done(doc_id, now) for doc_id in result.indexed])
    return result


# ---- the whole chain -------------------------------------------------------------------------

_TEMPLATES_APPLIED: set[tuple[str, str]] = set()


def _ensure_templates(es: Elasticsearch, settings: Settings) -> None:
    """Templates and aliases once per process and index prefix: a pass every 5 minutes must not
    pay for a dozen idempotent template calls each time (a new worker process applies them again)."""
    key = (settings.es.url, settings.es.index_prefix)
    if key not in _TEMPLATES_APPLIED:
        store.apply_templates(es, settings)
        _TEMPLATES_APPLIED.add(key)


def run_once(settings: Settings, sources: Sequence[Source], *, now: datetime | None = None,
             force: bool = False, progress: Progress | None = None) -> RunSummary:
    """One pass: poll the due sources (all with ``force``) into the frontier, fetch and extract the
    due entries host by host, dedup and index what is staged. A killed pass is resumed by the next."""
    say = progress or (lambda _message: None)
    now = now or datetime.now(UTC)
    es = store.connect(settings)
    _ensure_templates(es, settings)
    due, total = due_sources(settings, sources, es=es, now=now, force=force)
    busy: set[str] = set()  # hosts whose lease another worker kept past the wait: not waited for again
    for source in interleaved_by_host(due):
        host = frontier.host_key(source.url)
        result = poll_source(settings, source, es=es, now=now, lease_wait=0.0 if host in busy else None)
        if result.summary.skipped.get("poll:host_busy"):
            busy.add(host)
        total = total + result.summary
        say(f"polled {source.id}: {len(result.items)} new" + (f" ({result.error})" if result.error else ""))
    hosts = frontier.due_hosts(es, settings, now=now)
    fetched = fetch_due(settings, hosts, es=es, now=now, sources=sources)
    say(f"fetched {fetched.summary.count('fetched')}, extracted {len(fetched.extracted)}")
    indexed = index_staged(settings, es=es, now=now)
    say(f"indexed {len(indexed.indexed)}")
    return total + fetched.summary + indexed.summary


__all__ = ["POLLERS", "ExtractResult", "FetchReport", "IndexResult", "PollReport", "PollResult", "Poller",
           "build_article", "dedup_and_index", "due_sources", "fetch_and_extract", "fetch_due", "from_xcom",
           "index_staged", "poll_source", "run_once", "to_xcom"]
