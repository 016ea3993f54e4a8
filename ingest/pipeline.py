"""The stage functions the Airflow DAG and the CLI both call: poll -> fetch+extract -> dedup+index.

Why these shapes: arguments and results are plain data with ``to_json_dict`` / ``from_json_dict``
(they travel through XCom); every outcome is counted in a ``RunSummary`` by reason; Elasticsearch
being down raises ``StoreUnavailable`` so a retry redoes the (idempotent) step.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import elastic_transport
from elasticsearch import ApiError, Elasticsearch

from ingest import dates, dedup, documents, store
from ingest.charset import decode_html
from ingest.config import Source, load_sources
from ingest.errors import IngestError, StoreError, StoreUnavailable
from ingest.extract import chain_for, select
from ingest.feeds import ParsedFeed, parse_feed, parse_sitemap
from ingest.fetch import Fetched, Fetcher
from ingest.indexer import bulk_write
from ingest.models import Article, FeedItem, Page, to_json_dict
from ingest.settings import Settings
from ingest.sourcestate import (
    SourceState,
    after_failure,
    after_not_modified,
    after_success,
    load_states,
    save_state,
    state_from_dict,
)
from ingest.summary import RunSummary, summary
from ingest.urls import BadURL, canonical_link, host_of

SITEMAP_TYPES = ("application/xml", "text/xml", "application/x-gzip", "application/gzip",
                 "application/octet-stream", "text/plain")
Progress = Callable[[str], None]


@dataclass(frozen=True)
class PollResult:
    """New items of one source (after the multi-get), the source's updated state, counters."""

    source_id: str
    items: tuple[FeedItem, ...]
    state: SourceState
    summary: RunSummary
    error: str = ""

    def to_json_dict(self) -> dict[str, Any]:
        return {"source_id": self.source_id, "items": to_json_dict(list(self.items)),
                "state": to_json_dict(self.state), "summary": self.summary.to_json_dict(),
                "error": self.error}

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> PollResult:
        return cls(data["source_id"], tuple(feed_item_from_dict(i) for i in data["items"]),
                   state_from_dict(data["state"]), RunSummary.from_json_dict(data["summary"]), data["error"])


@dataclass(frozen=True)
class ExtractResult:
    articles: tuple[Article, ...]
    summary: RunSummary

    def to_json_dict(self) -> dict[str, Any]:
        return {"articles": to_json_dict(list(self.articles)), "summary": self.summary.to_json_dict()}

    @classmethod
    def from_json_dict(cls, data: Mapping[str, Any]) -> ExtractResult:
        return cls(tuple(article_from_dict(a) for a in data["articles"]),
                   RunSummary.from_json_dict(data["summary"]))


@dataclass(frozen=True)
class IndexResult:
    indexed: tuple[str, ...]
    failed: Mapping[str, str] = field(default_factory=dict)
    summary: RunSummary = field(default_factory=RunSummary)

    def to_json_dict(self) -> dict[str, Any]:
        return {"indexed": list(self.indexed), "failed": dict(self.failed),
                "summary": self.summary.to_json_dict()}


# ---- poll ------------------------------------------------------------------------------------

def poll_source(settings: Settings, source: Source, *, es: Elasticsearch | None = None,
                persist: bool = True) -> PollResult:
    """Conditional GET + parse one source; keep only items whose id is not indexed yet.

    With ``persist=False`` (``ingest sources check``) nothing is read from or written to
    Elasticsearch and every parsed item counts as new.
    """
    es = es if es is not None or not persist else store.connect(settings)
    state = load_states(es, settings, [source.id])[source.id] if es is not None else SourceState(source.id)
    state = dataclasses.replace(state, url=source.url)
    now = datetime.now(UTC)
    try:
        fetched, parsed = asyncio.run(_poll(settings, source, state))
    except IngestError as exc:
        new_state = after_failure(state, settings, now=now, reason=exc.reason, message=str(exc),
                                  retry_after=getattr(exc, "retry_after", None))
        return _finish(es, settings, persist, PollResult(
            source.id, (), new_state, summary(sources_polled=1, sources_failed=1,
                                              failed={f"poll:{exc.reason}": 1}), str(exc)))
    if fetched.status == 304:
        new_state = after_not_modified(state, settings, now=now)
        return _finish(es, settings, persist, PollResult(
            source.id, (), new_state, summary(sources_polled=1, skipped={"poll:not_modified": 1})))
    items = _unique(parsed.items)
    new = _unknown(es, settings, items) if es is not None else items
    new_state = after_success(state, settings, now=now, seen=len(items), new=len(new),
                              etag=fetched.headers.get("etag", ""),
                              last_modified=fetched.headers.get("last-modified", ""),
                              status="malformed" if parsed.malformed else "ok")
    if parsed.malformed:
        new_state = dataclasses.replace(new_state, last_error=parsed.malformed[:500])
    skipped = {f"poll:{k}": v for k, v in parsed.skipped.items()}
    skipped["poll:known"] = len(items) - len(new)
    counts = summary(sources_polled=1, items_seen=len(items), new=len(new),
                     feeds_malformed=1 if parsed.malformed else 0,
                     skipped={k: v for k, v in skipped.items() if v})
    return _finish(es, settings, persist, PollResult(source.id, tuple(new), new_state, counts))


