"""Same-story similarity: TF-IDF cosine over Elasticsearch's own Arabic analysis.

Why term vectors from Elasticsearch: the tokens are exactly the ones search uses (stemmed,
normalised, stop words removed), and the document frequencies come from the registry itself,
so every worker scores the same pair the same way without a vocabulary kept in memory.

Why a prior document count: in a young or small registry (a demo, a new deployment) the few
documents there are share their topic words, so a plain IDF calls "Armenia" common and scores
two reports of one story 0.19 where a registry of 1,700 real articles scores them 0.28. Reading
IDF as if the registry held at least ``prior_docs`` documents keeps the document frequencies
that were observed but stops a small N from flattening them; once the registry is larger than
the prior, nothing changes.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

TermVectors = Mapping[str, Any]  # one field of an Elasticsearch term-vectors answer


def weights(field: TermVectors, prior_docs: int = 0) -> dict[str, float]:
    """``tfidf`` of one field's term vectors (with term and field statistics)."""
    terms = field.get("terms", {})
    df = {t: int(st["doc_freq"]) for t, st in terms.items() if "doc_freq" in st}
    return tfidf(term_freqs(field), df, doc_count(field), prior_docs)


def term_freqs(field: TermVectors) -> dict[str, int]:
    return {t: int(st.get("term_freq", 1)) for t, st in field.get("terms", {}).items()}


def doc_count(field: TermVectors) -> int:
    return int(field.get("field_statistics", {}).get("doc_count", 1))


def tfidf(tf: Mapping[str, int], df: Mapping[str, int], n_docs: int, prior_docs: int = 0) -> dict[str, float]:
    """Sublinear tf times smoothed idf (N at least ``prior_docs``). A term without a document
    frequency counts as in one document (Elasticsearch omits a frequency of zero)."""
    n = max(n_docs, prior_docs)
    return {t: (1.0 + math.log(f)) * (math.log((n + 1) / (df.get(t, 1) + 1)) + 1.0) for t, f in tf.items()}


def cosine(a: Mapping[str, float], b: Mapping[str, float]) -> float:
    if not a or not b:
        return 0.0
    small, large = (a, b) if len(a) <= len(b) else (b, a)
    dot = sum(w * large.get(t, 0.0) for t, w in small.items())
    norm = math.sqrt(sum(w * w for w in a.values())) * math.sqrt(sum(w * w for w in b.values()))
    return dot / norm if norm else 0.0


def story_score(
    a: Mapping[str, TermVectors], b: Mapping[str, TermVectors], title_weight: float, prior_docs: int = 0
) -> float:
    """Weighted body and title cosines; a missing field counts as no overlap."""

    def field_cosine(name: str) -> float:
        return cosine(weights(a.get(name, {}), prior_docs), weights(b.get(name, {}), prior_docs))

    body, title = field_cosine("body"), field_cosine("title")
    return (1.0 - title_weight) * body + title_weight * title


class FieldWeights:
    """One field's term weights with their norm, computed once per article (cosine needs both)."""

    __slots__ = ("norm", "terms")

    def __init__(self, terms: dict[str, float]) -> None:
        self.terms = terms
        self.norm = math.sqrt(sum(w * w for w in terms.values()))


def weighted_cosine(a: FieldWeights, b: FieldWeights) -> float:
    """``cosine`` over precomputed weights and norms (the same value, without recomputing them)."""
    if not a.terms or not b.terms or not a.norm or not b.norm:
        return 0.0
    x, y = a.terms, b.terms
    return sum(x[t] * y[t] for t in x.keys() & y.keys()) / (a.norm * b.norm)  # shared terms only


def weighted_story_score(
    a: Mapping[str, FieldWeights], b: Mapping[str, FieldWeights], title_weight: float
) -> float:
    """``story_score`` over precomputed field weights."""
    empty = FieldWeights({})
    body = weighted_cosine(a.get("body", empty), b.get("body", empty))
    title = weighted_cosine(a.get("title", empty), b.get("title", empty))
    return (1.0 - title_weight) * body + title_weight * title
