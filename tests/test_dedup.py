"""Unit tests for the pure parts of dedup: fingerprints, title keys, evidence, scores, fields."""

from __future__ import annotations

from datetime import UTC, datetime

from ingest.dedup import fingerprint as fp
from ingest.dedup.decide import Decision, _match, entry_for
from ingest.dedup.registry import Entry, entry_of
from ingest.dedup.similarity import cosine, story_score, weights
from ingest.dev.evaluation.dedup import make_article
from ingest.models import Article
from ingest.settings import load_settings

CFG = load_settings().dedup
WORDS = [f"كلمة{i}" for i in range(200)]  # 200 distinct words -> 196 distinct 5-gram shingles
BODY = " ".join(WORDS)


def _fp(body: str, title: str = "عنوان") -> fp.Fingerprint:
    return fp.fingerprint(title, body, shingle_size=5, num_perm=128, bands=42)


def _article(doc_id: str, body: str, title: str = "عنوان الخبر الرئيسي اليوم", source: str = "a") -> Article:
    return make_article(doc_id, source, title, body, datetime(2021, 11, 16, 10, tzinfo=UTC))


def test_content_hash_ignores_spelling_and_punctuation() -> None:
    a = _fp("أعلنت وزارة الدفاع الأرمينية، اليوم الثلاثاء، وقوع ١٢ من جنودها أسرى.")
    b = _fp("اعلنت وزارةُ الدفاع الارمينية اليوم الثلاثاء - وقوع 12 من جنودها اسري")
    assert a.content_hash == b.content_hash
    assert (
        a.content_hash
        != _fp("أعلنت وزارة الدفاع الأذربيجانية اليوم الثلاثاء وقوع 12 من جنودها أسرى").content_hash
    )


def test_short_body_has_no_body_fingerprint() -> None:
    f = _fp("خبر قصير جدا")
    assert not f.has_body
    assert f.content_hash == "" and f.lsh == () and f.sig == ()


def test_signature_roundtrips_through_base64() -> None:
    f = _fp(BODY)
    assert fp.sig_from_b64(f.sig_b64()) == f.sig
    assert len(f.sig) == 128 and len(f.lsh) == 42


def test_identical_shingle_sets_share_every_band_key() -> None:
    assert _fp(BODY).lsh == _fp("  " + BODY + " ، ").lsh


def test_jaccard_estimate_tracks_true_overlap() -> None:
    # Second text: last 100 of the 200 words replaced -> shingles shared: 96 of 196 + 196 - 96 = 296.
    other = " ".join(WORDS[:100] + [f"اخرى{i}" for i in range(100)])
    estimate = fp.jaccard(_fp(BODY).sig, _fp(other).sig)
    assert abs(estimate - 96 / 296) < 0.12


def test_containment_of_a_shortened_copy() -> None:
    # Half of the text: 96 shingles, all inside the 196 of the full text -> J = 96/196, C = 1.
    j = 96 / 196
    assert abs(fp.containment(j, 96, 196) - 1.0) < 1e-9
    assert fp.containment(0.0, 96, 196) == 0.0
    assert fp.containment(0.5, 0, 196) == 0.0


def test_strip_title_labels_and_site_suffixes() -> None:
    assert (
        fp.strip_title("رأي | الحكومة تقر الميزانية الجديدة - الجزيرة نت") == "الحكومة تقر الميزانية الجديدة"
    )
    assert fp.strip_title("عاجل: زلزال يضرب جنوب تركيا") == "زلزال يضرب جنوب تركيا"
    assert fp.strip_title("Opinion | Why the ceasefire matters | The Site") == "Why the ceasefire matters"
    assert (
        fp.strip_title("مقتل 3 جنود في اشتباكات حدودية", ("صحيفة الرياض",))
        == "مقتل 3 جنود في اشتباكات حدودية"
    )
    assert (
        fp.strip_title("مقتل 3 جنود في اشتباكات حدودية صحيفة الرياض", ("صحيفة الرياض",))
        == "مقتل 3 جنود في اشتباكات حدودية"
    )


def test_strip_title_keeps_meaningful_prefixes() -> None:
    # "السعودية:" names the place: two countries' identical headlines are not one story.
    assert fp.strip_title("السعودية: القبض على مهربين في جازان") == "السعودية: القبض على مهربين في جازان"


