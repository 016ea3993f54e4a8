"""Plain data passed between stages: FeedItem -> Page -> Article (-> dedup Decision -> document).

Why frozen dataclasses: stages stay pure functions over values; every value serialises to JSON
(Airflow XCom, the WARC side-car, test fixtures) through ``to_json_dict`` without pickling.
"""

from __future__ import annotations

import dataclasses
import hashlib
from datetime import datetime
from typing import Any


def doc_id_for(canonical_url: str) -> str:
    """Stable document id: the same canonical URL gives the same id on every worker and run."""
    return hashlib.sha256(canonical_url.encode("utf-8")).hexdigest()[:32]


@dataclasses.dataclass(frozen=True)
class FeedItem:
    """One entry found in a feed or sitemap, link already canonicalised."""

    source_id: str
    feed_url: str
    url: str
    canonical_url: str
    title: str = ""
    summary: str = ""
    published_at: datetime | None = None
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()

    @property
    def doc_id(self) -> str:
        return doc_id_for(self.canonical_url)


@dataclasses.dataclass(frozen=True)
class Page:
    """A fetched article page, decoded to text with the charset that was detected."""

    item: FeedItem
    final_url: str
    status: int
    content_type: str
    encoding: str
    html: str
    fetched_at: datetime


@dataclasses.dataclass(frozen=True)
class Article:
    """Extracted article, ready for dedup and indexing."""

    doc_id: str
    url: str
    canonical_url: str
    source_id: str
    source_name: str
    domain: str
    feed: str
    title: str
    body: str
    lang: str = ""
    country: str = ""
    description: str = ""
    summary: str = ""
    site_name: str = ""
    authors: tuple[str, ...] = ()
    tags: tuple[str, ...] = ()
    image: str = ""
    published_at: datetime | None = None
    # Which evidence gave published_at: structured|visible|htmldate|url|feed|fetched (ingest.dates).
    date_source: str = ""
    fetched_at: datetime | None = None
    extraction_method: str = ""
    extraction_flags: tuple[str, ...] = ()


def to_json_dict(value: Any) -> Any:
    """JSON-ready form of a dataclass (datetimes as ISO 8601, tuples as lists)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_json_dict(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, (list, tuple)):
        return [to_json_dict(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json_dict(v) for k, v in value.items()}
    return value
