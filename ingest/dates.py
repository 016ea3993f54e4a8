"""Publication dates of Arabic pages: find every piece of date evidence, then choose one (pure functions).

Why not htmldate alone: it knows month names only in a few European languages and no Hijri calendar,
so an Arabic page whose only date is «الثلاثاء 16 نوفمبر 2021» came back as 2021-01-01 (a year-only
guess: a wrong date, worse than none). Here the three month-naming families of Arab outlets
(يناير… / كانون الثاني، شباط… / Maghreb جانفي، فيفري…), Hijri dates (Umm al-Qura via ``hijridate``),
both Arabic-Indic digit sets, ص/م times and relative forms are read; the standard family's month and
day names come from ``dateparser``'s Arabic locale data. ``choose`` applies the precedence
structured > visible > htmldate > URL > feed > fetch time and rejects implausible dates, recording
which evidence won (``date_source``) and why others lost.
"""

from __future__ import annotations

import json
import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import hijridate
import lxml.etree
import lxml.html
from dateparser.data.date_translation_data import ar as dateparser_ar

from ingest import markup

# Precedence, best first (the names are what ``date_source`` records).
STRUCTURED, VISIBLE, HTMLDATE, URL = "structured", "visible", "htmldate", "url"
FEED, FETCHED = "feed", "fetched"
PRECEDENCE = (STRUCTURED, VISIBLE, HTMLDATE, URL, FEED)
DAY, MINUTE = "day", "minute"

# How far after the headline a visible date may stand (characters of page text).
HEADLINE_WINDOW = 600
# Plausibility: a page's local time read as UTC can run a few hours ahead; news older than a year
# on a page first seen now is a footer/copyright date, not the article's (structured data excepted).
FUTURE_SKEW = timedelta(hours=6)
MAX_AGE = timedelta(days=365)
# No news page is dated before this, structured metadata included: CMSs print their null date
# (.NET's DateTime.MinValue, "0001-01-01T00:00:00") as datePublished.
EARLIEST = datetime(1800, 1, 1, tzinfo=UTC)
# A Hijri date this close to a Gregorian one is its companion («… هـ الموافق …»): the Gregorian wins.
COMPANION_WINDOW = 40

_INDIC = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_TASHKEEL = re.compile("[\u0610-\u061a\u064b-\u065f\u0670\u0640]")


def fold(text: str) -> str:
    """Text for matching: ASCII digits, no diacritics/tatweel, one alef, ى→ي, ة→ه, single spaces."""
    text = unicodedata.normalize("NFKC", text).translate(_INDIC)
    text = _TASHKEEL.sub("", text)
    text = re.sub("[أإآٱ]", "ا", text).replace("ى", "ي").replace("ة", "ه")
    return re.sub(r"\s+", " ", text)


def _names(values: Iterable[str]) -> list[str]:
    return [fold(v) for v in values]


_MONTH_KEYS = ("january", "february", "march", "april", "may", "june", "july", "august", "september",
               "october", "november", "december")
# family -> month number -> spellings. "standard" starts from dateparser's ar locale.
FAMILIES: dict[str, dict[int, list[str]]] = {
    "standard": {i + 1: _names(dateparser_ar.info[k]) for i, k in enumerate(_MONTH_KEYS)},
    "levantine": {1: ["كانون الثاني"], 2: ["شباط"], 3: ["اذار"], 4: ["نيسان"], 5: ["ايار"], 6: ["حزيران"],
                  7: ["تموز"], 8: ["اب"], 9: ["ايلول"], 10: ["تشرين الاول"], 11: ["تشرين الثاني"],
                  12: ["كانون الاول"]},
    "maghreb": {1: ["جانفي"], 2: ["فيفري"], 4: ["افريل"], 5: ["ماي"], 6: ["جوان"], 7: ["جويليه"],
                8: ["اوت"], 9: ["شتنبر"], 11: ["نونبر"], 12: ["دجنبر"], 10: ["اكتوبر"]},
}
for _n, _extra in {2: ["فبرير"], 4: ["ابريل", "ابريل"], 7: ["يوليوز"], 8: ["غشت", "اغسطس"]}.items():
    FAMILIES["standard"][_n] += _names(_extra)
