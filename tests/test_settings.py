"""Nested settings with the flat environment names: every old variable is read into its group, an
override of one field keeps the environment's other fields of that group, the run profile round
trips, a connection's extras are an explicit allow-list, `config show` says where each value came from."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ingest import airflow_support as support
from ingest.cli import app
from ingest.dedup.decide import Thresholds
from ingest.dev.paths import CorpusPaths
from ingest.errors import ConfigError
from ingest.settings import FLAT, load_settings

# The flat names as they were before the nesting (a sample from every group), and where they land.
OLD_NAMES = {
    "INGEST_ES_URL": ("es", "url", "http://127.0.0.1:9999", "http://127.0.0.1:9999"),
    "INGEST_INDEX_PREFIX": ("es", "index_prefix", "px", "px"),
    "INGEST_ES_NODE_PORT": ("es", "node_port", "9301", 9301),
    "INGEST_CACHE_DIR": ("files", "cache_dir", "/tmp/c", Path("/tmp/c")),
    "INGEST_PER_HOST_DELAY": ("fetch", "per_host_delay", "0.25", 0.25),
    "INGEST_ALLOWED_NETWORKS": ("fetch", "allowed_networks", '["10.0.0.0/8"]', ["10.0.0.0/8"]),
    "INGEST_POLL_MAX_FAILURES": ("poll", "max_failures", "9", 9),
    "INGEST_FEED_MAX_ITEMS": ("poll", "feed_max_items", "7", 7),
    "INGEST_LEASE_SECONDS": ("frontier", "lease_seconds", "5", 5.0),
    "INGEST_FETCH_MAX_ATTEMPTS": ("frontier", "max_attempts", "2", 2),
    "INGEST_DEDUP_NEAR_JACCARD": ("dedup", "near_jaccard", "0.61", 0.61),
    "INGEST_RULES_FILE": ("alerts", "rules_file", "/tmp/r.yaml", Path("/tmp/r.yaml")),
    "INGEST_ALERTS_LOG_FILE": ("alerts", "log_file", "/tmp/a.jsonl", Path("/tmp/a.jsonl")),
    "INGEST_ALERT_RETRY_WAIT": ("alerts", "retry_wait", "0", 0.0),
    "INGEST_WEBHOOK_TIMEOUT": ("alerts", "webhook_timeout", "3", 3.0),
    "INGEST_SMTP_FROM": ("smtp", "sender", "news@example.org", "news@example.org"),
    "INGEST_SMTP_ALLOW_PLAIN_AUTH": ("smtp", "allow_plain_auth", "true", True),
    "INGEST_WEB_PORT": ("web", "port", "8111", 8111),
    "INGEST_DAG_CHUNK_SIZE": ("dag", "chunk_size", "3", 3),
    "INGEST_DAG_SCHEDULE": ("dag", "schedule", "@hourly", "@hourly"),
}


def test_every_old_environment_name_is_read_into_its_group(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, (_, _, raw, _) in OLD_NAMES.items():
        monkeypatch.setenv(name, raw)
    cfg = load_settings()
    got = {name: getattr(getattr(cfg, group), field) for name, (group, field, _, _) in OLD_NAMES.items()}
    assert got == {name: want for name, (_, _, _, want) in OLD_NAMES.items()}


def test_the_table_covers_every_field_once() -> None:
    cfg = load_settings()
    fields = {(g, f) for g in type(cfg).model_fields for f in type(getattr(cfg, g)).model_fields}
    assert sorted(FLAT.values()) == sorted(fields)
    assert {f"INGEST_{n.upper()}" for n in FLAT} >= OLD_NAMES.keys()


def test_overriding_one_field_keeps_the_groups_environment_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGEST_CONCURRENCY", "3")
    monkeypatch.setenv("INGEST_USER_AGENT", "Env Agent/1.0")
    monkeypatch.setenv("INGEST_PER_HOST_DELAY", "9")
    flat = {"per_host_delay": 0}  # the flat form that helpers pass on
    for cfg in (load_settings(fetch={"per_host_delay": 0}), load_settings(**flat)):
        fetch = cfg.fetch
        assert (fetch.per_host_delay, fetch.concurrency, fetch.user_agent) == (0, 3, "Env Agent/1.0")
    changed = load_settings().changed(fetch={"concurrency": 5})
    assert (changed.fetch.concurrency, changed.fetch.per_host_delay) == (5, 9)


def test_an_unknown_override_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="per_host_dela"):
        load_settings(per_host_dela=1)
    with pytest.raises(ValueError, match="delay"):
        load_settings(fetch={"delay": 1})


def test_the_dedup_thresholds_are_the_dedup_group(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INGEST_DEDUP_STORY_THRESHOLD", "0.42")
    cfg = load_settings()
    assert isinstance(cfg.dedup, Thresholds) and cfg.dedup.story_threshold == 0.42
    assert cfg.dedup.as_dict()["story_threshold"] == 0.42


def test_evaluation_paths_left_the_runtime_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("INGEST_FIXTURES_DIR", str(tmp_path))
    assert CorpusPaths().fixtures_dir == tmp_path
    assert not {"fixtures_dir", "seeds_dir"} & FLAT.keys()
    load_settings()  # the variable in the environment (or a profile) is no error for the runtime


def test_profile_round_trip(tmp_path: Path) -> None:
    """stack.sh writes the profile from the INGEST_* environment; the CLI reads back the same values."""
    from ingest.cli.stack import STACK

    env = {k: v for k, v in os.environ.items() if not k.startswith("INGEST_")}
    env |= {"STACK_RUN_DIR": str(tmp_path), "INGEST_PER_HOST_DELAY": "0.7",
           "INGEST_DEDUP_NEAR_JACCARD": "0.55", "INGEST_DAG_CHUNK_SIZE": "2", "INGEST_SMTP_FROM": "a@b.c",
           "INGEST_ALLOWED_NETWORKS": '["10.1.0.0/16"]'}
    done = subprocess.run(["bash", str(STACK), "profile"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    cfg = load_settings(_env_file=tmp_path / "profile.env")
    assert (cfg.fetch.per_host_delay, cfg.dedup.near_jaccard, cfg.dag.chunk_size, cfg.smtp.sender,
            cfg.fetch.allowed_networks) == (0.7, 0.55, 2, "a@b.c", ["10.1.0.0/16"])


def test_environment_over_profile_field_by_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    profile = tmp_path / "profile.env"
    profile.write_text("INGEST_PER_HOST_DELAY=0.2\nINGEST_CONCURRENCY=6\n", encoding="utf-8")
    monkeypatch.setenv("INGEST_PER_HOST_DELAY", "4")
    cfg = load_settings(_env_file=profile)
    assert (cfg.fetch.per_host_delay, cfg.fetch.concurrency) == (4, 6)


def conn(extra: dict) -> object:
    from types import SimpleNamespace

    return SimpleNamespace(conn_type="generic", host="h", port=None, schema=None, login=None, password=None,
                           extra_dejson=extra)


def test_connection_extras_are_an_allow_list() -> None:
    values = support.connection_overrides(conn({"index_prefix": "px", "es_max_retries": 1, "shards": 2}))  # type: ignore[arg-type]
    assert values == {"es": {"url": "http://h:9200", "index_prefix": "px", "max_retries": 1, "shards": 2}}
    with pytest.raises(ConfigError, match="'per_host_delay' may not be set by a connection"):
        support.connection_overrides(conn({"per_host_delay": 0}))  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="'colour' is not a setting"):
        support.connection_overrides(conn({"colour": "red"}))  # type: ignore[arg-type]


def test_config_show_names_group_field_variable_and_source(tmp_path: Path) -> None:
    profile = tmp_path / "profile.env"
    profile.write_text("INGEST_DEDUP_NEAR_JACCARD=0.6\nINGEST_ES_PASSWORD=s3cret-pw\n", encoding="utf-8")
    result = CliRunner().invoke(app, ["config", "show", "--json"], catch_exceptions=False,
                                env={"INGEST_PROFILE": str(profile), "INGEST_DAG_RETRIES": "8"})
    rows = {r["field"]: r for r in map(json.loads, result.output.splitlines())}
    assert rows["dedup.near_jaccard"] == {"field": "dedup.near_jaccard", "env": "INGEST_DEDUP_NEAR_JACCARD",
                                          "value": "0.6", "source": f"profile {profile}"}
    assert rows["dag.retries"]["source"] == "environment" and rows["dag.retries"]["value"] == "8"
    assert rows["es.password"]["value"] == "**********" and "s3cret-pw" not in result.output
    assert len(rows) == len(FLAT)
