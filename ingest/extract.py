"""Article extraction: an ordered list of small extractors and a selector with named thresholds.

Why a chain: trafilatura is the best single extractor on the ScrapingHub benchmark, but on some
pages it keeps too little; readability-lxml then often finds the body, and when both fail the
feed's own summary is better than nothing. Each extractor returns the same ``Candidate``; the
selector takes the first one that clears its threshold and records which method won, so the
choice is auditable and measurable (``ingest eval extraction``). Extractors are registered by
name (``REGISTRY``); a source may name one (a per-site CSS rule) to run before the default chain.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import lxml.html
import trafilatura
from lxml.etree import ParserError
from readability import Document

from ingest.charset import arabic_share
from ingest.errors import ConfigError, PermanentError
from ingest.models import FeedItem

log = logging.getLogger(__name__)

# Named thresholds of the selector (characters of extracted text).
MIN_BODY_CHARS = 250       # below this an extractor "returned too little"
MIN_SUMMARY_CHARS = 40     # a feed summary shorter than this is not an article
ARABIC_LANG_SHARE = 0.6    # share of Arabic letters that makes an untagged text Arabic


class ExtractionFailed(PermanentError):
    """No extractor produced usable text."""

    reason = "extract_empty"


@dataclass(frozen=True)
class Candidate:
    """What one extractor found. Metadata fields are "" when the extractor did not find them."""

    method: str
    text: str
    title: str = ""
    authors: tuple[str, ...] = ()
    date: str = ""
    site_name: str = ""
    lang: str = ""
    tags: tuple[str, ...] = ()
    image: str = ""
    description: str = ""


Extractor = Callable[[str, str, FeedItem | None], Candidate]


def from_trafilatura(html: str, url: str, item: FeedItem | None = None) -> Candidate:
    """Main text and metadata with trafilatura (precision-leaning, no comments)."""
    doc = trafilatura.bare_extraction(html, url=url or None, with_metadata=True, include_comments=False,
                                      include_tables=True)
    if doc is None:
        raise ExtractionFailed(f"trafilatura found no text in {url}", reason="trafilatura_empty")
    meta = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    return Candidate(
        method="trafilatura", text=(meta.get("text") or "").strip(), title=meta.get("title") or "",
        authors=_split_authors(meta.get("author") or ""), date=meta.get("date") or "",
        site_name=meta.get("sitename") or "", lang=meta.get("language") or "",
        tags=tuple(dict.fromkeys([*(meta.get("categories") or []), *(meta.get("tags") or [])])),
        image=meta.get("image") or "", description=meta.get("description") or "")


def from_readability(html: str, url: str, item: FeedItem | None = None) -> Candidate:
    """readability-lxml's main block, flattened to paragraphs."""
    try:
        document = Document(html, url=url or None)
        summary_html = document.summary(html_partial=True)
        title = document.short_title()
    except (ParserError, ValueError, TypeError) as exc:
        raise ExtractionFailed(f"readability could not parse {url}: {exc}",
                               reason="readability_error") from exc
    return Candidate(method="readability", text=html_to_text(summary_html), title=title or "")


def from_feed(html: str, url: str, item: FeedItem | None = None) -> Candidate:
    """The feed entry's own summary/content: last resort, marked as such."""
    if item is None:
        raise ExtractionFailed("no feed entry to fall back to", reason="no_feed_summary")
    return Candidate(method="feed_summary", text=item.summary, title=item.title, authors=item.authors,
                     tags=item.tags)


@dataclass(frozen=True)
class CssRule:
    """A per-site extractor (the way Fundus keeps one parser per publisher): CSS selectors for the
    body and the title; ``drop`` removes nodes (share bars, related links) inside the body first.

    Why: for a site whose layout is known, a two-line rule is exact where the generic extractors
    guess; when the site changes its layout the selector stops matching and the chain falls back.
    """

    name: str
    body: str
    title: str = "h1"
    drop: tuple[str, ...] = ()

    def __call__(self, html: str, url: str, item: FeedItem | None = None) -> Candidate:
        try:
            root = lxml.html.fromstring(html)
        except (ParserError, ValueError) as exc:
            raise ExtractionFailed(f"{self.name}: cannot parse {url}: {exc}",
                                   reason="css_rule_error") from exc
        nodes = root.cssselect(self.body)
        if not nodes:
            raise ExtractionFailed(f"{self.name}: no {self.body!r} in {url}", reason="css_rule_no_match")
        for node in nodes:
            for bad in node.cssselect(", ".join(self.drop)) if self.drop else ():
                bad.drop_tree()
        text = "\n".join(html_to_text(lxml.html.tostring(n, encoding="unicode")) for n in nodes)
        titles = root.cssselect(self.title) if self.title else []
        title = " ".join(titles[0].text_content().split()) if titles else ""
        return Candidate(method=self.name, text=text, title=title)


