"""Sources list loading and validation: every bad entry names file, entry and field."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.config import Source, load_sources
from ingest.errors import ConfigError
from ingest.settings import load_settings


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_default_sources_file_has_twenty_enabled_arabic_feeds_and_news_sitemaps() -> None:
    sources = load_sources(load_settings().files.sources_file)
    enabled_feeds = [s for s in sources if s.enabled and s.kind == "feed"]
    assert len(enabled_feeds) >= 20
    assert all(s.lang == "ar" for s in sources)
    assert len([s for s in sources if s.kind == "sitemap"]) >= 3
    assert all(s.url.startswith("https://") for s in sources)


def test_valid_entry_gets_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, "- {id: afaq, name: الأفق, url: 'https://afaq.example/feed.xml'}\n")
    assert load_sources(path) == [Source(id="afaq", name="الأفق", url="https://afaq.example/feed.xml")]
    assert load_sources(path)[0].kind == "feed" and load_sources(path)[0].enabled


def test_missing_url_names_file_entry_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "sources:\n  - {id: ok, name: a, url: 'https://a.example/rss'}\n"
                           "  - {id: broken, name: b}\n")
    with pytest.raises(ConfigError) as err:
        load_sources(path)
    message = str(err.value)
    assert str(path) in message and "entry #2" in message and "broken" in message and "'url'" in message


def test_unknown_kind_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "- {id: x, name: x, url: 'https://x.example/', kind: podcast}\n")
    with pytest.raises(ConfigError, match=r"entry #1 .*field 'kind'"):
        load_sources(path)


def test_relative_url_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "- {id: x, name: x, url: '/feed.xml'}\n")
    with pytest.raises(ConfigError, match=r"field 'url'.*absolute http"):
        load_sources(path)


def test_misspelt_field_is_refused_not_ignored(tmp_path: Path) -> None:
    path = write(tmp_path, "- {id: x, name: x, url: 'https://x.example/', enabeld: false}\n")
    with pytest.raises(ConfigError, match=r"field 'enabeld'"):
        load_sources(path)


def test_duplicate_id_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "- {id: x, name: a, url: 'https://a.example/'}\n- {id: x, name: b, url: 'https://b.example/'}\n")
    with pytest.raises(ConfigError, match=r"entry #2 \(id='x'\): field 'id': duplicate"):
        load_sources(path)


def test_not_a_list_and_not_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="expected a list"):
        load_sources(write(tmp_path, "sources: 3\n"))
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_sources(write(tmp_path, "- {id: [unclosed\n"))
    with pytest.raises(ConfigError, match="cannot read"):
        load_sources(tmp_path / "absent.yaml")


# --- issue 12: hostile config files end in exit code 2 with the file named ---------------------

BOMB = ("a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
        "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\n"
        "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]\n"
        "g: &g [*f, *f, *f, *f, *f, *f, *f, *f, *f]\nsources: [*g]\n")


def test_invalid_utf8_names_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "sources.yaml"
    path.write_bytes(b"- {id: a, name: " + "الأفق".encode("cp1256") + b", url: 'https://a.example/'}\n")
    with pytest.raises(ConfigError) as err:
        load_sources(path)
    assert str(path) in str(err.value) and "not UTF-8" in str(err.value) and "line 1" in str(err.value)


def test_yaml_alias_bomb_is_refused_before_expansion(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_sources(write(tmp_path, BOMB))
    assert "aliases" in str(err.value)


def test_a_few_aliases_are_fine(tmp_path: Path) -> None:
    path = write(tmp_path, "common: &tags [news, ar]\nsources:\n"
                           "  - {id: a, name: a, url: 'https://a.example/rss', tags: *tags}\n")
    assert load_sources(path)[0].tags == ("news", "ar")


@pytest.mark.parametrize("url", ["http://[::1", "http://a.example:99999/rss", "javascript:alert(1)",
                                 "https://exa mple.com/rss", "ftp://a.example/rss"])
def test_unusable_source_url_names_file_entry_and_field(tmp_path: Path, url: str) -> None:
    path = write(tmp_path, "- {id: ok, name: a, url: 'https://a.example/rss'}\n"
                           f"- {{id: bad, name: b, url: '{url}'}}\n")
    with pytest.raises(ConfigError) as err:
        load_sources(path)
    assert all(part in str(err.value) for part in (str(path), "entry #2", "id='bad'", "field 'url'"))


@pytest.mark.parametrize("case", ["bomb", "latin", "bad_url"])
def test_cli_exits_2_for_hostile_config_files(tmp_path: Path, case: str) -> None:
    from typer.testing import CliRunner

    from ingest.cli import app

    path = tmp_path / "sources.yaml"
    if case == "bomb":
        path.write_text(BOMB, encoding="utf-8")
    elif case == "latin":
        path.write_bytes(b"- {id: a, name: " + "نشرة".encode("cp1256") + b", url: 'https://a.example/'}\n")
    else:
        path.write_text("- {id: a, name: a, url: 'http://[::1'}\n", encoding="utf-8")
    rules = tmp_path / "rules.yaml"
    rules.write_bytes(path.read_bytes().replace(b"- {", b"rules:\n- {") if case != "bomb" else BOMB.encode())
    env = {"INGEST_ES_URL": "http://127.0.0.1:9", "INGEST_RULES_FILE": str(rules)}
    result = CliRunner().invoke(app, ["sources", "list", "--sources", str(path)], env=env)
    assert result.exit_code == 2, result.output
    if case != "bad_url":
        rules_result = CliRunner().invoke(app, ["alerts", "list"], env=env)
        assert rules_result.exit_code == 2, rules_result.output
