"""The embedded Elasticsearch node (``ingest.dev.node``), against the real thing (no mocks).

The session node comes from ``node.borrowed``: a node already running for the project's cache dir
(e.g. after ``ingest es start``) is reused and left alone; otherwise one is started and stopped at
the end. When it cannot start, these tests fail with the reason; they never skip. The life-cycle
test (restart, kill -9) runs a second node in a private cache dir and is marked slow.
"""

from __future__ import annotations

import http.client
import json
import os
import pwd
import re
import shutil
import signal
import socket
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from typer.testing import CliRunner

from ingest.cli import app
from ingest.dev import node as esnode
from ingest.dev.node import build, control, process, runtime
from ingest.settings import load_settings

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def embedded_cache_dir() -> Path:
    return load_settings().files.cache_dir


@pytest.fixture(scope="session")
def embedded_node(embedded_cache_dir: Path) -> Iterator[esnode.NodeInfo]:
    with esnode.borrowed(embedded_cache_dir) as node:
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
    pom = (build.POM).read_text(encoding="utf-8")
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


@pytest.mark.slow
def test_a_broken_java_runtime_fails_with_its_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A Java that cannot run surfaces as an error carrying the tool's output, not a hang or None."""
    real = runtime.java_home()
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


def test_es_start_prints_the_url_of_the_running_node(embedded_node: esnode.NodeInfo) -> None:
    result = CliRunner().invoke(app, ["es", "start"])
    assert result.exit_code == 0, result.output
    assert f"running at {embedded_node.url} (pid {embedded_node.pid})" in result.output


@pytest.mark.slow
def test_an_explicit_port_that_is_taken_is_refused_a_remembered_one_is_replaced(tmp_path: Path) -> None:
    (tmp_path / "es").mkdir()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        taken = sock.getsockname()[1]
        (tmp_path / "es" / control.PORT_FILE).write_text(f"{taken}\n")
        assert esnode.remembered_port(tmp_path) == taken
        assert not control.port_free(taken)
        chosen = control._choose_port(tmp_path, 0)
        assert chosen != taken and control.port_free(chosen)
        with pytest.raises(esnode.EmbeddedNodeError, match=f"port {taken} .*taken"):
            control._choose_port(tmp_path, taken)


def _time_wait_on(port: int) -> int:
    """How many TCP sockets on 127.0.0.1:port are in TIME-WAIT (state 06 of /proc/net/tcp{,6}; the
    JVM listens on an IPv6 socket, so its 127.0.0.1 shows as the v4-mapped ::ffff:127.0.0.1)."""
    local = {f"0100007F:{port:04X}", f"0000000000000000FFFF00000100007F:{port:04X}"}
    rows = [row.split() for name in ("tcp", "tcp6") for row in
            Path(f"/proc/net/{name}").read_text().splitlines()[1:]]
    return sum(1 for row in rows if row[1] in local and row[3] == "06")


def _kill_9(node: esnode.NodeInfo) -> None:
    """SIGKILL every process of the node (launcher, server JVM), as a crash would."""
    pids = process.pids_from(node.home)
    assert node.pid in pids and len(pids) >= 2
    for pid in pids:
        os.kill(pid, signal.SIGKILL)
    for _ in range(100):
        if not process.pids_from(node.home):
            return
        time.sleep(0.1)
    raise AssertionError(f"node processes {process.pids_from(node.home)} survived SIGKILL")


@pytest.mark.slow
def test_a_second_node_stays_put_across_restart_and_kill_9(embedded_cache_dir: Path) -> None:
    """A full life cycle in a private cache dir, so the session node is untouched: host preparation,
    start, stop, restart on the same port, kill -9 with sockets left in TIME-WAIT, restart at once.

    The dir is inside the project's cache, not pytest's tmp: pytest resets /tmp/pytest-of-<user> to
    0700 at every session start, which would cut the node's user off mid-test."""
    cache_dir = Path(tempfile.mkdtemp(prefix="second-node-", dir=embedded_cache_dir))
    try:
        if os.geteuid() == 0:  # start() only checks the host; preparing it is the explicit step
            with pytest.raises(esnode.EmbeddedNodeError, match="prepare-host"):
                esnode.start(cache_dir, heap="512m")
        esnode.prepare(cache_dir)
        assert esnode.prepare(cache_dir) == []  # idempotent: nothing left to change
        node = esnode.start(cache_dir, heap="512m")
        assert node.port != 0 and esnode.running(cache_dir) == node
        assert _get(node.url + "/_cluster/health")[1]["status"] in ("yellow", "green")

        assert esnode.stop(cache_dir) is True
        assert esnode.running(cache_dir) is None
        assert not (cache_dir / "es" / "node.json").exists()
        assert not process.group_alive(node.pid)  # launcher and server JVM both gone
        with pytest.raises(urllib.error.URLError):
            urllib.request.urlopen(node.url + "/_cluster/health", timeout=5)
        assert esnode.stop(cache_dir) is False

        again = esnode.start(cache_dir, heap="512m")
        assert again.url == node.url and again.pid != node.pid

        for _ in range(3):  # the node closes these connections first: their sockets enter TIME-WAIT
            conn = http.client.HTTPConnection("127.0.0.1", again.port, timeout=10)
            conn.request("GET", "/_cluster/health", headers={"Connection": "close"})
            assert conn.getresponse().read()
            conn.close()
        _kill_9(again)
        assert _time_wait_on(again.port) >= 1
        with socket.socket() as plain, pytest.raises(OSError):  # the trap: a bind without SO_REUSEADDR
            plain.bind(("127.0.0.1", again.port))

        revived = esnode.start(cache_dir, heap="512m")
        assert revived.url == node.url
        assert _get(revived.url + "/_cluster/health")[1]["status"] in ("yellow", "green")
    finally:
        esnode.stop(cache_dir)
        shutil.rmtree(cache_dir, ignore_errors=True)
