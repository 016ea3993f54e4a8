"""The shipped Kibana saved objects: parse, target Kibana 9.x, reference only real fields and objects.

Mappings are read from ``mappings/`` at test time, so a renamed or retyped field breaks this test
instead of a dashboard in production. The checker itself is tested on broken copies of the objects.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from ingest import kibana
from ingest.settings import load_settings

MAPPINGS_DIR = load_settings().files.mappings_dir
# typeMigrationVersion of each type as written by Kibana 9.0-9.2 exports (../shared/fixtures/kibana,
# SOURCES.md); lens objects by reference as exported by 8.19, the same model version 9.x reads.
TARGET_VERSIONS = {"index-pattern": "8.0.0", "search": "10.5.0", "lens": "8.9.0", "dashboard": "10.3.0"}
AGGREGATABLE = {"keyword", "date", "date_nanos", "long", "integer", "short", "byte", "float", "double",
                "half_float", "scaled_float", "boolean", "ip", "constant_keyword"}
# What each use of a field needs from its mapping type (None = any field that exists).
USES: dict[str, set[str] | None] = {
    "time": {"date", "date_nanos"}, "date_histogram": {"date", "date_nanos"},
    "terms": AGGREGATABLE, "unique_count": AGGREGATABLE, "last_value": AGGREGATABLE, "sort": AGGREGATABLE,
    "max": AGGREGATABLE - {"keyword", "boolean", "ip", "constant_keyword"},
    "median": AGGREGATABLE - {"keyword", "boolean", "ip", "constant_keyword", "date", "date_nanos"},
    "min": AGGREGATABLE - {"keyword", "boolean", "ip", "constant_keyword"},
    "url_format": {"keyword", "text", "wildcard"},
    "column": None, "query": None, "label": None, "source_filter": None,
}
META_FIELDS = {"_id", "_index"}


@dataclass(frozen=True)
class Use:
    """One place where a saved object names a field of a data view."""

    view: str
    field: str
    use: str
    where: str


def mapping_fields(kind: str) -> dict[str, str]:
    """``{dotted path: type}`` of every leaf and multi-field of ``mappings/<kind>.json``; objects are
    listed as ``object`` (``disabled`` when not indexed) so that only source filters may name them."""
    doc = json.loads((MAPPINGS_DIR / f"{kind}.json").read_text(encoding="utf-8"))
    out: dict[str, str] = {}

    def walk(props: dict[str, Any], prefix: str) -> None:
        for name, spec in props.items():
            path = prefix + name
            if "properties" in spec or spec.get("type") in ("object", "nested"):
                out[path] = "object" if spec.get("enabled", True) else "disabled"
                walk(spec.get("properties", {}), path + ".")
                continue
            out[path] = spec["type"]
            for sub, sub_spec in spec.get("fields", {}).items():
                out[f"{path}.{sub}"] = sub_spec["type"]

    walk(doc["mappings"]["properties"], "")
    return out


def load() -> list[dict[str, Any]]:
    return kibana.load_objects(kibana.OBJECTS_DIR)


def by_key(objects: list[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    return {(o["type"], o["id"]): o for o in objects}


def refs_by_name(obj: dict[str, Any]) -> dict[str, dict[str, str]]:
    return {r["name"]: r for r in obj.get("references", [])}


def kql_fields(query: str) -> list[str]:
    """Field names of a KQL query (``field : value``), quoted values removed first."""
    unquoted = re.sub(r'"(?:\\.|[^"\\])*"', '""', query)
    return re.findall(r"([A-Za-z_@][\w.@]*)\s*:", unquoted)


def view_kind(view: dict[str, Any]) -> str:
    """``news-<kind>`` -> ``<kind>``, the mappings file the data view's alias is built from."""
    title = view["attributes"]["title"]
    prefix = kibana.SHIPPED_PREFIX + "-"
    return title[len(prefix):] if title.startswith(prefix) else title


# ---- what each object type uses -------------------------------------------------------------------


def data_view_uses(obj: dict[str, Any], searches: dict[str, str]) -> Iterator[Use]:
    a, vid = obj["attributes"], obj["id"]
    if a.get("timeFieldName"):
        yield Use(vid, a["timeFieldName"], "time", "timeFieldName")
    for field, fmt in json.loads(a.get("fieldFormatMap") or "{}").items():
        yield Use(vid, field, "url_format" if fmt.get("id") == "url" else "label", "fieldFormatMap")
        template = (fmt.get("params") or {}).get("urlTemplate") or ""
        target = re.search(r"/app/discover#/view/([^?]+)", template)
        if target:  # a link into a saved search: the search must exist, its query fields too
            target_view = searches.get(target.group(1), f"<missing saved search {target.group(1)}>")
            for q in re.findall(r"query:'([^']*)'", template):
                where = f"fieldFormatMap[{field}] link"
                yield from (Use(target_view, f, "query", where) for f in kql_fields(q))
    for field in json.loads(a.get("fieldAttrs") or "{}"):
        yield Use(vid, field, "label", "fieldAttrs")
    for flt in json.loads(a.get("sourceFilters") or "[]"):
        yield Use(vid, flt["value"], "source_filter", "sourceFilters")


