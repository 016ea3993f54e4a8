"""Feed and sitemap parsing: bytes -> FeedItems with canonical links.

Why two parsers: RSS 0.9x/1.0/2.0, Atom and Media RSS are feedparser's job (it keeps what parses
of a malformed feed and says why in ``bozo_exception``); (news) sitemaps and sitemap indexes are
plain XML read here. Both refuse XML that declares entities before parsing anything: an
entity-expansion bomb ("billion laughs") is a reason, not a hang.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from xml.etree.ElementTree import Element, ParseError

import defusedxml.ElementTree as safe_et
import feedparser
import lxml.etree
import lxml.html
from defusedxml import DefusedXmlException
from lxml.etree import ParserError

from ingest import dates
from ingest.errors import PermanentError
from ingest.models import FeedItem
from ingest.urls import BadURL, canonicalize

MAX_SITEMAP_BYTES = 50 * 1024 * 1024  # the sitemaps.org limit for an uncompressed sitemap
GENERAL_ENTITY = re.compile(rb"<!ENTITY\s+(?!%)", re.IGNORECASE)
DOCTYPE = re.compile(rb"<!DOCTYPE[^>\[]*(\[.*?\]\s*)?>", re.IGNORECASE | re.DOTALL)


class FeedError(PermanentError):
    """The feed or sitemap cannot be used at all (bomb, not XML, not a feed)."""

    reason = "feed_error"


class MissingLink(PermanentError):
    """An entry without any usable link: nothing to fetch."""

    reason = "no_link"


@dataclass(frozen=True)
class ParsedFeed:
    """Items found, entries skipped by reason, why the document was malformed ("" if it was not),
    and for a sitemap index the child sitemaps to read."""

    items: tuple[FeedItem, ...]
    skipped: Mapping[str, int] = field(default_factory=dict)
    malformed: str = ""
    children: tuple[str, ...] = ()


def defuse(body: bytes, url: str) -> bytes:
    """The body without its DOCTYPE; ``FeedError(reason="xml_entities")`` if it declares general
    entities. Expanding declared entities is how XML bombs work and feeds never need them; a
    DOCTYPE that only names a public DTD (seen in real feeds) is dropped, so nothing is resolved."""
    probe = body.replace(b"\x00", b"")  # UTF-16/32 documents: scan their ASCII skeleton too
    if GENERAL_ENTITY.search(probe):
        raise FeedError(f"{url}: XML declares entities; refused as a possible entity-expansion bomb",
                        reason="xml_entities")
    return DOCTYPE.sub(b"", body, count=1) if b"\x00" not in body[:4] else body


def parse_feed(body: bytes, *, source_id: str, feed_url: str, content_type: str = "") -> ParsedFeed:
    """RSS/Atom/RDF bytes -> items; a malformed feed keeps what parses and records why."""
    body = defuse(body, feed_url)
    headers = {"content-type": content_type} if content_type else {}
    parsed = feedparser.parse(body, response_headers=headers, sanitize_html=False,
                              resolve_relative_uris=False)
    malformed = _bozo_reason(parsed)
    if not parsed.entries and not parsed.feed and malformed:
        raise FeedError(f"{feed_url}: not a usable feed: {malformed}", reason="malformed_xml")
    items, skipped = _collect(parsed.entries, lambda e: _entry_item(e, source_id, feed_url))
    return ParsedFeed(tuple(items), skipped, malformed)


def parse_sitemap(body: bytes, *, source_id: str, sitemap_url: str) -> ParsedFeed:
    """A (news) sitemap -> items, or a sitemap index -> ``children`` (newest first)."""
    body = _gunzip(body, sitemap_url)
    body = defuse(body, sitemap_url)
    root, malformed = _sitemap_root(body, sitemap_url)
    kind = _local(root.tag)
    if kind == "sitemapindex":
        return ParsedFeed((), {}, malformed, _children(root))
    if kind != "urlset":
        raise FeedError(f"{sitemap_url}: root element <{kind}> is not a sitemap", reason="not_a_sitemap")
    entries = [_child_texts(node) for node in root if _local(node.tag) == "url"]
    items, skipped = _collect(entries, lambda e: _sitemap_item(e, source_id, sitemap_url))
    return ParsedFeed(tuple(items), skipped, malformed)


def _collect(entries: Iterable[Any],
             build: Callable[[Any], FeedItem]) -> tuple[list[FeedItem], dict[str, int]]:
    """Build an item per entry, keeping good items and counting bad entries by reason."""
    items: list[FeedItem] = []
    skipped: Counter[str] = Counter()
    for entry in entries:
        try:
            items.append(build(entry))
        except (MissingLink, BadURL) as exc:
            skipped[exc.reason] += 1
    return items, dict(skipped)


def _bozo_reason(parsed: Any) -> str:
    if not parsed.get("bozo"):
        return ""
    exc = parsed.get("bozo_exception")
    return f"{type(exc).__name__}: {exc}" if exc else "malformed"


def _entry_item(entry: Any, source_id: str, feed_url: str) -> FeedItem:
    link = _entry_link(entry)
    summary = _plain(entry.get("summary", ""))
    content = " ".join(_plain(c.get("value", "")) for c in entry.get("content", []))
    return FeedItem(
        source_id=source_id, feed_url=feed_url, url=link, canonical_url=canonicalize(link),
        title=_plain(entry.get("title", "")), summary=content if len(content) > len(summary) else summary,
        published_at=_struct_time(entry.get("published_parsed") or entry.get("updated_parsed")),
        authors=tuple(a["name"] for a in entry.get("authors", []) if a.get("name")),
        tags=tuple(t["term"] for t in entry.get("tags", []) if t.get("term")),
    )


def _entry_link(entry: Any) -> str:
    candidates = [entry.get("link", "")]
    candidates += [link.get("href", "") for link in entry.get("links", []) if link.get("rel") == "alternate"]
    if entry.get("guidislink") or str(entry.get("id", "")).startswith(("http://", "https://")):
        candidates.append(entry.get("id", ""))
    for candidate in candidates:
        if candidate and candidate.strip().startswith(("http://", "https://")):
            return candidate.strip()
    raise MissingLink(f"entry {entry.get('title', '')[:60]!r} has no http(s) link")


def _struct_time(value: Any) -> datetime | None:
    """feedparser's UTC struct_time -> aware datetime (``None`` = the feed gave no date)."""
    return datetime(*value[:6], tzinfo=UTC) if value else None


