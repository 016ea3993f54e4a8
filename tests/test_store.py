"""``ingest/store.py`` on the real embedded node: templates (content hashes), aliases, ``drop_prefix``,
``migrate`` (new versioned index, client-side copy, atomic swap), the client and its error boundary."""

from __future__ import annotations

import base64
import json
import logging
import shutil
import socket
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from elasticsearch import Elasticsearch
from servers import LoopbackServer, Route

from ingest import store
from ingest.errors import ConfigError, StoreError, StoreUnavailable
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


# ---- apply_templates: idempotent, and a template whose stored hash matches is not written again ----

def _layout(es: Elasticsearch, prefix: str) -> dict[str, list[str]]:
    """Every index of the prefix (closed and hidden included) with its aliases."""
    found = es.indices.get_alias(index=f"{prefix}-*", expand_wildcards="all")
    return {name: sorted(body["aliases"]) for name, body in found.items()}


def _index_template(es: Elasticsearch, name: str) -> dict[str, Any]:
    [found] = es.indices.get_index_template(name=name)["index_templates"]
    return dict(found["index_template"])


def _put_back(es: Elasticsearch, name: str, template: dict[str, Any], **changes: Any) -> None:
    """Rewrite an installed index template out-of-band, as another tool would."""
    body = {k: template[k] for k in ("index_patterns", "composed_of", "template", "version", "priority",
                                     "_meta") if k in template}
    body.update(changes)
    meta = body.pop("_meta", None)
    es.indices.put_index_template(name=name, meta=meta, **body)


@pytest.fixture
def own_mappings(tmp_path: Path) -> Path:
    """A copy of the real mappings/ that a test may edit."""
    return Path(shutil.copytree(load_settings().files.mappings_dir, tmp_path / "mappings"))


def test_apply_templates_twice_is_idempotent(make_settings: Callable[..., Settings],
                                             es: Elasticsearch) -> None:
    """Every worker process applies the templates at start: the second time must change nothing."""
    cfg = make_settings()
    prefix = cfg.es.index_prefix
    first = store.apply_templates(es, cfg)
    layout, hashes = _layout(es, prefix), store.template_hashes(es, prefix)
    second = store.apply_templates(es, cfg)
    assert second == first
    assert _layout(es, prefix) == layout and store.template_hashes(es, prefix) == hashes
    kinds = sorted(p.stem for p in cfg.files.mappings_dir.glob("*.json") if not p.name.startswith("_"))
    assert sorted(first) == [f"{prefix}-{kind}" for kind in kinds]
    for kind in kinds:  # one versioned index behind each alias, the version of mappings/<kind>.json
        version = json.loads((cfg.files.mappings_dir / f"{kind}.json").read_text(encoding="utf-8"))["version"]
        assert layout[f"{prefix}-{kind}-v{version}"] == [f"{prefix}-{kind}"]
    assert len(layout) == len(kinds)
    assert set(hashes) == {f"{prefix}-{kind}" for kind in kinds} | {f"{prefix}-analysis"}
    assert all(hashes.values()) and len(set(hashes.values())) == len(hashes)


def test_a_template_whose_hash_matches_is_not_written_again(make_settings: Callable[..., Settings],
                                                            es: Elasticsearch) -> None:
    """Out-of-band differences under an unchanged ``_meta.hash`` survive: nothing was written."""
    cfg = make_settings()
    prefix = cfg.es.index_prefix
    store.apply_templates(es, cfg)
    installed = _index_template(es, f"{prefix}-articles")
    _put_back(es, f"{prefix}-articles", installed, priority=installed["priority"] + 1)
    [component] = es.cluster.get_component_template(name=f"{prefix}-analysis")["component_templates"]
    es.cluster.put_component_template(name=f"{prefix}-analysis", version=77,
                                      meta=component["component_template"]["_meta"],
                                      template=component["component_template"]["template"])
    store.apply_templates(es, cfg)
    assert _index_template(es, f"{prefix}-articles")["priority"] == installed["priority"] + 1
    [after] = es.cluster.get_component_template(name=f"{prefix}-analysis")["component_templates"]
    assert after["component_template"].get("version") == 77


