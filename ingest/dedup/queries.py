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

import base64
import heapq
import json
import time
import zlib
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import elastic_transport
from elasticsearch import ApiError, Elasticsearch

from ingest.dedup import registry
from ingest.dedup.registry import FETCH_DUP, FETCH_STORY, Entry, entry_from_hit, entry_of
from ingest.dedup.similarity import FieldWeights, doc_count, term_freqs, tfidf

MIN_TITLE_WORDS = 3  # "أخبار" or "عاجل" alone is no evidence of a copy
DUP_CANDIDATES = 100
# The article's best weighted terms a story candidate is searched by (more_like_this's default is
# 25). Why not more: each term costs a dictionary lookup and a scorer in every segment of the
# registry, so the query's cost grew with the registry's segments; 60 terms cost twice what 30
# do at 100k registered articles, and ``ingest eval dedup`` is unchanged on the labelled set and
# the ANS pairs (2 of SaudiNewsNet's 828 story links lost).
STORY_QUERY_TERMS = 30
FIELDS = ("title", "body")  # the fields story weights are computed over


def iso(value: datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="seconds")


def window(entry: Entry, hours: float) -> dict[str, Any]:
    at, span = datetime.fromisoformat(entry.event_at), timedelta(hours=hours)
    return {"range": {"event_at": {"gte": iso(_shifted(at, -span)), "lte": iso(_shifted(at, span))}}}


def _shifted(at: datetime, by: timedelta) -> datetime:
    """``at + by``, held at the calendar's ends (an event time of year 1 or 9999 must not end the
    article's dedup with "date value out of range")."""
    try:
        return at + by
    except OverflowError:
        return (datetime.max if by > timedelta(0) else datetime.min).replace(tzinfo=at.tzinfo)


def dup_query(entry: Entry, cfg: Any) -> dict[str, Any]:
    """Same body hash, a shared LSH band key, or the same headline from the same outlet."""
    should: list[dict[str, Any]] = []
    if entry.content_hash:
        should.append({"term": {"content_hash": entry.content_hash}})
        should.append(
            {"bool": {"filter": [{"terms": {"lsh": list(entry.lsh)}}, window(entry, cfg.near_window_hours)]}}
        )
    if len(entry.title_key.split()) >= MIN_TITLE_WORDS:
        should.append(
            {
                "bool": {
                    "filter": [
                        {"term": {"title_key": entry.title_key}},
                        {"term": {"source_id": entry.source_id}},
                        window(entry, cfg.title_window_hours),
                    ]
                }
            }
        )
    return {
        "bool": {
            "should": should or [{"match_none": {}}],
            "minimum_should_match": 1,
            "must_not": [{"ids": {"values": [entry.doc_id]}}],
        }
    }