HIJRI_MONTHS: dict[int, list[str]] = {
    1: ["محرم"], 2: ["صفر"], 3: ["ربيع الاول"], 4: ["ربيع الاخر", "ربيع الثاني"],
    5: ["جمادي الاولي", "جمادي الاول"], 6: ["جمادي الاخره", "جمادي الثانيه", "جمادي الاخر"],
    7: ["رجب"], 8: ["شعبان"], 9: ["رمضان"], 10: ["شوال"], 11: ["ذو القعده", "ذي القعده"],
    12: ["ذو الحجه", "ذي الحجه"],
}
_GREGORIAN = {name: month for family in FAMILIES.values()
              for month, names in family.items() for name in names}
_HIJRI = {name: month for month, names in HIJRI_MONTHS.items() for name in names}


def _alternation(names: Iterable[str]) -> str:
    return "|".join(re.escape(n) for n in sorted(set(names), key=len, reverse=True))


_G = _alternation(_GREGORIAN)
_H = _alternation(_HIJRI)
_SEP = r"[\s,،/\-]*"
_TIME = (r"(?:[\s,،\-|–]*(?:(?:علي\s*)?الساعه\s*)?(?P<hh>\d{1,2})[:.](?P<mi>\d{2})(?::\d{2})?\s*"
         r"(?P<ampm>ص|م|صباحا|مساء|مساءا|AM|PM|am|pm)?(?![\w]))?")
# «16 تشرين الثاني (نوفمبر) 2021» / «16 كانون الثاني/يناير 2021»: a second name in brackets or after /.
_WORDS_MDY = re.compile(rf"(?<![\w])(?P<m>{_G})\s+(?P<d>\d{{1,2}})\s*[،,]\s*(?P<y>\d{{4}})(?!\d)")
_WORDS = re.compile(
    rf"(?<!\d)(?P<d>\d{{1,2}}){_SEP}(?:من\s+)?(?P<m>{_G})(?:\s*[(/]\s*(?:{_G})\s*\)?)?{_SEP}(?P<y>\d{{4}})"
    rf"(?!\d)(?:\s*م(?![\w]))?{_TIME}")
_HIJRI_WORDS = re.compile(
    rf"(?<!\d)(?P<d>\d{{1,2}}){_SEP}(?P<m>{_H}){_SEP}(?P<y>1[34]\d{{2}})\s*(?:هـ|ه(?![\w])|للهجره|هجري)")
_HIJRI_NUMERIC = re.compile(
    r"(?<!\d)(?P<y>1[34]\d{2})[/\-](?P<m>\d{1,2})[/\-](?P<d>\d{1,2})\s*(?:هـ|ه(?![\w]))")
_NUMERIC_DMY = re.compile(
    rf"(?<![\d/.\-])(?P<d>\d{{1,2}})[/.\-](?P<m>\d{{1,2}})[/.\-](?P<y>(?:19|20)\d{{2}})(?![\d/.\-]){_TIME}")
_NUMERIC_YMD = re.compile(
    rf"(?<![\d/.\-])(?P<y>(?:19|20)\d{{2}})[/.\-](?P<m>\d{{1,2}})[/.\-](?P<d>\d{{1,2}})(?![\d/.\-]){_TIME}")
_DUAL = {"ساعتين": ("hours", 2), "ساعتان": ("hours", 2), "يومين": ("days", 2), "يومان": ("days", 2),
         "دقيقتين": ("minutes", 2), "دقيقتان": ("minutes", 2), "اسبوعين": ("weeks", 2), "ساعه": ("hours", 1),
         "يوم": ("days", 1), "دقيقه": ("minutes", 1), "اسبوع": ("weeks", 1)}
_UNITS = {"دقيقه": "minutes", "دقائق": "minutes", "دقيقا": "minutes", "ساعه": "hours", "ساعات": "hours",
          "ساعا": "hours", "يوم": "days", "ايام": "days", "يوما": "days", "اسبوع": "weeks", "اسابيع": "weeks"}
_RELATIVE = re.compile(rf"(?:منذ|قبل)\s+(?:(?P<n>\d{{1,3}})\s*(?P<unit>{_alternation(_UNITS)})"
                       rf"|(?P<dual>{_alternation(_DUAL)}))(?![\w])")
