"""Extraction chain on the Arabic test site's pages (real trafilatura and readability-lxml)."""

from __future__ import annotations

from pathlib import Path

import pytest
from servers import article_page

from ingest.charset import decode_html
from ingest.extract import (
    MIN_BODY_CHARS,
    ExtractionFailed,
    from_readability,
    from_trafilatura,
    guess_lang,
    select,
)
from ingest.models import FeedItem
from ingest.settings import load_settings

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
    folder = load_settings().fixtures_dir / "pages" / "arabic" / "cnn_arabic_2013_newspaper4k"
    html = (folder / "source.html").read_text(encoding="utf-8")
    expected = (folder / "expected_text.txt").read_text(encoding="utf-8")
    chosen = select(html, "http://arabic.cnn.com/2013/middle_east/8/3/syria.clashes/index.html", None)
    expected_words, got_words = set(expected.split()), set(chosen.text.split())
    assert len(expected_words & got_words) / len(expected_words) > 0.9


def test_guess_lang() -> None:
    assert guess_lang('<html lang="ar-EG">', "") == "ar"
    assert guess_lang("<html>", "نص عربي خالص بلا أي وسم للغة") == "ar"
    assert guess_lang("<html>", "plain English text") == ""
