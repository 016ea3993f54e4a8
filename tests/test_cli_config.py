"""One configuration: the CLI reads the run profile below the environment; `config show` says where
each setting came from and masks secrets; the profile's index prefix reaches a real command."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from typer.testing import CliRunner

from ingest.cli import app
from ingest.settings import Settings

runner = CliRunner()


def show(env: dict[str, str]) -> dict[str, dict[str, str]]:
    result = runner.invoke(app, ["config", "show", "--json"], env=env, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return {r["field"]: r for r in map(json.loads, result.output.splitlines())}


def test_environment_over_profile_over_defaults_and_secrets_masked(tmp_path: Path) -> None:
    profile = tmp_path / "profile.env"
    profile.write_text("export INGEST_INDEX_PREFIX=demo\nINGEST_PER_HOST_DELAY=0.2\n"
                       "INGEST_SMTP_PASSWORD='hunter2-secret'\nOTHER=ignored\n", encoding="utf-8")
    rows = show({"INGEST_PROFILE": str(profile), "INGEST_PER_HOST_DELAY": "3"})
    assert rows["es.index_prefix"] == {"field": "es.index_prefix", "env": "INGEST_INDEX_PREFIX",
                                       "value": "demo", "source": f"profile {profile}"}
    delay = rows["fetch.per_host_delay"]
    assert (delay["env"], delay["value"], delay["source"]) == ("INGEST_PER_HOST_DELAY", "3.0", "environment")
    assert rows["fetch.concurrency"]["source"] == "default"
    assert rows["smtp.password"]["value"] == "**********"
    text = runner.invoke(app, ["config", "show"], env={"INGEST_PROFILE": str(profile)})
    assert "hunter2" not in text.output and f"profile: {profile}" in text.output


def test_no_profile_means_defaults(tmp_path: Path) -> None:
    rows = show({"INGEST_PROFILE": "none"})
    assert rows["es.index_prefix"]["value"] == "news" and rows["es.index_prefix"]["source"] == "default"


@pytest.mark.integration
def test_a_command_uses_the_profiles_index_prefix(tmp_path: Path, settings: Settings,
                                                  es: Elasticsearch) -> None:
    profile = tmp_path / "profile.env"
    profile.write_text(f"INGEST_ES_URL={settings.es.url}\nINGEST_INDEX_PREFIX={settings.es.index_prefix}\n",
                       encoding="utf-8")
    result = runner.invoke(app, ["stories", "top", "--json"], env={"INGEST_PROFILE": str(profile)})
    assert result.exit_code == 1 and result.output == ""  # the profile's (empty) index, not "news-*"
    missing = runner.invoke(app, ["stories", "top"], env={"INGEST_PROFILE": str(profile),
                                                          "INGEST_INDEX_PREFIX": "nosuchprefix"})
    assert missing.exit_code == 4 and "no such index" in missing.output


def test_make_runs_profile_is_what_the_cli_reads(tmp_path: Path) -> None:
    """stack.sh writes the profile (demo: its own index prefix); values with spaces survive."""
    import os
    import subprocess

    from ingest.cli.stack import STACK

    env = {**os.environ, "STACK_RUN_DIR": str(tmp_path), "INGEST_USER_AGENT": "Test Agent/1.0 (+x; y)"}
    env.pop("INGEST_PROFILE", None)
    done = subprocess.run(["bash", str(STACK), "profile", "--demo"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    rows = show({"INGEST_PROFILE": str(tmp_path / "profile.env")})
    prefix = rows["es.index_prefix"]
    assert prefix["value"] == "demo" and prefix["source"].startswith("profile")
    assert rows["fetch.user_agent"]["value"] == "Test Agent/1.0 (+x; y)"
    assert rows["fetch.allowed_networks"]["value"] == "['127.0.0.1/32']"
    assert rows["files.sources_file"]["value"].endswith(".cache/demo/sources.yaml")
