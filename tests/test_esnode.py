"""The embedded Elasticsearch node, against the real thing (no mocks).

The session node comes from ``esnode.node_for_tests``: a node already running for the project's
cache dir (e.g. after ``ingest es start``) is reused and left alone; otherwise one is started and
stopped at the end. When it cannot start, these tests fail with the reason; they never skip.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import shutil
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from ingest import esnode
from ingest.settings import load_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def embedded_cache_dir() -> Path:
    return load_settings().cache_dir


@pytest.fixture(scope="session")
def embedded_node(embedded_cache_dir: Path) -> Iterator[esnode.NodeInfo]:
    with esnode.node_for_tests(embedded_cache_dir) as node:
        yield node


@pytest.fixture(scope="session")
def client(embedded_node: esnode.NodeInfo) -> Elasticsearch:
    return Elasticsearch(embedded_node.url, request_timeout=60)


def _get(url: str) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def _tokens(client: Elasticsearch, **body: object) -> list[str]:
    return [t["token"] for t in client.indices.analyze(**body)["tokens"]]


def test_es_version_is_read_from_the_pom() -> None:
    pom = (esnode.POM).read_text(encoding="utf-8")
    assert f"<es.version>{esnode.es_version()}</es.version>" in pom
    assert re.fullmatch(r"\d+\.\d+\.\d+", esnode.es_version())


def test_start_returns_a_healthy_loopback_node(
    embedded_node: esnode.NodeInfo, embedded_cache_dir: Path, client: Elasticsearch
) -> None:
    health = client.cluster.health()
    assert health["status"] in ("yellow", "green")
    assert health["cluster_name"] == esnode.CLUSTER_NAME
    assert embedded_node.url == f"http://127.0.0.1:{embedded_node.port}"
    assert embedded_node.home == embedded_cache_dir.resolve() / "es" / f"elasticsearch-{esnode.es_version()}"
    record = json.loads((embedded_cache_dir / "es" / "node.json").read_text())
    assert record["url"] == embedded_node.url and record["pid"] == embedded_node.pid


def test_node_runs_the_pom_version(client: Elasticsearch) -> None:
    nodes = client.nodes.info(node_id="_local")["nodes"]
    assert [n["version"] for n in nodes.values()] == [esnode.es_version()]


def test_starting_again_reuses_the_running_node(
    embedded_node: esnode.NodeInfo, embedded_cache_dir: Path
) -> None:
    assert esnode.start(embedded_cache_dir) == embedded_node
    assert esnode.running(embedded_cache_dir) == embedded_node


def test_installing_again_is_a_no_op(embedded_node: esnode.NodeInfo, embedded_cache_dir: Path) -> None:
    marker = embedded_node.home / esnode.INSTALL_MARKER
    before = marker.stat().st_mtime_ns
    assert esnode.ensure_installed(embedded_cache_dir) == embedded_node.home
    assert marker.stat().st_mtime_ns == before


def test_node_does_not_run_as_root(embedded_node: esnode.NodeInfo) -> None:
    status = Path(f"/proc/{embedded_node.pid}/status").read_text()
    uid = int(re.search(r"^Uid:\s+(\d+)", status, re.M).group(1))  # type: ignore[union-attr]
    expected = pwd.getpwnam(esnode.SERVICE_USER).pw_uid if os.geteuid() == 0 else os.geteuid()
    assert uid == expected != 0


def test_analysis_plugin_is_installed(client: Elasticsearch) -> None:
    plugins = client.cat.plugins(format="json")
    assert [(p["component"], p["version"]) for p in plugins] == [("arabic-news-analysis", "1.0.0")]


def test_plugin_components_answer_under_their_stock_names(client: Elasticsearch) -> None:
    text = "والمدرسةُ ٢٠٢٢"
    assert _tokens(client, tokenizer="standard", filter=["arabic_normalization"], text=text) == [
        "والمدرسه",
        "٢٠٢٢",
    ]
    assert _tokens(client, tokenizer="standard", filter=["decimal_digit"], text=text) == ["والمدرسةُ", "2022"]
    assert _tokens(client, tokenizer="standard", filter=["arabic_stem"], text="والمدرسة") == ["مدرس"]
    assert _tokens(client, analyzer="arabic", text=text) == ["مدرس", "2022"]


def test_arabic_analyzer_accepts_the_stock_settings(client: Elasticsearch) -> None:
    """stopwords / stem_exclusion work as on stock ES (the mappings may use them)."""
    index = "esnode-test-analyzer-settings"
    analyzers = {
        "no_stop": {"type": "arabic", "stopwords": "_none_"},
        "own_stop": {"type": "arabic", "stopwords": ["كتاب"]},
        "keep": {"type": "arabic", "stem_exclusion": ["الكتابات"]},
    }
    client.options(ignore_status=404).indices.delete(index=index)
    client.indices.create(index=index, settings={"analysis": {"analyzer": analyzers}})
    try:
        text = "الكتابات في كتاب"

        def run(name: str) -> list[str]:
            result = client.indices.analyze(index=index, analyzer=name, text=text)
            return [t["token"] for t in result["tokens"]]

        assert run("no_stop") == ["كتاب", "في", "كتاب"]
        assert run("own_stop") == ["كتاب", "في"]  # stop runs before stemming: only the bare word goes
        assert run("keep") == ["الكتابات", "كتاب"]
    finally:
        client.indices.delete(index=index)


def test_strict_profile_has_no_root_endpoint_and_no_analysis_common(
    embedded_node: esnode.NodeInfo, client: Elasticsearch
) -> None:
    """The integ-test distribution lacks the rest-root and analysis-common modules.

    ``GET /`` is answered 405 (only ``DELETE /`` is routed), not 404; probe /_cluster/health instead.
    """
    status, body = _get(embedded_node.url + "/")
    assert status == 405
    assert body["status"] == 405
    with pytest.raises(Exception, match="porter_stem"):
        client.indices.analyze(tokenizer="standard", filter=["porter_stem"], text="running")


def test_running_and_stop_without_a_node(tmp_path: Path) -> None:
    assert esnode.running(tmp_path) is None
    assert esnode.stop(tmp_path) is False
    (tmp_path / "es").mkdir(exist_ok=True)
    (tmp_path / "es" / "node.json").write_text("{not json")
    assert esnode.running(tmp_path) is None
    assert esnode.stop(tmp_path) is False
    assert not (tmp_path / "es" / "node.json").exists()


def test_start_refuses_a_taken_port(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = sock.getsockname()[1]
        with pytest.raises(esnode.EmbeddedNodeError, match=f"port {port} .*taken"):
            esnode.start(tmp_path, port=port)


def test_start_refuses_a_bad_heap(tmp_path: Path) -> None:
    with pytest.raises(esnode.EmbeddedNodeError, match="heap"):
        esnode.start(tmp_path, heap="lots")


def test_a_broken_java_runtime_fails_with_its_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Java that cannot run surfaces as an error carrying the tool's output, not a hang or None."""
    real = esnode._java_home()
    fake = tmp_path / "jdk"
    (fake / "bin").mkdir(parents=True)
    shutil.copy(real / "release", fake / "release")
    java = fake / "bin" / "java"
    java.write_text("#!/bin/sh\necho 'fake java: cannot run' >&2\nexit 3\n")
    java.chmod(0o755)
    monkeypatch.setenv("ES_JAVA_HOME", str(fake))
    try:
        with pytest.raises(esnode.EmbeddedNodeError, match=r"(?s)plugin.*fake java: cannot run"):
            esnode.start(tmp_path / "cache", timeout=60)
        assert esnode.running(tmp_path / "cache") is None
    finally:
        shutil.rmtree(tmp_path / "cache", ignore_errors=True)


def test_second_node_starts_reports_status_and_stops(tmp_path_factory: pytest.TempPathFactory) -> None:
    """A full life cycle in a private cache dir, so the session node is untouched."""
    cache_dir = tmp_path_factory.mktemp("second-node")
    try:
        node = esnode.start(cache_dir, heap="512m")
        assert node.port != 0 and esnode.running(cache_dir) == node
        assert _get(node.url + "/_cluster/health")[1]["status"] in ("yellow", "green")
        assert esnode.stop(cache_dir) is True
        assert esnode.running(cache_dir) is None
        assert not (cache_dir / "es" / "node.json").exists()
        assert not esnode._group_alive(node.pid)  # launcher and server JVM both gone
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(node.url + "/_cluster/health", timeout=5)
        assert esnode.stop(cache_dir) is False
    finally:
        esnode.stop(cache_dir)
        shutil.rmtree(cache_dir, ignore_errors=True)
