"""The sources list: which feeds and sitemaps to poll, validated when loaded.

Why pydantic: a typo in one entry of a 30-entry YAML file must fail loudly, naming the file, the
entry and the field, before any network work starts; a silently ignored field would mean a source
that is never polled and nobody notices.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from ingest.errors import ConfigError
from ingest.urls import BadURL, validate_url

SOURCE_ID_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
# Bounds for hand-written config files: a YAML alias bomb (``a: &a [*b, *b, ...]``) expands
# exponentially, so aliases are counted on the event stream, before anything is built.
MAX_CONFIG_BYTES = 2 * 1024 * 1024
MAX_YAML_ALIASES = 50


class Source(BaseModel):
    """One feed or sitemap to poll."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=SOURCE_ID_PATTERN)
    name: str = Field(min_length=1)
    url: str
    kind: Literal["feed", "sitemap"] = "feed"
    lang: str = Field(default="ar", pattern=r"^[a-z]{2,3}(-[A-Za-z0-9]+)?$")
    country: str = ""
    tags: tuple[str, ...] = ()
    enabled: bool = True
    # A registered extractor (ingest.extract.REGISTRY) tried before the default chain, e.g. a site rule.
    extractor: str = ""

    @field_validator("extractor")
    @classmethod
    def _registered(cls, value: str) -> str:
        from ingest.extract import REGISTRY  # local: config stays importable without the extractors

        if value and value not in REGISTRY:
            raise ValueError(f"unknown extractor (registered: {', '.join(sorted(REGISTRY))})")
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        try:
            return validate_url(value)
        except BadURL as exc:
            raise ValueError(str(exc)) from exc


def load_sources(path: Path | str) -> list[Source]:
    """Every entry of a sources YAML file (a list, or a mapping with a ``sources`` list)."""
    path = Path(path)
    entries = _read_entries(path)
    sources = [_validate(path, index, entry) for index, entry in enumerate(entries)]
    _check_unique_ids(path, sources)
    return sources


def read_yaml(path: Path, what: str) -> object:
    """A YAML file's content; unreadable, oversized, non-UTF-8 or invalid YAML, or more than
    ``MAX_YAML_ALIASES`` aliases, is a ``ConfigError`` naming the file (exit code 2)."""
    try:
        with path.open("rb") as fh:
            raw = fh.read(MAX_CONFIG_BYTES + 1)
    except OSError as exc:
        raise ConfigError(f"{what} {path}: cannot read: {exc.strerror}") from exc
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{what} {path}: larger than {MAX_CONFIG_BYTES} bytes")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[:exc.start].count(b"\n") + 1
        raise ConfigError(f"{what} {path}: not UTF-8 (byte {exc.start}, line {line}); "
                          "save the file as UTF-8") from exc
    try:
        events = yaml.parse(text, Loader=yaml.SafeLoader)
        aliases = sum(isinstance(event, yaml.AliasEvent) for event in events)
        if aliases > MAX_YAML_ALIASES:
            raise ConfigError(f"{what} {path}: {aliases} YAML aliases (*name), more than the "
                              f"{MAX_YAML_ALIASES} allowed")
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{what} {path}: not valid YAML: {exc}") from exc
    except RecursionError as exc:
        raise ConfigError(f"{what} {path}: YAML nested too deeply") from exc


def _read_entries(path: Path) -> list[object]:
    doc = read_yaml(path, "sources file")
    if isinstance(doc, dict):
        doc = doc.get("sources")
    if not isinstance(doc, list):
        raise ConfigError(f"{path}: expected a list of sources (or a mapping with a 'sources' list)")
    return doc


def _validate(path: Path, index: int, entry: object) -> Source:
    label = f"entry #{index + 1}"
    if isinstance(entry, dict) and entry.get("id"):
        label += f" (id={entry['id']!r})"
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: {label}: expected a mapping, got {type(entry).__name__}")
    try:
        return Source.model_validate(entry)
    except ValidationError as exc:
        problems = "; ".join(f"field '{'.'.join(str(p) for p in err['loc']) or '?'}': {err['msg']}"
                             for err in exc.errors())
        raise ConfigError(f"{path}: {label}: {problems}") from exc


def _check_unique_ids(path: Path, sources: list[Source]) -> None:
    seen: set[str] = set()
    for index, source in enumerate(sources):
        if source.id in seen:
            raise ConfigError(f"{path}: entry #{index + 1} (id={source.id!r}): field 'id': duplicate id")
        seen.add(source.id)
