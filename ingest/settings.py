"""Settings, built once at the edge (CLI, DAG, tests) and passed down.

Why: stage code never reads ``os.environ`` itself; one pydantic-settings object documents every
knob, validates it, and keeps secrets as ``SecretStr`` so they cannot be logged by accident.

The object is nested by stage (``settings.es.url``, ``settings.fetch.per_host_delay``,
``settings.dedup.near_jaccard``, ...) while the environment keeps its flat names
(``INGEST_ES_URL``, ``INGEST_PER_HOST_DELAY``, ``INGEST_DEDUP_NEAR_JACCARD``, ``INGEST_DAG_RETRIES``):
users, ``docker-compose.yml`` and the run profile never had to learn a new spelling. Each group says
its variables' prefix (``env_prefix``) and the few names that do not follow it (``env_names``);
``FLAT`` below is the one table from those flat names to (group, field). Overrides in code are
nested dicts, merged field by field over the environment: ``load_settings(fetch={"per_host_delay":
0})`` keeps every other ``fetch`` value the environment gave.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, SecretStr, model_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
PREFIX = "INGEST_"


class Group(BaseModel):
    """One group of settings; its environment variables are ``INGEST_<env_prefix><field>``, except
    the fields named in ``env_names`` (their historical flat names)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    env_prefix: ClassVar[str] = ""
    env_names: ClassVar[dict[str, str]] = {}


class EsSettings(Group):
    """Elasticsearch. An empty URL means "the embedded node started by `ingest es start`"."""

    env_prefix: ClassVar[str] = "es_"
    env_names: ClassVar[dict[str, str]] = {"index_prefix": "index_prefix"}

    url: str = ""
    api_key: SecretStr | None = None
    username: str | None = None
    password: SecretStr | None = None
    ca_certs: Path | None = None
    verify_certs: bool = True
    request_timeout: float = 30.0
    max_retries: int = 3
    shards: int = 1
    replicas: int = 0
    index_prefix: str = "news"
    # HTTP port of the embedded node (`ingest es start`); 0 = the port of its last start (kept in
    # <cache_dir>/es/http.port, so Airflow's connection stays valid), a free one the first time.
    node_port: int = 0


class FilesSettings(Group):
    """Files and folders of the runtime (evaluation corpora: ingest/dev/paths.py)."""

    cache_dir: Path = PROJECT_ROOT / ".cache"
    mappings_dir: Path = PROJECT_ROOT / "mappings"
    sources_file: Path = PROJECT_ROOT / "ingest" / "data" / "sources.yaml"
    warc_dir: Path | None = None


class FetchSettings(Group):
    """Polite, bounded HTTP (ingest/fetch.py, ingest/feeds.py)."""

    user_agent: str = "ArabicNewsIngest/0.1 (+https://github.com/arabic-news-ingest; polite news crawler)"
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    max_bytes: int = 5 * 1024 * 1024
    max_redirects: int = 5
    html_content_types: list[str] = ["text/html", "application/xhtml+xml"]
    feed_content_types: list[str] = ["application/rss+xml", "application/atom+xml", "application/rdf+xml",
                                     "application/xml", "text/xml", "text/plain", "text/html"]
    # Networks (CIDR) the SSRF guard lets through although private/loopback; tests add 127.0.0.1/32.
    allowed_networks: list[str] = []
    concurrency: int = 8
    per_host_concurrency: int = 2
    per_host_delay: float = 1.0
    robots_cache_ttl: float = 3600.0
    # Total wall time of one HTTP request (connect + headers + whole body): a server dripping one
    # byte per second is cut off here, whatever read_timeout says.
    request_deadline: float = 60.0
    # Total wall time of everything one source's poll fetches (feed, sitemap children, redirects).
    source_deadline: float = 180.0


class PollSettings(Group):
    """Per-source polling and its schedule (ingest/sourcestate.py, ingest/feeds.py)."""

    env_prefix: ClassVar[str] = "poll_"
    env_names: ClassVar[dict[str, str]] = {name: name for name in (
        "sitemap_max_children", "feed_max_items", "retry_after_cap", "disabled_probe_interval")}

    # Adaptive interval bounds (seconds) and auto-disable threshold: a source is auto-disabled
    # after ``max_failures`` consecutive failures only if it has also been failing for
    # ``disable_after`` seconds (a site down for a morning is backed off, not disabled).
    min_interval: float = 300.0
    max_interval: float = 6 * 3600.0
    max_failures: int = 5
    disable_after: float = 86400.0
    sitemap_max_children: int = 5
    feed_max_items: int = 1000  # per feed / sitemap poll; the rest is counted, not discovered
    # Retry-After is honoured up to this cap (Media Cloud: a day); an auto-disabled source is probed
    # this often and re-enabled by the first success.
    retry_after_cap: float = 86400.0
    disabled_probe_interval: float = 86400.0
    # Lying-ETag guard: poll without validators every Nth poll, and at least this often (seconds).
    unconditional_every: int = 10
    unconditional_interval: float = 86400.0


