"""Extraction chain on the Arabic test site's pages (real trafilatura and readability-lxml)."""

from __future__ import annotations

import gzip
import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cli_support import run_once_and_read
from elasticsearch import Elasticsearch
from servers import HTML, RSS, LoopbackServer, Route, article_page, running

from ingest.charset import decode_html
from ingest.config import load_sources
from ingest.dev.paths import CorpusPaths
from ingest.errors import ConfigError
from ingest.extract import (
    MIN_BODY_CHARS,
    REGISTRY,
    ExtractionFailed,
    chain_for,
    from_readability,
    from_trafilatura,
    guess_lang,
    select,
)
from ingest.models import FeedItem
from ingest.settings import Settings

BASE = "http://news.example"
SITE = Path(__file__).parent / "fixtures" / "site"
BOILERPLATE = ["ملفات تعريف الارتباط", "أخبار ذات صلة", "تعليق القارئ الأول", "إعلان ممول",
               "جميع الحقوق محفوظة", "باقات الإنترنت", "اكتب تعليقك"]


def item(summary: str = "") -> FeedItem:
    return FeedItem(source_id="afaq", feed_url=f"{BASE}/feed.xml", url=f"{BASE}/news/003.html",
                    canonical_url="https://news.example/news/003.html", title="عنوان من الموجز",
                    summary=summary)


@pytest.fixture
def page(seed_texts: dict[str, str]) -> tuple[str, str]:
    text = seed_texts["003_d9d74fd9b7cbc085"]
    return article_page(BASE, "003", text).decode("utf-8"), text


def test_trafilatura_wins_keeps_the_body_and_drops_the_boilerplate(page: tuple[str, str]) -> None:
    html, text = page
    chosen = select(html, f"{BASE}/news/003.html", item())
    assert chosen.method == "trafilatura"
    paragraphs = [p.strip() for p in text.split("\n") if len(p.strip()) > 40]
    kept = sum(1 for p in paragraphs if p in chosen.text)
    assert kept / len(paragraphs) >= 0.9
    assert not [b for b in BOILERPLATE if b in chosen.text]


def test_metadata_title_authors_date_site_lang_tags_image_description(page: tuple[str, str]) -> None:
    chosen = select(page[0], f"{BASE}/news/003.html", item())
    assert chosen.title == "وساطة روسية تنهي التصعيد بين أرمينيا وأذربيجان"
    assert chosen.authors == ("عمر الخطيب",)
    assert chosen.date == "2021-11-17"
    assert chosen.site_name == "الأفق الإخباري"
    assert chosen.lang == "ar"
    assert {"أرمينيا", "أذربيجان"} <= set(chosen.tags)
    assert chosen.image == f"{BASE}/images/003.jpg"
    assert chosen.description.startswith("وساطة روسية") or chosen.description


def test_readability_is_the_fallback_when_trafilatura_returns_too_little(page: tuple[str, str]) -> None:
    chain = ((from_trafilatura, 10**9), (from_readability, MIN_BODY_CHARS))
    chosen = select(page[0], f"{BASE}/news/003.html", item(), chain=chain)
    assert chosen.method == "readability"
    assert "وساطة روسية" in chosen.text or "أنهت وساطة روسيا" in chosen.text
    assert chosen.authors == ("عمر الخطيب",)  # metadata still taken from trafilatura's candidate


def test_empty_page_falls_back_to_the_feed_summary() -> None:
    summary = "أنهت وساطة روسيا مساء الثلاثاء الاشتباكات التي اندلعت بين قوات أذربيجان وأرمينيا."
    chosen = select("<html><body></body></html>", f"{BASE}/news/empty.html", item(summary))
    assert chosen.method == "feed_summary" and chosen.text == summary and chosen.title == "عنوان من الموجز"


def test_empty_page_without_summary_fails_with_reason() -> None:
    with pytest.raises(ExtractionFailed) as err:
        select("<html><body><div></div></body></html>", f"{BASE}/news/empty.html", item(""))
    assert err.value.reason == "extract_empty"
    assert "feed_summary_short(0)" in str(err.value)


def test_windows_1256_page_extracts_clean_arabic() -> None:
    decoded = decode_html((SITE / "article_cp1256.html").read_bytes())
    chosen = select(decoded.text, f"{BASE}/news/cp1256.html", item())
    assert "شهدت المدينة صباح اليوم انطلاق الانتخابات البلدية" in chosen.text
    assert chosen.lang == "ar"


