"""docker-compose.yml, as far as a machine without a Docker engine can check it.

The Elasticsearch version lives once, in es/pom.xml (``es.version``, the embedded node's); the
compose file writes the same tag literally (so a stale .env can never override it) and this test
fails the moment the two differ. Schema validation uses ``docker compose config`` when the compose
plugin works here, else the Compose Specification's reference loader (``compose-spec``, built from
the compose-go module that docker compose itself uses), found via $COMPOSE_SPEC_BIN, PATH or
.cache/bin.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from ingest.airflow_support import CONN_ID
from ingest.dev.node import es_version
from ingest.settings import PROJECT_ROOT, load_settings

COMPOSE = PROJECT_ROOT / "docker-compose.yml"
ENV_EXAMPLE = PROJECT_ROOT / ".env.example"
ONE_SHOT = {"es-setup", "airflow-init"}
AIRFLOW_COMPONENTS = {"api-server", "scheduler", "dag-processor", "triggerer"}
VAR = re.compile(r"(?<!\$)\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))


def env_example() -> dict[str, str]:
    values = {}
    for line in ENV_EXAMPLE.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            key, _, value = line.partition("=")
            values[key.strip()] = value
    return values


def interpolate(text: str, env: dict[str, str]) -> str:
    """Compose's ``${VAR}``, ``${VAR:-default}`` and ``${VAR:?error}`` with the given values."""
    def one(m: re.Match[str]) -> str:
        value = env.get(m.group(1))
        if m.group(2) in (":-", "-") and not value:
            return m.group(3)
        return value or ""
    return VAR.sub(one, text)


def services() -> dict[str, dict[str, Any]]:
    return compose()["services"]


def image_of(name: str) -> tuple[str, str]:
    image = interpolate(services()[name]["image"], env_example())
    repo, _, tag = image.rpartition(":")
    return repo, tag


def test_compose_file_parses_with_the_expected_services() -> None:
    names = set(services())
    assert {"elasticsearch", "kibana", "postgres", "es-setup", "airflow-init", "airflow-apiserver",
            "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer"} <= names
    commands = [services()[n].get("command") for n in names]
    assert {c for c in commands if isinstance(c, str)} >= AIRFLOW_COMPONENTS


def test_every_image_is_pinned_to_an_explicit_tag() -> None:
    for name in services():
        repo, tag = image_of(name)
        assert repo and tag, f"{name}: image has no tag"
        assert tag != "latest" and re.match(r"^\d+(\.\d+)+", tag), f"{name}: tag {tag!r} is not a version"


def test_elasticsearch_and_kibana_match_the_embedded_node() -> None:
    version = es_version()
    assert image_of("elasticsearch") == ("docker.elastic.co/elasticsearch/elasticsearch", version)
    assert image_of("es-setup") == ("docker.elastic.co/elasticsearch/elasticsearch", version)
    assert image_of("kibana") == ("docker.elastic.co/kibana/kibana", version)


def test_airflow_image_is_built_from_the_pinned_official_image() -> None:
    dockerfile = PROJECT_ROOT / services()["airflow-scheduler"]["build"]["dockerfile"]
    base = re.search(r"^FROM (\S+)", dockerfile.read_text(encoding="utf-8"), re.M)
    assert base is not None and base.group(1).startswith("apache/airflow:3.3.2-")
    assert "-c requirements.lock" in dockerfile.read_text(encoding="utf-8")


def test_every_variable_used_is_documented_in_env_example() -> None:
    used = {m.group(1) for m in VAR.finditer(COMPOSE.read_text(encoding="utf-8"))}
    documented = set(env_example())
    assert used - documented == set()
    assert documented - used == set(), "documented but unused variables"


