"""Search and top stories: the one query path of `ingest search`, `ingest stories top` and the reading room.

Why one module: the terminal, the web reading room and the alert rules must find the same articles
for the same words. Queries use the rules' syntax (Elasticsearch ``query_string``: AND / OR / NOT,
"phrases", "phrase"~N proximity, grouping) over the same Arabic-analysed fields, and the results
are plain frozen dataclasses that each front end renders (and escapes) in its own way.
Highlights carry neutral sentinels (``MARK_ON`` / ``MARK_OFF``) rather than HTML or terminal markup.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import elastic_transport
from elasticsearch import ApiError, Elasticsearch

from ingest.errors import ConfigError, StoreError, StoreUnavailable

MARK_ON, MARK_OFF = "\u0002", "\u0003"
FIELDS = ("title^3", "title.exact^4", "body", "body.exact^1.5", "description", "summary")
SOURCE_FIELDS = ("title", "url", "source", "sources", "published_at", "indexed_at", "lang",
                 "duplicate_of", "story_id", "dedup")
_DURATION = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$")
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class BadQuery(ConfigError):
    """A query or a date bound the search cannot use (the CLI exits 2, the web answers 400)."""

    reason = "bad_query"


def parse_when(text: str, *, now: datetime, what: str = "date") -> datetime:
    """``24h`` / ``7d`` / ``30m`` / ``2w`` before ``now``, ``today``, ``yesterday``, or ISO 8601."""
    value = text.strip().lower()
    if match := _DURATION.match(value):
        return now - timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    midnight = now.astimezone(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    if value in ("today", "yesterday"):
        return midnight - timedelta(days=1 if value == "yesterday" else 0)
    try:
        parsed = datetime.fromisoformat(value) if "t" in value or ":" in value else None
        if parsed is None:
            day = date.fromisoformat(value)
            parsed = datetime(day.year, day.month, day.day)
    except ValueError as exc:
        raise BadQuery(f"{what}: cannot read {text!r}; use an ISO date (2026-11-30), an ISO datetime, "
                       "today, yesterday, or a duration such as 24h, 7d, 30m, 2w") from exc
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@dataclass(frozen=True)
class SearchRequest:
    """What a reader asked for; ``include_copies`` lists copies as hits of their own."""

    text: str
    sources: tuple[str, ...] = ()
    lang: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    include_copies: bool = False
    size: int = 10
    offset: int = 0


@dataclass(frozen=True)
class SearchHit:
    """One matching article; ``title_marked`` / ``fragments`` hold MARK sentinels around matches."""

    doc_id: str
    score: float
    title: str
    title_marked: str
    url: str
    source_id: str
    source_name: str
    published_at: str | None
    lang: str
    story_id: str
    duplicate_of: str | None
    fragments: tuple[str, ...]
    carried_by: tuple[str, ...] = ()  # other outlets with this text (exact merges + near copies)
    dedup: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchResult:
    total: int
    hits: tuple[SearchHit, ...]


@dataclass(frozen=True)
class StorySummary:
    """A story in a time window, ranked by how many outlets carried it."""

    story_id: str
    outlets: int
    articles: int
    headline: str
    first_publisher: str
    first_url: str
    first_seen: str | None
    latest_update: str | None


@dataclass(frozen=True)
class ArticleRef:
    """What a listing needs to name an article: headline, outlet name, URL."""

    doc_id: str
    title: str
    url: str
    source_id: str
    source_name: str


def json_record(value: SearchHit | StorySummary | ArticleRef) -> dict[str, Any]:
    """The one JSON shape of a result (``--json`` lines and the reading room's /api/ alike)."""
    return asdict(value)


def articles_by_id(es: Elasticsearch, index: str, ids: Sequence[str]) -> dict[str, ArticleRef]:
    """Headline, outlet and URL of each id found (one mget; unknown ids are left out)."""
    wanted = list(dict.fromkeys(i for i in ids if i))
    if not wanted:
        return {}
    try:
        resp = es.mget(index=index, ids=wanted, source=["title", "url", "source"])
    except (elastic_transport.ConnectionError, elastic_transport.ConnectionTimeout) as exc:
        raise StoreUnavailable(f"mget on {index}: unreachable ({type(exc).__name__})") from exc
    except ApiError as exc:
        raise StoreError(f"mget on {index} failed: {exc.message}") from exc
    found = {}
    for doc in resp["docs"]:
        if doc.get("found"):
            src = doc["_source"]
            source = src.get("source") or {}
            found[doc["_id"]] = ArticleRef(doc["_id"], src.get("title", ""), src.get("url", ""),
                                           source.get("id", ""), source.get("name") or source.get("id", ""))
    return found


def build_query(req: SearchRequest) -> dict[str, Any]:
    """The request body: the rules' query_string over analysed + exact fields, filters, highlighting."""
    filters: list[dict[str, Any]] = []
    if not req.include_copies:
        filters.append({"bool": {"must_not": {"exists": {"field": "duplicate_of"}}}})
    if req.sources:
        filters.append({"terms": {"source.id": list(req.sources)}})
    if req.lang:
        filters.append({"term": {"lang": req.lang}})
    bounds = {k: v.isoformat() for k, v in (("gte", req.since), ("lt", req.until)) if v is not None}
    if bounds:
        filters.append({"range": {"published_at": bounds}})
    text = {"query_string": {"query": req.text, "fields": list(FIELDS), "default_operator": "OR",
                             "allow_leading_wildcard": False}}
    return {
        "query": {"bool": {"must": [text], "filter": filters}},
        "highlight": {"fields": {"body": {"fragment_size": 160, "number_of_fragments": 2},
                                 "title": {"number_of_fragments": 0}},
                      "pre_tags": [MARK_ON], "post_tags": [MARK_OFF]},
        "_source": list(SOURCE_FIELDS),
    }


def search(es: Elasticsearch, index: str, req: SearchRequest) -> SearchResult:
    """Ranked hits for ``req``; each original says which other outlets carried its text."""
    resp = _call(es, index, size=req.size, from_=req.offset, **build_query(req))
    raw = resp["hits"]["hits"]
    copies = _copy_outlets(es, index, [h["_id"] for h in raw]) if raw else {}
    hits = tuple(_hit(h, copies.get(h["_id"], set())) for h in raw)
    return SearchResult(int(resp["hits"]["total"]["value"]), hits)


def _copy_outlets(es: Elasticsearch, index: str, ids: Sequence[str]) -> dict[str, set[str]]:
    """Sources of the copies of each id (documents whose ``duplicate_of`` is that id): one query."""
    aggs = {"originals": {"terms": {"field": "duplicate_of", "size": len(ids)},
                          "aggs": {"outlets": {"terms": {"field": "sources", "size": 100}}}}}
    query = {"terms": {"duplicate_of": list(ids)}}
    resp = _call(es, index, size=0, query=query, aggs=aggs)
    return {b["key"]: {o["key"] for o in b["outlets"]["buckets"]}
            for b in resp["aggregations"]["originals"]["buckets"]}


def _hit(raw: Mapping[str, Any], copy_outlets: set[str]) -> SearchHit:
    src, marks = raw["_source"], raw.get("highlight", {})
    source = src.get("source") or {}
    own = source.get("id", "")
    carried = sorted((set(src.get("sources") or []) | copy_outlets) - {own})
    return SearchHit(
        doc_id=raw["_id"], score=float(raw.get("_score") or 0.0), title=src.get("title", ""),
        title_marked=(marks.get("title") or [src.get("title", "")])[0], url=src.get("url", ""),
        source_id=own, source_name=source.get("name", own), published_at=src.get("published_at"),
        lang=src.get("lang", ""), story_id=src.get("story_id") or raw["_id"],
        duplicate_of=src.get("duplicate_of"),
        fragments=tuple(" ".join(f.split()) for f in marks.get("body", [])),
        carried_by=tuple(carried), dedup=src.get("dedup") or {})


def top_stories(es: Elasticsearch, index: str, *, since: datetime, until: datetime | None = None,
                size: int = 10) -> tuple[StorySummary, ...]:
    """Stories with articles in [since, until), by number of outlets, then articles, then id."""
    window = {"gte": since.isoformat(), **({"lt": until.isoformat()} if until else {})}
    query = {"bool": {"should": [{"range": {f: window}} for f in ("published_at", "indexed_at")],
                      "minimum_should_match": 1}}
    aggs = {"stories": {
        "terms": {"field": "story_id", "size": size, "order": [{"outlets": "desc"}, {"_count": "desc"},
                                                                {"_key": "asc"}]},
        "aggs": {"outlets": {"cardinality": {"field": "sources"}},
                 "first": {"top_hits": {"size": 1, "sort": [{"published_at": {"order": "asc",
                                                                               "missing": "_last"}},
                                                             {"indexed_at": "asc"}],
                                        "_source": ["title", "url", "source", "published_at", "indexed_at"]}},
                 "latest_published": {"max": {"field": "published_at"}},
                 "latest_indexed": {"max": {"field": "indexed_at"}}}}}
    resp = _call(es, index, size=0, query=query, aggs=aggs)
    return tuple(_story(b) for b in resp["aggregations"]["stories"]["buckets"])


def _story(bucket: Mapping[str, Any]) -> StorySummary:
    first = bucket["first"]["hits"]["hits"][0]["_source"]
    latest = (bucket["latest_published"].get("value_as_string")
              or bucket["latest_indexed"].get("value_as_string"))
    return StorySummary(
        story_id=bucket["key"], outlets=int(bucket["outlets"]["value"]), articles=int(bucket["doc_count"]),
        headline=first.get("title", ""), first_publisher=(first.get("source") or {}).get("name", ""),
        first_url=first.get("url", ""),
        first_seen=_stamp(first.get("published_at") or first.get("indexed_at")), latest_update=_stamp(latest))


def _stamp(value: str | None) -> str | None:
    """One form for every time a story summary shows (ISO 8601, UTC offset, no zero milliseconds):
    the first article's is its stored text, the latest an aggregation's (``...T07:45:00.000Z``)."""
    if not value:
        return None
    at = datetime.fromisoformat(value)
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(UTC).isoformat()


def outlets(es: Elasticsearch, index: str, *, size: int = 1000) -> dict[str, str]:
    """Every outlet with indexed articles, id -> display name (filter lists, story pages)."""
    aggs = {"ids": {"terms": {"field": "source.id", "size": size, "order": {"_key": "asc"}},
                    "aggs": {"names": {"terms": {"field": "source.name", "size": 1}}}}}
    resp = _call(es, index, size=0, aggs=aggs)
    return {b["key"]: (b["names"]["buckets"] or [{"key": b["key"]}])[0]["key"]
            for b in resp["aggregations"]["ids"]["buckets"]}


def marked_segments(fragment: str) -> list[tuple[str, bool]]:
    """A highlighted fragment as (text, is_match) pieces, for a front end to escape and style."""
    parts = re.split(f"[{MARK_ON}{MARK_OFF}]", fragment)
    return [(part, n % 2 == 1) for n, part in enumerate(parts) if part]


def _call(es: Elasticsearch, index: str, **kwargs: Any) -> Any:
    """One search call with errors translated: unreachable -> StoreUnavailable, refused query -> BadQuery."""
    try:
        return es.search(index=index, **kwargs)
    except (elastic_transport.ConnectionError, elastic_transport.ConnectionTimeout) as exc:
        raise StoreUnavailable(f"search on {index}: unreachable ({type(exc).__name__})") from exc
    except ApiError as exc:
        if exc.meta.status == 400:
            raise BadQuery(f"the query was refused: {_cause(exc)}") from exc
        if exc.meta.status == 404:
            raise StoreError(f"search on {index}: no such index (run `ingest es init`)") from exc
        raise StoreError(f"search on {index} failed: {exc.message}") from exc


def _cause(exc: ApiError) -> str:
    """The parser's own words (first shard failure's root cause), one line."""
    error = exc.info.get("error", {}) if isinstance(exc.info, dict) else {}
    error = error if isinstance(error, dict) else {}
    shards = error.get("failed_shards") or []
    start = (shards[0].get("reason") or {}) if shards else error
    cause = start.get("caused_by") or start
    return str(cause.get("reason") or exc.message).splitlines()[0]


__all__ = ["FIELDS", "MARK_OFF", "MARK_ON", "ArticleRef", "BadQuery", "SearchHit", "SearchRequest",
           "SearchResult", "StorySummary", "articles_by_id", "build_query", "json_record", "marked_segments",
           "outlets", "parse_when", "search", "top_stories"]
