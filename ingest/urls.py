"""URL canonicalisation: one spelling per article, so one document id per article.

Why: the document id is a hash of the canonical URL, so every spelling of the same address that
feeds produce (tracking parameters, ``#fragments``, ``WWW.Host.com:443``, the ``m.`` mobile site)
must collapse to one string before the multi-get that decides what is new. courlan does the
standard part (case, default ports, query sorting, known trackers); this module adds what news
feeds add on top (``www.``/``m.`` host variants, RSS referral parameters, fragments).
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode, urljoin, urlsplit, urlunsplit

import courlan
import httpx

from ingest import markup
from ingest.errors import PermanentError

# Host prefixes that serve the same article as the bare domain.
HOST_VARIANT_PREFIXES = ("www.", "m.", "mobile.", "amp.")
# Parameters that feeds and social shares append without changing the article.
TRACKING_PARAMS = frozenset({
    "ref", "ref_src", "referrer", "source", "src", "cmpid", "cmp", "ocid", "xtor", "at_medium",
    "at_campaign", "at_custom1", "rss", "feed", "from", "spm", "share", "shared", "igshid",
    "fbclid", "gclid", "dclid", "msclkid", "yclid", "mc_cid", "mc_eid", "_ga", "amp", "outputtype",
})
TRACKING_PREFIXES = ("utm_", "at_", "pk_", "mtm_", "hsa_", "__twitter")
# Longer URLs are refused: browsers and CDNs cut near 2 KB-8 KB, and the URL becomes a keyword term.
MAX_URL_CHARS = 4096


class BadURL(PermanentError):
    """The link cannot be turned into an http(s) URL."""

    reason = "bad_url"


def validate_url(url: object, base: str | None = None) -> str:
    """``url`` (resolved against ``base``) if it is a fetchable absolute http(s) URL; else ``BadURL``.

    Why one validator: sources, feed links and redirect targets all end up in httpx; anything
    it would choke on (``http://[::1``, port 99999, ``javascript:``, control characters) must be
    a counted reason here, never a ``ValueError``/``InvalidURL`` traceback later.
    """
    if not isinstance(url, str):
        raise BadURL(f"not a URL: {type(url).__name__}")
    text = url.strip()
    if len(text) > MAX_URL_CHARS:
        raise BadURL(f"URL longer than {MAX_URL_CHARS} characters ({len(text)})")
    if any(ord(c) < 0x20 or ord(c) == 0x7F for c in text):
        raise BadURL(f"URL contains control characters: {text[:200]!r}")
    try:
        raw = urljoin(base, text) if base else text
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise BadURL(f"malformed URL {text[:200]!r}: {exc}") from exc
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise BadURL(f"not an absolute http(s) URL: {text[:200]!r}")
    if port == 0 or any(c.isspace() or c in "\\<>\"{}|^`" for c in parts.hostname):
        raise BadURL(f"bad host or port in URL {text[:200]!r}")
    try:
        httpx.URL(raw)
    except (httpx.InvalidURL, ValueError, UnicodeError) as exc:
        raise BadURL(f"malformed URL {text[:200]!r}: {exc}") from exc
    return raw


def canonicalize(url: str, base: str | None = None) -> str:
    """The canonical spelling of ``url`` (resolved against ``base`` when relative)."""
    raw = validate_url(url, base)
    try:
        normalized = courlan.normalize_url(raw, strict=False)
    except ValueError as exc:
        raise BadURL(f"cannot normalise URL {url!r}: {exc}") from exc
    parts = urlsplit(normalized)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
                       if not _is_tracking(k)])
    return urlunsplit(("https", _bare_host(parts.netloc), parts.path or "/", query, ""))


def host_of(url: str) -> str:
    """The bare host (no ``www.``/``m.``), used as the outlet's domain."""
    return _bare_host(urlsplit(url).netloc.lower()).split(":")[0]


def canonical_link(html: str | markup.HtmlElement | None, page_url: str) -> str:
    """The page's ``<link rel=canonical>``, canonicalised; raises ``BadURL`` when absent or unusable.

    Only a canonical on the same site is trusted: a page may not redirect its identity elsewhere.
    ``html`` is the page, as text or parsed (``markup.parse``; ``None``: it could not be parsed).
    """
    if (tree := markup.tree(html)) is None:
        raise BadURL(f"page at {page_url} has no parsable HTML for rel=canonical")
    hrefs = tree.xpath("//link[contains(concat(' ', normalize-space(@rel), ' '), ' canonical ')]/@href")
    if not hrefs:
        raise BadURL(f"page at {page_url} declares no rel=canonical")
    canonical = canonicalize(str(hrefs[0]), base=page_url)
    if _site(canonical) != _site(page_url):
        raise BadURL(f"rel=canonical {canonical} points to another site than {page_url}")
    return canonical


def _is_tracking(key: str) -> bool:
    lowered = key.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def _bare_host(netloc: str) -> str:
    host = netloc.lower()
    for prefix in HOST_VARIANT_PREFIXES:
        if host.startswith(prefix) and host.count(".") >= 2:
            return host[len(prefix):]
    return host


def _site(url: str) -> str:
    """Registered-domain-ish key: the last two labels of the bare host (ports ignored)."""
    labels = host_of(url).split(".")
    return ".".join(labels[-2:])
