"""Article -> the document stored in the ``articles`` index (mappings/articles.json).

Why one function: the mapping is ``dynamic: strict``, so the exact field layout lives in one
place next to the mapping; dedup fields are merged in by ``pipeline.dedup_and_index``.
"""

from __future__ import annotations

from typing import Any

from ingest.models import Article


def article_document(article: Article) -> dict[str, Any]:
    """The indexable fields of an article (without ``_id`` and without dedup fields)."""
    doc: dict[str, Any] = {
        "url": article.url,
        "canonical_url": article.canonical_url,
        "source": {"id": article.source_id, "name": article.source_name, "domain": article.domain,
                   "country": article.country},
        "feed": article.feed,
        "lang": article.lang,
        "title": article.title,
        "body": article.body,
        "description": article.description,
        "summary": article.summary,
        "site_name": article.site_name,
        "authors": list(article.authors),
        "tags": list(article.tags),
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
