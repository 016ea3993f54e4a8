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
from collections.abc import Sequence
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


MIN_HOST_PARAGRAPHS = 3  # a real page whose main text sits in at least this many sibling <p>
HOST_LEFTOVER_WORDS = 8  # at most this many words of a host page's own text survive extraction


@dataclass(frozen=True)
class HostPage:
    """A real page's markup with its main text cut out: ``head`` + paragraphs + ``tail``.

    Why: the news stream's texts need pages to be fetched from. Rendered into a 1 KB template,
    extraction costs 5-8 ms a page against 30-47 ms for a real one, so a benchmark that compares
    the pipeline with extraction would measure the template, not a news day. Real markup (scripts,
    menus, related links, comments, inline styles) keeps extraction's cost what it is on the web.
    """

    name: str
    head: str
    tail: str


def host_pages(fixtures_dir: Path) -> list[HostPage]:
    """The real pages whose main text is a run of sibling paragraphs, cut open there."""
    from lxml import html as lxml_html  # trafilatura's own parser

    from ingest.charset import decode_html

    hosts = []
    for page in fixture_pages(fixtures_dir):
        try:
            tree = lxml_html.document_fromstring(decode_html(page.body).text)
        except (ValueError, lxml_html.etree.ParserError):
            continue
        best = max(tree.iter(), key=_paragraph_text, default=None)
        if best is None or len(best.findall("p")) < MIN_HOST_PARAGRAPHS:
            continue
        marker = lxml_html.Element("p")
        marker.text = "@@BENCH-BODY@@"
        best.findall("p")[0].addprevious(marker)
        for p in [p for p in tree.iter("p") if p is not marker and len(p.text_content()) > 40]:
            p.drop_tree()  # the page's own text, wherever it is: only the new article remains
        for meta in tree.xpath("//meta[@charset or translate(@http-equiv, 'CONTENT-YP', 'content-yp')"
                               "='content-type']"):
            meta.drop_tree()  # the page is served as UTF-8 now, whatever it declared
        for script in tree.xpath("//script[@type='application/ld+json']"):
            script.drop_tree()  # its headline would be the original article's
        for meta in tree.xpath("//meta[contains(@property, 'title') or contains(@name, 'title')]"):
            meta.set("content", "@@BENCH-TITLE@@")
        dated = "//meta[re:test(concat(@property, @name, @itemprop), 'date|time|publish', 'i')]"
        for meta in tree.xpath(dated, namespaces={"re": "http://exslt.org/regular-expressions"}):
            meta.drop_tree()  # the article's own date is declared instead (render_into)
        for time_el in tree.xpath("//time[@datetime]"):
            time_el.attrib.pop("datetime")
        text = lxml_html.tostring(tree, encoding="unicode", doctype="<!DOCTYPE html>")
        head, _, tail = text.partition("<p>@@BENCH-BODY@@</p>")
        head = re.sub(r"<head([^>]*)>", r'<head\1><meta charset="utf-8">@@BENCH-DATE@@', head, count=1)
        host = HostPage(page.name, head, tail)
        if _extracts_as_itself(host):
            hosts.append(host)
    if not hosts:
        raise FileNotFoundError(f"no fixture page under {fixtures_dir} has {MIN_HOST_PARAGRAPHS}+ paragraphs")
    return hosts


def _probe(sentences: int) -> Article:
    line = "الجملة رقم {} من نص الخبر التجريبي تتحدث عن موضوع {} في المدينة."
    body = "\n".join(line.format(i, i) for i in range(sentences))
    return Article(doc_id="probe", url="https://bench.example/probe", canonical_url="https://bench.example/probe",
                   source_id="bench", source_name="bench", domain="bench.example", feed="", lang="ar",
                   title="عنوان الخبر التجريبي للصفحة", body=body)


_PROBES = (_probe(6), _probe(30))  # how much of a host's own text survives depends on the length


def _extracts_as_itself(host: HostPage, most: float = 0.9) -> bool:
    """A host is kept when extraction of a page rendered into it gives back the rendered text
    (``most`` of its words) and hardly anything else, for a short article and a long one:
    left-over text of the original page (related headlines, captions) would be shared by every
    article rendered into the same host."""
    from ingest import errors, extract

    for probe in _PROBES:
        try:
            found = extract.from_trafilatura(render_into(probe, host).decode("utf-8"), probe.url)
        except errors.PermanentError:
            return False
        got, words, own = found.text.split(), probe.body.split(), {*probe.body.split(), *probe.title.split()}
        leftover = sum(w not in own for w in got)  # the headline may be part of the text, as on the web
        if len(got) - leftover < most * len(words) or leftover > HOST_LEFTOVER_WORDS:
            return False
        if found.title != probe.title:
            return False
    return True


def _paragraph_text(el: object) -> int:
    """Characters of text in ``el``'s direct ``<p>`` children: where a page keeps its article."""
    findall = getattr(el, "findall", None)
    if findall is None or not isinstance(getattr(el, "tag", None), str):
        return 0
    return sum(len(p.text_content()) for p in findall("p"))


def render_into(article: Article, host: HostPage) -> bytes:
    """``article`` as the main text of a real page (``HostPage``); its title replaces the page's
    ``<title>``, first ``<h1>`` and title metadata, and its event time is the page's declared
    publication time, so the headline and date extracted are the article's."""
    paragraphs = "\n".join(f"<p>{html.escape(p)}</p>" for p in _sentences(article.body))
    title = html.escape(article.title)
    head = re.sub(r"<title>.*?</title>", f"<title>{title}</title>", host.head, count=1, flags=re.S)
    head = re.sub(r"<h1([^>]*)>.*?</h1>", rf"<h1\1>{title}</h1>", head, count=1, flags=re.S)
    when = article.published_at.isoformat() if article.published_at else ""
    date = f'<meta property="article:published_time" content="{when}">' if when else ""
    page = head + paragraphs + host.tail
    return page.replace("@@BENCH-TITLE@@", title).replace("@@BENCH-DATE@@", date).encode("utf-8")


def stream_pages(fixtures_dir: Path, items: Sequence[StreamItem]) -> list[bytes]:
    """Each item rendered into the next real host page in turn; an exact copy into its origin's
    host (the same page published again: a copy on another site's markup differs by that site's
    bits of boilerplate, and is a near copy)."""
    hosts = host_pages(fixtures_dir)
    chosen: list[int] = []
    for i, item in enumerate(items):
        exact = item.kind == "exact" and item.origin is not None
        chosen.append(chosen[item.origin] if exact else i % len(hosts))  # type: ignore[index]
    return [render_into(item.article, hosts[h]) for item, h in zip(items, chosen, strict=True)]
