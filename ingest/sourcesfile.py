"""Managing the sources file like an RSS reader: add a feed (or a homepage's feed), OPML in and out.

Why here: the file is edited by hand too, so it is written with ruamel.yaml's round trip (comments,
order and quoting kept). Discovery fetches with our own ``Fetcher`` (polite, SSRF-guarded) and hands
the HTML to trafilatura's feed finder, which would otherwise fetch on its own.
OPML is read with listparser and written with the standard library's ElementTree.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit
from xml.etree import ElementTree as ET

from ingest.config import Source, load_sources
from ingest.errors import ConfigError
from ingest.settings import Settings

if TYPE_CHECKING:
    from ingest.fetch import Fetched

_NOT_ID = re.compile(r"[^a-z0-9_.-]+")


def source_id_for(url: str, taken: Iterable[str] = ()) -> str:
    """A readable, unused id from the URL's host: ``https://www.aljazeera.net/rss`` -> ``aljazeera.net``."""
    host = (urlsplit(url).hostname or "source").removeprefix("www.")
    base = _NOT_ID.sub("-", host.lower()).strip("-.")[:60] or "source"
    used, candidate, n = set(taken), base, 2
    while candidate in used:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def discover_feeds(settings: Settings, url: str) -> tuple[list[str], str]:
    """(feed URLs, title): ``url`` itself if it is a feed, else the feeds its HTML page links to."""
    import feedparser
    from trafilatura.feeds import FeedParameters, determine_feed

    fetched = asyncio.run(_fetch(settings, url))
    parsed = feedparser.parse(fetched.body)
    if parsed.version:  # RSS / Atom / RDF: the URL is the feed
        return [url], str(parsed.feed.get("title", "") or "")
    page = fetched.body.decode("utf-8", errors="replace")
    base = fetched.final_url or url
    host = urlsplit(base).hostname or ""
    title = re.search(r"<title[^>]*>(.*?)</title>", page, re.S | re.I)
    found = determine_feed(page, FeedParameters(base, host, base))
    return found, " ".join(title.group(1).split()) if title else ""


async def _fetch(settings: Settings, url: str) -> Fetched:
    from ingest.fetch import Fetcher

    async with Fetcher(settings) as fetcher:
        return await fetcher.get(url, accept=[*settings.fetch.feed_content_types,
                                              *settings.fetch.html_content_types])


def append_source(path: Path, source: Source) -> None:
    """Append ``source`` to the YAML list at ``path``, keeping its comments; refuse a duplicate id/URL."""
    from ruamel.yaml import YAML

    existing = load_sources(path) if path.exists() else []
    for s in existing:
        if s.id == source.id or s.url == source.url:
            raise ConfigError(f"{path}: {source.url} is already listed as {s.id!r}")
    yaml = YAML()
    yaml.preserve_quotes = True
    data = yaml.load(path.read_text(encoding="utf-8")) if path.exists() else None
    entries = data.get("sources") if hasattr(data, "get") else data
    if entries is None:
        data = entries = []
    entry = {"id": source.id, "name": source.name, "url": source.url}
    entry.update({k: v for k, v in (("kind", source.kind), ("lang", source.lang), ("country", source.country))
                  if v and v != Source.model_fields[k].default})
    if source.tags:
        entry["tags"] = list(source.tags)
    if not source.enabled:
        entry["enabled"] = False
    entries.append(entry)
    with path.open("w", encoding="utf-8") as out:
        yaml.dump(data, out)


def read_opml(path: Path, taken: Iterable[str] = ()) -> tuple[list[Source], list[str]]:
    """(sources, problems) from an OPML file: each feed outline, named by its title."""
    import listparser

    parsed = listparser.parse(path.read_text(encoding="utf-8"))
    if parsed.bozo and not parsed.feeds:
        raise ConfigError(f"{path}: not a readable OPML file ({parsed.bozo_exception})")
    used, sources, problems = set(taken), [], []
    for feed in parsed.feeds:
        sid = source_id_for(feed.url, used)
        tags = tuple(dict.fromkeys(c for cat in feed.categories for c in cat if c))
        try:
            source = Source(id=sid, name=feed.title or sid, url=feed.url, tags=tags)
        except ValueError as exc:
            problems.append(f"{feed.url!r}: {' '.join(str(exc).split())}")
            continue
        used.add(sid)
        sources.append(source)
    return sources, problems


def write_opml(sources: Iterable[Source], title: str = "Arabic news sources") -> bytes:
    """OPML 2.0 with one ``rss`` outline per feed (sitemaps are not feeds: left out)."""
    root = ET.Element("opml", version="2.0")
    ET.SubElement(ET.SubElement(root, "head"), "title").text = title
    body = ET.SubElement(root, "body")
    for s in sources:
        if s.kind != "feed":
            continue
        attrs = {"type": "rss", "text": s.name, "title": s.name, "xmlUrl": s.url}
        if s.tags:
            attrs["category"] = ",".join(s.tags)
        ET.SubElement(body, "outline", attrs)
    ET.indent(root)
    return ET.tostring(root, encoding="utf-8", xml_declaration=True)