_YESTERDAY = re.compile(r"(?<![\w])(?:امس|الامس|البارحه)(?![\w])")
_UPDATE = re.compile(r"(?:تحديث|حدث|تعديل|عدل|محدث|updated?|modified)[^\d]{0,25}$", re.IGNORECASE)
_UPDATE_AFTER = re.compile(r"[\s,،\-|–(]*(?:اخر تحديث|تم التحديث|updated)", re.IGNORECASE)
_PUBLISHED = re.compile(r"(?:نشر|تاريخ النشر|published)[^\d]{0,25}$", re.IGNORECASE)


@dataclass(frozen=True)
class Found:
    """One date expression in a text: where it starts, its value, how precise, which family."""

    value: datetime
    start: int
    family: str
    precision: str = DAY
    is_update: bool = False
    marked_published: bool = False


@dataclass(frozen=True)
class Evidence:
    """A candidate publication date and where it came from (one of ``PRECEDENCE``)."""

    source: str
    value: datetime
    precision: str = DAY
    detail: str = ""


@dataclass(frozen=True)
class DateChoice:
    """The chosen date, which evidence won, and the reasons other evidence was rejected."""

    value: datetime
    source: str
    rejected: tuple[str, ...] = ()


def _family(month_name: str) -> str:
    return next(f for f, months in FAMILIES.items() if any(month_name in names for names in months.values()))


def _at(y: int, m: int, d: int, match: re.Match[str]) -> datetime | None:
    """The date (with the time when the match has one) in UTC, or None if it does not exist."""
    hour = minute = 0
    groups = match.groupdict()
    if groups.get("hh"):
        hour, minute = int(groups["hh"]), int(groups["mi"])
        ampm = (groups.get("ampm") or "").lower()
        if ampm in ("م", "مساء", "مساءا", "pm") and hour < 12:
            hour += 12
        elif ampm in ("ص", "صباحا", "am") and hour == 12:
            hour = 0
    try:
        return datetime(y, m, d, hour, minute, tzinfo=UTC)
    except ValueError:
        return None


def _hijri(y: int, m: int, d: int) -> datetime | None:
    try:
        g = hijridate.Hijri(y, m, d).to_gregorian()
    except (ValueError, OverflowError):
        return None
    return datetime(g.year, g.month, g.day, tzinfo=UTC)


def find_dates(text: str, *, now: datetime | None = None) -> list[Found]:
    """Every date expression in ``text`` (already folded or not), in order of appearance.

    A Hijri date standing next to a Gregorian one is dropped (the Gregorian is what the outlet
    converted; Umm al-Qura and local sighting can differ by a day). Relative forms need ``now``.
    """
    folded = fold(text)
    found: list[Found] = []
    for match in [*_WORDS.finditer(folded), *_WORDS_MDY.finditer(folded)]:
        value = _at(int(match["y"]), _GREGORIAN[match["m"]], int(match["d"]), match)
        if value:
            found.append(_mark(folded, match.start(), value, _family(match["m"]), match))
    for pattern, family in ((_NUMERIC_DMY, "numeric"), (_NUMERIC_YMD, "numeric")):
        for match in pattern.finditer(folded):
            value = _at(int(match["y"]), int(match["m"]), int(match["d"]), match)
            if value and not _inside(found, match.start()):
                found.append(_mark(folded, match.start(), value, family, match))
    gregorian = list(found)
    for pattern, months in ((_HIJRI_WORDS, _HIJRI), (_HIJRI_NUMERIC, None)):
        for match in pattern.finditer(folded):
            month = months[match["m"]] if months else int(match["m"])
            value = _hijri(int(match["y"]), month, int(match["d"]))
            near = COMPANION_WINDOW + len(match[0])
            if value and not any(abs(g.start - match.start()) <= near for g in gregorian):
                found.append(_mark(folded, match.start(), value, "hijri", match))
    if now is not None:
        found.extend(_relative(folded, now))
    return sorted(found, key=lambda f: f.start)


