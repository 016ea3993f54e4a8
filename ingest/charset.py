"""Bytes -> text for fetched pages, getting legacy Arabic encodings right.

Why not just ``response.text``: Arabic sites still serve windows-1256 and ISO-8859-6 pages, often
without any charset declaration or with a wrong one (``iso-8859-1``, the HTTP default). A wrong
guess does not fail, it silently produces mojibake that then gets indexed. So: BOM, then a strong
declaration, then statistical detection (charset-normalizer), and among plausible single-byte
candidates the one that yields the most Arabic letters wins.
"""

from __future__ import annotations

import codecs
import re
from dataclasses import dataclass

from charset_normalizer import from_bytes

from ingest.errors import PermanentError

# Declarations browsers treat as "I don't know" (HTML5 maps them all to windows-1252).
WEAK_DECLARATIONS = frozenset({"iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii", "windows-1252",
                               "cp1252", "iso8859-1", "l1"})
ARABIC_CANDIDATES = ("cp1256", "iso8859_6")
META_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_:.-]+)""", re.IGNORECASE)
# Arabic-script letters and digits, including the Persian/Urdu letters Arabic pages also use.
ARABIC_LETTER = re.compile(r"[\u0621-\u064A\u0660-\u0669\u067E\u0686\u0698\u06A4\u06A9\u06AF\u06CC"
                           r"\u06F0-\u06F9]")
NON_ASCII_LETTER = re.compile(r"[^\x00-\x7F\s\d\u00A0-\u00BF\u2000-\u206F]")
# Arabic UTF-8 read as latin-1/cp1252 ("Ø§Ù„"), the commonest Arabic mojibake.
# A declared charset (or UTF-8) is kept despite this many undecodable bytes: a few broken bytes in
# a UTF-8 page are damage to repair with U+FFFD, not a reason to re-read the page as windows-1256.
TOLERATED_ERRORS = 8
TOLERATED_ERROR_SHARE = 0.01  # a mislabelled windows-1256 page fails on ~half its bytes
MOJIBAKE = re.compile(r"[\u00D8\u00D9\u00DA\u00DB][\u0080-\u00BF\u0152-\u0178\u02C6\u02DC\u2013-\u203A]")


class UndecodableBody(PermanentError):
    """No encoding turns the bytes into text."""

    reason = "undecodable"


@dataclass(frozen=True)
class Decoded:
    text: str
    encoding: str
    method: str  # bom | declared | utf-8 | detected


def decode_html(body: bytes, content_type: str = "") -> Decoded:
    """Decode an HTML (or XML) body; raises ``UndecodableBody`` when nothing fits."""
    for bom, encoding in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16"),
                          (codecs.BOM_UTF16_BE, "utf-16")):
        if body.startswith(bom):
            return Decoded(body.decode(encoding, errors="replace").lstrip("\ufeff"), encoding, "bom")
    declared = declared_charset(body, content_type)
    if declared and declared not in WEAK_DECLARATIONS:
        text = _lenient(body, declared)
        if text is not None:
            return Decoded(text, _python_name(declared), "declared")
    text = _lenient(body, "utf-8")
    if text is not None:
        return Decoded(text, "utf-8", "utf-8")
    return _detect(body)


def decode_errors(body: bytes, encoding: str) -> tuple[str, int]:
    """Text decoded with replacement, and how many replacements the decoding itself made."""
    name = _python_name(encoding)
    text = body.decode(name, errors="replace")
    literal = body.count(b"\xef\xbf\xbd") if name == "utf-8" else 0  # U+FFFD already in the page
    return text, max(0, text.count("\ufffd") - literal)


def _lenient(body: bytes, encoding: str) -> str | None:
    """The decoding when it fails on only a few bytes (repaired with U+FFFD); ``None`` when it
    clearly fails (many errors) or the encoding is unknown: a cue to try the next candidate."""
    try:
        text, errors = decode_errors(body, encoding)
    except LookupError:
        return None
    if errors <= max(TOLERATED_ERRORS, TOLERATED_ERROR_SHARE * len(body)):
        return text
    return None


def declared_charset(body: bytes, content_type: str = "") -> str:
    """The charset from the Content-Type header, else from a ``<meta>`` in the first 4 KB."""
    match = re.search(r"charset\s*=\s*[\"']?([A-Za-z0-9_:.-]+)", content_type or "", re.IGNORECASE)
    if match:
        return match.group(1).lower()
    meta = META_CHARSET.search(body[:4096])
    return meta.group(1).decode("ascii").lower() if meta else ""


def arabic_share(text: str) -> float:
    """Arabic letters among the non-ASCII letters: 1.0 for clean Arabic, near 0 for mojibake."""
    others = len(NON_ASCII_LETTER.findall(text))
    return len(ARABIC_LETTER.findall(text)) / others if others else 0.0


def mojibake_count(text: str) -> int:
    """Signs of a wrong decoding: replacement characters and UTF-8-read-as-latin-1 pairs."""
    return text.count("\ufffd") + len(MOJIBAKE.findall(text))


def _detect(body: bytes) -> Decoded:
    results = from_bytes(body)
    names = [match.encoding for match in results]
    candidates = list(dict.fromkeys([*names[:3], *ARABIC_CANDIDATES, "cp1252"]))
    decoded = [(name, text) for name in candidates if (text := _try(body, name)) is not None]
    if not decoded:
        raise UndecodableBody(f"no encoding decodes this body (detector tried {names or 'nothing'})")
    # Prefer the detector's order, unless another plausible candidate reads clearly more Arabic.
    best_name, best_text = max(decoded, key=lambda pair: (arabic_share(pair[1])
                                                          - 0.01 * candidates.index(pair[0])))
    return Decoded(best_text, _python_name(best_name), "detected")


def _try(body: bytes, encoding: str) -> str | None:
    """Strict decode or ``None``: a private helper whose ``None`` means "try the next candidate"."""
    try:
        return body.decode(_python_name(encoding))
    except (UnicodeDecodeError, LookupError):
        return None


def _python_name(encoding: str) -> str:
    try:
        return codecs.lookup(encoding).name
    except LookupError:
        return encoding
