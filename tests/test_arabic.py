"""Unit tests for the fingerprint normaliser: each case names the variation it must erase."""

from __future__ import annotations

import unicodedata

import pytest

from ingest.arabic import normalize, shingles, tokens


@pytest.mark.parametrize(
    ("variant", "plain"),
    [
        ("كَتَبَ الطَّالِبُ", "كتب الطالب"),  # harakat, shadda
        ("سلامٌ عليكمً", "سلام عليكم"),  # tanween
        ("الرَّحْمٰنِ", "الرحمن"),  # superscript (dagger) alef
        # Quranic marks + wasla; the dagger alef is dropped (as Lucene does): الكتٰب keeps its Quranic form
        ("ذٰلِكَ ٱلْكِتَٰبُ لَا رَيْبَۛ فِيهِۛ", "ذلك الكتب لا ريب فيه"),
        ("كــــبير", "كبير"),  # tatweel
        ("أحمد إبراهيم آمن", "احمد ابراهيم امن"),  # hamza on/under alef, madda
        ("ٱلحمد", "الحمد"),  # alef wasla
        ("مستشفى", "مستشفي"),  # alef maksura
        ("مدرسة", "مدرسه"),  # taa marbuta
        ("مسؤول", "مسءول"),  # hamza on waw
        ("مسئول", "مسءول"),  # hamza on yeh: same key as the waw spelling
        ("کتاب", "كتاب"),  # Persian keheh
        ("فارسی", "فارسي"),  # Farsi yeh
        ("ھذہ", "هذه"),  # Urdu heh doachashmee / heh goal
        ("٢٠٢١", "2021"),  # Arabic-Indic digits
        ("۱۴۰۰", "1400"),  # Persian digits
        ("«قال»، نعم؟ (بالطبع)!", "قال نعم بالطبع"),  # Arabic and Latin punctuation
        ("١٢٪", "12"),  # Arabic percent sign is punctuation
        ("  سطر\n\tجديد  ", "سطر جديد"),  # whitespace collapses
        ("ﻻ", "لا"),  # lam-alef presentation ligature
        ("ﺍﻟﺴﻼﻡ", "السلام"),  # presentation forms B
        ("Reuters News", "reuters news"),  # Latin case
    ],
)
def test_variants_fold_to_one_form(variant: str, plain: str) -> None:
    assert normalize(variant) == plain


def test_decomposed_hamza_is_composed_before_folding() -> None:
    # alef + combining hamza above (U+0654): a decomposed أ, as some editors emit.
    decomposed = "\u0627\u0654\u062d\u0645\u062f"
    assert unicodedata.normalize("NFC", decomposed) == "أحمد"
    assert normalize(decomposed) == normalize("أحمد") == "احمد"


def test_stray_combining_hamza_is_dropped() -> None:
    # U+0654 after a letter it cannot compose with must not survive as a stray mark.
    assert normalize("\u0644\u0654\u0627") == "لا"


def test_invisible_format_characters_vanish_inside_words() -> None:
    # ZWNJ, RLM and a BOM inside a word must not split it.
    assert normalize("مي\u200cخواهم\u200f\ufeff") == "ميخواهم"


def test_zero_width_joiner_and_tatweel_together() -> None:
    assert normalize("عـ\u200dـلي") == "علي"


def test_same_report_with_and_without_diacritics_gives_same_tokens() -> None:
    plain = "أعلنت وزارة الدفاع الأرمينية وقوع 12 من جنودها أسرى"
    marked = "أَعْلَنَتْ وِزَارَةُ الدِّفَاعِ الأَرْمِينِيَّةُ، وُقُوعَ ١٢ مِنْ جُنُودِهَا أَسْرَى."
    assert tokens(plain) == tokens(marked)


def test_different_words_stay_different() -> None:
    assert normalize("قتل") != normalize("قتال")


def test_empty_and_punctuation_only_text() -> None:
    assert normalize("") == ""
    assert normalize("... ، ؛ !") == ""
    assert tokens("") == []


def test_shingles_are_word_ngrams() -> None:
    assert shingles(["a", "b", "c", "d"], 3) == {"a b c", "b c d"}
    assert shingles(["a", "b"], 3) == {"a b"}
    assert shingles([], 3) == set()
