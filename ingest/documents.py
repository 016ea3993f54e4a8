"""Article -> the document stored in the ``articles`` index (mappings/articles.json).

Why one function: the mapping is ``dynamic: strict``, so the exact field layout lives in one
place next to the mapping; dedup fields are merged in by ``pipeline.dedup_and_index``. Every
text field passes through ``ingest.hygiene`` here: nothing stored carries control or bidi-override
characters, and no field exceeds its bound.
"""

from __future__ import annotations

from typing import Any

from ingest import hygiene
from ingest.models import Article


def article_document(article: Article) -> dict[str, Any]:
    """The indexable fields of an article (without ``_id`` and without dedup fields)."""
    doc: dict[str, Any] = {
        "url": article.url,
        "canonical_url": article.canonical_url,
        "source": {"id": article.source_id, "name": hygiene.clean_line(article.source_name,
                                                                        limit=hygiene.MAX_LABEL_CHARS),
                   "domain": article.domain,
                   "country": article.country},
        "feed": article.feed,
        "lang": article.lang,
        "title": hygiene.clean_line(article.title),
        "body": hygiene.clean_text(article.body),
        "description": hygiene.clean_text(article.description, limit=hygiene.MAX_SUMMARY_CHARS),
        "summary": hygiene.clean_text(article.summary, limit=hygiene.MAX_SUMMARY_CHARS),
        "site_name": hygiene.clean_line(article.site_name, limit=hygiene.MAX_LABEL_CHARS),
        "authors": hygiene.clean_labels(article.authors),
        "tags": hygiene.clean_labels(article.tags),
        "image": article.image,
        "sources": [article.source_id],
        "extraction": {"method": article.extraction_method, "text_length": len(article.body),
                       "flags": list(article.extraction_flags)},
    }
    if article.published_at is not None:
        doc["published_at"] = article.published_at.isoformat()
    if article.date_source:
        doc["date_source"] = article.date_source
    if article.fetched_at is not None:
        doc["fetched_at"] = article.fetched_at.isoformat()
    return doc