def test_real_arabic_page_cnn_2013_against_its_expected_text() -> None:
    folder = CorpusPaths().fixtures_dir / "pages" / "arabic" / "cnn_arabic_2013_newspaper4k"
    html = (folder / "source.html").read_text(encoding="utf-8")
    expected = (folder / "expected_text.txt").read_text(encoding="utf-8")
    chosen = select(html, "http://arabic.cnn.com/2013/middle_east/8/3/syria.clashes/index.html", None)
    expected_words, got_words = set(expected.split()), set(chosen.text.split())
    assert len(expected_words & got_words) / len(expected_words) > 0.9


def test_guess_lang() -> None:
    assert guess_lang('<html lang="ar-EG">', "") == "ar"
    assert guess_lang("<html>", "نص عربي خالص بلا أي وسم للغة") == "ar"
    assert guess_lang("<html>", "plain English text") == ""


# ---- the registry and a per-site rule (LBC Group, checked against fundus' ground truth) ----------

LBC = CorpusPaths().fixtures_dir / "pages" / "arabic" / "lbcgroup_2026_fundus"


def lbc_page() -> tuple[str, str, list[str]]:
    """The real LBC page, its URL, and fundus' expected body paragraphs."""
    html = gzip.decompress((LBC / "source.html.gz").read_bytes()).decode("utf-8")
    url = next(iter(json.loads((LBC / "meta.info").read_text(encoding="utf-8")).values()))["url"]
    truth = json.loads((LBC / "expected.json").read_text(encoding="utf-8"))["V1"]["body"]
    return html, url, [p for section in truth["sections"] for p in section["paragraphs"]]


def test_default_chain_by_name_and_a_source_s_extractor_runs_first() -> None:
    assert chain_for() == tuple(REGISTRY[n] for n in ("trafilatura", "readability", "feed_summary"))
    assert chain_for("lbcgroup")[0] == REGISTRY["lbcgroup"] and chain_for("lbcgroup")[1:] == chain_for()
    with pytest.raises(ConfigError, match="unknown extractor 'nope'"):
        chain_for("nope")


def test_lbc_rule_gives_fundus_paragraphs_and_title() -> None:
    html, url, paragraphs = lbc_page()
    chosen = select(html, url, None, chain_for("lbcgroup"))
    assert chosen.method == "css:lbcgroup"
    assert chosen.text.split("\n") == paragraphs
    assert "لغز لون شعر دونالد ترامب" in chosen.title


def test_a_rule_that_no_longer_matches_falls_back_to_the_default_chain(page: tuple[str, str]) -> None:
    chosen = select(page[0], f"{BASE}/news/003.html", item(), chain_for("lbcgroup"))
    assert chosen.method == "trafilatura"


def test_sources_yaml_names_a_registered_extractor_or_fails_naming_the_field(tmp_path: Path) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text("- {id: lbc, name: LBC, url: 'https://www.lbcgroup.tv/rss', extractor: lbcgroup}\n",
                    encoding="utf-8")
    bad.write_text("- {id: lbc, name: LBC, url: 'https://www.lbcgroup.tv/rss', extractor: lbc}\n",
                   encoding="utf-8")
    assert load_sources(good)[0].extractor == "lbcgroup"
    with pytest.raises(ConfigError, match=r"field 'extractor': .*unknown extractor"):
        load_sources(bad)


@pytest.fixture
def loopback() -> Iterator[LoopbackServer]:
    yield from running()


@pytest.mark.integration
def test_run_once_uses_the_extractor_the_source_names(
        tmp_path: Path, loopback: LoopbackServer, make_settings: Callable[..., Settings],
        es: Elasticsearch) -> None:
    html, _, paragraphs = lbc_page()
    base = loopback.url("").rstrip("/")
    loopback.routes["/news/lifestyle/898682/ar"] = Route(200, HTML, html.encode("utf-8"))
    feed = (f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>LBC</title><item>'
            f"<title>شعر وردي</title><link>{base}/news/lifestyle/898682/ar</link></item></channel></rss>")
    loopback.routes["/rss"] = Route(200, RSS, feed.encode("utf-8"))
    docs = run_once_and_read(f"- {{id: lbc, name: LBC, url: '{base}/rss', extractor: lbcgroup}}\n",
                             tmp_path, make_settings(), es)
    assert [d["extraction"]["method"] for d in docs] == ["css:lbcgroup"]
    assert docs[0]["body"].split("\n") == paragraphs
