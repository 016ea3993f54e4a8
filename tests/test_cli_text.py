"""Pure output helpers: Arabic counted nouns and terminal-safe escaping of hostile feed text."""

from __future__ import annotations

import pytest

from ingest.cli.text import safe
from ingest.wording import ARTICLE, arabic_digits, count


@pytest.mark.parametrize(("n", "expected"), [
    (1, "مصدر واحد"), (2, "مصدران"), (3, "٣ مصادر"), (10, "١٠ مصادر"), (11, "١١ مصدرًا"),
    (99, "٩٩ مصدرًا"), (100, "١٠٠ مصدر"), (103, "١٠٣ مصادر"), (111, "١١١ مصدرًا"), (1000, "١٠٠٠ مصدر"),
    (0, "لا مصادر"),
])
def test_sources_agree_with_their_number(n: int, expected: str) -> None:
    assert count(n) == expected


def test_another_noun_and_the_digits() -> None:
    assert count(1, ARTICLE) == "خبر واحد" and count(2, ARTICLE) == "خبران"
    assert count(5, ARTICLE) == "٥ أخبار" and count(25, ARTICLE) == "٢٥ خبرًا"
    assert arabic_digits(2026) == "٢٠٢٦"


def test_negative_count_is_refused() -> None:
    with pytest.raises(ValueError, match="negative"):
        count(-1)


def test_escape_sequences_and_bidi_overrides_are_shown_not_obeyed() -> None:
    hostile = "عاجل\x1b[2J\x1b]0;owned\x07 \u202eabc\u202c\x9b31m"
    assert safe(hostile) == "عاجل\\x1b[2J\\x1b]0;owned\\x07 \\u202eabc\\u202c\\x9b31m"


def test_arabic_joiners_and_marks_pass_and_newlines_only_when_multiline() -> None:
    text = "لا\u200cإله\u200d \u200fنص\u200e"
    assert safe(text) == text
    assert safe("a\nb\tc") == "a\\x0ab\\x09c"
    assert safe("a\nb\tc\x00", multiline=True) == "a\nb\tc\\x00"
    assert safe(None) == ""


def test_quiet_clients_puts_request_loggers_at_warning() -> None:
    import logging

    from ingest.logs import quiet_clients

    logging.getLogger("elastic_transport.transport").setLevel(logging.NOTSET)
    logging.getLogger("elastic_transport").setLevel(logging.DEBUG)
    quiet_clients()
    assert not logging.getLogger("elastic_transport.transport").isEnabledFor(logging.INFO)
    assert logging.getLogger("elastic_transport.transport").isEnabledFor(logging.WARNING)
    assert logging.getLogger("ingest.pipeline").getEffectiveLevel() == logging.getLogger().getEffectiveLevel()
