"""Benchmark inputs, all read from ``Settings.fixtures_dir`` (never copied into the repo).

- real article pages: ``pages/**`` and ``extraction-benchmark/html`` (HTML, some gzipped);
- real Arabic texts: SaudiNewsNet in ``arabic-news/`` (loaded by the dedup evaluation's reader);
- perturbed variants of those texts, for index sizes beyond the corpus: sentences dropped and
  reordered, words swapped for words of other articles, a sentence of another article appended.
  Why perturb rather than repeat: exact repeats would all be cheap exact-hash duplicates, while
  variants spread over every dedup tier (near copy, same story, new) as real feeds do.
"""

from __future__ import annotations

import gzip
import html
import random
import re
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from pathlib import Path

from ingest.dev.evaluation.dedup import load_saudinewsnet
from ingest.models import Article, doc_id_for

_SENTENCE_END = re.compile(r"(?<=[.!؟?])\s+|\n+")


@dataclass(frozen=True)
class FixturePage:
    name: str
    body: bytes


def fixture_pages(fixtures_dir: Path) -> list[FixturePage]:
    """Every real page (``*.html``, ``*.html.gz``; expected outputs excluded), sorted by name."""
    out = []
    for folder in (fixtures_dir / "pages", fixtures_dir / "extraction-benchmark" / "html"):
        for path in sorted(folder.rglob("*.html*")):
            if path.name.startswith("expected") or not path.name.endswith((".html", ".html.gz")):
                continue
            body = path.read_bytes()
            out.append(
                FixturePage(
                    str(path.relative_to(fixtures_dir)),
                    gzip.decompress(body) if path.suffix == ".gz" else body,
                )
            )
    if not out:
        raise FileNotFoundError(f"no fixture pages under {fixtures_dir} (set INGEST_FIXTURES_DIR)")
    return out


@lru_cache(maxsize=2)
def arabic_articles(fixtures_dir: Path) -> tuple[Article, ...]:
    """SaudiNewsNet articles with a body of 40+ words, one per URL, in crawl order."""
    articles = load_saudinewsnet(fixtures_dir / "arabic-news" / "saudinewsnet")
    unique = {a.doc_id: a for a in articles if len(a.body.split()) >= 40}
    if not unique:
        raise FileNotFoundError(f"no SaudiNewsNet texts under {fixtures_dir / 'arabic-news'}")
    return tuple(
        sorted(unique.values(), key=lambda a: (a.published_at or datetime.min.replace(tzinfo=UTC), a.doc_id))
    )


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def perturb(base: Article, other: Article, rng: random.Random, *, key: str, at: datetime) -> Article:
    """A variant of ``base``: ~15% of sentences dropped, two swapped, ~8% of words replaced by
    words of ``other``, one sentence of ``other`` appended; new URL ``key``, event time ``at``."""
    sentences = _sentences(base.body)
    kept = [s for s in sentences if rng.random() > 0.15] or sentences[:1]
    if len(kept) > 2:
        i = rng.randrange(len(kept) - 1)
        kept[i], kept[i + 1] = kept[i + 1], kept[i]
    donor_words = other.body.split() or ["خبر"]
    words = " ".join(kept).split()
    words = [rng.choice(donor_words) if rng.random() < 0.08 else w for w in words]
    extra = rng.choice(_sentences(other.body) or [""])
    title_words = base.title.split()
    if len(title_words) > 3:
        title_words[rng.randrange(len(title_words))] = rng.choice(donor_words)
    return _moved(base, key, at, body=" ".join(words) + "\n" + extra, title=" ".join(title_words))


def perturbed(
    fixtures_dir: Path, n: int, *, seed: int, start: datetime | None = None, spread_hours: float = 72.0
) -> list[Article]:
    """``n`` variants of the real texts (deterministic for a seed), event times spread over the
    ``spread_hours`` before ``start`` (inside every dedup window, the costly case)."""
    bases = arabic_articles(fixtures_dir)
    rng = random.Random(seed)
    start = start or datetime.now(UTC)
    out = []
    for i in range(n):
        at = start - timedelta(hours=rng.random() * spread_hours)
        out.append(perturb(rng.choice(bases), rng.choice(bases), rng, key=f"s{seed}-{i}", at=at))
    return out


NEWS_STREAM_MIX = {"new": 0.80, "story": 0.15, "near": 0.04, "exact": 0.01}  # share of each kind


@dataclass(frozen=True)
class StreamItem:
    """One article of a news stream, with what it is a version of (``origin``: index of the
    earlier item it reports again, or copies), so a background can be written already decided."""

    article: Article
    kind: str  # new | story | near | exact (NEWS_STREAM_MIX)
    origin: int | None