def _inside(found: Sequence[Found], start: int) -> bool:
    return any(f.start <= start < f.start + 30 for f in found)


def _mark(folded: str, start: int, value: datetime, family: str, match: re.Match[str]) -> Found:
    """Also an update date when an update marker follows at once («28 آب 2013، آخر تحديث 14:00»)."""
    before, after = folded[max(0, start - 40):start], folded[match.end():match.end() + 20]
    precision = MINUTE if match.groupdict().get("hh") else DAY
    published = bool(_PUBLISHED.search(before))  # «نشر في …» outweighs an update line that follows
    is_update = bool(_UPDATE.search(before) or (_UPDATE_AFTER.match(after) and not published))
    return Found(value, start, family, precision, is_update, published)


def _relative(folded: str, now: datetime) -> list[Found]:
    found = []
    for match in _RELATIVE.finditer(folded):
        if match["dual"]:
            unit, n = _DUAL[match["dual"]]
        else:
            unit, n = _UNITS[match["unit"]], int(match["n"])
        precision = MINUTE if unit in ("minutes", "hours") else DAY
        found.append(_mark_relative(folded, match.start(), now - timedelta(**{unit: n}), precision))
    for match in _YESTERDAY.finditer(folded):
        yesterday = (now - timedelta(days=1)).replace(hour=0, minute=0, second=0, microsecond=0)
        found.append(_mark_relative(folded, match.start(), yesterday, DAY))
    return found


def _mark_relative(folded: str, start: int, value: datetime, precision: str) -> Found:
    before = folded[max(0, start - 40):start]
    return Found(value, start, "relative", precision, bool(_UPDATE.search(before)),
                 bool(_PUBLISHED.search(before)))


def publication_in_text(text: str, *, now: datetime | None = None) -> Found | None:
    """The date a reader would take as "published" in a text: a date marked «نشر» first, else the
    first one that is not an update date («آخر تحديث»)."""
    found = [f for f in find_dates(text, now=now) if not f.is_update]
    marked = [f for f in found if f.marked_published]
    return (marked or found or [None])[0]


# ---- evidence from a page ---------------------------------------------------------------------

_META_NAMES = ("article:published_time", "datepublished", "og:published_time", "pubdate", "publishdate",
               "publish-date", "publish_date", "dc.date.issued", "dcterms.created", "sailthru.date",
               "parsely-pub-date", "date")


def structured_date(html: str) -> Evidence | None:
    """JSON-LD ``datePublished``, then ``<meta>`` publication fields, then ``<time datetime>``."""
    root = markup.parse(html)
    return _structured(root) if root is not None else None


def _structured(root: lxml.html.HtmlElement) -> Evidence | None:
    for detail, values in (("jsonld", _jsonld_dates(root)), ("meta", _meta_dates(root)),
                           ("time", _time_dates(root))):
        for raw in values:
            value, precision = parse_iso(raw)
            if value is not None:
                return Evidence(STRUCTURED, value, precision, f"{detail}:{raw}")
    return None


def _jsonld_dates(root: lxml.html.HtmlElement) -> list[str]:
    dates = []
    for script in root.xpath('//script[@type="application/ld+json"]'):
        try:
            data = json.loads(script.text_content() or "null")
        except ValueError:
            continue
        dates.extend(_walk_jsonld(data))
    return dates


def _walk_jsonld(data: object) -> list[str]:
    if isinstance(data, list):
        return [d for item in data for d in _walk_jsonld(item)]
    if not isinstance(data, dict):
        return []
    own = [data["datePublished"]] if isinstance(data.get("datePublished"), str) else []
    nested = ("@graph", "mainEntity", "mainEntityOfPage")
    return own + [d for key in nested for d in _walk_jsonld(data.get(key))]


def _meta_dates(root: lxml.html.HtmlElement) -> list[str]:
    by_name: dict[str, str] = {}
    for meta in root.iter("meta"):
        key = (meta.get("property") or meta.get("name") or meta.get("itemprop") or "").strip().lower()
        if key in _META_NAMES and meta.get("content"):
            by_name.setdefault(key, meta.get("content").strip())
    return [by_name[name] for name in _META_NAMES if name in by_name]


