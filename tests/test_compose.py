"""docker-compose.yml and the Dockerfile, checked without a Docker engine: what can be checked, is."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest
import yaml

from dreamcache.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
DOCKERFILE = (ROOT / "docker" / "Dockerfile").read_text()
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
APPS = ["app", "app-cpu", "worker"]  # every service running our image
STATEFUL = {"app": "/models", "app-cpu": "/models", "worker": "/models", "qdrant": "/qdrant/storage",
            "minio": "/data", "redis": "/data"}
_INTERPOLATION = re.compile(r"\$\{(\w+):-([^}]*)\}")


def interpolate(value: Any) -> str:
    """Compose's ${VAR:-default} with the defaults (what `make up` gets in a clean shell)."""
    return _INTERPOLATION.sub(lambda m: m.group(2), str(value))


def environment(service: str) -> dict[str, str]:
    env = SERVICES[service].get("environment", {})
    return {key: interpolate(value) for key, value in env.items()}


def published_ports(service: str) -> dict[int, int]:
    """container port -> host port."""
    ports = {}
    for spec in SERVICES[service].get("ports", []):
        host, container = str(spec).split(":")[-2:]
        ports[int(container)] = int(host)
    return ports


@pytest.mark.parametrize("app", APPS)
def test_every_dreamcache_variable_is_a_real_setting_and_parses(app: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    env = {k: v for k, v in environment(app).items() if k.startswith("DREAMCACHE_")}
    unknown = [k for k in env if k.removeprefix("DREAMCACHE_").lower() not in Settings.model_fields]
    assert not unknown, f"not settings: {unknown}"
    assert set(environment(app)) == set(env), "the app is configured through DREAMCACHE_* variables only"
    monkeypatch.chdir(tmp_path)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    settings = Settings()
    assert settings.qdrant_url and settings.s3_bucket  # the stack uses the server backends, not embedded ones


@pytest.mark.parametrize("app", APPS)
def test_app_talks_to_the_services_of_the_stack(app: str) -> None:
    env = environment(app)
    qdrant = urlparse(env["DREAMCACHE_QDRANT_URL"])
    assert qdrant.hostname == "qdrant" and qdrant.port in published_ports("qdrant")
    minio = urlparse(env["DREAMCACHE_S3_ENDPOINT_URL"])
    assert minio.hostname == "minio" and minio.port in published_ports("minio")
    minio_env = environment("minio")
    assert env["DREAMCACHE_S3_ACCESS_KEY_ID"] == minio_env["MINIO_ROOT_USER"]
    assert env["DREAMCACHE_S3_SECRET_ACCESS_KEY"] == minio_env["MINIO_ROOT_PASSWORD"]
    bucket_job = " ".join(SERVICES["createbucket"]["command"])
    assert f"local/{env['DREAMCACHE_S3_BUCKET']}" in bucket_job
    assert "anonymous set download" in bucket_job  # the public base URL below needs anonymous reads
    public = urlparse(env["DREAMCACHE_S3_PUBLIC_BASE_URL"])
    assert public.port == published_ports("minio")[minio.port]
    assert public.path.strip("/") == env["DREAMCACHE_S3_BUCKET"]
    if app != "worker":
        assert int(env["DREAMCACHE_PORT"]) in published_ports(app)
    assert urlparse(env["DREAMCACHE_REDIS_URL"]).hostname == "redis"


@pytest.mark.parametrize("app", APPS)
def test_app_waits_for_healthy_dependencies(app: str) -> None:
    depends = SERVICES[app]["depends_on"]
    assert depends["redis"]["condition"] == "service_healthy"
    assert depends["qdrant"]["condition"] == "service_healthy"
    assert depends["minio"]["condition"] == "service_healthy"
    assert depends["createbucket"]["condition"] == "service_completed_successfully"
    for name, rule in depends.items():
        if rule["condition"] == "service_healthy":
            assert "healthcheck" in SERVICES[name], name
    assert SERVICES["createbucket"]["depends_on"]["minio"]["condition"] == "service_healthy"


def test_healthchecks_probe_the_ports_their_services_serve() -> None:
    assert SERVICES["worker"]["healthcheck"] == {"disable": True} and SERVICES["worker"]["ports"] == []
    for app in ("app", "app-cpu"):
        probe = " ".join(SERVICES[app]["healthcheck"]["test"])
        assert f"127.0.0.1:{environment(app)['DREAMCACHE_PORT']}/readyz" in probe
    qdrant_probe = " ".join(SERVICES["qdrant"]["healthcheck"]["test"])
    assert "/6333" in qdrant_probe and "/readyz" in qdrant_probe and 6333 in published_ports("qdrant")
    assert SERVICES["minio"]["healthcheck"]["test"][-2:] == ["ready", "local"]
    assert "--console-address" in SERVICES["minio"]["command"]
    console = SERVICES["minio"]["command"][SERVICES["minio"]["command"].index("--console-address") + 1]
    assert int(console.lstrip(":")) in published_ports("minio")


def test_gpu_is_reserved_for_the_workers_of_the_gpu_profile_and_cpu_profile_exists() -> None:
    assert SERVICES["app"]["profiles"] == ["gpu"] == SERVICES["worker"]["profiles"]
    assert SERVICES["app-cpu"]["profiles"] == ["cpu"]
    [device] = SERVICES["worker"]["deploy"]["resources"]["reservations"]["devices"]
    assert device["driver"] == "nvidia" and "gpu" in device["capabilities"] and device["count"] == 1
    assert SERVICES["worker"]["command"] == ["dreamcache", "worker"]
    # The GPU profile's app is a web replica without a GPU; the CPU profile's app runs its own worker.
    assert SERVICES["app"]["command"] == ["dreamcache", "serve", "--worker", "none"] and "deploy" not in SERVICES["app"]
    assert "command" not in SERVICES["app-cpu"] and "deploy" not in SERVICES["app-cpu"]


def test_redis_keeps_an_append_only_file_in_a_volume() -> None:
    command = SERVICES["redis"]["command"]
    assert command[0] == "redis-server" and command[command.index("--appendonly") + 1] == "yes"
    assert SERVICES["redis"]["healthcheck"]["test"][-2:] == ["redis-cli", "ping"]
    for name, service in SERVICES.items():
        if name not in APPS:
            assert "profiles" not in service, f"{name} must start in both profiles"


def test_images_are_pinned() -> None:
    for name, service in SERVICES.items():
        image = service.get("image")
        assert image, f"{name} has no image tag"
        repository, _, tag = image.rpartition(":")
        assert repository and tag and tag != "latest", f"{name}: {image} is not pinned"
    for base in re.findall(r"^ARG PYTHON_IMAGE=(\S+)$|^FROM (\S+)", DOCKERFILE, flags=re.MULTILINE):
        image = next(b for b in base if b)
        if image.startswith("${") or " AS " in image:
            continue
        assert ":" in image and not image.endswith(":latest"), image
    assert "latest" not in (ROOT / "docker-compose.yml").read_text()


def test_stateful_services_keep_their_data_in_declared_volumes() -> None:
    declared = set(COMPOSE["volumes"])
    for name, target in STATEFUL.items():
        mounts = {str(m).split(":")[0]: str(m).split(":")[1] for m in SERVICES[name].get("volumes", [])}
        assert target in mounts.values(), f"{name} keeps {target} in no volume"
        source = next(src for src, dst in mounts.items() if dst == target)
        assert source in declared, f"{name}: volume {source} is not declared"


def test_dockerfile_pins_torch_runs_as_non_root_and_checks_readiness() -> None:
    assert re.search(r"^ARG TORCH_VERSION=\d+\.\d+\.\d+$", DOCKERFILE, flags=re.MULTILINE)
    assert re.search(r"^USER (?!root)\w+", DOCKERFILE, flags=re.MULTILINE)
    assert "HEALTHCHECK" in DOCKERFILE and "/readyz" in DOCKERFILE
    assert "HF_HOME=/models" in DOCKERFILE and 'VOLUME ["/models", "/data"]' in DOCKERFILE
    assert DOCKERFILE.count("FROM ") >= 2, "multi-stage build"
    port = re.search(r"DREAMCACHE_PORT=(\d+)", DOCKERFILE)
    assert port and f"EXPOSE {port.group(1)}" in DOCKERFILE
    for secret in ("SECRET", "PASSWORD", "API_KEY"):
        assert secret not in DOCKERFILE, "no secrets baked into the image"
