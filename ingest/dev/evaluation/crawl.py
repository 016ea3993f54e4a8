"""``ingest eval crawl``: the whole pipeline over the real fixture feeds and pages, on loopback.

What is measured: every real feed in ``feeds/`` is served and polled (parse coverage, malformed
reasons); every real page in ``pages/`` is listed in a generated feed and goes through the full
chain (poll -> fetch -> decode -> extract -> dedup -> index) into a throw-away index prefix.
Reported: coverage (items -> fetched -> extracted -> indexed), failures by reason, and Arabic text
integrity of what was indexed (no mojibake, Arabic-script share). Feed items pointing at the real
web are never fetched: all traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Iterator
from email.utils import format_datetime
from pathlib import Path
from xml.sax.saxutils import escape

from elasticsearch import Elasticsearch

from ingest import pipeline, store
from ingest.charset import arabic_share, mojibake_count
from ingest.config import Source
from ingest.dev.evaluation.server import LoopbackServer, Route
from ingest.errors import ConfigError
from ingest.models import Article
from ingest.settings import Settings
from ingest.summary import RunSummary

ARABIC_DIRS = ("arabic", "encoding")
MIN_ARABIC_SHARE = 0.9


def page_files(pages: Path) -> Iterator[Path]:
    """Real article pages (source pages, not the expected outputs)."""
    for path in sorted(pages.rglob("*")):
        name = path.name
        if path.is_file() and (name.endswith((".html", ".html.gz"))) and not name.startswith("expected"):
            yield path


def routes_for(root: Path) -> dict[str, Route]:
    """``/pages/...`` (gzip files with Content-Encoding, no charset declared) and ``/feeds/...``."""
    routes: dict[str, Route] = {}
    for path in page_files(root / "pages"):
        rel = path.relative_to(root).as_posix().removesuffix(".gz")
        headers = {"Content-Type": "text/html"}
        if path.name.endswith(".gz"):
            headers["Content-Encoding"] = "gzip"
        routes[f"/{rel}"] = Route(200, headers, path.read_bytes())
    for path in sorted((root / "feeds").rglob("*.xml")):
        routes[f"/{path.relative_to(root).as_posix()}"] = Route(200, {"Content-Type": "application/xml"},
                                                                 path.read_bytes())
    routes["/robots.txt"] = Route(200, {"Content-Type": "text/plain"}, b"User-agent: *\nAllow: /\n")
    return routes


def pages_feed(base: str, paths: list[str]) -> bytes:
    """An RSS feed listing every page (what a news site's feed would be)."""
    from datetime import UTC, datetime

    stamp = format_datetime(datetime(2024, 1, 1, tzinfo=UTC))
    items = "".join(f"<item><title>{escape(p.rsplit('/', 2)[-2])}</title><link>{escape(base + p)}</link>"
                    f"<pubDate>{stamp}</pubDate></item>" for p in paths)
    return (f'<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>fixture pages</title>'
            f"{items}</channel></rss>").encode()


def evaluate(settings: Settings, root: Path) -> list[str]:
    """Run the crawl evaluation and return the report lines."""
    if not (root / "pages").is_dir() or not (root / "feeds").is_dir():
        raise ConfigError(f"{root}: expected feeds/ and pages/ folders (Settings.fixtures_dir)")
    cfg = settings.changed(es={"index_prefix": f"evalcrawl{uuid.uuid4().hex[:8]}"},
                           fetch={"allowed_networks": ["127.0.0.1/32"],
                                  "per_host_delay": 0.0,
                                  "per_host_concurrency": 4},
                           poll={"max_failures": 1000})
    es = store.connect(cfg)
    store.apply_templates(es, cfg)
    try:
        with LoopbackServer(routes_for(root)) as server:
            return _run(es, cfg, server)
    finally:
        store.drop_prefix(es, cfg.es.index_prefix)


def _run(es: Elasticsearch, cfg: Settings, server: LoopbackServer) -> list[str]:
    base = server.url("").rstrip("/")
    page_paths = sorted(p for p in server.routes if p.startswith("/pages/"))
    server.routes["/pages-feed.xml"] = Route(200, {"Content-Type": "application/rss+xml"},
                                             pages_feed(base, page_paths))
    feed_lines = _poll_real_feeds(cfg, es, server)
    pages = Source(id="fixture-pages", name="fixture pages", url=f"{base}/pages-feed.xml", lang="ar")
    poll = pipeline.poll_source(cfg, pages, es=es)
    extracted = pipeline.fetch_and_extract(cfg, list(poll.items), sources=[pages])
    indexed = pipeline.dedup_and_index(cfg, list(extracted.articles), es=es)
    total = poll.summary + extracted.summary + indexed.summary
    return [*feed_lines, *_coverage(total, len(page_paths)),
            *_integrity(list(extracted.articles), set(indexed.indexed))]


def _poll_real_feeds(cfg: Settings, es: Elasticsearch, server: LoopbackServer) -> list[str]:
    """Poll every real feed once (their items link to the real web and are not fetched)."""
    total, malformed = RunSummary(), Counter[str]()
    paths = sorted(p for p in server.routes if p.startswith("/feeds/"))
    for n, path in enumerate(paths):
        source = Source(id=f"feed-{n}", name=path, url=server.url(path), lang="ar")
        result = pipeline.poll_source(cfg, source, es=es)
        total = total + result.summary
        if result.state.last_error and not result.error:
            malformed[result.state.last_error.split(":")[0]] += 1
    lines = [f"feeds: {len(paths)} real feeds polled on loopback; parsed "
             f"{len(paths) - total.count('sources_failed')}, refused {total.count('sources_failed')}; "
             f"items found {total.count('items_seen')} (links to the real web: not fetched)"]
    lines += [f"  refused {reason}: {n}" for reason, n in sorted(total.failed.items())]
    lines += [f"  kept what parses despite {reason}: {n}" for reason, n in sorted(malformed.items())]
    lines += [f"  skipped entries {reason}: {n}" for reason, n in sorted(total.skipped.items())
              if reason != "poll:known"]
    return lines


def _coverage(total: RunSummary, pages: int) -> list[str]:
    if not pages:
        return ["pages: none"]
    lines = [f"pages: {pages} real pages -> items {total.count('items_seen')} -> fetched "
             f"{total.count('fetched')} -> extracted {total.count('extracted')} -> indexed "
             f"{total.count('indexed')} (coverage {total.count('indexed') / pages:.1%})"]
    lines += [f"  failed {reason}: {n}" for reason, n in sorted(total.failed.items())]
    return lines


def _integrity(articles: list[Article], indexed: set[str]) -> list[str]:
    """Arabic-script pages: indexed text without mojibake and mostly Arabic script."""
    arabic = [a for a in articles if any(f"/pages/{d}/" in a.url for d in ARABIC_DIRS)]
    clean = [a for a in arabic if mojibake_count(a.title + a.body) == 0
             and arabic_share(a.body) >= MIN_ARABIC_SHARE and a.doc_id in indexed]
    lines = [f"arabic text integrity: {len(clean)}/{len(arabic)} Arabic-script pages indexed clean "
             f"(no mojibake, Arabic-script share >= {MIN_ARABIC_SHARE})"]
    for article in arabic:
        flags = ",".join(f for f in article.extraction_flags if f.startswith("charset"))
        lines.append(f"  {article.url.split('/pages/')[-1]:<58} {article.extraction_method:<13} {flags:<18} "
                     f"mojibake={mojibake_count(article.title + article.body)} "
                     f"arabic={arabic_share(article.body):.2f} chars={len(article.body)}")
    return lines
