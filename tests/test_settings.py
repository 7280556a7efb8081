"""Settings: zero configuration gives embedded defaults; DREAMCACHE_* and .env configure the rest."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from pydantic import ValidationError

from dreamcache.settings import DEFAULT_MODEL, Settings


def test_defaults_are_embedded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.model == DEFAULT_MODEL
    assert settings.qdrant_url is None and settings.s3_bucket is None
    assert settings.index_dir == Path("data/index") and settings.images_dir == Path("data/images")
    assert (settings.scheduler, settings.deepcache, settings.deepcache_interval, settings.deepcache_branch) == (
        "dpm-solver++", True, 3, 0)


def test_environment_and_dotenv(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / ".env").write_text("DREAMCACHE_MODEL=tiny\nDREAMCACHE_QUEUE_SIZE=7\n")
    monkeypatch.setenv("DREAMCACHE_QDRANT_URL", "http://qdrant:6333")
    monkeypatch.setenv("DREAMCACHE_QUEUE_SIZE", "9")
    settings = Settings()
    assert settings.model == "tiny" and settings.is_tiny
    assert settings.qdrant_url == "http://qdrant:6333"
    assert settings.queue_size == 9  # the environment wins over .env


@pytest.mark.parametrize(
    ("values", "field"),
    [
        ({"default_width": 500}, "default_width"),
        ({"max_side": 1001}, "max_side"),
        ({"queue_size": 0}, "queue_size"),
        ({"similarity_threshold": 1.5}, "similarity_threshold"),
        ({"embedder": "word2vec"}, "embedder"),
    ],
)
def test_bad_settings_name_the_field(values: dict, field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        Settings(**values)


def test_readme_documents_every_setting() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    missing = [name for name in Settings.model_fields if f"`DREAMCACHE_{name.upper()}`" not in readme]
    assert not missing, f"settings missing from the README table: {missing}"


def test_every_variable_name_and_default_is_kept() -> None:
    """Grouping the settings by concern renamed nothing: DREAMCACHE_* names and defaults as on main before it."""
    from dreamcache.settings import GROUPS

    frozen = json.loads((Path(__file__).parent / "data" / "settings_env.json").read_text())
    now = {f"DREAMCACHE_{name.upper()}": json.loads(json.dumps(field.default, default=str))
           for name, field in Settings.model_fields.items()}
    assert now == frozen
    declared = list(Settings.model_fields)
    grouped = [name for names in GROUPS.values() for name in names]
    assert grouped == declared  # every setting in exactly one group, groups in declaration order


def test_a_setting_of_every_group_is_read_from_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    from dreamcache.settings import GROUPS

    values = {"queue_size": "7", "default_steps": "11", "similarity_threshold": "0.97", "retention_interval_s": "9.5",
              "webhook_timeout_s": "2.5", "max_body_bytes": "2048", "qdrant_collection": "other",
              "request_burst": "3", "job_ttl_s": "5.0", "metrics_public": "true", "s3_region": "eu-west-1",
              "fp16": "false", "embed_batch_size": "5", "reuse": "false", "redis_prefix": "dc-two"}
    assert {group for group, names in GROUPS.items() if set(names) & set(values)} == set(GROUPS)
    for name, value in values.items():
        monkeypatch.setenv(f"DREAMCACHE_{name.upper()}", value)
    settings = Settings(_env_file=None)  # type: ignore[call-arg]
    for group, names in GROUPS.items():
        for name in set(names) & set(values):
            assert str(settings.group(group)[name]).lower() == values[name].lower(), name
