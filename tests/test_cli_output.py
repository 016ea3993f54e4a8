"""Readable and machine-readable output through the real node: outlet names and story ids in hits,
thresholds only with -v, hostile feed text escaped, --json lines on search / story / stories top /
alerts history / sources, `stories top`, and one-line exit-2 errors."""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from typer.testing import CliRunner

from ingest import pipeline, store
from ingest.cli import app
from ingest.dev.evaluation.dedup import make_article
from ingest.search import SearchHit, StorySummary
from ingest.settings import Settings

pytestmark = pytest.mark.integration
runner = CliRunner()
AT = datetime(2021, 11, 16, 9, tzinfo=UTC)
HOSTILE = "أرمينيا تعلن أسر جنود\x1b[2J\u202e"


@pytest.fixture
def indexed(settings: Settings, es: Elasticsearch, seed_texts: dict[str, str]) -> dict[str, str]:
    """Seed 000 from «الأفق», a wire copy from «وكالة الشرق» an hour later, and seed 003 alone."""
    body = seed_texts["000_aaa2bfcc0efe0d0d"]
    original = dataclasses.replace(make_article("orig", "afaq", HOSTILE, body, AT), source_name="الأفق")
    copy = dataclasses.replace(
        make_article("copy", "sharq", "أرمينيا تعلن أسر جنود من قواتها",
                     "نقلت وكالات الأنباء اليوم تفاصيل جديدة عن التصعيد على الحدود.\n" + body,
                     AT + timedelta(hours=1)), source_name="وكالة الشرق")
    other = dataclasses.replace(make_article("other", "madar", "وساطة روسية", seed_texts[
        next(k for k in seed_texts if k.startswith("003_"))], AT + timedelta(hours=2)), source_name="المدار")
    result = pipeline.dedup_and_index(settings, [original, copy, other], es=es)
    assert len(result.indexed) == 3 and not result.failed
    # Storage strips controls (ingest.hygiene); an index another writer filled may still hold them,
    # so put the hostile title back to prove the terminal output escapes on its own.
    es.update(index=store.alias_name(settings.es.index_prefix, "articles"), id=original.doc_id,
              doc={"title": HOSTILE}, refresh=True)
    return {"orig": original.doc_id, "copy": copy.doc_id, "other": other.doc_id}


def invoke(settings: Settings, *args: str):
    env = {"INGEST_ES_URL": settings.es.url, "INGEST_INDEX_PREFIX": settings.es.index_prefix}
    return runner.invoke(app, list(args), env=env, catch_exceptions=False, terminal_width=100)


def test_hits_name_outlet_and_story_and_escape_hostile_titles(settings: Settings,
                                                              indexed: dict[str, str]) -> None:
    result = invoke(settings, "search", "وزارة الدفاع الأرمينية")
    assert result.exit_code == 0, result.output
    assert "الأفق" in result.output and f"story {indexed['orig']}" in result.output
    assert "also: sharq" in result.output  # the copy's outlet is carried by the original
    assert "\x1b" not in result.output and "\u202e" not in result.output
    assert "\\x1b[2J\\u202e" in result.output


def test_thresholds_only_with_verbose(settings: Settings, indexed: dict[str, str]) -> None:
    plain = invoke(settings, "search", "وزارة الدفاع الأرمينية", "--show-dups")
    assert plain.exit_code == 0 and "tier=near" in plain.output and "thresholds" not in plain.output
    verbose = invoke(settings, "-v", "search", "وزارة الدفاع الأرمينية", "--show-dups")
    assert verbose.exit_code == 0 and "thresholds={" in verbose.output


