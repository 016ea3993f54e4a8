"""ingest.airflow_support: settings from the news_es connection (never logging secrets), and the
pure task-body helpers (chunking, run summary, asset-event ids)."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import airflow_env  # noqa: F401  (Airflow's environment before airflow is imported)
import pytest

# isort: split
from airflow.sdk import Connection
from pydantic import ValidationError

from ingest import airflow_support as support
from ingest import pipeline
from ingest.errors import ConfigError
from ingest.settings import load_settings
from ingest.summary import RunSummary


def conn(**fields: object) -> Connection:
    return Connection(conn_id="news_es", conn_type="generic", **fields)  # type: ignore[arg-type]


def test_url_from_host_and_port() -> None:
    assert support.connection_url(conn(host="es.internal", port=9201)) == "http://es.internal:9201"


def test_url_defaults_to_port_9200_and_honours_an_https_schema() -> None:
    assert support.connection_url(conn(host="es.internal", schema="https")) == "https://es.internal:9200"


def test_url_given_whole_in_host() -> None:
    assert support.connection_url(conn(host="https://es.example.org:443")) == "https://es.example.org:443"
    assert support.connection_url(conn(host="http://127.0.0.1", port=9300)) == "http://127.0.0.1:9300"


def test_empty_host_means_the_embedded_node() -> None:
    assert support.connection_url(conn()) == ""


def test_login_password_and_extras_become_settings() -> None:
    values = support.connection_overrides(conn(host="h", login="ingest", password="pw-12345",
                                               extra=json.dumps({"api_key": "k-678", "index_prefix": "px",
                                                                 "verify_certs": False})))
    assert values == {"es": {"url": "http://h:9200", "username": "ingest", "password": "pw-12345",
                             "api_key": "k-678", "index_prefix": "px", "verify_certs": False}}


def test_unknown_extra_is_a_config_error_naming_the_key() -> None:
    with pytest.raises(ConfigError, match="'indexprefix'") as info:
        support.connection_overrides(conn(host="h", extra=json.dumps({"indexprefix": "px"})))
    assert info.value.reason == "config"


def test_settings_from_the_connection_env_var_never_log_the_secrets(
        monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_NEWS_ES", json.dumps(
        {"conn_type": "generic", "host": "127.0.0.1", "port": 9999, "login": "ingest",
         "password": "pw-secret-123", "extra": {"index_prefix": "px", "api_key": "key-secret-456"}}))
    with caplog.at_level(logging.DEBUG):
        cfg = support.settings_from_connection()
    assert (cfg.es.url, cfg.es.username, cfg.es.index_prefix) == ("http://127.0.0.1:9999", "ingest", "px")
    assert cfg.es.password is not None and cfg.es.password.get_secret_value() == "pw-secret-123"
    assert cfg.es.api_key is not None and cfg.es.api_key.get_secret_value() == "key-secret-456"
    for text in (caplog.text, repr(cfg), str(cfg)):
        assert "pw-secret-123" not in text and "key-secret-456" not in text


def test_without_a_connection_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_NEWS_ES", raising=False)
    monkeypatch.setenv("INGEST_ES_URL", "http://127.0.0.1:9555")
    monkeypatch.setenv("INGEST_INDEX_PREFIX", "fromenv")
    cfg = support.settings_from_connection()
    assert (cfg.es.url, cfg.es.index_prefix) == ("http://127.0.0.1:9555", "fromenv")


def test_invalid_setting_in_the_connection_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_NEWS_ES", json.dumps(
        {"conn_type": "generic", "host": "h", "extra": {"es_max_retries": "many"}}))
    with pytest.raises(ConfigError, match="news_es"):
        support.settings_from_connection()


def test_dag_knobs_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGEST_DAG_RETRIES", "5")
    monkeypatch.setenv("INGEST_DAG_RETRY_DELAY_SECONDS", "2")
    args = load_settings().dag.default_args()
    assert args["retries"] == 5
    assert args["retry_delay"].total_seconds() == 2
    assert args["retry_exponential_backoff"]


def poll_json(source_id: str, n_items: int, error: str = "") -> dict:
    """A poll task's XCom as the pipeline writes it (counters only, no items)."""
    counts = {"sources_polled": 1, "sources_failed": 1} if error else {"sources_polled": 1, "new": n_items}
    counts = {k: v for k, v in counts.items() if v}
    failed = {"poll:http_404": 1} if error else {}
    report = pipeline.PollReport(source_id, n_items, RunSummary(counts, {}, failed), error)
    return pipeline.to_xcom(report)


def test_xcom_payloads_are_plain_json_and_validated_back() -> None:
    report = pipeline.FetchReport(("a1", "b2"), RunSummary({"fetched": 2}, {}, {"fetch:http_404": 1}))
    data = pipeline.to_xcom(report)
    assert json.loads(json.dumps(data)) == data and data["extracted"] == ["a1", "b2"]
    assert pipeline.from_xcom(pipeline.FetchReport, data) == report
    with pytest.raises(ValidationError):
        pipeline.from_xcom(pipeline.FetchReport, {"extracted": "a1"})


def test_hosts_are_grouped_never_split() -> None:
    assert support.chunk_hosts(["a:1", "b:1", "c:1"], 2) == [["a:1", "b:1"], ["c:1"]]
    assert support.chunk_hosts([], 5) == []


def test_summary_adds_every_stage_and_names_failing_sources() -> None:
    counters = {"counts": {"fetched": 3, "extracted": 2}, "skipped": {}, "failed": {"extract:empty": 1}}
    extracted = [{"extracted": ["x", "y"], "summary": counters}]
    indexed = {"indexed": ["i1", "i2"], "failed": {},
               "summary": {"counts": {"indexed": 2}, "skipped": {}, "failed": {}}}
    result = support.summarize([poll_json("a", 3), poll_json("b", 0, "b answered 404")], extracted, indexed)
    assert result["counts"] == {"sources_polled": 2, "sources_failed": 1, "new": 3, "fetched": 3,
                                "extracted": 2, "indexed": 2}
    assert result["failed"] == {"poll:http_404": 1, "extract:empty": 1}
    assert result["failing_sources"] == {"b": "b answered 404"}


def test_summary_of_a_run_whose_later_stages_did_not_run() -> None:
    result = support.summarize([poll_json("a", 0)], [], None)
    assert result["counts"] == {"sources_polled": 1}


def test_doc_ids_from_asset_events_in_first_seen_order() -> None:
    events = [SimpleNamespace(extra={"doc_ids": ["a", "b"]}), SimpleNamespace(extra={}),
              SimpleNamespace(extra={"doc_ids": ["b", "c"]})]
    assert support.doc_ids_from_events(events) == ["a", "b", "c"]