def test_secrets_are_required_and_env_is_ignored_by_git() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    secrets = ("ELASTIC_PASSWORD", "KIBANA_SYSTEM_PASSWORD", "PIPELINE_ES_PASSWORD", "POSTGRES_PASSWORD",
               "AIRFLOW_FERNET_KEY", "AIRFLOW_JWT_SECRET", "AIRFLOW_ADMIN_PASSWORD", "KIBANA_ENCRYPTION_KEY")
    for secret in secrets:
        assert re.search(r"\$\{" + secret + r":\?", text), f"{secret} must be required (${{VAR:?...}})"
        assert "change-me" in env_example()[secret]
    assert ".env" in (PROJECT_ROOT / ".gitignore").read_text(encoding="utf-8").split()


def test_elasticsearch_has_security_on_and_a_healthcheck() -> None:
    es = services()["elasticsearch"]
    assert es["environment"]["xpack.security.enabled"] == "true"
    assert "_cluster/health" in " ".join(es["healthcheck"]["test"])
    assert "path.repo" in es["environment"]  # snapshot repository (ingest/ops/es-setup.sh registers it)


def test_long_running_services_have_limits_healthchecks_and_named_volumes() -> None:
    declared = set(compose()["volumes"])
    for name, svc in services().items():
        assert svc.get("mem_limit"), f"{name}: no memory limit"
        if name not in ONE_SHOT:
            assert svc.get("healthcheck"), f"{name}: no healthcheck"
        for volume in svc.get("volumes", []):
            source = volume.split(":")[0]
            assert source.startswith("./") or source in declared, f"{name}: {source} is not a named volume"
        ports = [interpolate(p, env_example()) for p in svc.get("ports", [])]
        assert all(p.startswith("127.0.0.1:") for p in ports), f"{name}: published beyond localhost"


def test_init_creates_what_the_dags_expect() -> None:
    """Connection id and pool name must be the ones ingest.airflow_support reads."""
    init = (PROJECT_ROOT / "ingest" / "ops" / "init.sh").read_text(encoding="utf-8")
    assert "ingest es init" in init and "ingest kibana import" in init
    assert f'json.dump({{"{CONN_ID}": conn}}' in init
    assert f"airflow pools set {load_settings().dag.fetch_pool} " in init
    assert services()["airflow-init"]["environment"]["_AIRFLOW_DB_MIGRATE"] == "true"
    for name, svc in services().items():
        if name.startswith("airflow-") and name != "airflow-init":
            assert svc["depends_on"]["airflow-init"]["condition"] == "service_completed_successfully"


def test_roles_are_valid_and_limited_to_the_index_prefix() -> None:
    prefix = env_example()["INGEST_INDEX_PREFIX"]
    for path in sorted((PROJECT_ROOT / "es" / "roles").glob("*.json")):
        role = json.loads(path.read_text(encoding="utf-8"))
        assert set(role) <= {"description", "cluster", "indices", "metadata", "applications"}, path.name
        assert "all" not in role["cluster"] and "manage_security" not in role["cluster"], path.name
        for grant in role["indices"]:
            assert grant["names"] == [f"{prefix}-*"], path.name
            assert "all" not in grant["privileges"] and "delete_index" not in grant["privileges"]


def _validator() -> list[str]:
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0:
        return [docker, "compose", "--env-file", str(ENV_EXAMPLE), "-f", str(COMPOSE), "config", "-q"]
    candidates = [os.environ.get("COMPOSE_SPEC_BIN"), shutil.which("compose-spec"),
                  str(PROJECT_ROOT / ".cache" / "bin" / "compose-spec")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            # Its interpolation ignores the environment, so check the schema and the model's
            # consistency uninterpolated; the variables are checked by the tests above.
            return [candidate, "--no-interpolation", str(COMPOSE)]
    pytest.skip("no compose validator here: neither `docker compose` nor compose-spec "
                "(go install github.com/compose-spec/compose-go/v2/cmd@v2.16.2)")


def test_compose_config_validates() -> None:
    command = _validator()
    result = subprocess.run(command, capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=120,
                            env={**os.environ, **env_example()})
    assert result.returncode == 0, result.stderr
