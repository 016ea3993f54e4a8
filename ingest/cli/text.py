"""Terminal-safe text: feed text is hostile, so no control or bidi-override character reaches a terminal.

Why: a summary carrying ``ESC [ 2 J`` clears the analyst's screen, OSC sequences can rewrite the
window title or fake hyperlinks, and U+202E (RIGHT-TO-LEFT OVERRIDE) and friends reorder what is shown
(Trojan Source). Every string from a feed or a page is passed through ``safe()`` before printing:
C0/C1 controls, DEL and the bidi embeddings/overrides/isolates become visible ``\\x1b`` / ``\\u202e``
escapes. Arabic letters, ZWJ/ZWNJ and the plain LRM/RLM marks pass unchanged.
"""

from __future__ import annotations

import re

BIDI_CONTROLS = "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
_UNSAFE = re.compile(f"[\x00-\x1f\x7f-\x9f{BIDI_CONTROLS}]")
_KEEP_MULTILINE = {"\n": "\n", "\t": "\t"}


def _escape(char: str) -> str:
    code = ord(char)
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def safe(text: object, *, multiline: bool = False) -> str:
    """``text`` with every control / bidi-override character shown as an escape (newlines kept if asked)."""
    value = "" if text is None else str(text)
    keep = _KEEP_MULTILINE if multiline else {}
    return _UNSAFE.sub(lambda m: keep.get(m.group(0)) or _escape(m.group(0)), value)


def json_line(record: object) -> str:
    """One JSON-lines record, UTF-8 kept readable; C1 controls and bidi overrides as ``\\uXXXX``.

    ``json.dumps`` already escapes C0 controls; ``ensure_ascii=False`` would let the rest through.
    """
    import json

    text = json.dumps(record, ensure_ascii=False, default=str)
    return _UNSAFE.sub(lambda m: f"\\u{ord(m.group(0)):04x}", text)


def echo_json(record: object) -> None:
    """Print one JSON line to stdout (no rich markup, no wrapping)."""
    import typer

    typer.echo(json_line(record))
