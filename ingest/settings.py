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

    # Deduplication (ingest.dedup). Thresholds calibrated on data: see ingest/evaluation/dedup.py.
    dedup_shingle_size: int = 5
    dedup_num_perm: int = 128
    dedup_lsh_bands: int = 42
    dedup_near_jaccard: float = 0.5
    dedup_near_containment: float = 0.8
    dedup_near_window_hours: float = 168.0
    dedup_title_window_hours: float = 96.0
    dedup_story_window_hours: float = 72.0
    dedup_story_threshold: float = 0.3
    dedup_story_candidates: int = 20
    dedup_story_title_weight: float = 0.25


def load_settings(**overrides: object) -> Settings:
    """Build settings from the environment, with explicit overrides taking precedence."""
    return Settings(**overrides)  # type: ignore[arg-type]