class FrontierSettings(Group):
    """The URL frontier (ingest/frontier.py): leases, retry policy, batch bounds."""

    env_prefix: ClassVar[str] = "fetch_"
    env_names: ClassVar[dict[str, str]] = {"lease_seconds": "lease_seconds"}

    lease_seconds: float = 600.0
    permanent_ttl: float = 7 * 86400.0
    retry_base: float = 600.0
    max_attempts: int = 5
    max_per_host: int = 50


class DedupSettings(Group):
    """Deduplication (ingest.dedup): the thresholds of a run, stored with every decision so an old
    decision can be audited. Calibrated on data: see ingest/dev/evaluation/dedup.py."""

    env_prefix: ClassVar[str] = "dedup_"

    shingle_size: int = 5
    num_perm: int = 128
    lsh_bands: int = 42
    near_jaccard: float = 0.5
    near_containment: float = 0.8
    near_window_hours: float = 168.0
    title_window_hours: float = 96.0
    # Same source + same headline is a copy only if the bodies overlap this much (max of MinHash
    # Jaccard and containment). SaudiNewsNet: recurring columns 0.00-0.31, real reposts >= 0.75.
    title_body_containment: float = 0.5
    story_window_hours: float = 72.0
    story_threshold: float = 0.3
    story_candidates: int = 20
    story_title_weight: float = 0.25
    # IDF is read as if the registry held at least this many documents (small-index robustness;
    # 1000 makes an empty registry score the labelled set within 0.01 of one with 1,700 real docs).
    story_prior_docs: int = 1000
    # Document frequencies of terms in at least df_cache_min_df registered documents are kept
    # this long by each worker process (ingest.dedup.queries.DocFreqCache); 0 asks every time.
    df_cache_seconds: float = 300.0
    df_cache_min_df: int = 100

    def as_dict(self) -> dict[str, Any]:
        return self.model_dump()


class AlertsSettings(Group):
    """Alerts (ingest.alerts). Channels and rules live in the rules file; transport knobs here."""

    env_prefix: ClassVar[str] = "alert_"
    env_names: ClassVar[dict[str, str]] = {"rules_file": "rules_file", "log_file": "alerts_log_file",
                                           "webhook_timeout": "webhook_timeout"}

    rules_file: Path = PROJECT_ROOT / "ingest" / "data" / "alert_rules.yaml"
    log_file: Path = PROJECT_ROOT / ".cache" / "alerts.jsonl"
    webhook_timeout: float = 10.0
    retry_attempts: int = 3
    retry_wait: float = 1.0
    max_attempts: int = 50


class SmtpSettings(Group):
    """The e-mail channel's transport."""

    env_prefix: ClassVar[str] = "smtp_"
    env_names: ClassVar[dict[str, str]] = {"sender": "smtp_from"}

    host: str = "localhost"
    port: int = 25
    user: str | None = None
    password: SecretStr | None = None
    tls: Literal["none", "starttls", "ssl"] = "none"
    sender: str = "alerts@localhost"
    timeout: float = 10.0
    # SMTP AUTH over a connection without TLS sends the password in clear: refused unless allowed.
    allow_plain_auth: bool = False


class WebSettings(Group):
    """The reading room (`ingest serve`): loopback only, read-only."""

    env_prefix: ClassVar[str] = "web_"

    host: str = "127.0.0.1"
    port: int = 8090


