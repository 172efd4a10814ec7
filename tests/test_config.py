"""Settings: every one documented, secrets refused when they are placeholders, errors collected."""

from __future__ import annotations

from pathlib import Path

import pytest

from directory.config import Settings
from directory.errors import ConfigurationError

README = Path(__file__).resolve().parent.parent / "README.md"


def test_every_setting_is_documented_in_the_readme() -> None:
    text = README.read_text(encoding="utf-8")
    missing = [
        f"DIRECTORY_{name.upper()}"
        for name in Settings.model_fields
        if f"`DIRECTORY_{name.upper()}`" not in text
    ]
    assert missing == []


def test_every_setting_has_a_help_text() -> None:
    assert [name for name, field in Settings.model_fields.items() if not field.description] == []


def test_prod_refuses_placeholder_secret_and_missing_database(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIRECTORY_ENVIRONMENT", "prod")
    monkeypatch.setenv("DIRECTORY_SECRET_KEY", "changeme")
    with pytest.raises(ConfigurationError) as info:
        Settings()
    # Both problems reported together, not one at a time.
    assert len(info.value.problems) == 2
    assert "changeme" not in str(info.value)


def test_prod_accepts_real_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIRECTORY_ENVIRONMENT", "prod")
    monkeypatch.setenv("DIRECTORY_SECRET_KEY", "k" * 40)
    monkeypatch.setenv("DIRECTORY_DATABASE_URL", "postgresql://db.example/directory")
    settings = Settings()
    assert settings.hashing_secret() == "k" * 40
    assert "k" * 40 not in repr(settings)


def test_dev_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    first = Settings(data_dir=tmp_path).hashing_secret()
    second = Settings(data_dir=tmp_path).hashing_secret()
    assert first == second and len(first) >= 32
    assert (tmp_path / "secret.key").stat().st_mode & 0o077 == 0
