"""The DAG files: they load without errors, have the agreed structure, and parsing them touches
no network, database or connection and pulls in none of the heavy stage libraries."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import timedelta

import airflow_env  # sets AIRFLOW_HOME & co. before airflow is imported
import pytest

# isort: split
from airflow.dag_processing.dagbag import DagBag
from airflow.sdk import Asset

from ingest.airflow_support import NEW_ARTICLES_ASSET

EXPECTED = {"news_ingest", "news_alerts", "news_maintenance"}


@pytest.fixture(scope="module")
def dagbag() -> DagBag:
    return DagBag(dag_folder=str(airflow_env.DAGS_DIR))


def test_every_dag_file_loads_without_import_errors(dagbag: DagBag) -> None:
    assert dagbag.import_errors == {}
    assert set(dagbag.dag_ids) == EXPECTED


@pytest.mark.parametrize("dag_id", sorted(EXPECTED))
def test_scheduling_policy(dagbag: DagBag, dag_id: str) -> None:
    dag = dagbag.dags[dag_id]
    assert dag.catchup is False
    assert dag.max_active_runs == 1
    assert dag.start_date.utcoffset() == timedelta(0)  # timezone-aware (UTC)
    for task in dag.tasks:
        assert task.retries >= 1, task.task_id
        assert task.retry_exponential_backoff, task.task_id
        assert task.max_retry_delay is not None, task.task_id


def test_ingest_dag_wiring(dagbag: DagBag) -> None:
    dag = dagbag.dags["news_ingest"]
    upstream = {t.task_id: t.upstream_task_ids for t in dag.tasks}
    assert upstream == {
        "load_sources": set(),
        "poll": {"load_sources"},
        "plan_fetch": {"poll"},
        "fetch_and_extract": {"plan_fetch"},
        "dedup_and_index": {"fetch_and_extract"},
        "publish": {"dedup_and_index"},
        "summarize": {"poll", "fetch_and_extract", "dedup_and_index"},
    }
    mapped = {t.task_id for t in dag.tasks if type(t).__name__.endswith("MappedOperator")}
    assert mapped == {"poll", "fetch_and_extract"}
    assert dag.task_dict["fetch_and_extract"].pool == "news_fetch"
    assert dag.task_dict["publish"].outlets == [Asset(name=NEW_ARTICLES_ASSET)]
    assert dag.task_dict["summarize"].trigger_rule == "all_done"
    assert dag.task_dict["plan_fetch"].trigger_rule == "all_done"  # no source due: the frontier still is
    assert dag.task_dict["dedup_and_index"].trigger_rule == "all_done"


def test_alerts_dag_runs_on_the_new_articles_asset(dagbag: DagBag) -> None:
    dag = dagbag.dags["news_alerts"]
    assert dag.schedule == [Asset(name=NEW_ARTICLES_ASSET)]
    assert sorted(dag.task_dict) == ["evaluate"]


def test_maintenance_dag_is_daily_and_ordered(dagbag: DagBag) -> None:
    dag = dagbag.dags["news_maintenance"]
    assert dag.schedule == "@daily"
    upstream = {t.task_id: t.upstream_task_ids for t in dag.tasks}
    assert upstream == {"source_health": set(), "cleanup_expired_state": {"source_health"},
                        "housekeeping": {"cleanup_expired_state"}}


# Run in a fresh interpreter: Airflow itself is imported first, then an audit hook records every
# socket connection and database open made while the DAG files execute; the modules they import
# are listed too. A connection look-up would fail loudly: the connection variable is not JSON.
PARSE_PROBE = """
import importlib.util, json, sys
import airflow.sdk  # the framework's own start-up is not what is measured
events = []
watched = ("socket.connect", "sqlite3.connect")
sys.addaudithook(lambda name, args: events.append(name) if name in watched else None)
before = set(sys.modules)
for path in sys.argv[1:]:
    spec = importlib.util.spec_from_file_location("probe_" + path.rsplit("/", 1)[-1][:-3], path)
    spec.loader.exec_module(importlib.util.module_from_spec(spec))
print(json.dumps({"events": events, "modules": sorted(set(sys.modules) - before)}))
"""
HEAVY = ("elasticsearch", "trafilatura", "feedparser", "datasketch", "ingest.pipeline", "ingest.store",
         "ingest.alerts", "ingest.dedup", "ingest.maintenance")


@pytest.mark.slow
def test_parsing_touches_no_network_database_or_connection() -> None:
    env = dict(os.environ, AIRFLOW_CONN_NEWS_ES="{not json",
               AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="sqlite:////nonexistent/dir/airflow.db")
    files = sorted(str(p) for p in airflow_env.DAGS_DIR.glob("*.py"))
    done = subprocess.run([sys.executable, "-c", PARSE_PROBE, *files], capture_output=True, text=True,
                          env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    probe = json.loads(done.stdout.strip().splitlines()[-1])
    assert probe["events"] == []
    heavy = [m for m in probe["modules"] if m.split(".")[0] in HEAVY or m in HEAVY
             or any(m.startswith(h + ".") for h in HEAVY)]
    assert heavy == []
