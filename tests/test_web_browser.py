"""The reading room in a real browser: Debian's headless Chromium driven by Playwright.

What a reader sees on the demo data: the page laid out right to left (as computed by the browser),
top stories led by the four-outlet story, its story page listing the outlets in publication order,
a search with the word highlighted. Screenshots go to .cache/screenshots/ for a person to look at.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from elasticsearch import Elasticsearch
from playwright.sync_api import Browser, Page, sync_playwright
from test_web import NAMES, ORDER, live, load_demo

from ingest import store
from ingest.settings import load_settings

pytestmark = [pytest.mark.integration, pytest.mark.slow]
CHROMIUM = "/usr/bin/chromium"
SHOTS = load_settings().files.cache_dir / "screenshots"


@pytest.fixture(scope="module")
def base_url(es_url: str, es: Elasticsearch, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = load_demo(es_url, es, tmp_path_factory.mktemp("browser"))
    try:
        with live(settings, es) as base:
            yield base
    finally:
        store.drop_prefix(es, settings.es.index_prefix)


@pytest.fixture(scope="module")
def browser(base_url: str) -> Iterator[Browser]:
    """Started after the demo data is loaded: Playwright's sync API holds an event loop in this thread,
    and the pipeline's own ``asyncio.run`` cannot start inside it."""
    assert Path(CHROMIUM).exists(), f"{CHROMIUM} missing: `make setup` installs Debian's chromium (root)"
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1100, "height": 900}, locale="ar")
    yield context.new_page()
    context.close()


def shoot(page: Page, name: str) -> Path:
    SHOTS.mkdir(parents=True, exist_ok=True)
    path = SHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def test_top_stories_then_the_story_page_in_outlet_order(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/?window=24h")
    assert page.evaluate("getComputedStyle(document.documentElement).direction") == "rtl"
    first = page.locator(".story-card").first
    assert first.locator(".outlets").inner_text() == "4 مصادر"
    assert first.locator("a.first").inner_text() == NAMES["demo-sahil"]
    # RTL: the headline starts at the right edge of its card
    card, headline = first.bounding_box(), first.locator("h2 a").bounding_box()
    assert card and headline and card["x"] + card["width"] - (headline["x"] + headline["width"]) < 5
    shoot(page, "top-stories")
    first.locator("h2 a").click()
    page.wait_for_selector("ol.articles")
    assert page.locator("ol.articles .outlet").all_inner_texts() == [NAMES[s] for s in ORDER]
    assert page.locator("svg.timeline circle").count() == 4
    shoot(page, "story")
    page.set_viewport_size({"width": 960, "height": 640})  # the README's picture: the first screenful
    page.screenshot(path=str(SHOTS / "story-screenful.png"))


def test_search_highlights_the_word(page: Page, base_url: str) -> None:
    page.goto(f"{base_url}/search")
    page.fill("input[name=q]", "القصف")
    page.click("button[type=submit]")
    page.wait_for_selector("ol.hits")
    marks = page.locator("ol.hits mark").all_inner_texts()
    assert marks and all("قصف" in m for m in marks)
    assert page.locator(".carried").first.inner_text() == "نقله أيضًا مصدر آخر"
    assert page.evaluate("getComputedStyle(document.body).direction") == "rtl"
    shoot(page, "search")