def search_uses(obj: dict[str, Any]) -> Iterator[Use]:
    a = obj["attributes"]
    source = json.loads(a["kibanaSavedObjectMeta"]["searchSourceJSON"])
    view = refs_by_name(obj)[source["indexRefName"]]["id"]
    yield from (Use(view, c, "column", "columns") for c in a.get("columns", []))
    yield from (Use(view, s[0], "sort", "sort") for s in a.get("sort", []))
    yield from (Use(view, f, "query", "query") for f in kql_fields(source["query"]["query"]))


def lens_uses(obj: dict[str, Any]) -> Iterator[Use]:
    state, refs = obj["attributes"]["state"], refs_by_name(obj)
    views = []
    for layer_id, layer in state["datasourceStates"]["formBased"]["layers"].items():
        view = refs[f"indexpattern-datasource-layer-{layer_id}"]["id"]
        views.append(view)
        for col in layer["columns"].values():
            if col.get("sourceField") not in (None, "___records___"):
                yield Use(view, col["sourceField"], col["operationType"], f"column {col['label']!r}")
            if (col.get("params") or {}).get("sortField"):
                yield Use(view, col["params"]["sortField"], "sort", f"column {col['label']!r} sortField")
    for view in dict.fromkeys(views):
        yield from (Use(view, f, "query", "query") for f in kql_fields(state["query"]["query"]))


def field_problems(objects: list[dict[str, Any]]) -> list[str]:
    """Every field use that the data view's mapping does not satisfy, as a readable line."""
    views = {o["id"]: o for o in objects if o["type"] == "index-pattern"}
    searches = {}
    for o in objects:
        if o["type"] == "search":
            source = json.loads(o["attributes"]["kibanaSavedObjectMeta"]["searchSourceJSON"])
            searches[o["id"]] = refs_by_name(o)[source["indexRefName"]]["id"]
    uses: list[tuple[str, Use]] = []
    for o in objects:
        found = {"index-pattern": lambda o: data_view_uses(o, searches), "search": search_uses,
                 "lens": lens_uses}.get(o["type"], lambda o: iter(()))(o)
        uses += [(f"{o['type']}/{o['id']}", u) for u in found]
    problems = []
    for owner, use in uses:
        if use.view not in views:
            problems.append(f"{owner} ({use.where}): unknown data view {use.view}")
            continue
        kind = view_kind(views[use.view])
        if not (MAPPINGS_DIR / f"{kind}.json").exists():
            problems.append(f"{owner}: data view {use.view} points at {kind!r}: no mappings/{kind}.json")
            continue
        problems += check_use(owner, kind, use)
    return problems


def check_use(owner: str, kind: str, use: Use) -> list[str]:
    if use.field in META_FIELDS:
        return []
    fields = mapping_fields(kind)
    ftype = fields.get(use.field)
    where = f"{owner} ({use.where}): field {use.field!r} of {kind}"
    if ftype is None:
        return [f"{where} does not exist in mappings/{kind}.json"]
    if ftype in ("object", "disabled") and use.use != "source_filter":
        return [f"{where} is an object ({ftype}), not a field"]
    allowed = USES.get(use.use, set())
    if allowed is not None and ftype not in allowed:
        return [f"{where} has type {ftype}, {use.use} needs one of {sorted(allowed)}"]
    return []


def reference_problems(objects: list[dict[str, Any]]) -> list[str]:
    """Dangling references, and names used in attributes without a reference (or the reverse)."""
    known = set(by_key(objects))
    problems = [f"{o['type']}/{o['id']}: reference {r['name']} -> {r['type']}/{r['id']} does not exist"
                for o in objects for r in o.get("references", []) if (r["type"], r["id"]) not in known]
    for o in objects:
        used, declared, me = set(used_reference_names(o)), set(refs_by_name(o)), f"{o['type']}/{o['id']}"
        problems += [f"{me}: uses reference {n} that is not declared" for n in used - declared]
        problems += [f"{me}: declares reference {n} that nothing uses" for n in declared - used]
    return problems


def used_reference_names(obj: dict[str, Any]) -> Iterator[str]:
    a = obj["attributes"]
    if obj["type"] == "search":
        yield json.loads(a["kibanaSavedObjectMeta"]["searchSourceJSON"])["indexRefName"]
    elif obj["type"] == "lens":
        yield from (f"indexpattern-datasource-layer-{lid}"
                    for lid in a["state"]["datasourceStates"]["formBased"]["layers"])
    elif obj["type"] == "dashboard":
        yield from (f"{p['panelIndex']}:{p['panelRefName']}" for p in json.loads(a["panelsJSON"]))


# ---- the tests ------------------------------------------------------------------------------------