class DagSettings(Group):
    """Parse-time knobs of the DAGs: read once, no I/O."""

    env_prefix: ClassVar[str] = "dag_"

    schedule: str = "*/5 * * * *"
    maintenance_schedule: str = "@daily"
    start_date: datetime = datetime(2026, 1, 1, tzinfo=UTC)
    retries: int = 3
    retry_delay_seconds: float = 30.0
    max_retry_delay_seconds: float = 600.0
    fetch_pool: str = "news_fetch"
    fetch_pool_slots: int = 4
    chunk_size: int = 5  # hosts per mapped fetch task (each host is leased by exactly one task)

    def default_args(self) -> dict[str, Any]:
        """Task defaults: retries with exponential backoff, capped."""
        return {"retries": self.retries, "retry_delay": timedelta(seconds=self.retry_delay_seconds),
                "retry_exponential_backoff": True,
                "max_retry_delay": timedelta(seconds=self.max_retry_delay_seconds)}


class Settings(BaseSettings):
    """Everything configurable, with the embedded defaults, one group per stage."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="forbid")

    es: EsSettings = EsSettings()
    files: FilesSettings = FilesSettings()
    fetch: FetchSettings = FetchSettings()
    poll: PollSettings = PollSettings()
    frontier: FrontierSettings = FrontierSettings()
    dedup: DedupSettings = DedupSettings()
    alerts: AlertsSettings = AlertsSettings()
    smtp: SmtpSettings = SmtpSettings()
    web: WebSettings = WebSettings()
    dag: DagSettings = DagSettings()

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """Code > environment > dotenv (the run profile) > defaults; the last three by flat name."""
        assert isinstance(env_settings, EnvSettingsSource) and isinstance(dotenv_settings, EnvSettingsSource)
        return init_settings, FlatEnv(settings_cls, env_settings), FlatEnv(settings_cls, dotenv_settings)

    @model_validator(mode="before")
    @classmethod
    def _flat_overrides(cls, data: Any) -> Any:
        """Flat keyword overrides (``per_host_delay=0``, the names of the environment) are placed in
        their group, over any nested value: one table (``FLAT``) for tests and helpers that pass them."""
        if not isinstance(data, Mapping) or not FLAT.keys() & data.keys():
            return data
        nested = {k: v for k, v in data.items() if k not in FLAT}
        for flat in FLAT.keys() & data.keys():
            group, field = FLAT[flat]
            nested = merged(nested, {group: {field: data[flat]}})
        return nested

    def changed(self, **changes: Any) -> Settings:
        """A validated copy with some fields changed, e.g. ``changed(es={"index_prefix": "x"})``; the
        other fields keep this object's values (not re-read from the environment)."""
        return type(self).model_validate(merged(self.model_dump(), changes))


def _flat_names() -> dict[str, tuple[str, str]]:
    """Flat name (the env variable without ``INGEST_``, lower case) -> (group, field)."""
    table = {}
    for group, info in Settings.model_fields.items():
        model = info.annotation
        assert isinstance(model, type) and issubclass(model, Group)
        for field in model.model_fields:
            table[model.env_names.get(field, model.env_prefix + field)] = (group, field)
    return table


FLAT: dict[str, tuple[str, str]] = _flat_names()


def env_name(flat: str) -> str:
    return f"{PREFIX}{flat.upper()}"


class FlatEnv(PydanticBaseSettingsSource):
    """The ``INGEST_<flat name>`` variables of an env or dotenv source, as nested groups.

    Why not ``env_nested_delimiter``: it would rename every variable (``INGEST_FETCH__PER_HOST_DELAY``).
    Values are decoded by the wrapped pydantic-settings source (JSON for lists), as before."""

    def __init__(self, settings_cls: type[BaseSettings], variables: EnvSettingsSource) -> None:
        super().__init__(settings_cls)
        self.variables = variables

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # unused: __call__ reads whole groups

    def __call__(self) -> dict[str, Any]:
        out: dict[str, dict[str, Any]] = {}
        for flat, (group, field) in FLAT.items():
            raw = self.variables.env_vars.get(env_name(flat).lower())
            if raw is None:
                continue
            info = Settings.model_fields[group].annotation.model_fields[field]  # type: ignore[union-attr]
            out.setdefault(group, {})[field] = self.variables.prepare_field_value(field, info, raw, False)
        return out


def merged(base: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    """``base`` with ``changes`` laid over it, nested dicts merged key by key."""
    out = dict(base)
    for key, value in changes.items():
        inner = out.get(key)
        nest = isinstance(inner, Mapping) and isinstance(value, Mapping)
        out[key] = merged(inner, value) if nest else value
    return out


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment, with nested overrides (``es={"url": ...}``) taking precedence
    field by field. ``_env_file`` names a dotenv file read below the environment (the run profile)."""
    return Settings(**overrides)
