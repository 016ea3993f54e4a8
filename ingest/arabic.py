"""Arabic text normalisation for fingerprints (hashes, MinHash shingles, title keys).

Why a separate, aggressive normaliser: two copies of one wire report differ in diacritics,
hamza spelling, taa marbuta, digits, punctuation and invisible marks. A fingerprint must not see
those differences. Search uses Elasticsearch's own analysis (mappings/_analysis.json) instead,
so this module never decides what a user can find, only what counts as "the same text".
"""

from __future__ import annotations

import re
import unicodedata

# Combining marks removed outright: tashkeel (fathatan..sukun and the extended harakat),
# superscript alef, Quranic annotation signs, small high/low marks, extended-A Quranic marks.
_MARK_RANGES = (
    (0x0610, 0x061A),
    (0x064B, 0x065F),
    (0x0670, 0x0670),
    (0x0674, 0x0674),  # high hamza, left behind when NFKC splits ٵ ٶ ٸ
    (0x06D6, 0x06DC),
    (0x06DF, 0x06E8),
    (0x06EA, 0x06ED),
    (0x08D3, 0x08FF),
)
_TATWEEL = "\u0640"

# Letter variants folded onto one base letter. Hamza carriers (ؤ ئ) fold onto the bare hamza so
# that the common spelling pairs مسؤول / مسئول and شيء / شيئ give the same key.
_LETTERS = {
    "أ": "ا",
    "إ": "ا",
    "آ": "ا",
    "ٱ": "ا",
    "ٲ": "ا",
    "ٳ": "ا",
    "ى": "ي",
    "ی": "ي",
    "ې": "ي",
    "ے": "ي",
    "ۍ": "ي",
    "ێ": "ي",
    "ة": "ه",
    "ۀ": "ه",
    "ہ": "ه",
    "ھ": "ه",
    "ە": "ه",
    "ؤ": "ء",
    "ئ": "ء",
    "ک": "ك",
    "ڪ": "ك",
    "گ": "ك",
    "ڤ": "ف",
    "ٯ": "ق",
}
# Arabic-Indic (U+0660..) and Extended Arabic-Indic / Persian (U+06F0..) digits -> ASCII.
_DIGITS = {0x0660 + i: str(i) for i in range(10)} | {0x06F0 + i: str(i) for i in range(10)}

_TABLE: dict[int, str | None] = {ord(k): v for k, v in _LETTERS.items()} | _DIGITS
_TABLE[ord(_TATWEEL)] = None
for _lo, _hi in _MARK_RANGES:
    for _cp in range(_lo, _hi + 1):
        _TABLE[_cp] = None

_SPACES = re.compile(r"\s+")


def _is_separator(ch: str) -> bool:
    """Punctuation and symbols of any script (، ؛ ؟ « » — ٪ ...) separate words."""
    return unicodedata.category(ch)[0] in "PSZ"


def _is_invisible(ch: str) -> bool:
    """Format characters (ZWNJ, ZWJ, RLM/LRM, BOM, bidi embeddings) vanish without a trace."""
    return unicodedata.category(ch) == "Cf"


class _Separators(dict[int, str | None]):
    """``str.translate`` table filled on first sight of each character: invisible -> dropped,
    separator -> space, anything else kept (one ``unicodedata`` lookup per distinct character,
    not per character: the per-character loop was most of a fingerprint's time)."""

    def __missing__(self, cp: int) -> str | None:
        ch = chr(cp)
        value = None if _is_invisible(ch) else " " if _is_separator(ch) else ch
        self[cp] = value
        return value


_SEPARATORS = _Separators()


def normalize(text: str) -> str:
    """Fold ``text`` to the canonical form used by every fingerprint.

    NFKC first: it maps presentation forms (ﻻ, ﷲ, ﺍ) to plain letters and composes a decomposed
    hamza (ا + U+0654) into أ, which the letter table then folds; any hamza mark left uncomposed
    is dropped with the other combining marks. NFKC does not touch Arabic-Indic digits, hence the
    explicit digit table.
    """
    text = unicodedata.normalize("NFKC", text).translate(_TABLE).translate(_SEPARATORS)
    return _SPACES.sub(" ", text.casefold()).strip()


def tokens(text: str) -> list[str]:
    """Normalised words, in order."""
    return normalize(text).split()


def shingles(words: list[str], size: int) -> set[str]:
    """Word n-grams joined by a space; a text shorter than ``size`` is one shingle."""
    if len(words) < size:
        return {" ".join(words)} if words else set()
    return {" ".join(words[i : i + size]) for i in range(len(words) - size + 1)}
