"""Story view over merged stories: members reached through founders that joined an earlier story."""

from __future__ import annotations

from pathlib import Path

import pytest
from elasticsearch import Elasticsearch

from ingest import stories
from ingest.dedup import decide
from ingest.dev.evaluation.dedup import load_labelled
from ingest.dev.paths import CorpusPaths
from ingest.settings import Settings

pytestmark = pytest.mark.integration
FIXTURES = Path(__file__).parent / "fixtures" / "dedup"


def test_copies_first_then_originals_one_story_view_with_every_report(
    settings: Settings, es: Elasticsearch, seed_texts: dict[str, str]
) -> None:
    """Copies arrive in one run and found their groups; the originals arrive in the next. Each
    story of the seeds (Nov 2021: three outlets, Sep 2022: two) must list all its reports and
    their copies, whichever article's id a user starts from."""
    items = load_labelled(FIXTURES, CorpusPaths().seeds_dir)
    name = {x.article.doc_id: x.article.url.rsplit("/", 1)[-1] for x in items}
    copies = [x.article for x in items if x.dup != name[x.article.doc_id]]
    originals = [x.article for x in items if x.dup == name[x.article.doc_id]]
    decide(es, settings, copies)
    decide(es, settings, originals)
    for story, first_seen, first_publisher in (
        ("nov2021", "2021-11-16T09:00:00+00:00", "outlet-a"),
        ("sep2022", "2022-09-13T08:00:00+00:00", "outlet-b"),
    ):
        members = {x.article.doc_id for x in items if x.story == story}
        ids = {stories.story_of_article(es, settings, i) for i in members}
        assert len(ids) == 1, story
        view = stories.story(es, settings, ids.pop())
        assert {a["doc_id"] for a in view.articles} == members, story
        assert (view.first_seen, view.first_publisher) == (first_seen, first_publisher)
