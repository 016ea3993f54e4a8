"""Where the evaluation corpora live: ``../shared/fixtures`` and ``../shared/seeds`` by default.

Why apart from ``ingest.settings``: the runtime (the Airflow image) never reads a corpus; tests,
benchmarks, evaluations and the demo do. The environment names are the ones they always had
(``INGEST_FIXTURES_DIR``, ``INGEST_SEEDS_DIR``).
"""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from ingest.settings import PREFIX, PROJECT_ROOT


class CorpusPaths(BaseSettings):
    """The real-data folders (read, never copied into the repo)."""

    model_config = SettingsConfigDict(env_prefix=PREFIX, extra="ignore")

    fixtures_dir: Path = PROJECT_ROOT.parent / "shared" / "fixtures"
    seeds_dir: Path = PROJECT_ROOT.parent / "shared" / "seeds"