def test_title_key_is_normalised() -> None:
    assert fp.title_key("عاجل: الأمم المتحدة تُدين الهجوم") == fp.title_key("الامم المتحده تدين الهجوم!")


def test_a_40kb_title_gives_a_bounded_key_that_still_matches_its_start() -> None:
    huge = " ".join(f"كلمة{i % 500}" for i in range(6000))  # ~40 KB of "headline" (a body in <title>)
    key = fp.title_key(huge)
    assert len(huge.encode()) > 40_000 and len(key.encode()) < 2 * fp.MAX_TITLE_KEY_CHARS
    assert key == fp.title_key(" ".join(f"كلمة{i}" for i in range(fp.MAX_TITLE_KEY_WORDS)))  # its start
    assert fp.title_key(huge + " ذيل مختلف") == key  # same start, same key


def _entry(doc_id: str, body: str, **kw: str) -> Entry:
    return entry_of(entry_for(_article(doc_id, body, **kw), CFG, datetime(2021, 11, 16, tzinfo=UTC)))


def test_match_exact_near_title_and_none() -> None:
    base = _entry("a", BODY)
    assert _match(base, _entry("b", BODY + " ."), CFG) == ("exact", 1.0)
    near = _match(base, _entry("c", " ".join(WORDS[:190])), CFG)  # a cut ending: contained
    assert near is not None and near[0] == "near" and near[1] >= CFG.near_containment
    unrelated = " ".join(f"نص{i}" for i in range(200))
    assert _match(base, _entry("d", unrelated, title="خبر آخر مختلف تماما"), CFG) is None
    # Same source, same headline (label stripped), body edited: the first 115 of 200 words kept ->
    # 111 shared shingles of 196 each: Jaccard 111/281 = 0.40 (< near 0.5), containment 0.57
    # (< near 0.8, >= title_body_containment 0.5): only the headline tier calls it a copy.
    edited = " ".join(WORDS[:115] + [f"جديد{i}" for i in range(85)])
    same_title = _entry("e", edited, title="عاجل: عنوان الخبر الرئيسي اليوم")
    assert _match(base, same_title, CFG) == ("title", 1.0)
    assert _match(base, _entry("f", edited, source="b"), CFG) is None  # another outlet's headline


def test_recurring_column_title_over_a_new_body_is_no_copy() -> None:
    # «هذا اليوم في التاريخ» every day from one outlet: same headline, unrelated bodies.
    title = "هذا اليوم في التاريخ"
    today = _entry("a", BODY, title=title)
    tomorrow = _entry("b", " ".join(f"نص{i}" for i in range(200)), title=title)
    assert _match(today, tomorrow, CFG) is None


def test_same_headline_without_a_body_is_a_copy() -> None:
    # Nothing but the headline to compare (an empty extraction): the headline decides.
    assert _match(_entry("a", BODY), _entry("b", ""), CFG) == ("title", 1.0)


def test_short_titles_are_no_evidence() -> None:
    a = _entry("a", BODY, title="أخبار")
    b = _entry("b", " ".join(f"نص{i}" for i in range(200)), title="أخبار")
    assert _match(a, b, CFG) is None


def test_cosine_and_weights() -> None:
    assert cosine({"x": 1.0}, {"x": 2.0}) == 1.0
    assert cosine({"x": 1.0}, {"y": 1.0}) == 0.0
    assert cosine({}, {"y": 1.0}) == 0.0
    field = {
        "field_statistics": {"doc_count": 9},
        "terms": {"rare": {"term_freq": 1, "doc_freq": 1}, "common": {"term_freq": 1, "doc_freq": 9}},
    }
    w = weights(field)
    assert w["rare"] > w["common"] > 0


