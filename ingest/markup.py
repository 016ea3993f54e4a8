"""The one parse of a fetched page that the stages reading its markup share.

Why: ``rel=canonical`` and the date evidence both need a tree; parsing a 100 KB page costs about
1.5 ms, and they parsed it once each (trafilatura parses with its own options and copies it).
"""

from __future__ import annotations

import lxml.html
from lxml.etree import ParserError

HtmlElement = lxml.html.HtmlElement


def parse(html: str) -> HtmlElement | None:
    """The page's tree; ``None`` when it is empty or lxml cannot parse it."""
    try:
        return lxml.html.fromstring(html) if html.strip() else None
    except (ParserError, ValueError):
        return None


def tree(page: str | HtmlElement | None) -> HtmlElement | None:
    """A tree for callers that take a page as text or already parsed."""
    return parse(page) if isinstance(page, str) else page