def test_a_template_without_its_hash_is_written_again(make_settings: Callable[..., Settings],
                                                      es: Elasticsearch) -> None:
    """The skip is decided by the hash, not by the template existing: one installed before hashes
    (or edited by hand without one) is brought back to what mappings/ says."""
    cfg = make_settings()
    prefix = cfg.es.index_prefix
    store.apply_templates(es, cfg)
    installed = _index_template(es, f"{prefix}-articles")
    bare_meta = {k: v for k, v in installed["_meta"].items() if k != "hash"}
    _put_back(es, f"{prefix}-articles", installed, priority=installed["priority"] + 1, _meta=bare_meta)
    store.apply_templates(es, cfg)
    again = _index_template(es, f"{prefix}-articles")
    assert again["priority"] == installed["priority"]
    assert again["_meta"] == installed["_meta"]


def test_a_changed_mapping_rewrites_only_its_template(make_settings: Callable[..., Settings],
                                                       es: Elasticsearch, own_mappings: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """A new field and version in mappings/sources.json reach the cluster's template; the other
    templates are not touched, and the alias stays on the old index until an explicit migrate."""
    cfg = make_settings(files={"mappings_dir": own_mappings})
    prefix = cfg.es.index_prefix
    store.apply_templates(es, cfg)
    before, layout = store.template_hashes(es, prefix), _layout(es, prefix)
    path = own_mappings / "sources.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    old = doc["version"]
    doc["version"] = old + 1
    doc["mappings"]["properties"]["probe_note"] = {"type": "keyword"}
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")

    with caplog.at_level(logging.WARNING, logger="ingest.store"):
        store.apply_templates(es, cfg)
    after = store.template_hashes(es, prefix)
    assert after[f"{prefix}-sources"] != before[f"{prefix}-sources"]
    assert {k: v for k, v in after.items() if k != f"{prefix}-sources"} == \
        {k: v for k, v in before.items() if k != f"{prefix}-sources"}
    template = _index_template(es, f"{prefix}-sources")
    assert template["version"] == old + 1
    assert template["template"]["mappings"]["properties"]["probe_note"] == {"type": "keyword"}
    assert _layout(es, prefix) == layout  # no v{old + 1} index: moving is `ingest es migrate`
    assert "ingest es migrate sources" in caplog.text


def test_a_changed_analysis_rewrites_only_the_component_template(
        make_settings: Callable[..., Settings], es: Elasticsearch, own_mappings: Path) -> None:
    """The shared analysis chain is its own component template with its own hash."""
    cfg = make_settings(files={"mappings_dir": own_mappings})
    prefix = cfg.es.index_prefix
    store.apply_templates(es, cfg)
    before = store.template_hashes(es, prefix)
    path = own_mappings / store.ANALYSIS_FILE
    doc = json.loads(path.read_text(encoding="utf-8"))
    probe = {"type": "custom", "tokenizer": "standard", "filter": ["lowercase"]}
    doc["template"]["settings"]["analysis"]["analyzer"]["probe_lowercase"] = probe
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    store.apply_templates(es, cfg)
    after = store.template_hashes(es, prefix)
    assert after.pop(f"{prefix}-analysis") != before.pop(f"{prefix}-analysis")
    assert after == before
    [component] = es.cluster.get_component_template(name=f"{prefix}-analysis")["component_templates"]
    analyzers = component["component_template"]["template"]["settings"]["index"]["analysis"]["analyzer"]
    assert analyzers["probe_lowercase"] == probe


def test_a_changed_description_reaches_the_template(make_settings: Callable[..., Settings], es: Elasticsearch,
                                                    own_mappings: Path) -> None:
    cfg = make_settings(files={"mappings_dir": own_mappings})
    store.apply_templates(es, cfg)
    path = own_mappings / "hosts.json"
    doc = json.loads(path.read_text(encoding="utf-8"))
    doc["description"] = "وصف جديد"
    path.write_text(json.dumps(doc, ensure_ascii=False), encoding="utf-8")
    store.apply_templates(es, cfg)
    assert _index_template(es, f"{cfg.es.index_prefix}-hosts")["_meta"]["description"] == "وصف جديد"


# ---- ensure_alias, load_specs ---------------------------------------------------------------------

def test_ensure_alias_reattaches_a_lost_alias_to_the_existing_index(make_settings: Callable[..., Settings],
                                                                    es: Elasticsearch) -> None:
    """An index whose alias was lost keeps its documents: the alias is put back, nothing is recreated."""
    cfg = make_settings()
    prefix = cfg.es.index_prefix
    store.apply_templates(es, cfg)
    [spec] = [s for s in store.load_specs(cfg.files.mappings_dir) if s.kind == "hosts"]
    index, alias = f"{prefix}-hosts-v{spec.version}", f"{prefix}-hosts"
    es.index(index=alias, id="h1", document={}, refresh=True)
    uuid = es.indices.get_settings(index=index)[index]["settings"]["index"]["uuid"]
    es.indices.delete_alias(index=index, name=alias)
    assert not es.indices.exists_alias(name=alias)

    store.ensure_alias(es, spec, prefix)
    found = es.indices.get_alias(name=alias)
    assert list(found) == [index]
    assert found[index]["aliases"][alias].get("is_write_index") is True
    assert es.indices.get_settings(index=index)[index]["settings"]["index"]["uuid"] == uuid
    assert es.get(index=alias, id="h1")["found"]


def test_load_specs_skips_shared_parts_and_other_files(tmp_path: Path) -> None:
    """``_*.json`` are shared parts (the analysis chain), not kinds; kinds come sorted by name."""
    for name, body in {"b.json": {"version": 2, "mappings": {}}, "a.json": {"version": "7", "mappings": {}},
                       "_shared.json": {"template": {}}, "notes.txt": "x"}.items():
        (tmp_path / name).write_text(json.dumps(body), encoding="utf-8")
    specs = list(store.load_specs(tmp_path))
    assert [(s.kind, s.version) for s in specs] == [("a", 7), ("b", 2)]
    assert (specs[0].alias("p"), specs[0].index("p")) == ("p-a", "p-a-v7")


# ---- drop_prefix --------------------------------------------------------------------------------

@pytest.mark.slow
def test_drop_prefix_removes_its_indices_and_templates_only(make_settings: Callable[..., Settings],
                                                            es: Elasticsearch) -> None:
    """Closed indices go too; another prefix's indices and templates are left as they were."""
    mine, other = make_settings(), make_settings()
    for cfg in (mine, other):
        store.apply_templates(es, cfg)
    a, b = mine.es.index_prefix, other.es.index_prefix
    layout_a, layout_b, hashes_b = _layout(es, a), _layout(es, b), store.template_hashes(es, b)
    es.indices.close(index=next(name for name in layout_a if name.startswith(f"{a}-hosts-v")))

    assert store.drop_prefix(es, a) == sorted(layout_a)
    assert _layout(es, a) == {}
    assert store.template_hashes(es, a) == {}
    assert _layout(es, b) == layout_b and store.template_hashes(es, b) == hashes_b
    assert store.drop_prefix(es, a) == []  # again: nothing left, no error


@pytest.mark.slow
def test_drop_prefix_leaves_a_longer_prefix_alone(make_settings: Callable[..., Settings],
                                                  es: Elasticsearch) -> None:
    mine = make_settings()
    longer = make_settings(index_prefix=f"{mine.es.index_prefix}-eval")
    for cfg in (mine, longer):
        store.apply_templates(es, cfg)
    layout = _layout(es, longer.es.index_prefix)
    store.drop_prefix(es, mine.es.index_prefix)
    assert _layout(es, longer.es.index_prefix) == layout


# ---- translated, connect, resolve_url, redact_url ----------------------------------------------

ES_HEADERS = {"Content-Type": "application/json", "X-Elastic-Product": "Elasticsearch"}
GREEN = json.dumps({"cluster_name": "fake", "status": "green"}).encode()


def _answering(status: int, body: dict[str, Any]) -> Route:
    return Route(status, ES_HEADERS, json.dumps(body).encode())


def _error(status: int, kind: str) -> Route:
    return _answering(status, {"error": {"type": kind, "reason": kind}, "status": status})


@pytest.fixture
def fake_node() -> Iterator[LoopbackServer]:
    """An HTTP server playing the node, to see what the client sends and to answer what a real
    node under load (or a proxy in front of it) answers."""
    with LoopbackServer() as server:
        yield server


@pytest.mark.parametrize("status", [429, 502, 503, 504])
def test_translated_busy_answers_are_store_unavailable(fake_node: LoopbackServer, status: int) -> None:
    """"Cannot serve now" is retried by Airflow (transient), unlike a refusal."""
    fake_node.routes["/x-alerts/_search"] = _error(status, "busy")
    client = Elasticsearch(fake_node.base_url, max_retries=0)
    with pytest.raises(StoreUnavailable) as err, store.translated("reading things"):
        client.search(index="x-alerts", query={"match_all": {}})
    assert "reading things" in str(err.value) and str(status) in str(err.value)


def test_translated_not_found_is_a_store_error(es: Elasticsearch) -> None:
    """A refusal that escapes the caller is permanent, not "node unavailable"."""
    with pytest.raises(StoreError) as err, store.translated("reading a missing index"):
        es.search(index=f"t{uuid.uuid4().hex[:10]}-nothing")
    assert not isinstance(err.value, StoreUnavailable) and "reading a missing index" in str(err.value)


def test_connect_sends_the_api_key(fake_node: LoopbackServer) -> None:
    """Credentials from settings reach the node, on the health check already."""
    fake_node.routes["/_cluster/health"] = Route(200, ES_HEADERS, GREEN)
    cfg = load_settings(es={"url": fake_node.base_url, "api_key": "a2V5OnNlY3JldA==", "max_retries": 0})
    store.connect(cfg)
    [request] = fake_node.requests
    assert request.path.startswith("/_cluster/health")
    assert request.headers["authorization"] == "ApiKey a2V5OnNlY3JldA=="


def test_connect_sends_basic_auth(fake_node: LoopbackServer) -> None:
    """Without an API key, username and password are sent as basic auth."""
    fake_node.routes["/_cluster/health"] = Route(200, ES_HEADERS, GREEN)
    cfg = load_settings(es={"url": fake_node.base_url, "api_key": None, "username": "ingest",
                            "password": "s3cret", "max_retries": 0})
    client = store.connect(cfg)
    assert store.health(client) == "green"
    assert {r.headers["authorization"] for r in fake_node.requests} == {
        "Basic " + base64.b64encode(b"ingest:s3cret").decode()}


def test_connect_without_check_sends_nothing(fake_node: LoopbackServer) -> None:
    """``check=False`` (the reading room starting up) sends no request until the client is used."""
    store.connect(load_settings(es={"url": fake_node.base_url}), check=False)
    assert fake_node.requests == []


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connect_to_a_dead_node_names_the_url_without_credentials() -> None:
    """The message goes to logs and Airflow: which node, never its password."""
    port = _free_port()
    cfg = load_settings(es={"url": f"http://ingest:s3cret@127.0.0.1:{port}", "max_retries": 0,
                            "request_timeout": 2})
    with pytest.raises(StoreUnavailable) as err:
        store.connect(cfg)
    assert f"127.0.0.1:{port}" in str(err.value)
    assert "s3cret" not in str(err.value) and "ingest:" not in str(err.value)


def test_connect_refused_health_check_is_a_store_error(fake_node: LoopbackServer) -> None:
    """Bad credentials are permanent (retrying cannot help), and the message is redacted too."""
    fake_node.routes["/_cluster/health"] = _error(401, "security_exception")
    url = fake_node.base_url.replace("http://", "http://ingest:s3cret@")
    with pytest.raises(StoreError) as err:
        store.connect(load_settings(es={"url": url, "max_retries": 0}))
    assert "refused the health check" in str(err.value)
    assert fake_node.base_url in str(err.value) and "s3cret" not in str(err.value)


def test_connect_to_a_busy_node_is_store_unavailable(fake_node: LoopbackServer) -> None:
    fake_node.routes["/_cluster/health"] = _error(503, "unavailable")
    with pytest.raises(StoreUnavailable):
        store.connect(load_settings(es={"url": fake_node.base_url, "max_retries": 0}))


def test_resolve_url_prefers_the_configured_url_then_the_recorded_node(tmp_path: Path) -> None:
    """No INGEST_ES_URL means the node `ingest es start` recorded in the cache."""
    record = tmp_path / "es" / "node.json"
    record.parent.mkdir()
    record.write_text(json.dumps({"url": "http://127.0.0.1:9999", "pid": 1}), encoding="utf-8")
    recorded = load_settings(es={"url": ""}, files={"cache_dir": tmp_path})
    assert store.resolve_url(recorded) == "http://127.0.0.1:9999"
    configured = load_settings(es={"url": "https://es.example:9243"}, files={"cache_dir": tmp_path})
    assert store.resolve_url(configured) == "https://es.example:9243"


def test_resolve_url_without_any_node_says_how_to_start_one(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="ingest es start"):
        store.resolve_url(load_settings(es={"url": ""}, files={"cache_dir": tmp_path}))


@pytest.mark.parametrize(("url", "safe"), [
    ("https://ingest:s3cret@es.example:9243/base?token=x#f", "https://es.example:9243/base"),
    ("http://ingest:s3cret@es.example/", "http://es.example/"),
    ("http://127.0.0.1:9200", "http://127.0.0.1:9200"),
])
def test_redact_url_drops_credentials_and_query(url: str, safe: str) -> None:
    assert store.redact_url(url) == safe
