"""The reading room: a read-only, server-rendered Arabic web app over the one search path.

Why server-rendered and GET-only: the page must work without JavaScript for a newcomer on the embedded
default, and a reading room never writes. Every page has a JSON twin under ``/api/`` that is the
``dataclasses.asdict`` of the same objects the CLI's ``--json`` prints (ingest.search, ingest.stories,
ingest.maintenance). Feed text is hostile: Jinja2 autoescapes, and ``finalize`` strips bidi controls.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import elastic_transport
from elasticsearch import ApiError, Elasticsearch, NotFoundError
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ingest import maintenance, search, store, stories
from ingest.alerts.state import ALERTS_KIND
from ingest.errors import IngestError, StoreError, StoreUnavailable
from ingest.settings import Settings
from ingest.web import views

HERE = Path(__file__).resolve().parent
WINDOWS = {"24h": ("آخر 24 ساعة", timedelta(hours=24)), "7d": ("آخر 7 أيام", timedelta(days=7))}
MAX_SIZE = 100
ALERTS_SHOWN = 200


class BadParameter(search.BadQuery):
    """A query-string parameter the page cannot use: a 400 with this message."""


def templates() -> Environment:
    env = Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape(["html"]),
                      finalize=views.strip_bidi, trim_blocks=True, lstrip_blocks=True)
    env.globals.update(count=views.count, OUTLET=views.OUTLET, ARTICLE=views.ARTICLE, when=views.when,
                       carried_by=views.carried_by, tier_label=views.tier_label,
                       segments=search.marked_segments, WINDOWS=WINDOWS)
    env.filters["link"] = views.link
    return env


def create_app(settings: Settings, *, es: Elasticsearch | None = None) -> Starlette:
    """The app for ``settings``; the client is created once and shared by the worker threads."""
    client = es or store.connect(settings, check=False)
    env = templates()
    articles = store.alias_name(settings.es.index_prefix, "articles")

    def page(name: str, request: Request, **context: Any) -> HTMLResponse:
        html = env.get_template(name).render(request=request, path=request.url.path, **context)
        return HTMLResponse(html)

    def search_page(request: Request, fmt: str = "html") -> Response:
        req, form = _search_request(request)
        known = search.outlets(client, articles)
        result = search.search(client, articles, req) if req else search.SearchResult(0, ())
        return (JSONResponse(dataclasses.asdict(result)) if fmt == "json" else
                page("search.html", request, result=result, form=form, outlets=known, asked=req is not None))

    def stories_page(request: Request, fmt: str = "html") -> Response:
        window = request.query_params.get("window", "24h")
        if window not in WINDOWS:
            raise BadParameter(f"window: use one of {', '.join(WINDOWS)}, not {window!r}")
        size = _int(request, "size", 10)
        top = search.top_stories(client, articles, since=datetime.now(UTC) - WINDOWS[window][1], size=size)
        if fmt == "json":
            return JSONResponse({"window": window, "stories": [dataclasses.asdict(s) for s in top]})
        lines = {s.story_id: _story_timeline(client, settings, s.story_id, width=260, height=34) for s in top}
        return page("stories.html", request, stories=top, window=window, timelines=lines)

    def story_page(request: Request, fmt: str = "html") -> Response:
        wanted = request.path_params["story_id"]
        s = stories.story(client, settings, stories.story_of_article(client, settings, wanted))
        if fmt == "json":
            return JSONResponse(dataclasses.asdict(s))
        names = search.outlets(client, articles)
        outlet_of = {a["doc_id"]: names.get(a["source_id"], a["source_id"]) for a in s.articles}
        rows = [{**a, "outlet": names.get(a["source_id"], a["source_id"]),
                 "tier": (a.get("decision") or {}).get("tier"),
                 "score": (a.get("decision") or {}).get("score"),
                 "reason": views.reason_words(a.get("decision") or {}, outlet_of)} for a in s.articles]
        line = views.timeline([(r["event_at"], r["outlet"], r["tier"] or "") for r in rows])
        return page("story.html", request, story=s, rows=rows, timeline=line,
                    first_name=names.get(s.first_publisher, s.first_publisher))

    def sources_page(request: Request, fmt: str = "html") -> Response:
        report = maintenance.source_health(settings)
        if fmt == "json":
            return JSONResponse(report.to_json_dict())
        return page("sources.html", request, report=report)

    def alerts_page(request: Request, fmt: str = "html") -> Response:
        rule = request.query_params.get("rule") or None
        groups = _alerts(client, store.alias_name(settings.es.index_prefix, ALERTS_KIND), rule)
        if fmt == "json":
            return JSONResponse({"rules": groups})
        return page("alerts.html", request, groups=groups, rule=rule)

    def html_and_api(path: str, endpoint: Callable[..., Response]) -> list[Route]:
        return [Route(path, endpoint, methods=["GET"]),
                Route(f"/api{path if path != '/' else '/stories'}", lambda r: endpoint(r, "json"),
                      methods=["GET"])]

    routes = [
        *html_and_api("/", stories_page),
        Route("/search", search_page, methods=["GET"]),
        Route("/api/search", lambda r: search_page(r, "json"), methods=["GET"]),
        Route("/story/{story_id}", story_page, methods=["GET"]),
        Route("/api/story/{story_id}", lambda r: story_page(r, "json"), methods=["GET"]),
        *html_and_api("/sources", sources_page),
        *html_and_api("/alerts", alerts_page),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={IngestError: _error(env),
                                                       HTTPException: _http_error(env)})
    return app


def _search_request(request: Request) -> tuple[search.SearchRequest | None, dict[str, Any]]:
    """The search form's parameters as a SearchRequest (None when no words were given yet)."""
    q = request.query_params
    form = {"q": q.get("q", ""), "source": q.getlist("source"), "lang": q.get("lang", ""),
            "since": q.get("since", ""), "until": q.get("until", ""), "copies": q.get("copies") == "1"}
    if not form["q"].strip():
        return None, form
    now = datetime.now(UTC)
    bound = {k: search.parse_when(form[k], now=now, what=k) if form[k].strip() else None
             for k in ("since", "until")}
    if bound["since"] and bound["until"] and bound["since"] >= bound["until"]:
        raise BadParameter("since must be before until")
    req = search.SearchRequest(form["q"], sources=tuple(s for s in form["source"] if s),
                               lang=form["lang"] or None, since=bound["since"], until=bound["until"],
                               include_copies=form["copies"], size=_int(request, "size", 10),
                               offset=_int(request, "offset", 0, most=10_000))
    return req, form


