"""Settings, built once at the edge (CLI, DAG, tests) and passed down.

Why: stage code never reads ``os.environ`` itself; one pydantic-settings object documents every
knob, validates it, and keeps secrets as ``SecretStr`` so they cannot be logged by accident.
Environment variables use the ``INGEST_`` prefix, e.g. ``INGEST_ES_URL``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

PROJECT_ROOT = Path(__file__).resolve().parents[1]


class Settings(BaseSettings):
    """Everything configurable, with the embedded defaults."""

    model_config = SettingsConfigDict(env_prefix="INGEST_", extra="ignore")

    # Elasticsearch. An empty URL means "the embedded node started by `ingest es start`".
    es_url: str = ""
    es_api_key: SecretStr | None = None
    es_username: str | None = None
    es_password: SecretStr | None = None
    es_ca_certs: Path | None = None
    es_verify_certs: bool = True
    es_request_timeout: float = 30.0
    es_max_retries: int = 3
    es_shards: int = 1
    es_replicas: int = 0
    index_prefix: str = "news"

    # Files and folders.
    cache_dir: Path = PROJECT_ROOT / ".cache"
    mappings_dir: Path = PROJECT_ROOT / "mappings"
    fixtures_dir: Path = PROJECT_ROOT.parent / "shared" / "fixtures"
    seeds_dir: Path = PROJECT_ROOT.parent / "shared" / "seeds"

    # Ingestion: the sources list and polite fetching (ingest/fetch.py, ingest/feeds.py).
    sources_file: Path = PROJECT_ROOT / "ingest" / "data" / "sources.yaml"
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
    warc_dir: Path | None = None
    # Per-source polling: adaptive interval bounds (seconds) and auto-disable threshold.
    poll_min_interval: float = 300.0
    poll_max_interval: float = 6 * 3600.0
    poll_max_failures: int = 5
    sitemap_max_children: int = 5

    # Alerts (ingest.alerts). Channels and rules live in the rules file; transport knobs here.
    rules_file: Path = PROJECT_ROOT / "ingest" / "data" / "alert_rules.yaml"
    alerts_log_file: Path = PROJECT_ROOT / ".cache" / "alerts.jsonl"
    smtp_host: str = "localhost"
    smtp_port: int = 25
    smtp_user: str | None = None
    smtp_password: SecretStr | None = None
    smtp_tls: Literal["none", "starttls", "ssl"] = "none"
    smtp_from: str = "alerts@localhost"
    smtp_timeout: float = 10.0
    webhook_timeout: float = 10.0
    alert_retry_attempts: int = 3
    alert_retry_wait: float = 1.0
    alert_max_attempts: int = 50

    # Deduplication (ingest.dedup). Thresholds calibrated on data: see ingest/dev/evaluation/dedup.py.
    dedup_shingle_size: int = 5
    dedup_num_perm: int = 128
    dedup_lsh_bands: int = 42
    dedup_near_jaccard: float = 0.5
    dedup_near_containment: float = 0.8
    dedup_near_window_hours: float = 168.0
    dedup_title_window_hours: float = 96.0
    # Same source + same headline is a copy only if the bodies overlap this much (max of MinHash
    # Jaccard and containment). SaudiNewsNet: recurring columns 0.00-0.31, real reposts >= 0.75.
    dedup_title_body_containment: float = 0.5
    dedup_story_window_hours: float = 72.0
    dedup_story_threshold: float = 0.3
    dedup_story_candidates: int = 20
    dedup_story_title_weight: float = 0.25
    # IDF is read as if the registry held at least this many documents (small-index robustness;
    # 1000 makes an empty registry score the labelled set within 0.01 of one with 1,700 real docs).
    dedup_story_prior_docs: int = 1000

    # --- issue 15 --- the reading room (`ingest serve`): loopback only, read-only.
    web_host: str = "127.0.0.1"
    web_port: int = 8090

    # --- issue 12 ---
    # Total wall time of one HTTP request (connect + headers + whole body): a server dripping one
    # byte per second is cut off here, whatever read_timeout says.
    request_deadline: float = 60.0
    # Total wall time of everything one source's poll fetches (feed, sitemap children, redirects).
    source_deadline: float = 180.0
    # SMTP AUTH over a connection without TLS sends the password in clear: refused unless allowed.
    smtp_allow_plain_auth: bool = False

    # --- issue 16 ---
    # HTTP port of the embedded node (`ingest es start`); 0 = the port of its last start (kept in
    # <cache_dir>/es/http.port, so Airflow's connection stays valid), a free one the first time.
    es_node_port: int = 0

    # --- issue 11 ---
    # The schedule (ingest/sourcestate.py): Retry-After is honoured up to this cap (Media Cloud: a
    # day); an auto-disabled source is probed this often and re-enabled by the first success.
    retry_after_cap: float = 86400.0
    disabled_probe_interval: float = 86400.0
    # Lying-ETag guard: poll without validators every Nth poll, and at least this often (seconds).
    poll_unconditional_every: int = 10
    poll_unconditional_interval: float = 86400.0
    feed_max_items: int = 1000  # per feed / sitemap poll; the rest is counted, not discovered
    # The URL frontier (ingest/frontier.py): leases, retry policy, batch bounds.
    lease_seconds: float = 600.0
    fetch_permanent_ttl: float = 7 * 86400.0
    fetch_retry_base: float = 600.0
    fetch_max_attempts: int = 5
    fetch_max_per_host: int = 50


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides taking precedence."""
    return Settings(**overrides)  # type: ignore[arg-type]