def _finish(es: Elasticsearch | None, settings: Settings, persist: bool, result: PollResult) -> PollResult:
    if persist and es is not None:
        save_state(es, settings, result.state)
    return result


async def _poll(settings: Settings, source: Source, state: SourceState) -> tuple[Fetched, ParsedFeed]:
    headers = {}
    if state.etag:
        headers["If-None-Match"] = state.etag
    if state.last_modified:
        headers["If-Modified-Since"] = state.last_modified
    accept = settings.feed_content_types if source.kind == "feed" else SITEMAP_TYPES
    async with Fetcher(settings, deadline=settings.source_deadline) as fetcher:
        fetched = await fetcher.get(source.url, accept=accept, headers=headers)
        if fetched.status == 304:
            return fetched, ParsedFeed(())
        if source.kind == "feed":
            return fetched, parse_feed(fetched.body, source_id=source.id, feed_url=fetched.final_url,
                                       content_type=fetched.headers.get("content-type", ""))
        return fetched, await _read_sitemap(fetcher, settings, source, fetched)


async def _read_sitemap(fetcher: Fetcher, settings: Settings, source: Source, fetched: Fetched) -> ParsedFeed:
    """A sitemap, or the newest ``sitemap_max_children`` sitemaps of an index (a bad child is skipped)."""
    parsed = parse_sitemap(fetched.body, source_id=source.id, sitemap_url=fetched.final_url)
    if not parsed.children:
        return parsed
    items: list[FeedItem] = []
    skipped: dict[str, int] = {}
    for child in parsed.children[: settings.sitemap_max_children]:
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


def _unique(items: Iterable[FeedItem]) -> list[FeedItem]:
    """First item per document id (a feed may list the same article twice)."""
    seen: dict[str, FeedItem] = {}
    for item in items:
        seen.setdefault(item.doc_id, item)
    return list(seen.values())


def _unknown(es: Elasticsearch, settings: Settings, items: Sequence[FeedItem]) -> list[FeedItem]:
    """Items whose document id is not in the articles index: one multi-get."""
    if not items:
        return []
    index = store.alias_name(settings.index_prefix, "articles")
    try:
        docs = es.mget(index=index, ids=[i.doc_id for i in items], source=False)["docs"]
    except (elastic_transport.ConnectionError, elastic_transport.ConnectionTimeout) as exc:
        raise StoreUnavailable(f"multi-get on {index} failed: {type(exc).__name__}") from exc
    except ApiError as exc:
        raise StoreError(f"multi-get on {index} failed: {exc.message}") from exc
    known = {d["_id"] for d in docs if d.get("found")}
    return [i for i in items if i.doc_id not in known]


# ---- fetch + extract -------------------------------------------------------------------------

def fetch_and_extract(settings: Settings, items: Sequence[FeedItem], *,
                      sources: Sequence[Source] | None = None) -> ExtractResult:
    """Fetch every item's page (politely, concurrently) and extract an Article from each."""
    by_id = {s.id: s for s in (sources if sources is not None else _sources_for(settings, items))}
    outcomes = asyncio.run(_fetch_all(settings, _unique(items)))
    articles: list[Article] = []
    failed: dict[str, int] = {}
    fetched = 0
    for item, outcome in outcomes:
        if isinstance(outcome, IngestError):
            failed[f"fetch:{outcome.reason}"] = failed.get(f"fetch:{outcome.reason}", 0) + 1
            continue
        fetched += 1
        try:
            articles.append(build_article(outcome, item, by_id.get(item.source_id)))
        except IngestError as exc:
            failed[f"extract:{exc.reason}"] = failed.get(f"extract:{exc.reason}", 0) + 1
    return ExtractResult(tuple(articles), summary(fetched=fetched, extracted=len(articles), failed=failed))


def _sources_for(settings: Settings, items: Sequence[FeedItem]) -> list[Source]:
    return load_sources(settings.sources_file) if items else []


async def _fetch_all(settings: Settings,
                     items: Sequence[FeedItem]) -> list[tuple[FeedItem, Fetched | IngestError]]:
    async with Fetcher(settings) as fetcher:
        results = await asyncio.gather(*(_fetch_one(fetcher, settings, item) for item in items))
    return list(zip(items, results, strict=True))


