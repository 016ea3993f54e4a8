"""Every Elasticsearch query of one ``decide`` call, batched, with what cannot change during the call
cached (the decision rules in ``decide`` only ask; nothing here decides).

Why batched: a batch of 50 articles used to cost 50 candidate searches, 50 ``more_like_this``
searches and 50 term-vector calls (each with the statistics of the article and of its 20
candidates), twice (first pass and re-check). Now each pass is one ``msearch`` for the
duplicate candidates and one for the story candidates, and the term weights of an article are
computed once per call, whoever asks for them (the article itself, or a neighbour whose candidate
it is). Nothing outlives the call: the next call sees every other worker's writes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import elastic_transport
from elasticsearch import ApiError, Elasticsearch

from ingest.dedup import registry
from ingest.dedup.similarity import FieldWeights, field_weights

MIN_TITLE_WORDS = 3  # "أخبار" or "عاجل" alone is no evidence of a copy
DUP_CANDIDATES = 100
STORY_FIELDS = ["doc_id", "event_at", "state", "decision", "tw"]  # a story candidate: what is scored
STORY_QUERY_TERMS = 60


def iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds")


def window(entry: Mapping[str, Any], hours: float) -> dict[str, Any]:
    at = datetime.fromisoformat(entry["event_at"])
    return {
        "range": {
            "event_at": {"gte": iso(at - timedelta(hours=hours)), "lte": iso(at + timedelta(hours=hours))}
        }
    }


def dup_query(entry: Mapping[str, Any], cfg: Any) -> dict[str, Any]:
    """Same body hash, a shared LSH band key, or the same headline from the same outlet."""
    should: list[dict[str, Any]] = []
    if entry["content_hash"]:
        should.append({"term": {"content_hash": entry["content_hash"]}})
        should.append(
            {"bool": {"filter": [{"terms": {"lsh": entry["lsh"]}}, window(entry, cfg.near_window_hours)]}}
        )
    if len(entry["title_key"].split()) >= MIN_TITLE_WORDS:
        should.append(
            {
                "bool": {
                    "filter": [
                        {"term": {"title_key": entry["title_key"]}},
                        {"term": {"source_id": entry["source_id"]}},
                        window(entry, cfg.title_window_hours),
                    ]
                }
            }
        )
    return {
        "bool": {
            "should": should or [{"match_none": {}}],
            "minimum_should_match": 1,
            "must_not": [{"ids": {"values": [entry["doc_id"]]}}],
        }
    }


def story_query(entry: Mapping[str, Any], own: Mapping[str, FieldWeights], cfg: Any) -> dict[str, Any]:
    """What ``more_like_this`` would run (its 60 best terms, 10% of them to match, no boosts),
    built from the weights already computed: the node neither re-reads nor re-analyses the text."""
    ranked = sorted(
        ((w, field, term) for field in ("title", "body") for term, w in own[field].terms.items()),
        key=lambda x: (-x[0], x[1], x[2]),
    )[:STORY_QUERY_TERMS]
    if not ranked:
        return {"match_none": {}}
    should = [{"term": {field: term}} for _, field, term in ranked]
    like = {"bool": {"should": should, "minimum_should_match": max(1, len(should) // 10)}}
    return {
        "bool": {
            "must": [like],
            "filter": [window(entry, cfg.story_window_hours)],
            "must_not": [{"ids": {"values": [entry["doc_id"]]}}],
        }
    }


def stored_weights(weights: Mapping[str, FieldWeights]) -> dict[str, dict[str, float]]:
    """The ``tw`` registry field: weights rounded (4 digits change no decision, halve the bytes)."""
    return {f: {t: round(w, 4) for t, w in fw.terms.items()} for f, fw in weights.items()}


def _loaded(tw: Mapping[str, Mapping[str, float]]) -> dict[str, FieldWeights]:
    return {f: FieldWeights(dict(tw.get(f) or {})) for f in ("title", "body")}


class Queries:
    """The registry as one ``decide`` call sees it: batched searches, cached weights and ranks."""

    def __init__(self, es: Elasticsearch, index: str, cfg: Any, shards: int = 1) -> None:
        self.es, self.index, self.cfg, self.shards = es, index, cfg, shards
        self._dups: dict[str, list[dict[str, Any]]] = {}
        self._stories: dict[str, list[dict[str, Any]]] = {}
        self._weights: dict[str, dict[str, FieldWeights]] = {}
        self._ranks: dict[str, tuple[str, str]] = {}
        self.saw_undecided: set[str] = set()  # candidates still pending (this batch's, or a race)

    # --- batched candidate searches (one msearch per pass) ---

    def prefetch_dups(self, entries: Sequence[Mapping[str, Any]]) -> None:
        bodies = [(dup_query(e, self.cfg), DUP_CANDIDATES, registry.CANDIDATE_FIELDS) for e in entries]
        self._dups = dict(zip((e["doc_id"] for e in entries), self._msearch(bodies), strict=True))

    def prefetch_stories(self, entries: Sequence[Mapping[str, Any]]) -> None:
        n = self.cfg.story_candidates
        own = self.weights(e["doc_id"] for e in entries)
        bodies = [(story_query(e, own[e["doc_id"]], self.cfg), n, STORY_FIELDS) for e in entries]
        self._stories = dict(zip((e["doc_id"] for e in entries), self._msearch(bodies), strict=True))
        for hits in self._stories.values():
            self._remember(hits)

    def prefetch_weights(self, entries: Sequence[Mapping[str, Any]]) -> None:
        """Term weights of the batch and of every story candidate it has: one term-vectors call."""
        ids = [e["doc_id"] for e in entries]
        ids += [h["doc_id"] for hits in self._stories.values() for h in hits]
        self.weights(ids)

    def written_after(self, seq_no: int, ours: Iterable[str]) -> bool:
        """Did anyone else write to the registry after ``seq_no``? (else a re-check is moot)

        Sequence numbers order writes within a shard: with a registry of one shard (the default)
        this is exact; with more, the answer is always yes (re-check).
        """
        if self.shards != 1:
            return True
        query = {
            "bool": {
                "filter": [{"range": {"_seq_no": {"gt": seq_no}}}],
                "must_not": [{"ids": {"values": list(ours)}}],
            }
        }
        try:
            return bool(self.es.count(index=self.index, query=query)["count"])
        except (elastic_transport.TransportError, ApiError) as exc:
            raise registry._translate("count", exc) from exc

    def dup_candidates(self, entry: Mapping[str, Any]) -> list[dict[str, Any]]:
        if (hits := self._dups.pop(entry["doc_id"], None)) is not None:
            return hits
        return self._seen(
            registry.search(self.es, self.index, dup_query(entry, self.cfg), size=DUP_CANDIDATES)
        )

    def story_candidates(self, entry: Mapping[str, Any]) -> list[dict[str, Any]]:
        if (hits := self._stories.pop(entry["doc_id"], None)) is not None:
            return hits
        query = story_query(entry, self.weights([entry["doc_id"]])[entry["doc_id"]], self.cfg)
        size = self.cfg.story_candidates
        hits = registry.search(self.es, self.index, query, size=size, fields=STORY_FIELDS)
        return self._remember(self._seen(hits))

    def _remember(self, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """Candidates carrying their stored weights need no term-vectors call."""
        for h in hits:
            if h.get("tw") and h["doc_id"] not in self._weights:
                self._weights[h["doc_id"]] = _loaded(h["tw"])
        return hits

    def _seen(self, hits: list[dict[str, Any]]) -> list[dict[str, Any]]:
        self.saw_undecided |= {h["doc_id"] for h in hits if h.get("state") != "decided"}
        return hits

    def _msearch(self, bodies: list[tuple[dict[str, Any], int, list[str]]]) -> list[list[dict[str, Any]]]:
        if not bodies:
            return []
        lines: list[dict[str, Any]] = []
        for query, size, fields in bodies:
            lines += [{"index": self.index}, {"query": query, "size": size, "_source": fields}]
        try:
            answers = self.es.msearch(searches=lines)["responses"]
        except (elastic_transport.TransportError, ApiError) as exc:
            raise registry._translate("msearch", exc) from exc
        out = []
        for answer in answers:
            if "error" in answer:
                raise registry.StoreError(f"dedup registry: msearch: {answer['error']}")
            out.append(
                self._seen([{**h["_source"], "_score": h["_score"] or 0.0} for h in answer["hits"]["hits"]])
            )
        return out

    # --- term weights, computed once per article and call ---

    def weights(self, ids: Iterable[str]) -> dict[str, dict[str, FieldWeights]]:
        ids = list(dict.fromkeys(ids))
        missing = [i for i in ids if i not in self._weights]
        if missing:
            vectors = registry.term_vectors(self.es, self.index, missing, ["title", "body"])
            prior = self.cfg.story_prior_docs
            for i in missing:
                tv = vectors.get(i, {})
                self._weights[i] = {f: field_weights(tv.get(f, {}), prior) for f in ("title", "body")}
        return {i: self._weights[i] for i in ids}

    # --- registry documents ---

    def get_many(self, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        docs = registry.get_many(self.es, self.index, ids)
        self._ranks |= {i: (d["event_at"], d["doc_id"]) for i, d in docs.items()}
        return docs

    def rank(self, doc_id: str) -> tuple[str, str]:
        """(event time, id) of a registered article: fixed once registered, so cached."""
        if doc_id not in self._ranks:
            self.get_many([doc_id])
        return self._ranks.get(doc_id, ("~", doc_id))

    def ranks(self, ids: Iterable[str]) -> dict[str, tuple[str, str]]:
        ids = list(ids)
        self.get_many([i for i in ids if i not in self._ranks])
        return {i: self._ranks[i] for i in ids if i in self._ranks}
