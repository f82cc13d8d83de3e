"""The limits of ``bench.crud``: the same statements on a bare driver connection.

One SQL text serves both backends: PostgreSQL's ``$n`` placeholders become SQLite's
numbered ``?n``. What differs is how values travel, and `RawDriver` says it once per
backend: SQLite keeps UUIDs as 32-character hex (``CHAR(32)``), timestamps as UTC text
``YYYY-MM-DD HH:MM:SS.ffffff``, arrays and documents as JSON text; PostgreSQL takes
UUIDs, aware datetimes and lists as they are, and JSONB as JSON text. Enums are their
values on both (native ENUM types on PostgreSQL, text under a CHECK on SQLite).

The limit sends what the library sends: a write is ``BEGIN; statements; COMMIT``, a read
is its statement alone (the library runs reads outside a transaction until the first
write). On asyncpg statements are prepared once per connection; on aiosqlite
(``isolation_level=None``) ``execute("BEGIN")``, ``execute_fetchall`` and ``commit()``.
Rows come back as the driver returns them: no conversion, no model, which is what makes
this the limit.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import aiosqlite
import asyncpg
from sqlalchemy.engine import make_url

SQLITE_PRAGMAS = (
    "PRAGMA foreign_keys=ON",
    "PRAGMA busy_timeout=5000",
    "PRAGMA synchronous=NORMAL",
)
"""The connection settings the library's SQLite engine uses that change what a statement
costs (WAL is a property of the file): every side of a comparison gets them."""

AGENT_COLUMNS = (
    "id, team_id, name, slug, tagline, description, avatar_emoji, status, sharing_level, "
    "trigger_type, schedule, skills, integrations, shared_skill_names, custom_skill_names, "
    "disabled_skill_names, personality, model, memory, boundaries, version, created_at, "
    "updated_at, created_by"
)
MEMORY_COLUMNS = (  # `MemoryRead`: everything but the embedding
    "id, team_id, version, agent_id, user_id, memory_type, content, subject, embedding_model, "
    "importance, confidence, is_pinned, source_type, source_conversation_id, "
    "source_message_ids, extraction_model, contradicts, related_to, metadata, tier, status, "
    "expires_at, created_at, updated_at, access_count, last_accessed_at, superseded_by"
)

GET_AGENT = f"SELECT {AGENT_COLUMNS} FROM agent_config WHERE id = $1 AND team_id = $2"
GET_MEMORY = f"SELECT {MEMORY_COLUMNS} FROM memory WHERE id = $1 AND team_id = $2"
FIND_AGENTS = (
    f"SELECT {AGENT_COLUMNS} FROM agent_config WHERE team_id = $1 "
    "ORDER BY created_at DESC, id DESC LIMIT 50"
)
UPDATE_AGENT = (
    "UPDATE agent_config SET tagline = $1, version = version + 1, updated_at = $2 "
    "WHERE id = $3 AND team_id = $4 AND version = $5 RETURNING *"
)
INSERT_MEMORY = (
    "INSERT INTO memory (id, team_id, version, agent_id, memory_type, content, importance, "
    "confidence, is_pinned, source_type, source_message_ids, contradicts, related_to, "
    "metadata, tier, status, created_at, updated_at, embedding_model, embedding) "
    "VALUES ($1, $2, 1, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, "
    "$18, {vector})"
)
"""``{vector}`` is `RawDriver.vector_param` of ``$19``."""
INSERT_MEMORY_LOG = (
    "INSERT INTO memory_log (id, memory_id, team_id, action, new_content, new_importance, "
    "changed_by, details, created_at) VALUES ($1, $2, $3, 'created', $4, $5, $6, $7, $8)"
)
BUMP_CONVERSATION = (
    "UPDATE conversation SET message_count = message_count + 1, "
    "token_count = token_count + $1, last_message_at = $2 "
    "WHERE id = $3 AND team_id = $4 AND status <> 'closed' RETURNING *"
)
INSERT_MESSAGE = (
    "INSERT INTO message (id, team_id, role, content, token_count, created_at, "
    "conversation_id) VALUES ($1, $2, $3, $4, $5, $6, $7)"
)

Statement = tuple[str, Sequence[Any]]


class RawDriver:
    """A bare driver connection to one of the benchmark's databases."""

    async def transaction(self, *statements: Statement) -> list[list[Any]]:
        """``BEGIN; statements…; COMMIT`` and each statement's rows."""
        raise NotImplementedError

    async def read(self, statement: Statement) -> list[Any]:
        """One statement on its own (no transaction block) and its rows."""
        raise NotImplementedError

    async def close(self) -> None:
        raise NotImplementedError

    def uuid(self, value: uuid.UUID) -> Any:
        return value

    def time(self, value: datetime) -> Any:
        return value

    def array(self, values: Sequence[Any]) -> Any:
        return list(values)

    def document(self, value: Any) -> str:
        return json.dumps(value)

    def vector_param(self, placeholder: str) -> str:
        """How a statement takes a vector in ``placeholder``."""
        return placeholder

    def vector(self, values: Sequence[float]) -> Any:
        """A vector as this driver sends it (SQLite: the float32 blob the library stores)."""
        import numpy as np

        return np.asarray(values, dtype="<f4").tobytes()


