"""news_ingest end to end with ``dag.test()``: the real embedded node, the demo site on loopback.

The DAG reads everything through the ``news_es`` connection (AIRFLOW_CONN_NEWS_ES): node URL, a
fresh index prefix, the demo sources file, loopback allowed. What is expected follows from the
demo manifest (ingest/dev/data/demo/site.json): four working outlets with nine article pages, one of
them a wire republication of another (near-duplicate) and one a copy (exact duplicate), plus an
outlet whose feed answers 404.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import airflow_env
import pytest
from elasticsearch import Elasticsearch

# isort: split
from airflow.dag_processing.dagbag import DagBag
from airflow.models.asset import AssetEvent
from airflow.models.xcom import XComModel
from airflow.utils.session import create_session
from servers import NodeProxy

from ingest import store
from ingest.airflow_support import NEW_ARTICLES_ASSET
from ingest.dev import demo
from ingest.dev.evaluation.server import LoopbackServer
from ingest.dev.paths import CorpusPaths
from ingest.settings import Settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]

SITE = demo.load_site(CorpusPaths().seeds_dir)
GOOD_PAGES = sorted(a.path for a in SITE.articles if not a.outlet.broken)
WIRE = "/wire/2021/11/armenian-defence-ministry-12-captured.html"   # republishes /sahil/armenia-...
COPY = "/wire/2022/09/armenia-shelling-decreases.html"              # copies /rased/shelling-decreases
ORIGINAL_OF = {WIRE: "/sahil/armenia-soldiers-captured.html", COPY: "/rased/shelling-decreases.html"}


class CuttingProxy(NodeProxy):
    """Cuts the first connection carrying a request whose bytes contain a marker (before
    forwarding it): the node is unreachable for that request."""

    def __init__(self, target: str) -> None:
        super().__init__(target)
        self.marker: bytes | None = None
        self.cuts = 0
        self._lock = threading.Lock()

    def cut_next(self, marker: bytes) -> None:
        with self._lock:
            self.marker = marker

    def on_request(self, chunk: bytes) -> str:
        with self._lock:
            if self.marker is None or self.marker not in chunk:
                return self.FORWARD
            self.marker, self.cuts = None, self.cuts + 1
            return self.CUT


@pytest.fixture(scope="module")
def airflow_db() -> Path:
    return airflow_env.migrate()


@pytest.fixture(scope="module")
def site_server() -> Iterator[LoopbackServer]:
    with demo.demo_server(SITE) as server:
        yield server


@pytest.fixture
def proxy(es_url: str) -> Iterator[CuttingProxy]:
    cutter = CuttingProxy(es_url)
    yield cutter
    cutter.close()


@pytest.fixture
def run_ingest(airflow_db: Path, site_server: LoopbackServer, settings: Settings, tmp_path: Path,
               monkeypatch: pytest.MonkeyPatch) -> Callable[..., Any]:
    """``run_ingest(es_url=...)`` -> the finished DagRun of one ``dag.test()`` of news_ingest."""
    sources = demo.write_sources(SITE, site_server.base_url, tmp_path / "sources.yaml")
    monkeypatch.setenv("INGEST_DAG_RETRY_DELAY_SECONDS", "1")
    monkeypatch.setenv("INGEST_DAG_MAX_RETRY_DELAY_SECONDS", "4")
    dag = DagBag(dag_folder=str(airflow_env.DAGS_DIR)).dags["news_ingest"]

    # The connection's extras may set Elasticsearch knobs only (airflow_support.EXTRAS); the rest
    # comes from the environment, as in a deployment.
    monkeypatch.setenv("INGEST_SOURCES_FILE", str(sources))
    monkeypatch.setenv("INGEST_ALLOWED_NETWORKS", '["127.0.0.1/32"]')
    monkeypatch.setenv("INGEST_PER_HOST_DELAY", "0")

    def run(es_url: str) -> Any:
        extra = {"index_prefix": settings.es.index_prefix, "es_max_retries": 0}
        monkeypatch.setenv("AIRFLOW_CONN_NEWS_ES", json.dumps({"conn_type": "generic", "host": es_url,
                                                                "extra": extra}))
        return dag.test()

    return run


def articles(es: Elasticsearch, settings: Settings) -> dict[str, dict]:
    """Indexed articles by URL path."""
    alias = store.alias_name(settings.es.index_prefix, "articles")
    es.indices.refresh(index=alias)
    hits = es.search(index=alias, size=100, query={"match_all": {}})["hits"]["hits"]
    assert len(hits) < 100
    return {urlsplit(h["_source"]["url"]).path: {"_id": h["_id"], **h["_source"]} for h in hits}


def source_state(es: Elasticsearch, settings: Settings, source_id: str) -> dict:
    return es.get(index=store.alias_name(settings.es.index_prefix, "sources"), id=source_id)["_source"]


def xcom(run: Any, task_id: str) -> Any:
    with create_session() as session:
        row = session.query(XComModel).filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id,
                                                 key="return_value").one()
        return XComModel.deserialize_value(row)


def task_instance(run: Any, task_id: str) -> Any:
    with create_session() as session:
        return run.get_task_instance(task_id, session=session)


def asset_events(run: Any) -> list[dict]:
    with create_session() as session:
        events = session.query(AssetEvent).filter_by(source_dag_id=run.dag_id, source_run_id=run.run_id).all()
        return [{"name": e.asset.name, "extra": e.extra} for e in events]


def test_run_indexes_groups_duplicates_records_the_broken_source_and_reruns_idempotently(
        run_ingest: Callable[..., Any], es: Elasticsearch, es_url: str, settings: Settings,
        site_server: LoopbackServer) -> None:
    first = run_ingest(es_url)
    assert first.state == "success"
    docs = articles(es, settings)
    assert sorted(docs) == GOOD_PAGES
    for variant, original in ORIGINAL_OF.items():
        assert docs[variant]["duplicate_of"] == docs[original]["_id"], variant
    summary = xcom(first, "summarize")
    assert summary["counts"]["indexed"] == len(GOOD_PAGES)
    assert summary["counts"]["sources_failed"] == 1
    assert summary["failed"]["poll:http_404"] == 1
    assert list(summary["failing_sources"]) == ["demo-broken"]
    broken = source_state(es, settings, "demo-broken")
    assert (broken["failures"], broken["last_status"]) == (1, "http_404")
    assert source_state(es, settings, "demo-wire")["failures"] == 0
    [event] = asset_events(first)
    assert event["name"] == NEW_ARTICLES_ASSET
    assert sorted(event["extra"]["doc_ids"]) == sorted(d["_id"] for d in docs.values())

    requests_before = len(site_server.requests)
    second = run_ingest(es_url)
    assert second.state == "success"
    assert articles(es, settings) == docs  # nothing re-indexed, nothing added
    again = xcom(second, "summarize")
    assert again["counts"].get("sources_polled", 0) == 0 and again["counts"].get("indexed", 0) == 0
    assert len(site_server.requests) == requests_before  # no source is due again seconds later
    assert task_instance(second, "publish").state == "skipped"
    assert asset_events(second) == []


def test_node_lost_during_index_task_fails_it_and_the_retry_indexes_everything_once(
        run_ingest: Callable[..., Any], proxy: CuttingProxy, es: Elasticsearch, settings: Settings) -> None:
    # the first bulk request writing articles (in dedup_and_index) never reaches the node
    proxy.cut_next(f'"_index":"{settings.es.index_prefix}-articles"'.encode())
    run = run_ingest(proxy.url)
    assert proxy.cuts == 1
    assert run.state == "success"
    ti = task_instance(run, "dedup_and_index")
    assert (ti.state, ti.try_number) == ("success", 2)  # failed once, the retry succeeded
    docs = articles(es, settings)
    assert sorted(docs) == GOOD_PAGES
    for variant, original in ORIGINAL_OF.items():
        assert docs[variant]["duplicate_of"] == docs[original]["_id"], variant
    assert sorted(xcom(run, "dedup_and_index")["indexed"]) == sorted(d["_id"] for d in docs.values())
    registry = store.alias_name(settings.es.index_prefix, "dedup")
    es.indices.refresh(index=registry)
    assert es.count(index=registry)["count"] == len(GOOD_PAGES)  # dedup records not doubled either


def test_news_es_follows_the_node_to_a_new_url_and_the_next_run_reads_it_from_the_metadata_db(
        airflow_db: Path, site_server: LoopbackServer, es: Elasticsearch, es_url: str, settings: Settings,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14: the node moves (old URL dead, new URL live); `ingest es start`'s sync re-registers."""
    from ingest.cli.stack import sync_news_es

    run_dir = tmp_path / "run"  # what `make run` leaves: airflow.env (this Airflow home), a pid file
    run_dir.mkdir()
    (run_dir / "airflow.env").write_text(f"export PATH={Path(sys.executable).parent}:$PATH\n"
                                         f"export AIRFLOW_HOME={airflow_db}\n", encoding="utf-8")
    (run_dir / "airflow.pid").write_text("1\n", encoding="utf-8")
    monkeypatch.setenv("STACK_RUN_DIR", str(run_dir))
    for name in ("AIRFLOW_CONN_NEWS_ES", "INGEST_ES_URL"):  # the URL can only come from the metadata DB
        monkeypatch.delenv(name, raising=False)
    sources = demo.write_sources(SITE, site_server.base_url, tmp_path / "sources.yaml")
    for name, value in {"INGEST_INDEX_PREFIX": settings.es.index_prefix, "INGEST_SOURCES_FILE": str(sources),
                        "INGEST_ALLOWED_NETWORKS": '["127.0.0.1/32"]', "INGEST_PER_HOST_DELAY": "0",
                        "INGEST_ES_MAX_RETRIES": "0", "INGEST_CACHE_DIR": str(tmp_path / "cache"),
                        "INGEST_DAG_RETRIES": "0"}.items():
        monkeypatch.setenv(name, value)
    dag = DagBag(dag_folder=str(airflow_env.DAGS_DIR)).dags["news_ingest"]

    def sync(node_url: str) -> str | None:
        with monkeypatch.context() as m:
            m.setenv("INGEST_ES_URL", node_url)  # what `ingest es start` resolves after starting the node
            return sync_news_es(tmp_path / "cache")

    old, new = CuttingProxy(es_url), CuttingProxy(es_url)  # two addresses of the node
    try:
        assert sync(old.url) == f"connection news_es -> {old.url}; pool news_fetch registered"
        old.close()  # the node left the old address
        assert dag.test().state == "failed"  # the stale connection: every task that needs the node fails
        assert sync(new.url) == f"connection news_es -> {new.url}; pool news_fetch registered"
        run = dag.test()
        assert run.state == "success"
        assert sorted(articles(es, settings)) == GOOD_PAGES
        assert sync(new.url) == f"connection news_es already -> {new.url}"  # nothing to do twice
    finally:
        old.close()
        new.close()


