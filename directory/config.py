"""The one settings class. Every setting is read from the environment with the ``DIRECTORY_`` prefix
(or a ``.env`` file), has a help text, and is listed in the README (a test checks it)."""

from __future__ import annotations

import secrets
from functools import lru_cache
from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from directory.errors import ConfigurationError

__all__ = ["PLACEHOLDER_SECRETS", "Settings", "get_settings"]

# Values copied from docs or examples; refused outside development.
PLACEHOLDER_SECRETS = frozenset({"", "changeme", "change-me", "secret", "dev", "test"})


def _default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("directory", appauthor=False))


class Settings(BaseSettings):
    """Service settings; see the README's settings table for the full list."""

    model_config = SettingsConfigDict(env_prefix="DIRECTORY_", env_file=".env", extra="ignore")

    environment: Literal["dev", "prod"] = Field(
        "dev",
        description="`dev` allows generated secrets and the embedded PostgreSQL; `prod` requires "
        "real secrets and `DIRECTORY_DATABASE_URL`.",
    )
    database_url: str | None = Field(
        None,
        description="PostgreSQL URL of the primary (`postgresql://user@host/db`). Unset: an embedded "
        "PostgreSQL is started with its data under `DIRECTORY_DATA_DIR`.",
    )
    read_database_url: str | None = Field(
        None,
        description="Optional PostgreSQL URL of a read replica, used by search and resolution.",
    )
    test_database_url: str | None = Field(
        None,
        description="Tests only: a PostgreSQL server where each test run creates its own fresh "
        "database (needs CREATEDB). Unset: 127.0.0.1:5432 if it answers, else the embedded server.",
    )
    data_dir: Path = Field(
        default_factory=_default_data_dir,
        description="Where the embedded PostgreSQL and the generated development secret live.",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Key of the keyed hashes that protect NUMEN and birth dates, and of signed "
        "cookies. Required in `prod`; in `dev` one is generated once under `DIRECTORY_DATA_DIR`. "
        "Changing it invalidates every stored hash (re-import with a full scan).",
    )
    feeds: Path | None = Field(
        None, description="The feeds file (TOML): one `[feeds.NAME]` table per academy feed."
    )
    instances: Path | None = Field(
        None, description="The cloud instances file (TOML): name, host, capacity, academies served."
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Log level of the service and the commands."
    )
    pool_min_size: int = Field(1, ge=1, description="Minimum PostgreSQL connections per process.")
    pool_max_size: int = Field(10, ge=1, description="Maximum PostgreSQL connections per process.")
    host: str = Field("127.0.0.1", description="Address `directory serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `directory serve` listens on.")
    workers: int = Field(
        1, ge=1, description="API worker processes `directory serve` starts (forked: they share one index)."
    )
    search_min_query_length: int = Field(
        2, ge=1, description="Shortest search query accepted (letters and digits), against scraping."
    )
    search_max_query_length: int = Field(100, ge=10, description="Longest search query accepted.")
    search_max_results: int = Field(25, ge=1, le=25, description="Cap on results per search (at most 25).")
    search_refresh_interval: float = Field(
        2.0, gt=0, description="Seconds between two checks of the store for index changes, per worker."
    )
    search_cache_size: int = Field(
        10_000, ge=0, description="Search answers remembered per worker until the index changes (0: none)."
    )
    rate_limit_per_minute: int = Field(
        600, ge=1, description="Requests per minute per API key and host, unless the key sets its own."
    )
    rate_limit_burst: int = Field(
        60, ge=1, description="Requests an API key may send at once above its rate."
    )
    api_key_cache_seconds: float = Field(
        5.0, ge=0, description="How long a worker trusts a checked API key (a revocation takes this long)."
    )
    exposure_flush_interval: float = Field(
        5.0, gt=0, description="Seconds between writes of the distinct people returned per key and day."
    )
    exposure_memory_ids: int = Field(
        100_000,
        ge=4,
        description="Person ids each worker remembers for the distinct-people counter (all keys; "
        "one key at most a quarter); past that the store counts them. ~100 bytes each.",
    )
    metrics_dir: Path | None = Field(
        None,
        description="Where the workers of `directory serve --workers N` write their shared metrics "
        "(emptied at start; one folder per port below it). Default: `api-metrics` in the data "
        "directory; a tmpfs such as systemd's RuntimeDirectory (`/run/directory`) spares the disk.",
    )
    tchap_homeserver: str = Field(
        "agent.education.tchap.gouv.fr",
        description="Homeserver of the Matrix user ids the Tchap-compatible endpoint returns.",
    )
    admin_session_idle_seconds: int = Field(
        1800, ge=1, description="Admin UI: a session ends after this many seconds without a request."
    )
    admin_session_max_seconds: int = Field(
        36000, ge=1, description="Admin UI: a session ends this many seconds after sign-in, active or not."
    )
    demo_key_minutes: int = Field(
        30,
        ge=1,
        description="Share-dialog demo (dev only): lifetime of the search-only API key the page obtains.",
    )

    @model_validator(mode="after")
    def _check(self) -> Settings:
        problems: list[str] = []
        if self.pool_min_size > self.pool_max_size:
            problems.append("DIRECTORY_POOL_MIN_SIZE must not exceed DIRECTORY_POOL_MAX_SIZE")
        if self.environment == "prod":
            if self.database_url is None:
                problems.append("DIRECTORY_DATABASE_URL is required when DIRECTORY_ENVIRONMENT=prod")
            key = self.secret_key.get_secret_value() if self.secret_key else ""
            if key.lower() in PLACEHOLDER_SECRETS or len(key) < 32:
                problems.append(
                    "DIRECTORY_SECRET_KEY must be set to a random value of 32+ characters in prod"
                )
        if problems:
            raise ConfigurationError(problems)
        return self

    def hashing_secret(self) -> str:
        """The secret for keyed hashes: the configured one, or in dev one generated once and kept
        (mode 0600) in the data directory so that hashes stay comparable from run to run."""
        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        path = self.data_dir / "secret.key"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            path.touch(mode=0o600)
            path.write_text(secrets.token_urlsafe(48))
        return path.read_text().strip()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings (cached; tests build their own ``Settings``)."""
    try:
        return Settings()
    except ConfigurationError:
        raise
    except ValueError as exc:  # pydantic's ValidationError: report every field at once
        raise ConfigurationError([str(exc)]) from exc