class PostgresDriver(RawDriver):
    def __init__(self, connection: asyncpg.Connection) -> None:
        self.connection = connection
        self._prepared: dict[str, Any] = {}

    @classmethod
    async def connect(cls, url: str) -> PostgresDriver:
        return cls(await asyncpg.connect(asyncpg_dsn(url)))

    async def _fetch(self, sql: str, args: Sequence[Any]) -> list[Any]:
        prepared = self._prepared.get(sql)
        if prepared is None:
            prepared = self._prepared[sql] = await self.connection.prepare(sql)
        return list(await prepared.fetch(*args))

    async def read(self, statement: Statement) -> list[Any]:
        return await self._fetch(*statement)

    async def transaction(self, *statements: Statement) -> list[list[Any]]:
        conn = self.connection
        await conn.execute("BEGIN")
        try:
            out = [await self._fetch(sql, args) for sql, args in statements]
        except BaseException:
            await conn.execute("ROLLBACK")
            raise
        await conn.execute("COMMIT")
        return out

    async def close(self) -> None:
        await self.connection.close()

    def vector_param(self, placeholder: str) -> str:
        return f"CAST({placeholder}::text AS vector)"  # pgvector's text form, no codec

    def vector(self, values: Sequence[float]) -> Any:
        return "[" + ",".join(repr(float(v)) for v in values) + "]"


class SqliteDriver(RawDriver):
    def __init__(self, connection: aiosqlite.Connection) -> None:
        self.connection = connection
        self._sql: dict[str, str] = {}

    @classmethod
    async def connect(cls, url: str) -> SqliteDriver:
        conn = await aiosqlite.connect(make_url(url).database or "", isolation_level=None)
        for pragma in SQLITE_PRAGMAS:
            await conn.execute(pragma)
        return cls(conn)

    async def _fetch(self, sql: str, args: Sequence[Any]) -> list[Any]:
        text = self._sql.get(sql)
        if text is None:
            text = self._sql[sql] = sql.replace("$", "?")
        return list(await self.connection.execute_fetchall(text, args))

    async def read(self, statement: Statement) -> list[Any]:
        return await self._fetch(*statement)

    async def transaction(self, *statements: Statement) -> list[list[Any]]:
        conn = self.connection
        await conn.execute("BEGIN")
        try:
            out = [await self._fetch(sql, args) for sql, args in statements]
        except BaseException:
            await conn.rollback()
            raise
        await conn.commit()
        return out

    async def close(self) -> None:
        await self.connection.close()

    def uuid(self, value: uuid.UUID) -> Any:
        return value.hex

    def time(self, value: datetime) -> Any:
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")

    def array(self, values: Sequence[Any]) -> Any:
        return json.dumps([str(v) for v in values])


async def connect(url: str) -> RawDriver:
    """A bare connection to the database of a SQLAlchemy ``url``."""
    if make_url(url).get_backend_name() == "sqlite":
        return await SqliteDriver.connect(url)
    return await PostgresDriver.connect(url)


def asyncpg_dsn(url: str) -> str:
    """The libpq-style DSN asyncpg takes for a ``postgresql+asyncpg://`` URL."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
