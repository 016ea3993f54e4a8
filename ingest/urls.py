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
import lxml.html
from lxml.etree import ParserError

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


class BadURL(PermanentError):
    """The link cannot be turned into an http(s) URL."""

    reason = "bad_url"


def canonicalize(url: str, base: str | None = None) -> str:
    """The canonical spelling of ``url`` (resolved against ``base`` when relative)."""
    raw = urljoin(base, url.strip()) if base else url.strip()
    parts = urlsplit(raw)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise BadURL(f"not an absolute http(s) URL: {url!r}")
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


def canonical_link(html: str, page_url: str) -> str:
    """The page's ``<link rel=canonical>``, canonicalised; raises ``BadURL`` when absent or unusable.

    Only a canonical on the same site is trusted: a page may not redirect its identity elsewhere.
    """
    try:
        tree = lxml.html.fromstring(html)
    except (ParserError, ValueError) as exc:
        raise BadURL(f"page at {page_url} has no parsable HTML for rel=canonical") from exc
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