def test_prior_doc_count_keeps_a_small_index_from_flattening_idf() -> None:
    # Two documents: "shared" is in both (df=2), "rare" in one. Plain smoothed idf:
    # log(3/3)+1 = 1.0 vs log(3/2)+1 = 1.405. Read as N=1000: log(1001/3)+1 = 6.81 vs log(1001/2)+1 = 7.22.
    field = {
        "field_statistics": {"doc_count": 2},
        "terms": {"rare": {"term_freq": 1, "doc_freq": 1}, "shared": {"term_freq": 1, "doc_freq": 2}},
    }
    plain, prior = weights(field), weights(field, prior_docs=1000)
    assert abs(plain["shared"] - 1.0) < 1e-9 and abs(plain["rare"] - 1.405) < 1e-3
    assert abs(prior["shared"] - 6.810) < 1e-3 and abs(prior["rare"] - 7.216) < 1e-3
    big = {**field, "field_statistics": {"doc_count": 5000}}
    assert weights(big, prior_docs=1000) == weights(big)  # a registry larger than the prior: unchanged


def test_story_score_weights_title_and_body() -> None:
    same = {"field_statistics": {"doc_count": 2}, "terms": {"t": {"term_freq": 1, "doc_freq": 1}}}
    other = {"field_statistics": {"doc_count": 2}, "terms": {"u": {"term_freq": 1, "doc_freq": 1}}}
    assert story_score({"body": same, "title": other}, {"body": same, "title": same}, 0.25) == 0.75
    assert story_score({"body": same}, {"body": same}, 0.25) == 0.75  # no title: no title overlap


def test_document_fields_carry_the_audit() -> None:
    d = Decision(
        doc_id="x",
        tier="near",
        score=0.91,
        matched_id="y",
        duplicate_of="y",
        story_id="y",
        reason="near copy of y",
        thresholds=CFG.as_dict(),
        decided_at=datetime(2024, 1, 1, tzinfo=UTC),
        order=1,
        content_hash="h",
        title_key="k",
        lsh=("b0-1",),
        n_shingles=10,
        sources=("a",),
    )
    fields = d.document_fields()
    assert fields["duplicate_of"] == "y" and fields["story_id"] == "y" and fields["lsh"] == ["b0-1"]
    assert fields["dedup"]["tier"] == "near" and fields["dedup"]["matched_id"] == "y"
    assert fields["dedup"]["thresholds"]["near_jaccard"] == CFG.near_jaccard
    assert d.is_duplicate


def _ans_csv(folder, rows: list[str], name: str = "test.csv"):
    folder.mkdir(exist_ok=True)
    (folder / name).write_text("s1,s2,stance\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return folder


def test_load_ans_reads_every_split_present(tmp_path) -> None:
    from ingest.dev.evaluation.dedup import HeadlinePair, load_ans

    folder = _ans_csv(tmp_path / "ans", ["أ ب ج,أ ب د,agree"])
    _ans_csv(folder, ["هـ و,ز ح,other", "ط ي,ط ك,disagree"], name="dev.csv")
    assert load_ans(folder) == [
        HeadlinePair("هـ و", "ز ح", "other"),  # dev before test (train, dev, test), rows in file order
        HeadlinePair("ط ي", "ط ك", "disagree"),
        HeadlinePair("أ ب ج", "أ ب د", "agree"),
    ]


def test_load_ans_missing_folder_is_a_config_error(tmp_path) -> None:
    import pytest

    from ingest.dev.evaluation.dedup import load_ans
    from ingest.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        load_ans(tmp_path / "nowhere")
    assert info.value.reason == "fixtures_missing"


def test_load_ans_row_without_stance_is_a_config_error(tmp_path) -> None:
    import pytest

    from ingest.dev.evaluation.dedup import load_ans
    from ingest.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        load_ans(_ans_csv(tmp_path / "ans", ["أ ب ج,أ ب د,agree", "أ ب ج,أ ب د,"]))
    assert info.value.reason == "bad_row" and "line 3" in str(info.value)


def test_same_story_counts_agree_against_other_and_disagree_apart() -> None:
    from ingest.dev.evaluation.dedup import HeadlinePair, _same_story_prf

    pairs = [HeadlinePair("a", "b", st) for st in ("agree", "agree", "other", "disagree", "disagree")]
    # Said same: agree 1 of 2 (TP 1, recall 0.5), other 1 (FP 1, precision 0.5), disagree 1 of 2.
    line = _same_story_prf(pairs, [0.9, 0.1, 0.8, 0.7, 0.0], 0.5)
    assert line == "P=0.500 R=0.500 F1=0.500; disagree called same story 1/2 = 0.500"