# The registry: name -> (extractor, minimum characters). Sources name an entry in the sources YAML
# (``extractor: lbcgroup``); it then runs before the default chain, which stays the fallback.
REGISTRY: dict[str, tuple[Extractor, int]] = {
    "trafilatura": (from_trafilatura, MIN_BODY_CHARS),
    "readability": (from_readability, MIN_BODY_CHARS),
    "feed_summary": (from_feed, MIN_SUMMARY_CHARS),
    # LBC Group (Lebanon): the article text is the one div.LongDesc (fundus' LBCGroupParser, V1).
    "lbcgroup": (CssRule("css:lbcgroup", body="div.LongDesc", title="h1"), MIN_SUMMARY_CHARS),
}
DEFAULT_CHAIN = ("trafilatura", "readability", "feed_summary")


def chain_for(extractor: str = "") -> tuple[tuple[Extractor, int], ...]:
    """The chain for a source: its named extractor (if any) first, then the default chain."""
    if extractor and extractor not in REGISTRY:
        raise ConfigError(f"unknown extractor {extractor!r} (registered: {', '.join(sorted(REGISTRY))})")
    names = ((extractor,) if extractor and extractor not in DEFAULT_CHAIN else ()) + DEFAULT_CHAIN
    return tuple(REGISTRY[name] for name in names)


def select(html: str, url: str, item: FeedItem | None = None,
           chain: Sequence[tuple[Extractor, int]] | None = None) -> Candidate:
    """First candidate over its threshold, in chain order, with metadata filled from those tried.

    A later extractor runs only when the earlier ones returned too little: running readability on
    every page doubled extraction time for +0.003 F1 on the benchmark (see ``bench/e2e.py``).
    """
    tried: list[Candidate] = []
    reasons: list[str] = []
    for extractor, minimum in chain if chain is not None else chain_for():
        try:
            candidate = extractor(html, url, item)
        except ExtractionFailed as exc:
            reasons.append(exc.reason)
            continue
        tried.append(candidate)
        if len(candidate.text) >= minimum:
            return _with_metadata(candidate, tried, html)
        reasons.append(f"{candidate.method}_short({len(candidate.text)})")
    raise ExtractionFailed(f"no usable text at {url}: {', '.join(reasons)}", reason="extract_empty")


def _with_metadata(winner: Candidate, tried: Sequence[Candidate], html: str) -> Candidate:
    """Fill the winner's empty metadata from the other candidates (trafilatura's is the richest)."""
    fields = ("title", "authors", "date", "site_name", "lang", "tags", "image", "description")
    updates = {}
    for name in fields:
        if not getattr(winner, name):
            updates[name] = next((getattr(c, name) for c in tried if getattr(c, name)), getattr(winner, name))
    merged = replace(winner, **updates)
    return merged if merged.lang else replace(merged, lang=guess_lang(html, merged.text))


def guess_lang(html: str, text: str) -> str:
    """``<html lang>`` when present, else "ar" for mostly-Arabic text; "" when unknown."""
    match = re.search(r"<html[^>]*\blang\s*=\s*[\"']?([A-Za-z]{2,3})", html[:4096], re.IGNORECASE)
    if match:
        return match.group(1).lower()
    return "ar" if arabic_share(text) >= ARABIC_LANG_SHARE else ""


def html_to_text(fragment: str) -> str:
    """Paragraph-preserving text of an HTML fragment."""
    if not fragment.strip():
        return ""
    try:
        root = lxml.html.fromstring(fragment)
    except (ParserError, ValueError):
        return ""
    for block in root.iter("p", "div", "br", "li", "h1", "h2", "h3", "h4", "blockquote", "tr"):
        block.tail = "\n" + (block.tail or "")
    lines = (" ".join(line.split()) for line in root.text_content().splitlines())
    return "\n".join(line for line in lines if line)


def _split_authors(value: str) -> tuple[str, ...]:
    return tuple(a.strip() for a in re.split(r"[;,،]", value) if a.strip())
