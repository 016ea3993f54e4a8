"""Bulk writes with per-item outcomes: nothing is dropped silently.

Why a wrapper around ``helpers.streaming_bulk``: callers need, for every document, either "ok"
or the reason it failed, to count it in the run summary and keep it for a retry. Connection
failures are translated to ``StoreUnavailable`` so Airflow retries the task, a refused request
to ``StoreError`` (``store.translated``).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from elasticsearch import Elasticsearch, helpers

from ingest import store

log = logging.getLogger(__name__)


@dataclass
class BulkReport:
    """Ids written, and ids refused with the reason Elasticsearch gave."""

    ok: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)


def bulk_write(es: Elasticsearch, index: str, docs: Iterable[Mapping[str, Any]], *,
               op_type: str = "index", refresh: bool | str = False, chunk_size: int = 500) -> BulkReport:
    """Write ``docs`` (each with an ``_id``) to ``index``.

    ``op_type="create"`` makes the write conditional: an existing id is reported in
    ``conflicts`` (someone else won the race), not as a failure.
    """
    report = BulkReport()
    actions = ({"_op_type": op_type, "_index": index, "_id": d["_id"],
                "_source": {k: v for k, v in d.items() if k != "_id"}} for d in docs)
    with store.translated(f"bulk write to {index}"):  # unreachable: StoreUnavailable; refused: StoreError
        for ok, item in helpers.streaming_bulk(es, actions, chunk_size=chunk_size, raise_on_error=False,
                                               raise_on_exception=True, refresh=refresh):
            outcome = next(iter(item.values()))
            doc_id = str(outcome.get("_id"))
            if ok:
                report.ok.append(doc_id)
            elif outcome.get("status") == 409 and op_type == "create":
                report.conflicts.append(doc_id)
            else:
                report.failed[doc_id] = _reason(outcome)
    for doc_id, reason in report.failed.items():
        log.warning("index %s: document %s refused: %s", index, doc_id, reason)
    return report


def _reason(outcome: Mapping[str, Any]) -> str:
    error = outcome.get("error") or {}
    if isinstance(error, Mapping):
        return f"{error.get('type', 'error')}: {error.get('reason', '')}".strip()
    return str(error)
