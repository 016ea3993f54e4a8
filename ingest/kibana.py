"""Kibana saved objects: read the project's NDJSON files and import them into a Kibana.

Why through the saved objects import API (``POST /api/saved_objects/_import``): it is the one
documented way to install data views, searches, visualisations and dashboards, it checks the
references between them, and ``overwrite=true`` makes a re-import idempotent. Credentials are
``SecretStr`` and only ever go into a request header: they never reach a log line or a message.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import SecretStr

from ingest.errors import ConfigError, PermanentError, TransientError
from ingest.settings import PROJECT_ROOT
from ingest.store import redact_url

log = logging.getLogger(__name__)

OBJECTS_DIR = PROJECT_ROOT / "kibana"
# The index prefix the shipped data views are written for (Settings.index_prefix's default).
SHIPPED_PREFIX = "news"
IMPORT_PATH = "/api/saved_objects/_import"


class KibanaUnavailable(TransientError):
    """Kibana cannot be reached or is not ready (connection refused, timeout, 5xx)."""

    reason = "kibana_unavailable"


class KibanaImportError(PermanentError):
    """Kibana answered but refused the import (bad credentials, missing references, ...)."""

    reason = "kibana_import"


@dataclass(frozen=True)
class KibanaAuth:
    """An API key (``Authorization: ApiKey``) or a user and password (HTTP basic), or nothing."""

    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None

    def __post_init__(self) -> None:
        if self.api_key is not None and self.username:
            raise ConfigError("Kibana auth: give either an API key or a user, not both")
        if self.username and self.password is None:
            raise ConfigError(f"Kibana auth: user {self.username!r} has no password")

    def headers(self) -> dict[str, str]:
        if self.api_key is not None:
            return {"Authorization": f"ApiKey {self.api_key.get_secret_value()}"}
        return {}

    def basic(self) -> httpx.BasicAuth | None:
        if self.username and self.password is not None:
            return httpx.BasicAuth(self.username, self.password.get_secret_value())
        return None


@dataclass(frozen=True)
class ImportResult:
    """What Kibana reported: how many objects it stored, and which (``type/id``)."""

    success_count: int
    objects: tuple[str, ...]

    def to_json_dict(self) -> dict[str, Any]:
        return {"success_count": self.success_count, "objects": list(self.objects)}


def load_objects(directory: Path = OBJECTS_DIR) -> list[dict[str, Any]]:
    """Every saved object of every ``*.ndjson`` file in ``directory`` (sorted by file name)."""
    paths = sorted(directory.glob("*.ndjson"))
    if not paths:
        raise ConfigError(f"no *.ndjson saved objects in {directory}")
    return [obj for path in paths for obj in _parse_ndjson(path)]


def _parse_ndjson(path: Path) -> Iterable[dict[str, Any]]:
    """One object a line; a line that is not an object with id/type/attributes names file and line."""
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path}:{number}: not JSON: {exc.msg}") from exc
        missing = [k for k in ("id", "type", "attributes") if not isinstance(obj, dict) or k not in obj]
        if missing:
            raise ConfigError(f"{path}:{number}: not a saved object (missing {', '.join(missing)})")
        yield obj


def retarget(objects: Sequence[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
    """Point the shipped data views (``news-<kind>``) at another index prefix's aliases."""
    if prefix == SHIPPED_PREFIX:
        return list(objects)
    out = []
    for obj in objects:
        title = obj["attributes"].get("title", "")
        if obj["type"] == "index-pattern" and title.startswith(SHIPPED_PREFIX + "-"):
            attributes = {**obj["attributes"], "title": prefix + title[len(SHIPPED_PREFIX):]}
            obj = {**obj, "attributes": attributes}
        out.append(obj)
    return out


def to_ndjson(objects: Iterable[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects).encode("utf-8")


def import_url(base_url: str, space: str | None = None) -> str:
    """``<kibana>[/s/<space>]/api/saved_objects/_import``."""
    base = base_url.rstrip("/")
    return f"{base}/s/{space}{IMPORT_PATH}" if space else f"{base}{IMPORT_PATH}"


def import_objects(base_url: str, objects: Sequence[dict[str, Any]], auth: KibanaAuth, *,
                   space: str | None = None, timeout: float = 60.0,
                   verify: bool | str = True) -> ImportResult:
    """Upload ``objects`` as one NDJSON file with ``overwrite=true``; raise on any refusal."""
    url = import_url(base_url, space)
    files = {"file": ("saved_objects.ndjson", to_ndjson(objects), "application/ndjson")}
    headers = {"kbn-xsrf": "true", **auth.headers()}
    try:
        response = httpx.post(url, params={"overwrite": "true"}, files=files, headers=headers,
                              auth=auth.basic(), timeout=timeout, verify=verify)
    except httpx.HTTPError as exc:
        raise KibanaUnavailable(f"Kibana at {redact_url(url)} is unreachable: {type(exc).__name__}") from exc
    result = _result(response, redact_url(url))
    log.info("imported %d saved objects into %s", result.success_count, redact_url(url))
    return result


def _result(response: httpx.Response, where: str) -> ImportResult:
    """Translate Kibana's answer: HTTP status first, then the import report's ``errors``."""
    status = response.status_code
    if status in (401, 403):
        raise KibanaImportError(f"Kibana at {where} refused the credentials (HTTP {status}): "
                                "check the API key or user and its saved-objects privileges",
                                reason="kibana_auth")
    if status >= 500 or status == 429:
        raise KibanaUnavailable(f"Kibana at {where} is not ready (HTTP {status})",
                                reason=f"kibana_http_{status}")
    body = _json_body(response, where)
    if status != 200:
        raise KibanaImportError(f"Kibana at {where} rejected the import (HTTP {status}): "
                                f"{body.get('message', body)}", reason=f"kibana_http_{status}")
    if not body.get("success", False):
        raise KibanaImportError(f"Kibana at {where} did not import every object: "
                                + "; ".join(_describe(e) for e in body.get("errors", [])))
    done = tuple(f"{r.get('type')}/{r.get('id')}" for r in body.get("successResults", []))
    return ImportResult(success_count=int(body.get("successCount", len(done))), objects=done)


def _json_body(response: httpx.Response, where: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError as exc:
        raise KibanaImportError(f"Kibana at {where} answered HTTP {response.status_code} with a body "
                                "that is not JSON: is this really Kibana?",
                                reason="kibana_bad_response") from exc
    if not isinstance(body, dict):
        raise KibanaImportError(f"Kibana at {where} answered with JSON that is not an object",
                                reason="kibana_bad_response")
    return body


def _describe(error: dict[str, Any]) -> str:
    """``search/news-duplicates: missing_references (index-pattern/news-articles)``."""
    detail = error.get("error", {})
    refs = ", ".join(f"{r.get('type')}/{r.get('id')}" for r in detail.get("references", []))
    what = f"{error.get('type')}/{error.get('id')}: {detail.get('type', 'error')}"
    return f"{what} ({refs})" if refs else what
