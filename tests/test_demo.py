"""The bundled demo site: built from the seed reports and bundled texts, served on loopback,
readable by the real feed parser, extractor and sources loader."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import feedparser
import httpx
import pytest
import trafilatura

from ingest.config import load_sources
from ingest.dev import demo
from ingest.dev.paths import CorpusPaths
from ingest.errors import ConfigError

SEEDS = CorpusPaths().seeds_dir
BASE = "http://127.0.0.1:8765"


@pytest.fixture(scope="module")
def site() -> demo.DemoSite:
    return demo.load_site(SEEDS)


def article(site: demo.DemoSite, slug: str) -> demo.DemoArticle:
    return next(a for a in site.articles if a.slug == slug)


def test_split_text_with_a_headline_line() -> None:
    assert demo.split_text("العنوان هنا\n\nالفقرة الأولى.\nالفقرة الثانية.\n") == (
        "العنوان هنا", ("الفقرة الأولى.", "الفقرة الثانية."))


def test_split_text_without_a_headline_uses_the_leads_first_words() -> None:
    lead = " ".join(f"كلمة{i}" for i in range(15))
    title, paragraphs = demo.split_text(f"{lead}\nفقرة ثانية.")
    assert title == " ".join(f"كلمة{i}" for i in range(12)) + "…"
    assert paragraphs == (lead, "فقرة ثانية.")


def test_site_has_the_manifests_outlets_and_articles(site: demo.DemoSite) -> None:
    manifest = json.loads((demo.DATA_DIR / "site.json").read_text(encoding="utf-8"))
    assert [o.id for o in site.outlets] == [o["id"] for o in manifest["outlets"]]
    assert sorted(a.slug for a in site.articles) == sorted(a["slug"] for a in manifest["articles"])


def test_seed_article_carries_the_seed_text(site: demo.DemoSite) -> None:
    seed = next(SEEDS.glob("003_*.txt")).read_text(encoding="utf-8").splitlines()
    page = article(site, "russian-mediation-ends-clashes")
    assert page.title == seed[0].strip()  # 003 starts with a headline line
    assert page.paragraphs[0] == seed[2].strip()


def test_wire_variant_adds_a_credit_and_keeps_the_report(site: demo.DemoSite) -> None:
    original = article(site, "armenia-soldiers-captured")
    wire = article(site, "2021/11/armenian-defence-ministry-12-captured")
    assert wire.paragraphs[0] == f"وكالة الأنباء الإقليمية - {original.paragraphs[0]}"
    assert wire.paragraphs[1:-1] == original.paragraphs[1:]
    assert wire.paragraphs[-1] == demo.WIRE_CREDIT


def test_copy_variant_is_the_same_text(site: demo.DemoSite) -> None:
    original = article(site, "shelling-decreases")
    copy = article(site, "2022/09/armenia-shelling-decreases")
    assert (copy.title, copy.paragraphs) == (original.title, original.paragraphs)
    assert copy.path != original.path


def test_feed_parses_with_absolute_links_newest_first(site: demo.DemoSite) -> None:
    response = demo.render(site, BASE, "/madar/rss.xml")
    parsed = feedparser.parse(response.body)
    assert response.status == 200 and not parsed.bozo
    assert [e.link for e in parsed.entries] == [
        f"{BASE}/madar/clashes-worst-moment-for-putin.html",
        f"{BASE}/madar/russian-mediation-ends-clashes.html"]
    assert parsed.entries[0].published_parsed[:3] == (2022, 9, 13)


def test_page_extracts_to_the_article_without_boilerplate(site: demo.DemoSite) -> None:
    page = article(site, "coastal-rain")
    text = trafilatura.extract(demo.render(site, BASE, page.path).body.decode("utf-8"))
    assert text is not None
    assert page.paragraphs[0] in text and page.paragraphs[-1] in text
    assert "جميع الحقوق محفوظة" not in text


def test_broken_outlet_and_unknown_paths(site: demo.DemoSite) -> None:
    assert demo.render(site, BASE, "/broken/rss.xml").status == 404
    assert demo.render(site, BASE, "/nowhere.html").status == 404
    assert demo.render(site, BASE, "/robots.txt").body.startswith(b"User-agent: *")


def test_missing_seed_is_a_config_error_naming_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="seed:000"):
        demo.load_site(tmp_path)


def test_unknown_variant_is_a_config_error(tmp_path: Path) -> None:
    manifest = {"outlets": [{"id": "x", "name": "x", "path": "x"}],
                "articles": [{"outlet": "x", "slug": "a", "text": "demo:rain-gulf", "variant": "remix",
                              "published": "2026-01-01T00:00:00+00:00"}]}
    (tmp_path / "texts").mkdir()
    (tmp_path / "texts" / "rain-gulf.txt").write_text("عنوان\n\nنص.", encoding="utf-8")
    (tmp_path / "site.json").write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ConfigError, match="remix"):
        demo.load_site(SEEDS, tmp_path)


def test_server_on_loopback_and_its_sources_file(site: demo.DemoSite, tmp_path: Path) -> None:
    with demo.demo_server(site) as server:
        path = demo.write_sources(site, server.base_url, tmp_path / "sources.yaml")
        sources = load_sources(path)
        feed = httpx.get(sources[0].url, timeout=10)
    assert [s.id for s in sources] == [o.id for o in site.outlets]
    assert feed.status_code == 200
    assert feedparser.parse(feed.content).entries[0].link.startswith(server.base_url + "/sahil/")
    assert [r.path for r in server.requests] == ["/sahil/rss.xml"]


def test_cli_serves_the_site_and_writes_the_sources_file(tmp_path: Path) -> None:
    out = tmp_path / "demo-sources.yaml"
    cli = Path(sys.executable).with_name("ingest")
    proc = subprocess.Popen([str(cli), "demo", "serve", "--port", "0", "--sources-out", str(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(300):  # bounded wait for the server to write its sources file
            if (out.exists() and out.stat().st_size) or proc.poll() is not None:
                break
            time.sleep(0.1)
        assert proc.poll() is None, proc.stdout.read() if proc.stdout else ""
        sources = load_sources(out)
        feed = httpx.get(sources[1].url, timeout=10)
        assert feed.status_code == 200
        assert len(feedparser.parse(feed.content).entries) == 2  # madar: two articles in the manifest
    finally:
        proc.terminate()
        proc.wait(timeout=10)
