"""The `ingest run --once`, `ingest search` and `ingest sources check` commands, end to end."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from servers import LoopbackServer, running, serve_site
from typer.testing import CliRunner

from ingest.cli import app
from ingest.settings import Settings

runner = CliRunner()


@pytest.fixture
def site(seed_texts: dict[str, str]) -> Iterator[LoopbackServer]:
    for server in running():
        serve_site(server, seed_texts)
        yield server


@pytest.fixture
def env(make_settings: Callable[..., Settings]) -> dict[str, str]:
    """The environment the command reads its settings from (fresh index prefix, loopback allowed)."""
    cfg = make_settings()
    return {"INGEST_ES_URL": cfg.es.url, "INGEST_INDEX_PREFIX": cfg.es.index_prefix,
            "INGEST_ALLOWED_NETWORKS": json.dumps(["127.0.0.1/32"]), "INGEST_PER_HOST_DELAY": "0"}


def sources_file(tmp_path: Path, server: LoopbackServer, extra: str = "") -> Path:
    path = tmp_path / "sources.yaml"
    feed, sitemap = server.url("/feed.xml"), server.url("/news-sitemap.xml")
    path.write_text(f"- {{id: afaq, name: الأفق الإخباري, url: '{feed}', country: LB}}\n"
                    f"- {{id: afaq-news, name: الأفق, url: '{sitemap}', kind: sitemap}}\n" + extra,
                    encoding="utf-8")
    return path


def invoke(args: list[str], env: dict[str, str]):
    return runner.invoke(app, args, env=env, catch_exceptions=False)


@pytest.mark.slow
@pytest.mark.integration
def test_run_once_twice_then_search_with_other_hamza_form_and_diacritics(
        tmp_path: Path, env: dict[str, str], site: LoopbackServer, es: Elasticsearch) -> None:
    path = sources_file(tmp_path, site)
    first = invoke(["run", "--once", "--sources", str(path)], env)
    assert first.exit_code == 0, first.output
    assert "run summary" in first.output
    assert _count(first.output, "fetched") == 5 and _count(first.output, "indexed") == 5
    feed_hits = site.hits("/feed.xml")
    second = invoke(["run", "--once", "--sources", str(path)], env)
    assert second.exit_code == 0, second.output
    assert _count(second.output, "sources_polled") == 0 and _count(second.output, "indexed") == 0
    assert "skipped poll:not_due" in second.output and site.hits("/feed.xml") == feed_hits
    forced = invoke(["run", "--once", "--force", "--sources", str(path)], env)
    assert forced.exit_code == 0, forced.output
    assert _count(forced.output, "sources_polled") == 2 and _count(forced.output, "fetched") == 0
    assert "skipped poll:known" in forced.output and site.hits("/feed.xml") == feed_hits + 1

    # "إنترفاكس" (Interfax) occurs only in article 004; search it with a bare alef, then with diacritics.
    for query in ("انترفاكس", "إِنْتِرْفَاكْس"):
        found = invoke(["search", query], env)
        assert found.exit_code == 0, found.output
        assert "1 hit(s)" in found.output and "/news/004.html" in found.output
        assert "إنترفاكس" in found.output  # the highlighted snippet shows the text as written
    filtered = invoke(["search", "انترفاكس", "--source", "nobody"], env)
    assert filtered.exit_code == 1 and "0 hit(s)" in filtered.output
    dated = invoke(["search", "أذربيجان", "--since", "2022-01-01", "--lang", "ar"], env)
    assert "2 hit(s)" in dated.output  # 001 and 002 are from September 2022, the others from 2021


@pytest.mark.slow
@pytest.mark.integration
def test_run_once_exit_code_1_when_items_fail(tmp_path: Path, env: dict[str, str],
                                              site: LoopbackServer) -> None:
    extra = f"- {{id: broken, name: مكسور, url: '{site.url('/bomb.xml')}'}}\n"
    result = invoke(["run", "--once", "--sources", str(sources_file(tmp_path, site, extra))], env)
    assert result.exit_code == 1
    assert "failed  poll:xml_entities" in result.output
    assert "failing sources (1)" in result.output and "مكسور [broken]:" in result.output  # named


@pytest.mark.slow
@pytest.mark.integration
def test_sources_disable_pauses_and_enable_resumes(tmp_path: Path, env: dict[str, str],
                                                   site: LoopbackServer) -> None:
    path = sources_file(tmp_path, site)
    paused = invoke(["sources", "disable", "afaq"], env)
    assert paused.exit_code == 0 and "paused" in paused.output
    run = invoke(["run", "--once", "--force", "--sources", str(path)], env)
    assert "skipped poll:source_paused" in run.output and site.hits("/feed.xml") == 0
    resumed = invoke(["sources", "enable", "afaq"], env)
    assert resumed.exit_code == 0 and "never polled" in resumed.output
    again = invoke(["run", "--once", "--sources", str(path)], env)
    # the sitemap source indexed 000 and 004 meanwhile: they gain afaq, the other three are new
    assert site.hits("/feed.xml") == 1 and _count(again.output, "indexed") == 3
    assert _count(again.output, "also_carried") == 2


def test_run_with_a_bad_sources_file_exits_2(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("- {id: x, name: x}\n", encoding="utf-8")
    result = runner.invoke(app, ["run", "--once", "--sources", str(path)])
    assert result.exit_code == 2 and "field 'url'" in result.output


def test_sources_check_prints_health_without_elasticsearch(tmp_path: Path, site: LoopbackServer) -> None:
    extra = f"- {{id: gone, name: غائب, url: '{site.url('/missing.xml')}'}}\n"
    env = {"INGEST_ES_URL": "http://127.0.0.1:9", "INGEST_ALLOWED_NETWORKS": '["127.0.0.1/32"]',
           "INGEST_PER_HOST_DELAY": "0", "INGEST_ES_MAX_RETRIES": "0"}
    result = runner.invoke(app, ["sources", "check", "--sources", str(sources_file(tmp_path, site, extra))],
                           env=env, terminal_width=200)
    assert result.exit_code == 1
    lines = {line.split()[1]: line for line in result.output.splitlines() if line.startswith("│")}
    assert "ok" in lines["afaq"] and "5" in lines["afaq"]
    assert "http_404" in lines["gone"]


@pytest.mark.parametrize("command", [["run"], ["search"], ["sources", "check"], ["eval", "extraction"],
                                     ["eval", "crawl"]])
def test_help_everywhere(command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0 and "Usage" in result.output


def _count(output: str, stage: str) -> int:
    for line in output.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == stage:
            return int(parts[1])
    raise AssertionError(f"no {stage!r} line in:\n{output}")