def _plain(html: str) -> str:
    """Text of an HTML fragment (feed summaries carry markup)."""
    if not html or "<" not in html:
        return " ".join((html or "").split())
    try:
        text = lxml.html.fragment_fromstring(html, create_parent="div").text_content()
    except (ParserError, ValueError):
        text = html
    return " ".join(text.split())


def _gunzip(body: bytes, url: str) -> bytes:
    if not body.startswith(b"\x1f\x8b"):
        return body
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        data = inflater.decompress(body, MAX_SITEMAP_BYTES)
    except zlib.error as exc:
        raise FeedError(f"{url}: broken gzip", reason="bad_gzip") from exc
    if inflater.unconsumed_tail:
        raise FeedError(f"{url}: sitemap over {MAX_SITEMAP_BYTES} bytes uncompressed", reason="too_large")
    return data


def _sitemap_root(body: bytes, url: str) -> tuple[Any, str]:
    """Strictly parsed root, or lxml's recovered tree for malformed XML (never resolving entities)."""
    try:
        return safe_et.fromstring(body), ""
    except DefusedXmlException as exc:
        raise FeedError(f"{url}: XML with entities or DTD refused ({type(exc).__name__})",
                        reason="xml_entities") from exc
    except ParseError as exc:
        parser = lxml.etree.XMLParser(recover=True, resolve_entities=False, no_network=True,
                                      load_dtd=False, huge_tree=False)
        root = lxml.etree.fromstring(body, parser) if body.strip() else None
        if root is None:
            raise FeedError(f"{url}: not XML: {exc}", reason="malformed_xml") from exc
        return root, f"ParseError: {exc}"


def _local(tag: Any) -> str:
    return str(tag).rsplit("}", 1)[-1].lower() if isinstance(tag, str) else ""


def _child_texts(node: Element) -> dict[str, str]:
    """Leaf texts below ``node`` by local name (news:title, news:publication_date, loc ...)."""
    texts: dict[str, str] = {}
    for el in node.iter():
        if len(el) == 0:
            texts.setdefault(_local(el.tag), (el.text or "").strip())  # first <loc> wins over image:loc
    return texts


def _children(root: Element) -> tuple[str, ...]:
    entries = [_child_texts(node) for node in root if _local(node.tag) == "sitemap"]
    entries = [e for e in entries if e.get("loc")]
    entries.sort(key=lambda e: e.get("lastmod", ""), reverse=True)
    return tuple(e["loc"] for e in entries)


def _sitemap_item(entry: Mapping[str, str], source_id: str, sitemap_url: str) -> FeedItem:
    link = entry.get("loc", "")
    if not link:
        raise MissingLink(f"{sitemap_url}: <url> without <loc>")
    keywords = tuple(k.strip() for k in entry.get("keywords", "").split(",") if k.strip())
    return FeedItem(source_id=source_id, feed_url=sitemap_url, url=link, canonical_url=canonicalize(link),
                    title=entry.get("title", ""), tags=keywords,
                    published_at=_iso_date(entry.get("publication_date") or entry.get("lastmod", "")))


def _iso_date(value: str) -> datetime | None:
    """W3C datetime from a sitemap (YYYY, YYYY-MM, a day or a time); ``None`` when absent or
    unreadable (the date is optional)."""
    return dates.parse_iso(value)[0] if value else None

