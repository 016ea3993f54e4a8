"""``ingest.indexer.bulk_write`` against the real node: every document is accounted for by id.

Why direct tests: the stages trust its report to count what was indexed and to keep what was
refused for a retry, so a document that is neither in ``ok``, ``conflicts`` nor ``failed`` is lost.
"""

from __future__ import annotations

import socket
from typing import Any

import elastic_transport
import pytest
from elasticsearch import Elasticsearch

from ingest.errors import StoreError, StoreUnavailable, TransientError
from ingest.indexer import bulk_write
from ingest.settings import Settings
from ingest.store import alias_name

pytestmark = pytest.mark.integration


def articles(settings: Settings) -> str:
    return alias_name(settings.es.index_prefix, "articles")


def doc(doc_id: str, title: str = "عنوان الخبر", **extra: Any) -> dict[str, Any]:
    return {"_id": doc_id, "url": f"https://news.example/{doc_id}", "title": title,
            "body": "نص الخبر الكامل كما نشره الموقع.", "lang": "ar",
            "published_at": "2026-03-01T08:00:00+00:00", **extra}


def count(es: Elasticsearch, index: str) -> int:
    es.indices.refresh(index=index)
    return int(es.count(index=index)["count"])


def test_documents_land_under_their_ids_and_rewriting_the_batch_changes_nothing(
        es: Elasticsearch, settings: Settings) -> None:
    """A retried task writes the same batch again: same ids, no second copy of anything."""
    index, batch = articles(settings), [doc("a1", "الأول"), doc("a2", "الثاني"), doc("a3", "الثالث")]
    first = bulk_write(es, index, batch, refresh=True)
    assert sorted(first.ok) == ["a1", "a2", "a3"] and first.failed == {} and first.conflicts == []
    for d in batch:
        stored = es.get(index=index, id=d["_id"])["_source"]
        assert stored == {k: v for k, v in d.items() if k != "_id"}  # the id is not part of the source
    again = bulk_write(es, index, (d for d in batch), refresh=True)  # any iterable, e.g. a generator
    assert sorted(again.ok) == ["a1", "a2", "a3"] and again.failed == {}
    assert count(es, index) == 3


@pytest.mark.parametrize(("bad", "field"), [
    ({"page_views": 12}, "page_views"),  # the articles mapping is strict: no new fields
    ({"published_at": "أمس"}, "published_at"),  # a known field with a value of the wrong type
], ids=["unknown_field", "wrong_type"])
def test_a_refused_document_is_reported_by_id_with_its_reason_and_the_others_land(
        es: Elasticsearch, settings: Settings, bad: dict[str, Any], field: str) -> None:
    """One bad document must not cost the batch, nor vanish: it is named with what was wrong."""
    index = articles(settings)
    batch = [doc("ok1"), doc("ok2"), doc("bad", **bad), doc("ok3"), doc("ok4")]
    report = bulk_write(es, index, batch, refresh=True, chunk_size=2)  # the bad one is in the 2nd chunk
    assert sorted(report.ok) == ["ok1", "ok2", "ok3", "ok4"] and report.conflicts == []
    assert list(report.failed) == ["bad"] and field in report.failed["bad"]
    assert count(es, index) == 4 and not es.exists(index=index, id="bad")


def test_create_reports_an_existing_id_as_a_conflict_and_keeps_the_first_version(
        es: Elasticsearch, settings: Settings) -> None:
    """``create`` is a race guard: the loser learns it lost (not "failed"), the winner's copy stays."""
    index = articles(settings)
    assert bulk_write(es, index, [doc("a1", "النسخة الأولى")]).ok == ["a1"]
    report = bulk_write(es, index, [doc("a1", "النسخة الثانية"), doc("a2")], op_type="create", refresh=True)
    assert report.ok == ["a2"] and report.conflicts == ["a1"] and report.failed == {}
    assert es.get(index=index, id="a1")["_source"]["title"] == "النسخة الأولى"
    assert count(es, index) == 2


def test_a_node_nobody_listens_on_raises_store_unavailable() -> None:
    """Unreachable is transient (Airflow retries the task), never a report of refused documents."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    down = Elasticsearch(f"http://127.0.0.1:{port}", request_timeout=2, max_retries=1)
    index = "t-down-articles"
    with pytest.raises(StoreUnavailable, match=index) as raised:
        bulk_write(down, index, [doc("a1"), doc("a2")])
    assert isinstance(raised.value, TransientError)
    assert isinstance(raised.value.__cause__, elastic_transport.ConnectionError)


def test_a_request_elasticsearch_refuses_as_a_whole_is_a_store_error(es: Elasticsearch,
                                                                     settings: Settings) -> None:
    """Not a raw client exception: callers count ``StoreError`` reasons, they do not catch the client's."""
    with pytest.raises(StoreError) as refused:
        bulk_write(es, articles(settings), [{"_id": "a", "title": "t"}], op_type="bogus")
    assert "bulk write to" in str(refused.value) and not isinstance(refused.value, StoreUnavailable)