def news_stream(
    fixtures_dir: Path, n: int, *, seed: int, start: datetime | None = None, spread_hours: float = 72.0
) -> list[Article]:
    """``n`` articles shaped like a day of a national press (``news_stream_items``)."""
    return [item.article for item in news_stream_items(fixtures_dir, n, seed=seed, start=start,
                                                       spread_hours=spread_hours)]


def news_stream_items(
    fixtures_dir: Path, n: int, *, seed: int, start: datetime | None = None, spread_hours: float = 72.0
) -> list[StreamItem]:
    """``n`` articles shaped like a day of a national press (NEWS_STREAM_MIX): most report a
    story of their own (sentences recombined from three real texts, with names of their own), some
    are another outlet's report of an earlier item's story (``perturb``), a few are near or exact
    copies of one. Deterministic for a seed."""
    bases = arabic_articles(fixtures_dir)
    rng = random.Random(seed)
    start = start or datetime.now(UTC)
    kinds, weights = list(NEWS_STREAM_MIX), list(NEWS_STREAM_MIX.values())
    out: list[StreamItem] = []
    for i in range(n):
        at = start - timedelta(hours=rng.random() * spread_hours)
        key = f"n{seed}-{i}"
        kind = rng.choices(kinds, weights)[0] if out else "new"
        if kind == "new":
            out.append(StreamItem(_recombined(rng.sample(bases, 3), rng, key=key, at=at), kind, None))
            continue
        origin = rng.randrange(len(out))
        earlier = out[origin].article
        if kind == "story":
            article = perturb(earlier, rng.choice(bases), rng, key=key, at=at)
        elif kind == "near":
            body = earlier.body + "\n" + rng.choice(_sentences(rng.choice(bases).body) or [""])
            article = _moved(earlier, key, at, body=body)
        else:
            article = _moved(earlier, key, at, body=earlier.body)
        out.append(StreamItem(article, kind, origin))
    return out


_LETTERS = "ابتثجحخدذرزسشصضطعغفقكلمنهوي"
NAME_SHARE = 0.2  # of a new story's words that are its own names (people, places, bodies)


def _names(rng: random.Random, k: int = 6) -> list[str]:
    """Made-up proper names: what sets one story apart from another that reuses the same real
    sentences. Without them a stream of a million recombinations of 3,263 texts makes every new
    article similar to hundreds of earlier ones (each text is reused ~700 times), a density no
    press has and one that grows with the stream."""
    return ["".join(rng.choice(_LETTERS) for _ in range(rng.randint(4, 7))) for _ in range(k)]


def _recombined(parts: list[Article], rng: random.Random, *, key: str, at: datetime) -> Article:
    names = _names(rng)
    sentences = [s for a in parts for s in _sentences(a.body)[:4]]
    rng.shuffle(sentences)
    words = " ".join(sentences).split()
    words = [rng.choice(names) if rng.random() < NAME_SHARE and w.isalpha() else w for w in words]
    title = " ".join([names[0], *(w for a in parts for w in a.title.split()[:3])])
    return _moved(parts[0], key, at, body=" ".join(words), title=title)


def _moved(base: Article, key: str, at: datetime, *, body: str, title: str | None = None) -> Article:
    url = f"https://bench.example/{base.source_id}/{key}"
    return replace(
        base,
        doc_id=doc_id_for(url),
        url=url,
        canonical_url=url,
        title=base.title if title is None else title,
        body=body,
        published_at=at,
        fetched_at=at,
    )


PAGE_TEMPLATE = """<!DOCTYPE html>
<html lang="ar" dir="rtl"><head><meta charset="utf-8"><title>{title} | {site}</title>
<meta name="description" content="{lead}"><link rel="canonical" href="{url}"></head>
<body><header><nav><a href="/">الرئيسية</a> <a href="/politics">سياسة</a> <a href="/economy">اقتصاد</a>
<a href="/sports">رياضة</a> <a href="/opinion">رأي</a></nav></header>
<main><article><h1>{title}</h1><p class="byline">{site} - {date}</p>
{paragraphs}
</article>
<aside><h3>الأكثر قراءة</h3><ul><li><a href="/a/1">أسعار النفط تتراجع في التعاملات المبكرة</a></li>
<li><a href="/a/2">الطقس: أجواء حارة على معظم المناطق</a></li></ul></aside></main>
<footer><p>جميع الحقوق محفوظة © {site}</p><a href="/privacy">سياسة الخصوصية</a></footer></body></html>
"""


def render_page(article: Article) -> bytes:
    """A news page around ``article``: navigation, related links and footer as boilerplate."""
    paragraphs = "\n".join(f"<p>{html.escape(p)}</p>" for p in _sentences(article.body))
    date = article.published_at.date().isoformat() if article.published_at else ""
    return PAGE_TEMPLATE.format(
        title=html.escape(article.title),
        site=html.escape(article.source_name),
        lead=html.escape(article.body[:150]),
        url=html.escape(article.url),
        date=date,
        paragraphs=paragraphs,
    ).encode("utf-8")
