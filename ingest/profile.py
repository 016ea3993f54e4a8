"""The run profile: the settings `make run` started the stack with, read by every later CLI command.

Why: the running stack (Airflow, the demo) and an analyst's `ingest alerts list` must use one
configuration; without it a user had to know to ``source .cache/run/airflow.env``. `make run`
(ingest/ops/stack.sh) writes ``<cache>/run/profile.env`` (``INGEST_FIELD=value`` lines); the CLI loads
it as a dotenv source below the real environment: environment > profile > defaults.
``INGEST_PROFILE`` names another file, or ``none`` to ignore it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from ingest.settings import FLAT, PREFIX, PROJECT_ROOT, Settings, env_name

DEFAULT_PATH = PROJECT_ROOT / ".cache" / "run" / "profile.env"


def profile_path(environ: Mapping[str, str]) -> Path | None:
    """The profile to read: ``INGEST_PROFILE`` (``none`` = no profile), else the default if it exists."""
    chosen = environ.get("INGEST_PROFILE", "").strip()
    if chosen.lower() == "none":
        return None
    path = Path(chosen) if chosen else DEFAULT_PATH
    return path if path.is_file() else None


def read_profile(path: Path | None) -> dict[str, str]:
    """``INGEST_*`` entries of a dotenv file (``export`` prefixes and quotes handled by python-dotenv)."""
    if path is None:
        return {}
    from dotenv import dotenv_values

    return {k: v for k, v in dotenv_values(path).items() if k.startswith(PREFIX) and v is not None}


@dataclass(frozen=True)
class Origin:
    """One effective setting: its shown value (secrets masked) and where it came from."""

    field: str  # group.field, e.g. "fetch.per_host_delay"
    env: str  # the variable that sets it, e.g. "INGEST_PER_HOST_DELAY"
    value: str
    source: str  # "environment", "profile <path>", "default"


def origins(cfg: Settings, environ: Mapping[str, str], profile: Path | None) -> list[Origin]:
    """Every field of ``cfg`` (group by group) with its source; secrets masked as ``**********``."""
    in_profile = read_profile(profile)
    out = []
    for flat, (group, field) in FLAT.items():
        env = env_name(flat)
        if env in environ:
            source = "environment"
        elif env in in_profile:
            source = f"profile {profile}"
        else:
            source = "default"
        value = getattr(getattr(cfg, group), field)
        shown = "**********" if isinstance(value, SecretStr) else str(value)
        out.append(Origin(f"{group}.{field}", env, shown, source))
    return out
