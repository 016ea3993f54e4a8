"""Same-story similarity: TF-IDF cosine over Elasticsearch's own Arabic analysis.

Why term vectors from Elasticsearch: the tokens are exactly the ones search uses (stemmed,
normalised, stop words removed), and the document frequencies come from the registry itself,
so every worker scores the same pair the same way without a vocabulary kept in memory.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

TermVectors = Mapping[str, Any]  # one field of an Elasticsearch term-vectors answer


def weights(field: TermVectors) -> dict[str, float]:
    """Sublinear tf times smoothed idf, from one field's term vectors."""
    terms = field.get("terms", {})
    n_docs = int(field.get("field_statistics", {}).get("doc_count", 1))
    out = {}
    for term, stats in terms.items():
        tf = int(stats.get("term_freq", 1))
        df = int(stats.get("doc_freq", 1))
        out[term] = (1.0 + math.log(tf)) * (math.log((n_docs + 1) / (df + 1)) + 1.0)
    return out


def cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    if not a or not b:
        return 0.0
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    dot = sum(w * large.get(t, 0.0) for t, w in small.items())
    norm = math.sqrt(sum(w * w for w in a.values())) * math.sqrt(sum(w * w for w in b.values()))
    return dot / norm if norm else 0.0


def story_score(a: Mapping[str, TermVectors], b: Mapping[str, TermVectors], title_weight: float) -> float:
    """Weighted body and title cosines; a missing field counts as no overlap."""
    body = cosine(weights(a.get("body", {})), weights(b.get("body", {})))
    title = cosine(weights(a.get("title", {})), weights(b.get("title", {})))
    return (1.0 - title_weight) * body + title_weight * title
