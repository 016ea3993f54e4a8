"""The dedup registry in Elasticsearch (mappings/dedup.json): the only state dedup keeps.

Why a registry of its own rather than the articles index: a worker must see the articles other
workers are deciding *right now*, before any of them is indexed; so each article is registered
(conditional create) before anyone decides, and its decision is written back by its owner only.
No scripted updates: documents are created, then overwritten whole by the one worker deciding
them, or changed with optimistic concurrency (``if_seq_no``/``if_primary_term``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from elasticsearch import ConflictError, Elasticsearch, NotFoundError, helpers
from pydantic import TypeAdapter

from ingest import store
from ingest.errors import StoreError
from ingest.settings import Settings

KIND = "dedup"
CANDIDATE_FIELDS = [
    "doc_id",
    "event_at",
    "content_hash",
    "title_key",
    "source_id",
    "sig",
    "n_shingles",
    "state",
    "decision",
    "title",
    "sources",
]


@dataclass(frozen=True)
class Entry:
    """A registry document as the dedup rules read it: the article being decided, or a candidate.

    Why a typed copy instead of the stored dict: candidates are read from doc values (no
    ``_source``, see ``FETCH``), the article itself from what it registers; the rules see one shape.
    """

    doc_id: str
    event_at: str  # ISO 8601, seconds, UTC offset "+00:00": (event_at, doc_id) orders articles
    source_id: str = ""
    content_hash: str = ""
    title_key: str = ""
    sig: str = ""  # MinHash signature, base64 (fingerprint.sig_b64)
    n_shingles: int = 0
    lsh: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    state: str = "pending"
    story_id: str = ""  # decision.story_id, once decided
    duplicate_of: str | None = None
    order: int = 0
    tw: str = ""  # the story term weights, encoded (queries.encode_weights)

    @property
    def rank(self) -> tuple[str, str]:
        return (self.event_at, self.doc_id)

    @property
    def decided(self) -> bool:
        return self.state == "decided"


ENTRY = TypeAdapter(Entry)
_DECISION_KEYS = {"story_id": "story_id", "duplicate_of": "duplicate_of", "order": "order"}


def entry_of(source: Mapping[str, Any]) -> Entry:
    """The typed entry of a stored document (``_source``) or of a registration document."""
    fields = {k: source[k] for k in ENTRY_FIELDS if k in source and source[k] is not None}
    decision = source.get("decision") or {}
    fields |= {k: decision[k] for k in _DECISION_KEYS if decision.get(k) is not None}
    return ENTRY.validate_python(fields)


ENTRY_FIELDS = tuple(Entry.__dataclass_fields__)
# What a candidate hit returns, read from doc values: no stored-field block is decompressed and no
# JSON ``_source`` parsed per hit (that was 1 ms per story candidate, most of the node's time).
_DATE = "strict_date_time_no_millis"
FETCH_DUP = [
    "doc_id",
    {"field": "event_at", "format": _DATE},
    "source_id",
    "content_hash",
    "title_key",
    "sig",
    "n_shingles",
    "state",
    "decision.story_id",
    "decision.duplicate_of",
    "decision.order",
]
FETCH_STORY = [
    "doc_id",
    {"field": "event_at", "format": _DATE},
    "state",
    "decision.story_id",
    "decision.duplicate_of",
    "decision.order",
    "tw",
]


def entry_from_hit(hit: Mapping[str, Any]) -> Entry:
    """The typed entry of a search hit fetched with ``FETCH_*`` (doc values, single-valued)."""
    values = {k.removeprefix("decision."): v[0] for k, v in hit.get("fields", {}).items()}
    if at := values.get("event_at"):
        values["event_at"] = at.replace("Z", "+00:00")
    return ENTRY.validate_python(values)


def founder(
    story_id: str, pointer: Callable[[str], str | None], rank: Callable[[str], tuple[str, str]]
) -> str:
    """Where a story is now: follow its founder to the story it joined (``pointer``: the story id an
    article's decision names, None while undecided) until a founder names itself.

    Two founders can name each other: two workers' re-checks crossed, each moving its founder into
    the other's story while the other was still pending. That cycle is one story, named by its
    earliest member (``rank``), so every reader puts all its members in the same story."""
    seen: list[str] = []
    while story_id not in seen:
        seen.append(story_id)
        nxt = pointer(story_id)
        if nxt is None or nxt == story_id:
            return story_id
        story_id = nxt
    return min(seen[seen.index(story_id) :], key=lambda i: (rank(i), i))


def alias(settings: Settings) -> str:
    return store.alias_name(settings.es.index_prefix, KIND)


def register(
    es: Elasticsearch, index: str, entries: list[dict[str, Any]], seq_nos: list[int] | None = None
) -> dict[str, dict[str, Any]]:
    """Create each entry unless its id exists; return the existing documents of those that did.

    ``seq_nos`` collects the sequence numbers of the created entries (what came after them)."""
    actions = ({"_op_type": "create", "_index": index, "_id": e["doc_id"], "_source": e} for e in entries)
    taken: list[str] = []
    with store.translated("dedup registry: register"):
        for ok, item in helpers.streaming_bulk(es, actions, raise_on_error=False, raise_on_exception=True):
            outcome = item["create"]
            if ok:
                if seq_nos is not None:
                    seq_nos.append(int(outcome["_seq_no"]))
                continue
            if outcome.get("status") != 409:
                raise StoreError(
                    f"dedup registry: registering {outcome.get('_id')} failed: {outcome.get('error')}"
                )
            taken.append(str(outcome["_id"]))
        es.indices.refresh(index=index)
        return get_many(es, index, taken)


def get_many(es: Elasticsearch, index: str, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    ids = list(dict.fromkeys(ids))
    if not ids:
        return {}
    with store.translated("dedup registry: mget"):
        docs = es.mget(index=index, ids=ids)["docs"]
    return {d["_id"]: d["_source"] for d in docs if d.get("found")}


def search(
    es: Elasticsearch, index: str, query: Mapping[str, Any], size: int, fields: list[str] | None = None
) -> list[dict[str, Any]]:
    """Hits as ``_source`` dicts with ``_score`` added."""
    with store.translated("dedup registry: search"):
        hits = es.search(index=index, query=query, size=size, source=fields or CANDIDATE_FIELDS)["hits"][
            "hits"
        ]
    return [{**h["_source"], "_score": h["_score"] or 0.0} for h in hits]


Version = tuple[int, int]  # (seq_no, primary_term) of a write, for optimistic concurrency


def write(
    es: Elasticsearch, index: str, entries: list[dict[str, Any]], over: Mapping[str, Version] | None = None
) -> tuple[dict[str, Version], list[str]]:
    """Overwrite the given (own) entries whole and make them visible to the next search.

    Returns the version each write made, and the ids left unwritten because their version in
    ``over`` was no longer current: another worker changed them in between (``set_story``,
    ``add_source``), and a whole-document write would undo that."""

    def action(e: dict[str, Any]) -> dict[str, Any]:
        a = {"_op_type": "index", "_index": index, "_id": e["doc_id"], "_source": e}
        if over is not None and (v := over.get(e["doc_id"])) is not None:
            a |= {"if_seq_no": v[0], "if_primary_term": v[1]}
        return a

    written: dict[str, Version] = {}
    stale: list[str] = []
    with store.translated("dedup registry: write decisions"):
        for ok, item in helpers.streaming_bulk(
            es, map(action, entries), raise_on_error=False, raise_on_exception=True
        ):
            outcome = item["index"]
            if ok:
                written[str(outcome["_id"])] = (int(outcome["_seq_no"]), int(outcome["_primary_term"]))
            elif outcome.get("status") == 409 and over is not None:
                stale.append(str(outcome["_id"]))
            else:
                raise StoreError(f"dedup registry: writing a decision failed: {item}")
        es.indices.refresh(index=index)
    return written, stale


def add_source(es: Elasticsearch, index: str, doc_id: str, source_id: str, *, attempts: int = 5) -> list[str]:
    """Record one more outlet carrying ``doc_id`` (same canonical URL seen in another feed).

    Optimistic concurrency: read with its seq_no, write back only if nobody wrote in between.
    """
    for _ in range(attempts):
        with store.translated("dedup registry: add source"):
            try:
                got = es.get(index=index, id=doc_id)
                sources = list(got["_source"].get("sources") or [])
                if source_id in sources:
                    return sources
                sources = sorted({*sources, source_id})
                es.update(
                    index=index,
                    id=doc_id,
                    doc={"sources": sources},
                    if_seq_no=got["_seq_no"],
                    if_primary_term=got["_primary_term"],
                    refresh=True,  # not wait_for: that idles up to refresh_interval (1 s) per call
                )
                return sources
            except ConflictError:
                continue
    raise StoreError(
        f"dedup registry: {doc_id} kept changing; gave up adding {source_id}", reason="es_conflict"
    )


def refresh(es: Elasticsearch, index: str) -> None:
    with store.translated("dedup registry: refresh"):
        es.indices.refresh(index=index)


def get_versioned(es: Elasticsearch, index: str, doc_id: str) -> tuple[dict[str, Any], int, int] | None:
    """(source, seq_no, primary_term) of one entry, for an optimistic-concurrency write."""
    with store.translated("dedup registry: get"):
        try:
            got = es.get(index=index, id=doc_id)
        except NotFoundError:
            return None
    return got["_source"], got["_seq_no"], got["_primary_term"]


def set_story(
    es: Elasticsearch, index: str, doc_id: str, story_id: str, seq_no: int, term: int
) -> int | None:
    """Point a story founder at the (earlier) story it joined: the write's sequence number, or
    None when someone wrote first.

    Not refreshed here (one refresh per merge was a fifth of a batch's node time): the caller
    refreshes once per batch (``refresh``); until then, gets are realtime and a reader that
    found the old story follows the founder to the new one."""
    with store.translated("dedup registry: move story"):
        try:
            done = es.update(
                index=index,
                id=doc_id,
                doc={"decision": {"story_id": story_id}},
                if_seq_no=seq_no,
                if_primary_term=term,
            )
        except ConflictError:
            return None
    return int(done["_seq_no"])


# What a term-vectors call asks: the analysed terms with their frequencies and the fields'
# document counts. Not the terms' document frequencies: each costs a lookup in every segment of
# the registry (``doc_freqs`` asks for those of the terms no cache holds).
_TERM_VECTORS = {"term_statistics": False, "field_statistics": True, "positions": False, "offsets": False,
                 "payloads": False}


def term_vectors(
    es: Elasticsearch, index: str, ids: list[str], fields: list[str], *, term_statistics: bool = False
) -> dict[str, dict[str, Any]]:
    """Analysed terms with their frequencies (and document frequencies when asked: the
    evaluation scores pairs with them), per id and field (same analyzer as search)."""
    if not ids:
        return {}
    options = {**_TERM_VECTORS, "term_statistics": term_statistics}
    with store.translated("dedup registry: term vectors"):
        docs = es.mtermvectors(index=index, ids=ids, fields=fields, **options)["docs"]
    return {d["_id"]: d.get("term_vectors", {}) for d in docs if d.get("found")}


def doc_freqs(es: Elasticsearch, index: str, terms: Mapping[str, list[str]]) -> dict[str, dict[str, int]]:
    """Document frequencies of terms already analysed, per field (0: in no document): one
    artificial document holding them, split on whitespace only."""
    fields = sorted(f for f, ts in terms.items() if ts)
    if not fields:
        return {}
    with store.translated("dedup registry: document frequencies"):
        answer = es.termvectors(
            index=index,
            doc={f: " ".join(terms[f]) for f in fields},
            fields=fields,
            per_field_analyzer=dict.fromkeys(fields, "whitespace"),
            **{**_TERM_VECTORS, "term_statistics": True, "field_statistics": False},
        )
    vectors = answer.get("term_vectors", {})
    return {
        f: {t: int(st.get("doc_freq", 0)) for t, st in vectors.get(f, {}).get("terms", {}).items()}
        for f in fields
    }


def term_vectors_of(es: Elasticsearch, index: str, texts: list[dict[str, str]]) -> list[dict[str, Any]]:
    """``term_vectors`` of documents not (yet) in the registry, one per ``{field: text}``: the
    registry's analysis, as if each were registered."""
    if not texts:
        return []
    fields = sorted({f for t in texts for f in t})
    docs = [{"_index": index, "doc": t, "fields": fields, **_TERM_VECTORS} for t in texts]
    with store.translated("dedup registry: term vectors"):
        return [d.get("term_vectors", {}) for d in es.mtermvectors(docs=docs)["docs"]]
