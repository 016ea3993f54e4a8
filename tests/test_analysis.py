"""Arabic analysis: the tokens the project's search depends on.

Every expected token below is derived from Lucene's rules, not copied from a node:
- ArabicNormalizer: alef with hamza above/below or madda -> bare alef (ا); alef maksura (ى) -> yeh
  (ي); teh marbuta (ة) -> heh (ه); tatweel and the harakat (fathatan, dammatan, kasratan, fatha,
  damma, kasra, shadda, sukun) removed.
- ArabicStemmer: at most ONE prefix, the first that matches of ال وال بال كال فال لل و (و only on
  words of 4+ letters, the others when 2+ letters remain); then every suffix of ها ان ات ون ين يه
  ية ه ة ي, checked in that order, each removed when 2+ letters remain.
- DecimalDigitFilter: any Unicode decimal digit (Arabic-Indic, Extended Arabic-Indic) -> 0-9.
- The stop filter (_arabic_) runs BEFORE normalization, on the raw token.

They run against the embedded node, or against any Elasticsearch given in INGEST_TEST_ES_URL
(e.g. the stock image): the same expectations hold for both, which is the point of the plugin.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from elasticsearch import Elasticsearch

from ingest.dev import node
from ingest.settings import load_settings

pytestmark = pytest.mark.integration

# The stock `arabic` analyzer's chain, every filter defined inline by type.
ARABIC_CHAIN: list[dict[str, Any]] = [
    {"type": "lowercase"},
    {"type": "decimal_digit"},
    {"type": "stop", "stopwords": "_arabic_"},
    {"type": "arabic_normalization"},
    {"type": "arabic_stem"},
]

FATHATAN, DAMMATAN, KASRATAN = "\u064b", "\u064c", "\u064d"
FATHA, DAMMA, KASRA, SHADDA, SUKUN = "\u064e", "\u064f", "\u0650", "\u0651", "\u0652"
TATWEEL = "\u0640"


@pytest.fixture(scope="session")
def analysis_es() -> Iterator[Elasticsearch]:
    """INGEST_TEST_ES_URL if set, else the embedded node (started if needed; fails, never skips)."""
    with node.serving(os.environ.get("INGEST_TEST_ES_URL", ""), load_settings().files.cache_dir) as url:
        yield Elasticsearch(url, request_timeout=60)


def analyze(es: Elasticsearch, text: str, *filters: Any, **kwargs: Any) -> list[str]:
    """Tokens of ``text`` through the standard tokenizer and ``filters`` (or ``analyzer=``)."""
    if "analyzer" not in kwargs:
        kwargs.update(tokenizer="standard", filter=list(filters))
    return [t["token"] for t in es.indices.analyze(text=text, **kwargs)["tokens"]]


# --------------------------------------------------------------------------- each filter alone


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("أحمد", "احمد"),  # hamza above
        ("إبراهيم", "ابراهيم"),  # hamza below
        ("آدم", "ادم"),  # madda
        ("مستشفى", "مستشفي"),  # alef maksura -> yeh
        ("مدرسة", "مدرسه"),  # teh marbuta -> heh
        (f"ك{FATHA}ت{FATHA}ب{FATHA}", "كتب"),  # fatha
        (f"ش{DAMMA}ك{SUKUN}ر{FATHATAN}ا", "شكرا"),  # damma, sukun, fathatan
        (f"م{DAMMA}د{FATHA}ر{KASRA}{SHADDA}س{KASRATAN}", "مدرس"),  # kasra, shadda, kasratan
        (f"كتاب{DAMMATAN}", "كتاب"),  # dammatan
        (f"العـ{TATWEEL}{TATWEEL}ربية", "العربيه"),  # tatweel removed, then teh marbuta
    ],
)
def test_arabic_normalization(analysis_es: Elasticsearch, text: str, expected: str) -> None:
    assert analyze(analysis_es, text, "arabic_normalization") == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("٠١٢٣٤٥٦٧٨٩", "0123456789"),  # Arabic-Indic
        ("۰۱۲۳۴۵۶۷۸۹", "0123456789"),  # Extended Arabic-Indic (Persian/Urdu)
        ("2022", "2022"),
    ],
)
def test_decimal_digit(analysis_es: Elasticsearch, text: str, expected: str) -> None:
    assert analyze(analysis_es, text, "decimal_digit") == [expected]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("الكتاب", "كتاب"),  # ال
        ("والكتاب", "كتاب"),  # وال
        ("بالقلم", "قلم"),  # بال
        ("كالبحر", "بحر"),  # كال
        ("فالامر", "امر"),  # فال
        ("للطالب", "طالب"),  # لل
        ("وكتب", "كتب"),  # و on a 4-letter word
        ("ولد", "ولد"),  # و kept on a 3-letter word
        ("الم", "الم"),  # ال kept: only one letter would remain
        ("كتابها", "كتاب"),  # ها
        ("كتابان", "كتاب"),  # ان
        ("معلمات", "معلم"),  # ات
        ("معلمون", "معلم"),  # ون
        ("معلمين", "معلم"),  # ين
        ("عربيه", "عرب"),  # يه
        ("عربية", "عرب"),  # ية
        ("كتابه", "كتاب"),  # ه
        ("مدرسة", "مدرس"),  # ة
        ("كتابي", "كتاب"),  # ي
        ("سياراتها", "سيار"),  # suffixes chain: ها then ات
        ("كتابهم", "كتابهم"),  # هم is not a suffix the light stemmer knows
        ("وللطلاب", "للطلاب"),  # one prefix only: و goes, لل stays
    ],
)
def test_arabic_stem(analysis_es: Elasticsearch, text: str, expected: str) -> None:
    assert analyze(analysis_es, text, "arabic_stem") == [expected]


# --------------------------------------------------------------------------- the whole chain

CHAIN_CASES = [
    # hamza forms on alef, inside words and after a clitic; في is a stop word
    ("أحمد وإبراهيم في آخر الأخبار", ["احمد", "ابراهيم", "اخر", "اخبار"]),
    # alef maksura and teh marbuta, then the article and a suffix go
    ("مستشفى الجامعة الكبرى", ["مستشف", "جامع", "كبر"]),
    # harakat and tatweel vanish before stemming
    (
        f"ك{FATHA}ت{FATHA}ب{FATHA} الط{SHADDA}{FATHA}ال{KASRA}ب{DAMMA} ر{KASRA}س{FATHA}ال{FATHA}ة{FATHATAN} "
        f"طوي{TATWEEL}{TATWEEL}{TATWEEL}لة",
        ["كتب", "طالب", "رسال", "طويل"],
    ),
    # Arabic-Indic digits become ASCII; شخصا keeps its alef (not a suffix)
    ("قتل ١٥ شخصا عام ٢٠٢١", ["قتل", "15", "شخصا", "عام", "2021"]),
    # the article with its clitics; one prefix only
    ("والمعلمون بالمدرسة وللطلاب كالعادة فالأمر", ["معلم", "مدرس", "للطلاب", "عاد", "امر"]),
    # suffixes chain; هم is not stripped
    ("سياراتها كتابهم", ["سيار", "كتابهم"]),
    # length guards: و needs 4 letters; ألم normalises to الم, too short for the article
    ("ولد ألم", ["ولد", "الم"]),
    # Latin is lower-cased
    ("قالت BBC", ["قالت", "bbc"]),
    # stop words, in the raw spellings the list holds
    ("إن أن ان التي الذي على إلى الى هذا", []),
    # the stop list is matched before normalisation: على (on) goes, the name علي stays and is stemmed
    ("على علي", ["عل"]),
    # ... and a vocalised stop word is not recognised
    (f"ف{KASRA}ي", ["في"]),
]


@pytest.mark.parametrize("way", ["custom_chain", "arabic_analyzer"])
@pytest.mark.parametrize(("text", "expected"), CHAIN_CASES)
def test_arabic_chain(analysis_es: Elasticsearch, way: str, text: str, expected: list[str]) -> None:
    if way == "arabic_analyzer":
        assert analyze(analysis_es, text, analyzer="arabic") == expected
    else:
        assert analyze(analysis_es, text, *ARABIC_CHAIN) == expected


def test_stop_words_leave_position_gaps(analysis_es: Elasticsearch) -> None:
    """Phrase queries must not match across a removed stop word as if it were absent."""
    result = analysis_es.indices.analyze(analyzer="arabic", text="ذهب الطالب إلى المدرسة في الصباح")
    assert [(t["token"], t["position"]) for t in result["tokens"]] == [
        ("ذهب", 0),
        ("طالب", 1),
        ("مدرس", 3),
        ("صباح", 5),
    ]


def test_spelling_variants_meet_in_one_term(analysis_es: Elasticsearch) -> None:
    """What the analysis is for: differently spelled reports of the same thing share index terms."""
    variants = ["المدرسة", "المدرسه", "مدرسة", "بالمدرسة", "والمدرسة", f"المد{TATWEEL}رس{FATHA}ة"]
    assert {tuple(analyze(analysis_es, v, analyzer="arabic")) for v in variants} == {("مدرس",)}
    hamza = ["أمير", "إمير", "آمير", "امير"]
    assert {tuple(analyze(analysis_es, v, analyzer="arabic")) for v in hamza} == {("امير",)}
