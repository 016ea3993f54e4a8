"""``ingest eval dates``: publication-date accuracy on labelled Arabic strings and on real pages.

Two sets. The labelled strings (``tests/fixtures/dates/labelled.jsonl``) were written by hand from
what each string means, per naming family, with adversarial ones (an update date, two dates, Hijri
beside Gregorian, year-only text); a string is right when the stage's date (or minute, when the
label has a time) equals the label, and a ``null`` label is right only when nothing is found.
The real pages are the gold-dated pages under ``Settings.fixtures_dir/pages/arabic``, run through
the same date stage as ``pipeline.build_article`` (trafilatura's htmldate date included), next to
htmldate alone, the baseline of issue 17.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ingest import dates
from ingest.errors import ConfigError, IngestError
from ingest.extract import from_trafilatura

# Fetch times of the real pages, which the dates are judged against (relative forms, "future").
# The htmldate set is MediaCloud 2020: the end of that year. CNN's page prints the day it was saved
# in its header («الأربعاء، 28 آب/أغسطس 2013، آخر تحديث 14:00»). LBC's comes from fundus' meta.info.
MEDIACLOUD_FETCHED = datetime(2020, 12, 31, 23, 59, tzinfo=UTC)
CNN_FETCHED = datetime(2013, 8, 28, 14, 0, tzinfo=UTC)
CNN_URL = "http://arabic.cnn.com/2013/middle_east/8/3/syria.clashes/index.html"
CNN_GOLD = "2013-08-03"  # pages/SOURCES.md: "CNN Arabic 2013-08-03, Syria"


@dataclass(frozen=True)
class RealPage:
    name: str
    lang: str
    url: str
    gold: str
    html: str
    fetched_at: datetime


def labelled(path: Path) -> list[dict]:
    try:
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    except (OSError, ValueError) as exc:
        raise ConfigError(f"labelled date strings {path}: {exc}") from exc


def predict_string(case: dict) -> str | None:
    """The stage's answer for one labelled string, at the label's precision."""
    if case["family"] == "url":
        found = dates.url_date(case["text"])
        value = found.value if found and found.precision in (dates.DAY, dates.MINUTE) else None
    else:
        now = datetime.fromisoformat(case["now"]) if case.get("now") else None
        hit = dates.publication_in_text(case["text"], now=now)
        value = hit.value if hit else None
    if value is None:
        return None
    expected = case["expected"] or ""
    return value.strftime("%Y-%m-%dT%H:%M") if "T" in expected else value.date().isoformat()


def real_pages(pages_dir: Path) -> list[RealPage]:
    """The gold-dated Arabic (and three Persian) pages of the shared fixtures."""
    mediacloud = pages_dir / "htmldate_mediacloud_2020"
    gold = json.loads((mediacloud / "ground_truth_dates.json").read_text(encoding="utf-8"))
    pages = [RealPage(name, entry["lang"], entry["url"], entry["date"],
                      (mediacloud / name).read_text(encoding="utf-8", errors="replace"), MEDIACLOUD_FETCHED)
             for name, entry in gold.items()]
    cnn = pages_dir / "cnn_arabic_2013_newspaper4k" / "source.html"
    pages.append(RealPage("cnn_arabic_2013", "ar", CNN_URL, CNN_GOLD, cnn.read_text(encoding="utf-8"),
                          CNN_FETCHED))
    lbc = pages_dir / "lbcgroup_2026_fundus"
    meta = next(iter(json.loads((lbc / "meta.info").read_text(encoding="utf-8")).values()))
    truth = json.loads((lbc / "expected.json").read_text(encoding="utf-8"))["V1"]["publishing_date"]
    pages.append(RealPage("lbcgroup_2026", "ar", meta["url"], truth[:10],
                          gzip.decompress((lbc / "source.html.gz").read_bytes()).decode("utf-8"),
                          datetime.fromisoformat(meta["crawl_date"]).replace(tzinfo=UTC)))
    return pages


def _htmldate(page: RealPage) -> str:
    try:
        return from_trafilatura(page.html, page.url).date
    except IngestError:
        return ""


def evaluate(labelled_file: Path, pages_dir: Path) -> Iterator[str]:
    """Printable lines: per-family accuracy on the strings, then page by page, then totals."""
    cases = labelled(labelled_file)
    per_family: dict[str, list[bool]] = defaultdict(list)
    misses = []
    for case in cases:
        got = predict_string(case)
        per_family[case["family"]].append(got == case["expected"])
        if got != case["expected"]:
            misses.append(f"  miss [{case['family']}] {case['text']!r}: "
                          f"expected {case['expected']}, got {got}")
    yield f"labelled strings ({labelled_file.name}): {len(cases)}"
    yield f"  {'family':<12} {'n':>3} {'accuracy':>9}"
    for family, results in per_family.items():
        yield f"  {family:<12} {len(results):>3} {sum(results) / len(results):>9.3f}"
    right = sum(sum(r) for r in per_family.values())
    yield f"  {'all':<12} {len(cases):>3} {right / len(cases):>9.3f}"
    yield from misses
    yield from _pages(real_pages(pages_dir))


def _pages(pages: list[RealPage]) -> Iterator[str]:
    yield f"real pages ({len(pages)}): gold | date stage (date_source) | htmldate alone"
    score: dict[str, list[tuple[bool, bool]]] = defaultdict(list)
    for page in pages:
        htmldate = _htmldate(page)
        choice = dates.publication_date(page.html, page.url, fetched_at=page.fetched_at, htmldate=htmldate)
        ours = choice.value.date().isoformat()
        score[page.lang].append((ours == page.gold, htmldate[:10] == page.gold))
        mark = "ok " if ours == page.gold else "BAD"
        yield (f"  {mark} {page.name:<18} {page.lang} {page.gold} | {ours} ({choice.source}) | "
               f"{htmldate[:10] or '-'}")
    for lang, results in score.items():
        yield (f"  {lang}: date stage {sum(a for a, _ in results)}/{len(results)} right, "
               f"htmldate alone {sum(b for _, b in results)}/{len(results)}")
