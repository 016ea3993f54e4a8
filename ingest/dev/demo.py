"""A bundled demo news site served on loopback, so a newcomer sees the pipeline work offline.

Why generated at serve time: the manifest (``ingest/dev/data/demo/site.json``) names outlets and
articles; article texts are the seed reports (read from ``Settings.seeds_dir``, never copied into
the repository) or the short texts bundled in ``ingest/dev/data/demo/texts``. Variants make the
dedup tiers visible: ``wire`` republishes a report with a credit line (near-duplicate), ``copy``
puts the same text on another URL (exact duplicate), and the seeds themselves are two stories
told by several outlets. One outlet is broken on purpose, to show a failing source recorded.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from email.utils import format_datetime
from html import escape
from pathlib import Path
from typing import Any

import yaml

from ingest.dev.evaluation.server import LoopbackServer, Request, Route
from ingest.errors import ConfigError

DATA_DIR = Path(__file__).resolve().parent / "data" / "demo"
WIRE_CREDIT = "(الخبر منقول عن وكالة الأنباء الإقليمية، بتصرف)"
TITLE_WORDS = 12


@dataclass(frozen=True)
class Outlet:
    """One demo news site: a feed at ``/<path>/rss.xml``; ``broken`` = malformed | http_<code>."""

    id: str
    name: str
    path: str
    country: str = ""
    tags: tuple[str, ...] = ()
    broken: str = ""


@dataclass(frozen=True)
class DemoArticle:
    """One page of the demo site."""

    outlet: Outlet
    slug: str
    title: str
    paragraphs: tuple[str, ...]
    published: datetime

    @property
    def path(self) -> str:
        return f"/{self.outlet.path}/{self.slug}.html"


@dataclass(frozen=True)
class DemoSite:
    outlets: tuple[Outlet, ...]
    articles: tuple[DemoArticle, ...]

    def outlet_articles(self, outlet: Outlet) -> list[DemoArticle]:
        return [a for a in self.articles if a.outlet == outlet]


@dataclass(frozen=True)
class Response:
    status: int
    content_type: str
    body: bytes


def load_site(seeds_dir: Path, data_dir: Path = DATA_DIR) -> DemoSite:
    """Read the manifest and build every article (title + paragraphs) from its text."""
    manifest = json.loads((data_dir / "site.json").read_text(encoding="utf-8"))
    outlets = {o["path"]: Outlet(id=o["id"], name=o["name"], path=o["path"], country=o.get("country", ""),
                                 tags=tuple(o.get("tags", ())), broken=o.get("broken", ""))
               for o in manifest["outlets"]}
    articles = tuple(_article(entry, outlets, seeds_dir, data_dir) for entry in manifest["articles"])
    return DemoSite(outlets=tuple(outlets.values()), articles=articles)


def _article(entry: dict[str, str], outlets: dict[str, Outlet], seeds_dir: Path,
             data_dir: Path) -> DemoArticle:
    title, paragraphs = split_text(_read_text(entry["text"], seeds_dir, data_dir))
    outlet = outlets[entry["outlet"]]
    if entry["variant"] == "wire":
        paragraphs = (f"{outlet.name} - {paragraphs[0]}", *paragraphs[1:], WIRE_CREDIT)
    elif entry["variant"] not in ("original", "copy"):
        raise ConfigError(f"demo site.json: article {entry['slug']}: unknown variant {entry['variant']!r}")
    return DemoArticle(outlet=outlet, slug=entry["slug"], title=title, paragraphs=paragraphs,
                       published=datetime.fromisoformat(entry["published"]))


def _read_text(ref: str, seeds_dir: Path, data_dir: Path) -> str:
    """``seed:000`` -> the seed report whose file name starts with 000; ``demo:x`` -> texts/x.txt."""
    kind, _, name = ref.partition(":")
    if kind == "demo":
        return (data_dir / "texts" / f"{name}.txt").read_text(encoding="utf-8")
    matches = sorted(seeds_dir.glob(f"{name}_*.txt")) if kind == "seed" else []
    if not matches:
        raise ConfigError(f"demo site.json: text {ref!r} not found (seeds in {seeds_dir})")
    return matches[0].read_text(encoding="utf-8")


def split_text(text: str) -> tuple[str, tuple[str, ...]]:
    """Title and paragraphs: a first line followed by a blank line is a headline; otherwise the
    headline is the lead's first words (and the lead stays in the body)."""
    lines = [line.strip() for line in text.strip().splitlines()]
    paragraphs = tuple(line for line in lines if line)
    if len(lines) > 1 and not lines[1]:
        return paragraphs[0], paragraphs[1:]
    words = paragraphs[0].split()
    title = " ".join(words[:TITLE_WORDS]) + ("…" if len(words) > TITLE_WORDS else "")
    return title, paragraphs