def story_query(entry: Entry, own: Mapping[str, FieldWeights], cfg: Any) -> dict[str, Any]:
    """What ``more_like_this`` would run (its ``STORY_QUERY_TERMS`` best terms, 10% of them to
    match, no boosts), built from the weights already computed: the node neither re-reads nor
    re-analyses the text."""
    ranked = heapq.nsmallest(
        STORY_QUERY_TERMS,
        ((-w, field, term) for field in ("title", "body") for term, w in own[field].terms.items()),
    )
    if not ranked:
        return {"match_none": {}}
    should = [{"term": {field: term}} for _, field, term in ranked]
    like = {"bool": {"should": should, "minimum_should_match": max(1, len(should) // 10)}}
    return {
        "bool": {
            "must": [like],
            "filter": [window(entry, cfg.story_window_hours)],
            "must_not": [{"ids": {"values": [entry.doc_id]}}],
        }
    }


def encode_weights(weights: Mapping[str, FieldWeights]) -> str:
    """The ``tw`` registry field (binary doc values): weights rounded (4 digits change no
    decision), JSON, zlib, base64: a candidate's weights are read with its doc values."""
    tw = {f: {t: round(w, 4) for t, w in fw.terms.items()} for f, fw in weights.items()}
    raw = json.dumps(tw, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    return base64.b64encode(zlib.compress(raw, 6)).decode("ascii")


def decode_weights(tw: str) -> dict[str, FieldWeights]:
    data = json.loads(zlib.decompress(base64.b64decode(tw)))
    return {f: FieldWeights(dict(data.get(f) or {})) for f in FIELDS}


class DocFreqCache:
    """Document frequencies of the registry's common terms, kept by this process (per registry
    index and field) for ``ttl`` seconds, and only while the registry has grown by less than
    ``DRIFT`` since they were read.

    Why: the node answers a term's document frequency by looking it up in every segment of the
    registry, so an article's own weights (a few hundred terms) cost more as the registry grows.
    A term in at least ``min_df`` documents moves its IDF by under 2% while the registry grows
    by 2%; rarer terms (names, numbers: what tells one story from another) are asked afresh every
    time, as is the registry's document count. (A time limit alone was not enough: a young
    registry doubles in minutes, and stale frequencies linked 56 more SaudiNewsNet stories.)
    """

    DRIFT = 0.02

    def __init__(self, ttl: float, min_df: int, max_terms: int = 500_000) -> None:
        self.ttl, self.min_df, self.max_terms = ttl, min_df, max_terms
        self._df: dict[tuple[str, str, str], tuple[int, int, float]] = {}  # -> (df, docs, when)

    def known(
        self, index: str, field: str, terms: Iterable[str], docs: int, now: float | None = None
    ) -> dict[str, int]:
        """The fresh ones of ``terms``, the registry's field holding ``docs`` documents ``now``
        (this process's monotonic clock unless given)."""
        now = time.monotonic() if now is None else now
        out = {}
        for t in terms:
            got = self._df.get((index, field, t))
            if got is not None and now - got[2] < self.ttl and docs <= got[1] * (1 + self.DRIFT):
                out[t] = got[0]
        return out

    def remember(self, index: str, field: str, dfs: Mapping[str, int], docs: int, now: float) -> None:
        if self.ttl <= 0:
            return
        if len(self._df) > self.max_terms:  # the expired first; a cache this full of fresh ones, all
            self._df = {k: v for k, v in self._df.items() if now - v[2] < self.ttl}
            if len(self._df) > self.max_terms:
                self._df.clear()
        self._df |= {(index, field, t): (df, docs, now) for t, df in dfs.items() if df >= self.min_df}


_DF_CACHES: dict[tuple[float, int], DocFreqCache] = {}


def df_cache(cfg: Any) -> DocFreqCache:
    """This process's cache for these settings (one per process: it outlives ``decide`` calls)."""
    key = (float(cfg.df_cache_seconds), int(cfg.df_cache_min_df))
    if key not in _DF_CACHES:
        _DF_CACHES[key] = DocFreqCache(*key)
    return _DF_CACHES[key]


class Queries:
    """The registry as one ``decide`` call sees it: batched searches, cached weights and ranks."""

    def __init__(self, es: Elasticsearch, index: str, cfg: Any, shards: int = 1) -> None:
        self.es, self.index, self.cfg, self.shards = es, index, cfg, shards
        self._dups: dict[str, list[Entry]] = {}
        self._stories: dict[str, list[Entry]] = {}
        self._weights: dict[str, dict[str, FieldWeights]] = {}
        self._ranks: dict[str, tuple[str, str]] = {}
        self.saw_undecided: set[str] = set()  # candidates still pending (this batch's, or a race)
        self.moved: dict[str, int] = {}  # founders this call moved (set_story): id -> seq_no written

    # --- batched candidate searches (one msearch per pass) ---

    def prefetch_dups(self, entries: Sequence[Entry]) -> None:
        bodies = [(dup_query(e, self.cfg), DUP_CANDIDATES, FETCH_DUP) for e in entries]
        self._ranks |= {e.doc_id: e.rank for e in entries}
        self._dups = dict(zip((e.doc_id for e in entries), self._msearch(bodies), strict=True))

    def prefetch_stories(self, entries: Sequence[Entry]) -> None:
        n = self.cfg.story_candidates
        own = self.weights(e.doc_id for e in entries)
        bodies = [(story_query(e, own[e.doc_id], self.cfg), n, FETCH_STORY) for e in entries]
        self._stories = dict(zip((e.doc_id for e in entries), self._msearch(bodies), strict=True))

    def prefetch_weights(self, entries: Sequence[Entry]) -> None:
        """Term weights of the batch and of every story candidate without stored ones: one call."""
        ids = [e.doc_id for e in entries]
        ids += [h.doc_id for hits in self._stories.values() for h in hits]
        self.weights(ids)

    def written_after(self, seq_no: int, ours: Iterable[str]) -> bool:
        """Did anyone else write to the registry after ``seq_no``? (else a re-check is moot)

        Sequence numbers order writes within a shard: with a registry of one shard (the default)
        this is exact; with more, the answer is always yes (re-check). The founders this call
        moved count as someone else's write unless they still hold the version it wrote: a merge
        into an older story is no reason to re-check (it used to double every batch's queries).
        """
        if self.shards != 1:
            return True
        mine = [
            {"bool": {"filter": [{"ids": {"values": [i]}}, {"term": {"_seq_no": n}}]}}
            for i, n in self.moved.items()
        ]
        query = {
            "bool": {
                "filter": [{"range": {"_seq_no": {"gt": seq_no}}}],
                "must_not": [{"ids": {"values": list(ours)}}, *mine],
            }
        }
        try:
            return bool(self.es.count(index=self.index, query=query)["count"])
        except (elastic_transport.TransportError, ApiError) as exc:
            raise registry._translate("count", exc) from exc

    def dup_candidates(self, entry: Entry) -> list[Entry]:
        if (hits := self._dups.pop(entry.doc_id, None)) is not None:
            return hits
        return self._msearch([(dup_query(entry, self.cfg), DUP_CANDIDATES, FETCH_DUP)])[0]

    def story_candidates(self, entry: Entry) -> list[Entry]:
        if (hits := self._stories.pop(entry.doc_id, None)) is not None:
            return hits
        query = story_query(entry, self.weights([entry.doc_id])[entry.doc_id], self.cfg)
        return self._msearch([(query, self.cfg.story_candidates, FETCH_STORY)])[0]

    def _remember(self, hits: list[Entry]) -> list[Entry]:
        """Candidates carrying their stored weights need no term-vectors call, and their ranks
        no lookup; pending ones are noted (a race may be on)."""
        self._ranks |= {h.doc_id: h.rank for h in hits}
        for h in hits:
            if h.tw and h.doc_id not in self._weights:
                self._weights[h.doc_id] = decode_weights(h.tw)
        self.saw_undecided |= {h.doc_id for h in hits if not h.decided}
        return hits

    def _msearch(self, bodies: list[tuple[dict[str, Any], int, list[Any]]]) -> list[list[Entry]]:
        """One round trip; each hit read from doc values only (``stored_fields: _none_``).

        No total hit count (``track_total_hits: false``): only the top hits are read, and a count
        makes the node score every match, so the cost of a story query grew with the registry
        (the default counts up to 10,000 matches before it may skip any)."""
        if not bodies:
            return []
        lines: list[dict[str, Any]] = []
        for query, size, fields in bodies:
            body = {
                "query": query,
                "size": size,
                "_source": False,
                "stored_fields": "_none_",
                "track_total_hits": False,
            }
            lines += [{"index": self.index}, {**body, "docvalue_fields": fields}]
        try:
            answers = self.es.msearch(searches=lines)["responses"]
        except (elastic_transport.TransportError, ApiError) as exc:
            raise registry._translate("msearch", exc) from exc
        out = []
        for answer in answers:
            if "error" in answer:
                raise registry.StoreError(f"dedup registry: msearch: {answer['error']}")
            out.append(self._remember([entry_from_hit(h) for h in answer["hits"]["hits"]]))
        return out

    # --- term weights, computed once per article and call ---

    def weights(self, ids: Iterable[str]) -> dict[str, dict[str, FieldWeights]]:
        """Story weights: the term frequencies from the node, the document frequencies from
        ``DocFreqCache`` where it has them, the rest asked in one more call."""
        ids = list(dict.fromkeys(ids))
        missing = [i for i in ids if i not in self._weights]
        if not missing:
            return {i: self._weights[i] for i in ids}
        vectors = registry.term_vectors(self.es, self.index, missing, list(FIELDS))
        cache, now = df_cache(self.cfg), time.monotonic()
        df: dict[str, dict[str, int]] = {}
        ask: dict[str, list[str]] = {}
        docs = {f: max((doc_count(v[f]) for v in vectors.values() if f in v), default=0) for f in FIELDS}
        for f in FIELDS:
            terms = {t for v in vectors.values() for t in v.get(f, {}).get("terms", {})}
            df[f] = cache.known(self.index, f, terms, docs[f], now)
            ask[f] = sorted(terms - df[f].keys())
        for f, fresh in registry.doc_freqs(self.es, self.index, ask).items():
            cache.remember(self.index, f, fresh, docs[f], now)
            df[f] |= fresh
        prior = self.cfg.story_prior_docs
        for i in missing:
            v = vectors.get(i, {})
            self._weights[i] = {
                f: FieldWeights(tfidf(term_freqs(v.get(f, {})), df[f], doc_count(v.get(f, {})), prior))
                for f in FIELDS
            }
        return {i: self._weights[i] for i in ids}

    # --- registry documents ---

    def get_many(self, ids: Iterable[str]) -> dict[str, Entry]:
        docs = {i: entry_of(d) for i, d in registry.get_many(self.es, self.index, ids).items()}
        self._ranks |= {i: d.rank for i, d in docs.items()}
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
