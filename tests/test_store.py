"""``store.migrate`` on the real embedded node: new versioned index, client-side copy, atomic swap."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from ingest import store
from ingest.errors import ConfigError, StoreError
from ingest.settings import Settings, load_settings

pytestmark = pytest.mark.integration


def write_kind(mappings: Path, version: int, properties: dict) -> None:
    body = {"version": version, "mappings": {"dynamic": "strict", "properties": properties}}
    (mappings / "widgets.json").write_text(json.dumps(body), encoding="utf-8")


@pytest.fixture
def widgets(tmp_path: Path, make_settings: Callable[..., Settings], es: Elasticsearch) -> Settings:
    """A kind ``widgets`` at v1 holding three documents, in its own mappings folder."""
    mappings = tmp_path / "mappings"
    mappings.mkdir()
    shutil.copy(load_settings().files.mappings_dir / store.ANALYSIS_FILE, mappings)
    body = {"type": "text", "analyzer": "arabic_text"}
    write_kind(mappings, 1, {"name": {"type": "keyword"}, "body": body})
    cfg = make_settings(files={"mappings_dir": mappings})
    store.apply_templates(es, cfg)
    alias = store.alias_name(cfg.es.index_prefix, "widgets")
    for i, name in enumerate(["أ", "ب", "ج"]):
        es.index(index=alias, id=f"w{i}", document={"name": name, "body": "اشتباكات على الحدود"})
    es.indices.refresh(index=alias)
    return cfg


def test_migrate_copies_everything_and_swaps_the_alias(widgets: Settings, es: Elasticsearch) -> None:
    prefix = widgets.es.index_prefix
    write_kind(widgets.files.mappings_dir, 2, {"name": {"type": "keyword"}, "colour": {"type": "keyword"},
                                         "body": {"type": "text", "analyzer": "arabic_text"}})
    done = store.migrate(es, widgets, "widgets")
    assert done == store.Migration(f"{prefix}-widgets", (f"{prefix}-widgets-v1",), f"{prefix}-widgets-v2",
                                   copied=3, caught_up=0)
    aliases = es.indices.get_alias(name=f"{prefix}-widgets")
    assert list(aliases) == [f"{prefix}-widgets-v2"]
    assert aliases[f"{prefix}-widgets-v2"]["aliases"][f"{prefix}-widgets"]["is_write_index"] is True
    assert es.count(index=f"{prefix}-widgets")["count"] == 3
    assert es.indices.exists(index=f"{prefix}-widgets-v1")  # kept for rollback
    # The new field is accepted through the alias, and Arabic search still works on copied documents.
    es.index(index=f"{prefix}-widgets", id="w9", document={"name": "د", "colour": "أحمر"}, refresh=True)
    hits = es.search(index=f"{prefix}-widgets", query={"match": {"body": "الاشتباك"}})["hits"]
    assert hits["total"]["value"] == 3


def test_migrate_again_is_a_no_op(widgets: Settings, es: Elasticsearch) -> None:
    done = store.migrate(es, widgets, "widgets")
    assert done.sources == () and done.copied == 0
    prefix = widgets.es.index_prefix
    assert list(es.indices.get_alias(name=f"{prefix}-widgets")) == [f"{prefix}-widgets-v1"]


def test_catch_up_copies_only_documents_the_target_lacks(widgets: Settings, es: Elasticsearch) -> None:
    prefix = widgets.es.index_prefix
    write_kind(widgets.files.mappings_dir, 2, {"name": {"type": "keyword"}, "body": {"type": "text"}})
    store.migrate(es, widgets, "widgets")
    # A late write that reached the old index during the swap, and a newer version of w0 in the new one.
    es.index(index=f"{prefix}-widgets-v1", id="late", document={"name": "late"})
    es.index(index=f"{prefix}-widgets", id="w0", document={"name": "updated"})
    written = store.copy_documents(es, (f"{prefix}-widgets-v1",), f"{prefix}-widgets-v2", only_missing=True)
    assert written == 1
    assert es.get(index=f"{prefix}-widgets", id="late")["_source"]["name"] == "late"
    assert es.get(index=f"{prefix}-widgets", id="w0")["_source"]["name"] == "updated"


def test_a_mapping_that_rejects_old_documents_leaves_the_alias_alone(widgets: Settings,
                                                                      es: Elasticsearch) -> None:
    prefix = widgets.es.index_prefix
    write_kind(widgets.files.mappings_dir, 2, {"title": {"type": "keyword"}})  # strict: "name" is refused
    with pytest.raises(StoreError, match="3 documents refused"):
        store.migrate(es, widgets, "widgets")
    assert list(es.indices.get_alias(name=f"{prefix}-widgets")) == [f"{prefix}-widgets-v1"]
    assert es.count(index=f"{prefix}-widgets")["count"] == 3


def test_unknown_kind_is_a_config_error(widgets: Settings, es: Elasticsearch) -> None:
    with pytest.raises(ConfigError, match=r"no mappings/gadgets\.json"):
        store.migrate(es, widgets, "gadgets")