def _time_dates(root: lxml.html.HtmlElement) -> list[str]:
    times = [t for t in root.iter("time") if t.get("datetime")]
    preferred = [t for t in times if t.get("itemprop") == "datePublished" or t.get("pubdate") is not None]
    updates = {t for t in times if "modif" in (t.get("itemprop") or "").lower()
               or _UPDATE.search(fold(_label_before(t)))}
    return [t.get("datetime") for t in preferred + [t for t in times if t not in updates]]


def _label_before(t: lxml.html.HtmlElement) -> str:
    """The text just before a ``<time>`` (an "updated:" label?): the previous element's, skipping
    comments and processing instructions (they have no text content), and the parent's own text."""
    before = next((e for e in t.itersiblings(preceding=True) if isinstance(e.tag, str)), None)
    parent = t.getparent()
    own = (parent.text or "") if parent is not None else ""
    return (before.text_content() if before is not None else "") + own


def parse_iso(raw: str) -> tuple[datetime | None, str]:
    """An ISO 8601 date/time (aware, UTC when no offset) and its precision ("year"/"month"/day/minute)."""
    raw = fold(raw.strip()).replace("Z", "+00:00")
    if re.fullmatch(r"\d{4}", raw):
        return datetime(int(raw), 1, 1, tzinfo=UTC), "year"
    if re.fullmatch(r"\d{4}-\d{2}", raw):
        return datetime(int(raw[:4]), int(raw[5:7]), 1, tzinfo=UTC), "month"
    raw = re.sub(r"^(\d{4}-\d{2}-\d{2})\s+(\d)", r"\1T\2", raw)
    try:
        value = datetime.fromisoformat(raw)
    except ValueError:
        return None, ""
    return (value if value.tzinfo else value.replace(tzinfo=UTC)), (MINUTE if "T" in raw else DAY)


def visible_date(html: str, *, now: datetime | None = None) -> Evidence | None:
    """The publication date printed near the headline (the text after the first ``<h1>``)."""
    root = markup.parse(html)
    return _visible(root, now=now) if root is not None else None


def _visible(root: lxml.html.HtmlElement, *, now: datetime | None) -> Evidence | None:
    """``visible_date`` of a parsed page; strips scripts, styles and noscript from ``root``."""
    lxml.etree.strip_elements(root, "script", "style", "noscript", with_tail=False)
    text = " ".join(root.text_content().split())
    headline = root.find(".//h1")
    title = " ".join(headline.text_content().split()) if headline is not None else ""
    start = text.find(title) if title else -1
    # Near the headline when there is one; without an <h1>, the top of the page.
    window = text[start:start + len(title) + HEADLINE_WINDOW] if start >= 0 else text[:HEADLINE_WINDOW * 2]
    found = publication_in_text(window, now=now)
    return Evidence(VISIBLE, found.value, found.precision, found.family) if found else None


_URL_YMD = re.compile(
    r"(?<!\d)((?:19|20)\d{2})[/\-_](0[1-9]|1[0-2]|[1-9])[/\-_](0[1-9]|[12]\d|3[01]|[1-9])(?![\d])")
_URL_COMPACT = re.compile(r"(?<!\d)((?:19|20)\d{2})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])(?=\d{0,12}(?:\D|$))")
_URL_SECTION = re.compile(r"/((?:19|20)\d{2})/[a-z_\-]+/(0?[1-9]|1[0-2])/(0?[1-9]|[12]\d|3[01])/")
_URL_YM = re.compile(r"/((?:19|20)\d{2})/(0[1-9]|1[0-2])/")


def url_date(url: str) -> Evidence | None:
    """A date in the URL path: /2020/8/24/, /2013/middle_east/8/3/, /2020-06-03-1.38, /202003171044…;
    /2020/11/ is month-only."""
    from urllib.parse import unquote, urlsplit

    path = unquote(urlsplit(url).path)
    for pattern in (_URL_YMD, _URL_SECTION, _URL_COMPACT):
        match = pattern.search(path)
        if match:
            try:
                value = datetime(int(match[1]), int(match[2]), int(match[3]), tzinfo=UTC)
            except ValueError:
                continue
            return Evidence(URL, value, DAY, match[0])
    match = _URL_YM.search(path)
    if match is None:
        return None
    return Evidence(URL, datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC), "month", match[0])


