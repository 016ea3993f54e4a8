"""Pure presentation rules of the reading room: Arabic counting, tier words, bidi hygiene, timelines.

Why apart from the routes: these decide what a reader sees (a count's agreement, a tier's name, where
a dot sits on a timeline) and are tested as plain functions, without a server.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from markupsafe import Markup

from ingest import dates

# Bidi embedding/override/isolate controls (and the Arabic letter mark): hostile feed text uses them
# to reorder what a reader sees (a title that "reads" differently from its bytes).
BIDI_CONTROLS = re.compile("[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def strip_bidi(value: Any) -> Any:
    """Remove bidi controls from displayed strings (Jinja's ``finalize``: every ``{{ }}`` goes here).

    Already-escaped markup (a macro's output) stays markup: removing characters cannot unescape it."""
    if value is None:
        return ""
    if isinstance(value, Markup):
        return Markup(BIDI_CONTROLS.sub("", str(value)))
    return BIDI_CONTROLS.sub("", value) if isinstance(value, str) else value


def link(url: Any) -> str:
    """Only http(s) links leave the page: a feed's ``javascript:`` or ``data:`` URL becomes inert."""
    text = BIDI_CONTROLS.sub("", str(url or "")).strip()
    return text if text.lower().startswith(("http://", "https://")) else "#"


@dataclass(frozen=True)
class Noun:
    """An Arabic noun's counted forms: one, two, 3-10 (plural), 11-99 (accusative singular), 100s."""

    one: str
    two: str
    few: str
    many: str
    hundred: str


OUTLET = Noun("مصدر واحد", "مصدران", "مصادر", "مصدرًا", "مصدر")
OTHER_OUTLET = Noun("مصدر آخر", "مصدران آخران", "مصادر أخرى", "مصدرًا آخر", "مصدر آخر")
ARTICLE = Noun("مقال واحد", "مقالان", "مقالات", "مقالًا", "مقال")


def count(n: int, noun: Noun) -> str:
    """``n`` with the noun in the form Arabic grammar asks for (1 and 2 carry no digit)."""
    if n == 1:
        return noun.one
    if n == 2:
        return noun.two
    rest = n % 100
    if 3 <= rest <= 10:
        return f"{n} {noun.few}"
    if 11 <= rest <= 99:
        return f"{n} {noun.many}"
    return f"{n} {noun.hundred}"  # 0, 100, 101, 102, 200, ...


def carried_by(n: int) -> str:
    """The collapsed-copies line under a search hit: 'also carried by N outlets'."""
    return f"نقله أيضًا {count(n, OTHER_OUTLET)}" if n else ""


TIERS = {
    "new": ("الأصل", "أول من نشر هذا الخبر"),
    "exact": ("نسخة مطابقة", "النص نفسه حرفيًا"),
    "near": ("نسخة شبه مطابقة", "النص نفسه تقريبًا مع تعديلات طفيفة"),
    "title": ("نسخة بالعنوان نفسه", "العنوان نفسه من المصدر ذاته ونص متداخل"),
    "story": ("الخبر نفسه", "صياغة مختلفة للحدث نفسه"),
}


def tier_label(tier: str | None) -> str:
    return TIERS.get(tier or "", (tier or "غير معروف", ""))[0]


def reason_words(decision: Mapping[str, Any], outlet_of: Mapping[str, str]) -> str:
    """The dedup decision in plain Arabic: what kind of match, against which outlet's article, how close."""
    tier = decision.get("tier") or ""
    matched = decision.get("matched_id")
    score = decision.get("score")
    what = TIERS.get(tier, ("", str(decision.get("reason") or "")))[1]
    if tier == "new":
        if not matched:
            return what
        return f"{what}؛ أقرب مقال آخر: {outlet_of.get(matched, matched)} (تشابه {_score(score)})"
    against = f"مقارنةً بمقال {outlet_of.get(matched, matched)}" if matched else ""
    closeness = f"درجة التشابه {_score(score)}" if score is not None else ""
    return "، ".join(p for p in (what, against, closeness) if p)


def _score(score: Any) -> str:
    try:
        return f"{float(score):.2f}"
    except (TypeError, ValueError):
        return "؟"


def when(value: str | datetime | None) -> str:
    """An ISO timestamp as ``YYYY-MM-DD HH:MM`` UTC for display; empty when unknown."""
    moment = _parse(value)
    return moment.strftime("%Y-%m-%d %H:%M") + " UTC" if moment else ""


def _parse(value: str | datetime | None) -> datetime | None:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = dates.parse_iso(value)[0] if value else None
    return parsed.astimezone(UTC) if parsed else None


@dataclass(frozen=True)
class Dot:
    x: float
    label: str
    at: str
    tier: str


@dataclass(frozen=True)
class Timeline:
    width: int
    height: int
    dots: tuple[Dot, ...]
    start: str
    end: str


def timeline(events: Sequence[tuple[str | None, str, str]], *, width: int = 640, height: int = 70,
             margin: int = 40) -> Timeline:
    """Dots for (time, outlet, tier) events; time runs right to left as the page reads (earliest right)."""
    dated = sorted((m, label, tier) for at, label, tier in events if (m := _parse(at)) is not None)
    if not dated:
        return Timeline(width, height, (), "", "")
    first, last = dated[0][0], dated[-1][0]
    span = (last - first).total_seconds() or 1.0
    inner = width - 2 * margin
    dots = tuple(Dot(round(width - margin - inner * (m - first).total_seconds() / span, 1), label,
                     when(m), tier) for m, label, tier in dated)
    if len(dots) == 1:
        dots = (Dot(width / 2, dots[0].label, dots[0].at, dots[0].tier),)
    return Timeline(width, height, dots, when(first), when(last))