def render(site: DemoSite, base_url: str, path: str) -> Response:
    """The response for one request path on the demo site."""
    if path == "/robots.txt":
        return Response(200, "text/plain; charset=utf-8", b"User-agent: *\nAllow: /\n")
    if path == "/":
        return Response(200, "text/html; charset=utf-8", _index_html(site, base_url).encode())
    for outlet in site.outlets:
        if path == f"/{outlet.path}/rss.xml":
            return _feed_response(site, outlet, base_url)
    for article in site.articles:
        if path == article.path:
            return Response(200, "text/html; charset=utf-8", article_html(article).encode())
    return Response(404, "text/plain; charset=utf-8", b"not found\n")


def _feed_response(site: DemoSite, outlet: Outlet, base_url: str) -> Response:
    if outlet.broken == "malformed":
        body = "<?xml version='1.0'?><rss version='2.0'><channel><title>معطل</title><item><title>"
        return Response(200, "application/rss+xml; charset=utf-8", body.encode())
    if outlet.broken.startswith("http_"):
        return Response(int(outlet.broken[5:]), "text/plain; charset=utf-8", b"broken on purpose\n")
    return Response(200, "application/rss+xml; charset=utf-8", feed_xml(site, outlet, base_url).encode())


def feed_xml(site: DemoSite, outlet: Outlet, base_url: str) -> str:
    """RSS 2.0 for one outlet, newest first, with absolute links under ``base_url``."""
    items = sorted(site.outlet_articles(outlet), key=lambda a: a.published, reverse=True)
    entries = "".join(
        f"<item><title>{escape(a.title)}</title><link>{escape(base_url + a.path)}</link>"
        f"<guid isPermaLink='true'>{escape(base_url + a.path)}</guid>"
        f"<pubDate>{format_datetime(a.published)}</pubDate>"
        f"<description>{escape(a.paragraphs[0][:300])}</description></item>"
        for a in items)
    return ("<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel>"
            f"<title>{escape(outlet.name)}</title><link>{escape(base_url)}/{outlet.path}/</link>"
            f"<language>ar</language><description>{escape(outlet.name)}</description>"
            f"{entries}</channel></rss>")


def article_html(article: DemoArticle) -> str:
    """A news page with the usual boilerplate around the article, for extraction to cut away."""
    body = "".join(f"<p>{escape(p)}</p>" for p in article.paragraphs)
    name = escape(article.outlet.name)
    return (f"<!doctype html><html lang='ar' dir='rtl'><head><meta charset='utf-8'>"
            f"<title>{escape(article.title)} | {name}</title>"
            f"<meta property='og:site_name' content='{name}'>"
            f"<meta property='article:published_time' content='{article.published.isoformat()}'>"
            f"</head><body><header><nav><a href='/'>الرئيسية</a> <a href='/'>سياسة</a> "
            f"<a href='/'>اقتصاد</a></nav></header><main><article><h1>{escape(article.title)}</h1>"
            f"<time datetime='{article.published.isoformat()}'></time>{body}</article></main>"
            f"<footer><p>جميع الحقوق محفوظة © {name}</p></footer></body></html>")


def _index_html(site: DemoSite, base_url: str) -> str:
    links = "".join(f"<li><a href='{base_url}/{o.path}/rss.xml'>{escape(o.name)}</a></li>"
                    for o in site.outlets)
    return f"<!doctype html><html lang='ar' dir='rtl'><body><ul>{links}</ul></body></html>"


def sources(site: DemoSite, base_url: str) -> list[dict[str, Any]]:
    """The demo outlets as entries of a sources file (the ``ingest.config.Source`` fields)."""
    return [{"id": o.id, "name": o.name, "url": f"{base_url}/{o.path}/rss.xml", "kind": "feed",
             "lang": "ar", "country": o.country, "tags": list(o.tags), "enabled": True}
            for o in site.outlets]


def write_sources(site: DemoSite, base_url: str, path: Path) -> Path:
    """Write the demo sources file (YAML) pointing at a running demo server."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump({"sources": sources(site, base_url)}, allow_unicode=True,
                                   sort_keys=False), encoding="utf-8")
    return path


def demo_server(site: DemoSite, host: str = "127.0.0.1", port: int = 0) -> LoopbackServer:
    """The demo site on a loopback server: every path is rendered from ``site``."""
    server = LoopbackServer(host=host, port=port)

    def handle(request: Request) -> Route:
        response = render(site, server.base_url, request.path.split("?")[0])
        return Route(response.status, {"Content-Type": response.content_type}, response.body)

    server.default = handle
    return server


__all__ = ["demo_server", "load_site", "render", "sources", "split_text", "write_sources"]