def _int(request: Request, name: str, default: int, *, most: int = MAX_SIZE) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    if not (raw.isascii() and raw.isdigit()) or int(raw) > most or (name == "size" and int(raw) == 0):
        raise BadParameter(f"{name}: a whole number from {0 if name == 'offset' else 1} to {most}, "
                           f"not {raw!r}")
    return int(raw)


def _story_timeline(es: Elasticsearch, settings: Settings, story_id: str, **size: int) -> views.Timeline:
    """The small per-story timeline on top stories: when each outlet's article arrived."""
    try:
        s = stories.story(es, settings, story_id)
    except stories.StoryNotFound:
        return views.timeline([])
    return views.timeline([(a["event_at"], a["source_id"], (a.get("decision") or {}).get("tier") or "")
                           for a in s.articles], margin=10, **size)


def _alerts(es: Elasticsearch, index: str, rule: str | None) -> list[dict[str, Any]]:
    """Recent alerts (one per rule and story, from the alerts index), grouped by rule, newest first."""
    query = {"bool": {"filter": [{"term": {"rule": rule}}] if rule else []}}
    try:
        resp = es.search(index=index, query=query, sort=[{"updated_at": "desc"}], size=ALERTS_SHOWN)
    except NotFoundError:
        return []  # no alert has fired yet on this prefix
    except (ApiError, ConnectionError, elastic_transport.TransportError) as exc:  # translated here
        raise _store_error(exc, f"reading alerts from {index}") from exc
    groups: dict[str, list[dict[str, Any]]] = {}
    for hit in resp["hits"]["hits"]:
        groups.setdefault(hit["_source"]["rule"], []).append(hit["_source"])
    return [{"rule": name, "alerts": alerts} for name, alerts in sorted(groups.items())]


def _store_error(exc: Exception, what: str) -> IngestError:
    if isinstance(exc, ApiError):
        return StoreError(f"{what}: {exc.message}")
    return StoreUnavailable(f"{what}: {type(exc).__name__}")


STATUS = {"bad_query": 400, "story_not_found": 404}


def _error(env: Environment) -> Callable[[Request, Exception], Response]:
    """Our exceptions as pages/JSON: bad input 400, unknown story 404, store down or missing 503, else 500."""

    def handle(request: Request, exc: Exception) -> Response:
        reason = getattr(exc, "reason", "error")
        # the store down or not initialised (`ingest es init`) is not the reader's fault: 503 with the reason
        code = STATUS.get(reason) or (503 if isinstance(exc, StoreUnavailable | StoreError) else 500)
        return _problem(env, request, code, reason, str(exc))

    return handle


def _http_error(env: Environment) -> Callable[[Request, Exception], Response]:
    def handle(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        return _problem(env, request, exc.status_code, "http", str(exc.detail), headers=exc.headers)

    return handle


def _problem(env: Environment, request: Request, code: int, reason: str, message: str,
             headers: dict[str, str] | None = None) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": reason, "message": message}, status_code=code, headers=headers)
    html = env.get_template("error.html").render(request=request, path=request.url.path, code=code,
                                                 message=message)
    return HTMLResponse(html, status_code=code, headers=headers)