async def _fetch_one(fetcher: Fetcher, settings: Settings, item: FeedItem) -> Fetched | IngestError:
    """The response, or the error as a value: one bad page must not cancel the others."""
    try:
        return await fetcher.get(item.url, accept=settings.html_content_types)
    except IngestError as exc:
        return exc


def build_article(fetched: Fetched, item: FeedItem, source: Source | None) -> Article:
    """Decode, extract (trafilatura -> readability -> feed summary) and assemble the Article."""
    decoded = decode_html(fetched.body, fetched.headers.get("content-type", ""))
    page = Page(item, fetched.final_url, fetched.status, fetched.content_type, decoded.encoding,
                decoded.text, fetched.fetched_at)
    candidate = select(page.html, page.final_url, item, chain_for(source.extractor if source else ""))
    flags = [f"charset_{decoded.method}"]
    canonical = item.canonical_url
    try:
        canonical = canonical_link(page.html, page.final_url)
    except BadURL:
        flags.append("no_rel_canonical")
    if canonical != item.canonical_url:
        flags.append("rel_canonical_differs")
    when = dates.publication_date(page.html, page.final_url, fetched_at=page.fetched_at,
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

def dedup_and_index(settings: Settings, articles: Sequence[Article], *,
                    es: Elasticsearch | None = None) -> IndexResult:
    """Dedup decisions merged into each document, then one bulk write; failures keep their reason."""
    if not articles:
        return IndexResult(())
    es = es if es is not None else store.connect(settings)
    decisions = dedup.decide(es, settings, articles)
    now = datetime.now(UTC).isoformat()
    docs = [{**documents.article_document(a), **d.document_fields(), "indexed_at": now, "_id": a.doc_id}
            for a, d in zip(articles, decisions, strict=True)]
    # refresh=True, not wait_for: wait_for idles up to refresh_interval (1 s) per call (bench/indexing.py).
    report = bulk_write(es, store.alias_name(settings.index_prefix, "articles"), docs, refresh=True)
    failed = {f"index:{reason.split(':')[0]}": 0 for reason in report.failed.values()}
    for reason in report.failed.values():
        failed[f"index:{reason.split(':')[0]}"] += 1
    duplicates = sum(1 for d in decisions if d.is_duplicate)
    return IndexResult(tuple(report.ok), dict(report.failed),
                       summary(indexed=len(report.ok), duplicates=duplicates, failed=failed))


# ---- the whole chain -------------------------------------------------------------------------

def run_once(settings: Settings, sources: Sequence[Source], *,
             progress: Progress | None = None) -> RunSummary:
    """Poll every enabled source, fetch and extract the new items, dedup and index them."""
    say = progress or (lambda _message: None)
    es = store.connect(settings)
    store.apply_templates(es, settings)
    total = RunSummary()
    items: list[FeedItem] = []
    for source in sources:
        if not source.enabled:
            total = total + summary(skipped={"poll:source_not_enabled": 1})
            continue
        result = poll_unless_disabled(settings, source, es=es)
        items.extend(result.items)
        total = total + result.summary
        say(f"polled {source.id}: {len(result.items)} new" + (f" ({result.error})" if result.error else ""))
    extracted = fetch_and_extract(settings, items, sources=sources)
    say(f"fetched {extracted.summary.count('fetched')}, extracted {len(extracted.articles)}")
    indexed = dedup_and_index(settings, list(extracted.articles), es=es)
    say(f"indexed {len(indexed.indexed)}")
    return total + extracted.summary + indexed.summary


def poll_unless_disabled(settings: Settings, source: Source, *,
                         es: Elasticsearch | None = None) -> PollResult:
    """``poll_source`` for a source that is not auto-disabled (a disabled one is counted, not polled)."""
    es = es if es is not None else store.connect(settings)
    state = load_states(es, settings, [source.id])[source.id]
    if state.disabled:
        return PollResult(source.id, (), state, summary(skipped={"poll:source_disabled": 1}),
                          state.disabled_reason)
    return poll_source(settings, source, es=es)


# ---- XCom helpers ----------------------------------------------------------------------------

def feed_item_from_dict(data: Mapping[str, Any]) -> FeedItem:
    values = dict(data)
    values["published_at"] = _date(values.get("published_at") or "")
    values["authors"], values["tags"] = tuple(values.get("authors", ())), tuple(values.get("tags", ()))
    return FeedItem(**values)


def article_from_dict(data: Mapping[str, Any]) -> Article:
    values = dict(data)
    for name in ("published_at", "fetched_at"):
        values[name] = _date(values.get(name) or "")
    for name in ("authors", "tags", "extraction_flags"):
        values[name] = tuple(values.get(name, ()))
    return Article(**values)


__all__ = ["ExtractResult", "IndexResult", "PollResult", "article_from_dict",
           "build_article", "dedup_and_index", "feed_item_from_dict", "fetch_and_extract", "poll_source",
           "poll_unless_disabled", "run_once"]
