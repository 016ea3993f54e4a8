"""Arabic counted nouns: «مصدر واحد، مصدران، ٣ مصادر، ١١ مصدرًا، ١٠٠ مصدر».

Why: Arabic number agreement depends on the number (singular, dual, plural for 3-10, accusative
singular for 11-99, genitive singular for round hundreds); «(1 مصادر)» reads as a bug to every
Arabic reader. Numbers are written in Arabic-Indic digits, as in the rest of the Arabic output.
"""

from __future__ import annotations

from dataclasses import dataclass

_DIGITS = str.maketrans("0123456789", "٠١٢٣٤٥٦٧٨٩")


@dataclass(frozen=True)
class Noun:
    """The forms a count needs: singular, dual, plural (3-10), accusative singular (11-99)."""

    singular: str
    dual: str
    plural: str
    accusative: str
    feminine: bool = False


SOURCE = Noun("مصدر", "مصدران", "مصادر", "مصدرًا")
ARTICLE = Noun("خبر", "خبران", "أخبار", "خبرًا")


def arabic_digits(n: int) -> str:
    """``11`` -> ``١١``."""
    return str(n).translate(_DIGITS)


def count(n: int, noun: Noun = SOURCE) -> str:
    """``n`` with ``noun`` in the form Arabic grammar asks for (0 -> «لا مصادر»)."""
    if n < 0:
        raise ValueError(f"a count cannot be negative: {n}")
    if n == 0:
        return f"لا {noun.plural}"
    if n == 1:
        return f"{noun.singular} {'واحدة' if noun.feminine else 'واحد'}"
    if n == 2:
        return noun.dual
    rest = n % 100
    if 3 <= rest <= 10:
        form = noun.plural
    elif 11 <= rest <= 99:
        form = noun.accusative
    else:  # 100, 101, 102, 1000 ...: the counted noun follows in the genitive singular
        form = noun.singular
    return f"{arabic_digits(n)} {form}"
