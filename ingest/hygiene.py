"""Text hygiene for stored strings: control characters, bidi overrides, bounded lengths.

Why: titles and summaries come from anyone's feed. ESC sequences repaint an analyst's terminal,
bidi overrides (U+202E ...) make a title read differently than it is stored, and a 40 KB "title"
becomes an immense keyword term. The marks Arabic text legitimately uses (RLM, LRM, ALM, ZWJ,
ZWNJ) are kept; only embeddings/overrides/isolates, which reorder text, are dropped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Keyword-ish bounds (characters) for what the articles index stores; see README "Bounds".
MAX_TITLE_CHARS = 1000
MAX_SUMMARY_CHARS = 10_000
MAX_LABEL_CHARS = 256  # one author, tag, site name
MAX_LABELS = 50
MAX_BODY_CHARS = 1_000_000

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
# C0 except tab/newline/carriage return, DEL, C1, bidi embeddings/overrides/isolates, BOM/specials.
_UNSAFE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ufeff\ufff9-\ufffb]")
_SPACES = re.compile(r"\s+")


def clean_text(text: str, *, limit: int = MAX_BODY_CHARS) -> str:
    """Multi-line text without terminal escapes, control or bidi-override characters, cut to ``limit``."""
    return _UNSAFE.sub("", _ANSI.sub("", text))[:limit]


def clean_line(text: str, *, limit: int = MAX_TITLE_CHARS) -> str:
    """One line (titles, names): cleaned, whitespace collapsed, cut to ``limit`` characters."""
    return _SPACES.sub(" ", clean_text(text, limit=limit * 2)).strip()[:limit]


def clean_labels(values: Iterable[str]) -> list[str]:
    """Authors or tags: each cleaned and bounded, empties and repeats dropped, at most MAX_LABELS."""
    out = dict.fromkeys(v for v in (clean_line(x, limit=MAX_LABEL_CHARS) for x in values) if v)
    return list(out)[:MAX_LABELS]
