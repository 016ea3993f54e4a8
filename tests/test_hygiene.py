"""Text hygiene: what is stored carries no terminal escapes or bidi overrides, and is bounded;
the declared charset survives a few broken bytes."""

from __future__ import annotations

from ingest import hygiene
from ingest.charset import decode_html
from ingest.documents import article_document
from ingest.models import Article

TITLE = "أرمينيا تعلن أسر 12 من جنودها"


def test_escape_sequences_and_bidi_overrides_are_removed() -> None:
    hostile = f"\x1b[2J\x1b[31m{TITLE}\x1b[0m \u202egnp.exe\u202c\x07\x00"
    assert hygiene.clean_line(hostile) == f"{TITLE} gnp.exe"


def test_marks_arabic_text_needs_are_kept() -> None:
    text = "\u200fنص\u200e \u061cمع\u200c علامات\u200d\nسطر ثان\tو"
    assert hygiene.clean_text(text) == text


def test_lengths_are_bounded() -> None:
    assert len(hygiene.clean_line("ب" * 40_000)) == hygiene.MAX_TITLE_CHARS
    labels = hygiene.clean_labels([f"وسم {n}" for n in range(500)] + ["x" * 10_000])
    assert len(labels) == hygiene.MAX_LABELS and all(len(v) <= hygiene.MAX_LABEL_CHARS for v in labels)


def test_the_stored_document_is_clean() -> None:
    url = "https://a.example/1"
    article = Article(doc_id="d", url=url, canonical_url=url, source_id="a", feed=url,
                      source_name="\x1b]0;pwned\x07صحيفة", title="\u202e" + "ب" * 40_000, body="نص\x1b[1m",
                      summary="ملخص\u202d\x1b[5m", authors=("\x00كاتب", "\x00كاتب"), domain="a.example")
    doc = article_document(article)
    assert doc["title"] == "ب" * hygiene.MAX_TITLE_CHARS
    assert (doc["body"], doc["summary"], doc["source"]["name"], doc["authors"]) == ("نص", "ملخص", "صحيفة",
                                                                                   ["كاتب"])


def _utf8_page(damage: bytes) -> bytes:
    """60 paragraphs; after every 10th, ``damage`` (stray bytes, as a broken CMS leaves them)."""
    paragraphs = [f"<p>{TITLE} {n}</p>".encode() + (damage if n % 10 == 9 else b"") for n in range(60)]
    return b"<html><head><meta charset='utf-8'></head><body>" + b"".join(paragraphs) + b"</body></html>"


def test_utf8_page_with_a_few_invalid_bytes_is_not_mojibake() -> None:
    decoded = decode_html(_utf8_page(b"\xff\xc3"), "text/html; charset=utf-8")
    assert (decoded.encoding, decoded.method) == ("utf-8", "declared")
    assert TITLE in decoded.text and decoded.text.count("\ufffd") == 12
    undeclared = decode_html(_utf8_page(b"\xff\xc3"), "text/html")
    assert (undeclared.encoding, TITLE in undeclared.text) == ("utf-8", True)


def test_declared_utf8_that_clearly_fails_is_redetected() -> None:
    cp1256 = ("<html><body>" + f"<p>{TITLE}</p>" * 30 + "</body></html>").encode("cp1256")
    decoded = decode_html(cp1256, "text/html; charset=utf-8")
    assert decoded.encoding == "cp1256" and TITLE in decoded.text
