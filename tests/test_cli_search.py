"""`ingest search --show-dups`: copies hidden by default, shown with their dedup audit on request."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from elasticsearch import Elasticsearch
from typer.testing import CliRunner

from ingest import pipeline
from ingest.cli import app
from ingest.dev.evaluation.dedup import make_article
from ingest.settings import Settings

pytestmark = pytest.mark.integration
runner = CliRunner()
AT = datetime(2021, 11, 16, 9, tzinfo=UTC)


@pytest.fixture
def indexed(settings: Settings, es: Elasticsearch, seed_texts: dict[str, str]) -> dict[str, str]:
    """Seed 000 from one outlet and, an hour later, the same report with a new intro from a wire."""
    body = seed_texts["000_aaa2bfcc0efe0d0d"]
    original = make_article("orig", "outlet-a", "أرمينيا تعلن أسر جنود", body, AT)
    copy = make_article("copy", "wire-x", "أرمينيا تعلن أسر جنود من قواتها",
                        "نقلت وكالات الأنباء اليوم تفاصيل جديدة عن التصعيد على الحدود.\n" + body,
                        AT + timedelta(hours=1))
    result = pipeline.dedup_and_index(settings, [original, copy], es=es)
    assert len(result.indexed) == 2 and not result.failed
    return {"orig": original.doc_id, "copy": copy.doc_id, "copy_url": copy.url, "orig_url": original.url}


def _search(settings: Settings, *args: str, verbose: bool = False):
    env = {"INGEST_ES_URL": settings.es.url, "INGEST_INDEX_PREFIX": settings.es.index_prefix}
    return runner.invoke(app, ["-v"] * verbose + ["search", "وزارة الدفاع الأرمينية", *args], env=env,
                         catch_exceptions=False)


def test_search_hides_copies_by_default(settings: Settings, indexed: dict[str, str]) -> None:
    result = _search(settings)
    assert result.exit_code == 0, result.output
    assert "1 hit(s)" in result.output
    assert indexed["orig_url"] in result.output and indexed["copy_url"] not in result.output
    assert "dedup:" not in result.output


def test_show_dups_lists_the_copy_with_its_decision(settings: Settings, indexed: dict[str, str]) -> None:
    result = _search(settings, "--show-dups", verbose=True)  # thresholds are shown with -v only
    assert result.exit_code == 0, result.output
    assert "2 hit(s)" in result.output
    assert indexed["orig_url"] in result.output and indexed["copy_url"] in result.output
    audit = [line.strip() for line in result.output.splitlines() if line.strip().startswith("dedup:")]
    assert len(audit) == 2
    copy_line = next(line for line in audit if "tier=near" in line)
    assert f"matched={indexed['orig']}" in copy_line and f"duplicate_of={indexed['orig']}" in copy_line
    assert f"story={indexed['orig']}" in copy_line and "'near_jaccard': 0.5" in copy_line
    orig_line = next(line for line in audit if line is not copy_line)
    assert "tier=new" in orig_line and "duplicate_of=None" in orig_line
    assert f"story={indexed['orig']}" in orig_line