def test_search_json_lines_have_the_dataclass_fields(settings: Settings, indexed: dict[str, str]) -> None:
    result = invoke(settings, "search", "وزارة الدفاع الأرمينية", "--show-dups", "--json",
                    "--source", "afaq", "--source", "sharq")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert len(records) == 2
    assert all(set(r) == {f.name for f in dataclasses.fields(SearchHit)} for r in records)
    by_id = {r["doc_id"]: r for r in records}
    assert by_id[indexed["copy"]]["duplicate_of"] == indexed["orig"]
    assert by_id[indexed["orig"]]["source_name"] == "الأفق"
    assert by_id[indexed["orig"]]["title"] == HOSTILE  # JSON keeps the text, escaped: "\u001b", "\u202e"
    assert "\u202e" not in result.output and "\x1b" not in result.output


def test_stories_top_ranks_by_outlets(settings: Settings, indexed: dict[str, str]) -> None:
    result = invoke(settings, "stories", "top", "--since", "2021-11-01", "--json")
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert all(set(r) == {f.name for f in dataclasses.fields(StorySummary)} for r in records)
    assert [(r["story_id"], r["outlets"]) for r in records] == [(indexed["orig"], 2), (indexed["other"], 1)]
    assert records[0]["first_publisher"] == "الأفق" and records[0]["headline"] == HOSTILE
    text = invoke(settings, "stories", "top", "--since", "2021-11-01")
    assert "2 outlet(s) (مصدران)" in text.output and "1 outlet(s) (مصدر واحد)" in text.output
    empty = invoke(settings, "stories", "top", "--since", "2030-01-01")
    assert empty.exit_code == 1 and "0 stories" in empty.output


def test_story_names_outlets_and_urls(settings: Settings, indexed: dict[str, str]) -> None:
    result = invoke(settings, "story", indexed["copy"])
    assert result.exit_code == 0, result.output
    assert "2 outlet(s): الأفق، وكالة الشرق" in result.output
    assert "https://sharq.example/copy" in result.output and "thresholds" not in result.output
    record = json.loads(invoke(settings, "story", indexed["orig"], "--json").output)
    assert record["story_id"] == indexed["orig"]
    assert {a["source_name"] for a in record["articles"]} == {"الأفق", "وكالة الشرق"}


@pytest.mark.slow
def test_alerts_history_shows_headlines(settings: Settings, es: Elasticsearch,
                                        indexed: dict[str, str]) -> None:
    index = store.alias_name(settings.es.index_prefix, "alert_deliveries")
    es.index(index=index, refresh="wait_for", document={
        "created_at": "2026-12-01T10:00:00+00:00", "rule": "armenia", "kind": "instant", "version": 1,
        "story_ids": [indexed["orig"]], "article_ids": [indexed["other"]], "matched_terms": ["أرمينيا"],
        "channel": "log", "status": "sent", "attempts": 1})
    result = invoke(settings, "alerts", "history")
    assert result.exit_code == 0, result.output
    assert "rule" not in result.output.split("armenia")[0] and "• وساطة روسية" in result.output
    record = json.loads(invoke(settings, "alerts", "history", "--json").output)
    assert record["rule"] == "armenia" and record["headlines"] == ["وساطة روسية"]


def test_sources_list_json(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_text("- {id: afaq, name: الأفق, url: 'https://afaq.example/rss'}\n"
                    "- {id: closed, name: مغلق, url: 'https://off.example/rss', enabled: false}\n",
                    encoding="utf-8")
    result = runner.invoke(app, ["sources", "list", "--sources", str(path), "--json"])
    assert result.exit_code == 0, result.output
    records = [json.loads(line) for line in result.output.splitlines()]
    assert [(r["id"], r["name"], r["enabled"]) for r in records] == [("afaq", "الأفق", True),
                                                                     ("closed", "مغلق", False)]


@pytest.mark.parametrize("args", [["search", "غزة", "--since", "last tuesday"],
                                  ["stories", "top", "--since", "soon"],
                                  ["search", "غزة AND (", "--size", "1"]])
def test_bad_values_exit_2_with_one_line(settings: Settings, args: list[str]) -> None:
    result = invoke(settings, *args)
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("configuration error: ")