def registered_url() -> str:
    """The news_es host in the metadata DB (what the tasks will read)."""
    from airflow.models.connection import Connection as StoredConnection

    with create_session() as session:
        return session.query(StoredConnection).filter_by(conn_id="news_es").one().host


def test_make_run_while_running_repairs_a_stale_news_es(airflow_db: Path, es_url: str, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """`make run` a second time (Airflow already up) re-registers news_es when the node moved."""
    from ingest.cli.stack import STACK

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    env = {**os.environ, "STACK_RUN_DIR": str(run_dir), "STACK_AIRFLOW_HOME": str(airflow_db),
           "AIRFLOW_PORT": "1"}  # nothing answers there: the test stops the script once it has repaired
    sleeper = subprocess.Popen(["sleep", "600"])  # stands for the running Airflow (a live pid)
    (run_dir / "airflow.pid").write_text(f"{sleeper.pid}\n", encoding="utf-8")
    (run_dir / "airflow.env").write_text(f"export PATH={Path(sys.executable).parent}:$PATH\n"
                                         f"export AIRFLOW_HOME={airflow_db}\n", encoding="utf-8")
    stale = "http://127.0.0.1:1"
    subprocess.run(["bash", str(STACK), "es-sync"], env={**env, "INGEST_ES_URL": stale}, check=True,
                   capture_output=True, timeout=300)
    assert registered_url() == stale
    log = tmp_path / "make-run.log"
    with log.open("w") as out:
        make_run = subprocess.Popen(["bash", str(STACK), "airflow-start"], stdout=out,
                                    stderr=subprocess.STDOUT, env={**env, "INGEST_ES_URL": es_url},
                                    start_new_session=True)
    try:
        for _ in range(600):  # bounded: about 5 minutes of polling the log
            if f"connection news_es -> {es_url}" in log.read_text() or make_run.poll() is not None:
                break
            time.sleep(0.5)
        else:
            pytest.fail(f"make run never re-registered news_es:\n{log.read_text()}")
    finally:
        os.killpg(make_run.pid, signal.SIGTERM)
        make_run.wait(timeout=60)
        sleeper.kill()
        sleeper.wait()
    text = log.read_text()
    assert "Airflow already running" in text and f"connection news_es was {stale}" in text, text
    assert registered_url() == es_url
