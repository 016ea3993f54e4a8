"""Feeds like an RSS reader, through a real loopback site: `sources add` of a feed URL and of a
homepage (feed discovered from its HTML), validated by one poll, written keeping the file's comments;
OPML import (listparser) and export round trip."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from servers import HTML, LoopbackServer, Route, running, serve_site
from typer.testing import CliRunner

from ingest.cli import app
from ingest.config import load_sources

runner = CliRunner()
ENV = {"INGEST_ALLOWED_NETWORKS": json.dumps(["127.0.0.1/32"]), "INGEST_PER_HOST_DELAY": "0",
       "INGEST_PROFILE": "none"}
HEADER = ("# my sources: keep this comment\n"
          "- {id: first, name: الأول, url: 'https://first.example/rss'}  # note\n")


@pytest.fixture
def site(seed_texts: dict[str, str]) -> Iterator[LoopbackServer]:
    for server in running():
        serve_site(server, seed_texts)
        home = (f'<html><head><title>الأفق الإخباري</title><link rel="alternate" type="application/rss+xml" '
                f'href="{server.url("/feed.xml")}"></head><body><p>أخبار</p></body></html>').encode()
        server.routes["/"] = Route(200, HTML, home)
        server.routes["/empty.html"] = Route(200, HTML, b"<html><head><title>x</title></head></html>")
        yield server


@pytest.fixture
def file(tmp_path: Path) -> Path:
    path = tmp_path / "sources.yaml"
    path.write_text(HEADER, encoding="utf-8")
    return path


def invoke(*args: str):
    return runner.invoke(app, list(args), env=ENV, catch_exceptions=False, terminal_width=200)


def test_add_a_homepage_discovers_its_feed_and_keeps_comments(site: LoopbackServer, file: Path) -> None:
    result = invoke("sources", "add", site.url("/"), "--sources", str(file), "--country", "LB")
    assert result.exit_code == 0, result.output
    assert "items in its first poll" in result.output
    text = file.read_text(encoding="utf-8")
    assert text.startswith(HEADER)  # comments and the hand-written entry untouched
    added = load_sources(file)[-1]
    assert (added.id, added.url, added.name, added.country) == ("127.0.0.1", site.url("/feed.xml"),
                                                                "الأفق الإخباري", "LB")
    again = invoke("sources", "add", site.url("/feed.xml"), "--sources", str(file))
    assert again.exit_code == 2 and "already listed" in again.output
    assert len(load_sources(file)) == 2


def test_add_refuses_a_failing_url_and_a_page_without_feeds(site: LoopbackServer, file: Path) -> None:
    gone = invoke("sources", "add", site.url("/missing.xml"), "--sources", str(file))
    assert gone.exit_code == 1 and "not added" in gone.output and "http_404" in gone.output
    nofeed = invoke("sources", "add", site.url("/empty.html"), "--sources", str(file))
    assert nofeed.exit_code == 1 and "no feed found" in nofeed.output
    assert file.read_text(encoding="utf-8") == HEADER


def test_opml_import_then_export_round_trip(tmp_path: Path, file: Path) -> None:
    opml = tmp_path / "reader.opml"
    opml.write_text("""<?xml version="1.0" encoding="UTF-8"?>
<opml version="2.0"><head><title>feeds</title></head><body>
 <outline text="اقتصاد"><outline type="rss" text="الشرق" xmlUrl="https://sharq.example/rss.xml"/></outline>
 <outline type="rss" text="الأول" xmlUrl="https://first.example/rss"/>
 <outline type="rss" text="bad" xmlUrl="ftp://nope.example/feed"/>
</body></opml>""", encoding="utf-8")
    result = invoke("sources", "import-opml", str(opml), "--sources", str(file))
    assert result.exit_code == 1, result.output  # one skipped (not http)
    assert "1 added, 1 already listed, 1 skipped" in result.output
    entries = load_sources(file)
    assert [(s.id, s.name, s.tags) for s in entries] == [("first", "الأول", ()),
                                                         ("sharq.example", "الشرق", ("اقتصاد",))]
    assert file.read_text(encoding="utf-8").startswith(HEADER)
    out = tmp_path / "export.opml"
    assert invoke("sources", "export-opml", "--sources", str(file), "--out", str(out)).exit_code == 0
    import listparser

    feeds = listparser.parse(out.read_text(encoding="utf-8")).feeds
    assert [(f.title, f.url) for f in feeds] == [("الأول", "https://first.example/rss"),
                                                 ("الشرق", "https://sharq.example/rss.xml")]
