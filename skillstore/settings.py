"""Configuration, read from ``SKILLSTORE_*`` environment variables or passed in code.

pydantic-settings gives typed, validated settings with one source of truth for names and
ranges; lists (``encryption_keys``, ``known_integrations``) are comma-separated in the
environment rather than JSON, because that is what people type into a ``.env`` file.
"""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from skillstore.secret import Secret


def hide_password(url: str) -> str:
    """``url`` with its password (if any) replaced by ``***``."""
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except (ArgumentError, ValueError):
        return "(an unparseable URL)" if "@" in url else url


DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./skillstore.db"

DEFAULT_INTEGRATIONS = (
    "github",
    "gitlab",
    "slack",
    "discord",
    "notion",
    "google_drive",
    "google_calendar",
    "gmail",
    "jira",
    "linear",
    "salesforce",
    "hubspot",
    "stripe",
    "openai",
    "anthropic",
    "http",
    "webhook",
    "postgres",
    "s3",
)


class StoreSettings(BaseSettings):
    """Everything a `Store` needs to know; every field has a safe default for SQLite."""

    model_config = SettingsConfigDict(env_prefix="SKILLSTORE_", extra="ignore", frozen=True)

    database_url: str = Field(default=DEFAULT_DATABASE_URL, min_length=1)
    pool_size: int = Field(default=5, ge=1, le=50)
    pool_overflow: int = Field(default=10, ge=0, le=100)
    echo: bool = False
    embedding_dimensions: int = Field(default=1536, ge=1, le=16000)
    embedding_model: str = "text-embedding-3-small"
    embedding_api_key: Secret | None = None
    embedding_base_url: str | None = None
    """Root of an OpenAI-compatible embeddings API (default: OpenAI's when a key is set)."""
    encryption_keys: Annotated[list[Secret], NoDecode] = Field(default_factory=list)
    known_integrations: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: list(DEFAULT_INTEGRATIONS)
    )
    hnsw_ef_search: int = Field(default=100, ge=1, le=1000)
    vector_exact_max_rows: int = Field(default=10_000, ge=0, le=10_000_000)
    """Filtered searches with at most this many candidate rows scan them exactly instead of
    using HNSW (PostgreSQL); see `skillstore.vector.pgvector` for how it was measured."""
    vector_chunk_rows: int = Field(default=8192, ge=64, le=1_000_000)
    """Rows scored per numpy chunk by the SQLite backend (bounds memory per search)."""
    sqlite_vector_cache_mb: int = Field(default=256, ge=0, le=1_000_000)
    """SQLite: memory for vectors kept between searches, per process and database (0: off).
    A filter set whose vectors do not fit is read from the file on every search."""
    sqlite_vec: bool = True
    """SQLite: score in SQL with the ``sqlite-vec`` extension when it can be loaded (the
    ``sqlite-vec`` extra; needs a Python whose ``sqlite3`` can load extensions)."""
    memory_recency_half_life_hours: float = Field(default=168.0, gt=0, le=87_600)
    """Age (since last access, else creation) at which a memory's recency signal halves."""
    memory_retrieval_candidates: int = Field(default=50, ge=1, le=1000)
    """Nearest neighbours `retrieve` scores (plus pinned and related memories)."""
    lexical_language: str = Field(default="simple", pattern=r"^[a-z_]{1,63}$")
    """PostgreSQL text-search configuration of the lexical index (fixed when the migration
    runs; ``simple`` neither stems nor drops words, so ids and names stay searchable)."""
    bcrypt_rounds: int = Field(default=12, ge=4, le=16)
    webhook_tolerance_s: int = Field(default=300, ge=1, le=86_400)
    """How far a webhook call's signed timestamp may be from now (either way); its nonce
    is remembered this long after that timestamp."""
    sqlite_busy_timeout_ms: int = Field(default=5000, ge=0, le=600_000)
    pool_timeout: float = Field(default=30.0, gt=0, le=3600)
    """Seconds a unit of work waits for a free pooled connection before `PoolTimeoutError`."""
    replica_urls: Annotated[list[str], NoDecode] = Field(default_factory=list)
    """PostgreSQL read replicas: ``store.session(readonly=True)`` runs on them, round-robin
    (comma-separated in ``SKILLSTORE_REPLICA_URLS``)."""
    replica_max_lag_s: float = Field(default=5.0, ge=0, le=86_400)
    """A replica further behind than this (seconds of replay) is skipped."""
    replica_wait_s: float = Field(default=0.5, ge=0, le=60)
    """How long a session opened with ``after=token`` waits for a replica to replay the
    token before it reads on the primary instead."""
    transaction_pooler: bool = False
    """The URLs reach PostgreSQL through a transaction-mode pooler (PgBouncer): no
    statement caches or named prepared statements that assume one server session."""

    def __repr_args__(self) -> Any:
        # The database URL's password is a secret like the others: never in a repr.
        for name, value in super().__repr_args__():
            if name == "database_url" and isinstance(value, str):
                value = hide_password(value)
            elif name == "replica_urls" and isinstance(value, list):
                value = [hide_password(url) for url in value]
            yield name, value

    @field_validator("encryption_keys", "known_integrations", "replica_urls", mode="before")
    @classmethod
    def _split_commas(cls, value: object) -> object:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value