def test_every_object_parses_and_targets_kibana_9() -> None:
    objects = load()
    assert len(by_key(objects)) == len(objects), "duplicate (type, id)"
    for o in objects:
        assert o["type"] in TARGET_VERSIONS, o["type"]
        assert o["typeMigrationVersion"] == TARGET_VERSIONS[o["type"]], (o["type"], o["id"])
        assert o["coreMigrationVersion"] == "8.8.0"
        for value in _json_strings(o["attributes"]):
            json.loads(value)  # every *JSON attribute is itself valid JSON


def _json_strings(attributes: dict[str, Any]) -> Iterator[str]:
    for key, value in attributes.items():
        if isinstance(value, dict):
            yield from _json_strings(value)
        elif key.endswith("JSON") or key in ("fieldFormatMap", "fieldAttrs", "fields", "sourceFilters",
                                             "runtimeFieldMap"):
            yield value


def test_every_referenced_field_exists_with_a_compatible_type() -> None:
    assert field_problems(load()) == []


def test_references_between_objects_resolve() -> None:
    assert reference_problems(load()) == []


def test_what_the_analysts_were_promised_is_there() -> None:
    objects = by_key(load())
    articles = objects[("index-pattern", "news-articles")]["attributes"]
    assert articles["title"] == "news-articles" and articles["timeFieldName"] == "published_at"
    formats = json.loads(articles["fieldFormatMap"])
    assert formats["url"]["id"] == formats["canonical_url"]["id"] == "url"
    titles = {o["attributes"]["title"] for (t, _), o in objects.items() if t == "search"}
    assert {"Latest Arabic news", "Duplicates and their outlets", "A story's articles"} <= titles
    dashboard = objects[("dashboard", "news-overview")]
    panels = [p["embeddableConfig"]["title"] for p in json.loads(dashboard["attributes"]["panelsJSON"])]
    for wanted in ("Articles over time by source", "Top stories by number of outlets",
                   "Alert hits over time", "Source health"):
        assert wanted in panels


# ---- the checker catches what it should -----------------------------------------------------------


def _mutated(type_: str, id_: str, change: Any) -> list[dict[str, Any]]:
    objects = copy.deepcopy(load())
    change(by_key(objects)[(type_, id_)])
    return objects


def test_checker_flags_a_missing_column_field() -> None:
    def change(o: dict[str, Any]) -> None:
        o["attributes"]["columns"].append("no_such_field")
    problems = field_problems(_mutated("search", "news-duplicates", change))
    assert problems == ["search/news-duplicates (columns): field 'no_such_field' of articles "
                        "does not exist in mappings/articles.json"]


def test_checker_flags_terms_on_a_text_field() -> None:
    def change(o: dict[str, Any]) -> None:
        for layer in o["attributes"]["state"]["datasourceStates"]["formBased"]["layers"].values():
            for col in layer["columns"].values():
                if col["operationType"] == "terms":
                    col["sourceField"] = "title"
    problems = field_problems(_mutated("lens", "news-top-stories-by-outlets", change))
    assert len(problems) == 1 and "field 'title' of articles has type text, terms needs" in problems[0]


def test_checker_flags_a_non_date_time_field_and_a_bad_query_field() -> None:
    def change(o: dict[str, Any]) -> None:
        o["attributes"]["timeFieldName"] = "lang"
    problems = field_problems(_mutated("index-pattern", "news-articles", change))
    assert any("'lang' of articles has type keyword, time needs" in p for p in problems)

    def change_query(o: dict[str, Any]) -> None:
        meta = o["attributes"]["kibanaSavedObjectMeta"]
        source = json.loads(meta["searchSourceJSON"])
        source["query"]["query"] = 'langue : "ar" and title : "x: y"'
        meta["searchSourceJSON"] = json.dumps(source)
    problems = field_problems(_mutated("search", "news-latest-arabic", change_query))
    assert [p for p in problems if "(query)" in p] == [
        "search/news-latest-arabic (query): field 'langue' of articles "
        "does not exist in mappings/articles.json"]


def test_checker_flags_dangling_and_undeclared_references() -> None:
    def change(o: dict[str, Any]) -> None:
        o["references"][0]["id"] = "gone"
        o["references"].append({"id": "news-articles", "type": "index-pattern", "name": "spare"})
    problems = reference_problems(_mutated("search", "news-story-articles", change))
    assert sorted(problems) == sorted([
        "search/news-story-articles: reference kibanaSavedObjectMeta.searchSourceJSON.index -> "
        "index-pattern/gone does not exist",
        "search/news-story-articles: declares reference spare that nothing uses"])


@pytest.mark.parametrize("query,fields", [
    ("lang : ar* and not duplicate_of : *", ["lang", "duplicate_of"]),
    ('story_id:"a:b" or source.name : "x"', ["story_id", "source.name"]),
    ("", []),
])
def test_kql_fields(query: str, fields: list[str]) -> None:
    assert kql_fields(query) == fields