def htmldate_evidence(value: str) -> Evidence | None:
    """trafilatura's (htmldate's) date; a YYYY-01-01 is its year-only guess, so marked as such."""
    parsed, precision = parse_iso(value) if value else (None, "")
    if parsed is None:
        return None
    if parsed.month == 1 and parsed.day == 1 and precision == DAY:
        precision = "year"
    return Evidence(HTMLDATE, parsed, precision, value)


def page_evidence(html: str | markup.HtmlElement | None, url: str, *, htmldate: str = "",
                  feed: datetime | None = None, now: datetime | None = None) -> list[Evidence]:
    """All evidence for one page, in precedence order.

    One parse serves the structured and the visible evidence (the visible one last: it strips the
    scripts that hold JSON-LD, from a tree passed in too); an unparsable page (``None``) has
    neither, as with ``structured_date`` alone.
    """
    root = markup.tree(html)
    structured = _structured(root) if root is not None else None
    visible = _visible(root, now=now) if root is not None else None
    found = [structured, visible, htmldate_evidence(htmldate), url_date(url)]
    if feed is not None:
        found.append(Evidence(FEED, feed if feed.tzinfo else feed.replace(tzinfo=UTC), MINUTE))
    return [e for e in found if e is not None]


def publication_date(html: str | markup.HtmlElement | None, url: str, *, fetched_at: datetime,
                     htmldate: str = "", feed: datetime | None = None) -> DateChoice:
    """The real path's date stage (``pipeline.build_article``, ``ingest eval dates``): all evidence
    of a page, chosen with the article's fetch time as the moment it was first seen."""
    evidence = page_evidence(html, url, htmldate=htmldate, feed=feed, now=fetched_at)
    return choose(evidence, fetched_at=fetched_at, first_seen=fetched_at)


# ---- choosing ---------------------------------------------------------------------------------

def choose(evidence: Sequence[Evidence], *, fetched_at: datetime, first_seen: datetime | None = None,
           future_skew: timedelta = FUTURE_SKEW, max_age: timedelta = MAX_AGE) -> DateChoice:
    """The best plausible evidence by precedence; the fetch time when none is plausible.

    Rejected: precision coarser than a day (year-only ``-01-01`` guesses, month-only URLs); later than
    ``fetched_at + future_skew``; before ``EARLIEST`` (a CMS's null date); earlier than
    ``first_seen - max_age`` unless it is structured metadata (a visible "2016" on a page first
    seen in 2020 is a copyright line, not the date).
    A year-only htmldate guess counts when other evidence confirms the same day.
    """
    rejected: list[str] = []
    days = {e.value.date() for e in evidence if e.source != HTMLDATE and e.precision in (DAY, MINUTE)}
    for item in sorted(evidence, key=lambda e: PRECEDENCE.index(e.source)):
        reason = _implausible(item, fetched_at, first_seen, future_skew, max_age, days)
        if reason is None:
            return DateChoice(item.value, item.source, tuple(rejected))
        rejected.append(f"{item.source}_{reason}")
    return DateChoice(fetched_at, FETCHED, tuple(rejected))


def _implausible(item: Evidence, fetched_at: datetime, first_seen: datetime | None, future_skew: timedelta,
                 max_age: timedelta, confirmed: set) -> str | None:
    guess_confirmed = item.source == HTMLDATE and item.value.date() in confirmed
    if item.precision not in (DAY, MINUTE) and not guess_confirmed:
        return "imprecise"
    if item.value > fetched_at + future_skew:
        return "future"
    if item.value < EARLIEST:
        return "ancient"
    if first_seen is not None and item.source != STRUCTURED and item.value < first_seen - max_age:
        return "too_old"
    return None


__all__ = [
    "FAMILIES",
    "PRECEDENCE",
    "DateChoice",
    "Evidence",
    "Found",
    "choose",
    "find_dates",
    "fold",
    "htmldate_evidence",
    "page_evidence",
    "parse_iso",
    "publication_date",
    "publication_in_text",
    "structured_date",
    "url_date",
    "visible_date",
]
