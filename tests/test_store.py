"""Store-level behaviour: opening, dialect set-up, concurrent upgrades, key rotation."""

from __future__ import annotations

import asyncio
import sys
import uuid
from asyncio.subprocess import PIPE
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.fernet import Fernet

from skillstore import _migrate
from skillstore.db.base import table_of
from skillstore.errors import (
    BackendNotSupportedError,
    CredentialError,
    DatabaseError,
    ValidationError,
)
from skillstore.models import Team, TeamMembership
from skillstore.settings import StoreSettings
from skillstore.store import Store
from tests.backends import Backend, store_settings
from tests.factories import make_team


async def test_open_refuses_unsupported_and_unreachable_databases() -> None:
    with pytest.raises(BackendNotSupportedError, match="mysql"):
        await Store.open("mysql://u@h/db")
    with pytest.raises(DatabaseError, match="cannot connect"):
        await Store.open("postgresql+asyncpg://u:pw@127.0.0.1:1/db")
    settings = StoreSettings(database_url="postgresql+asyncpg://u:secret-pw@127.0.0.1:1/db")
    with pytest.raises(ValidationError, match=r"settings=") as refused:
        await Store.open(settings)  # type: ignore[arg-type]
    assert "secret-pw" not in str(refused.value)


async def test_dialect_names_the_backend(store: Store, backend: Backend) -> None:
    assert store.dialect == {"sqlite": "sqlite", "postgres": "postgresql"}[backend.name]


async def test_foreign_keys_are_enforced(store: Store) -> None:
    team = await make_team(store)
    insert = sa.insert(TeamMembership).values(
        id=uuid.uuid4(), user_id=uuid.uuid4(), team_id=team.id, role="member"
    )
    async with store.session() as s:
        with pytest.raises(ValidationError, match="referenced row does not exist"):
            await s.execute(insert)


async def test_sqlite_connections_use_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    sqlite = await Store.open(f"sqlite+aiosqlite:///{tmp_path / 'p.db'}")
    async with sqlite.engine.connect() as connection:
        assert (await connection.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
        assert (await connection.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
        assert (await connection.exec_driver_sql("PRAGMA busy_timeout")).scalar() == 5000
    await sqlite.close()


async def test_replicas_upgrading_at_once_serialise(backend: Backend) -> None:
    url = await backend.empty_url()
    command = [sys.executable, "-m", "skillstore.cli", "db", "upgrade", "--url", url]
    replicas = [
        await asyncio.create_subprocess_exec(*command, stdout=PIPE, stderr=PIPE) for _ in range(3)
    ]
    outputs = await asyncio.gather(*(r.communicate() for r in replicas))
    assert [r.returncode for r in replicas] == [0, 0, 0], [err.decode() for _, err in outputs]
    store = await Store.open(settings=store_settings(url))
    try:
        assert await _migrate.current(store.settings) == _migrate.head()
        assert await _migrate.check(store.settings) == []
    finally:
        await store.close()


async def test_upgrades_in_one_process_do_not_interleave(backend: Backend) -> None:
    url = await backend.empty_url()
    stores = [await Store.open(settings=store_settings(url)) for _ in range(3)]
    try:
        await asyncio.gather(*(s.upgrade() for s in stores))
        assert await _migrate.current(stores[0].settings) == _migrate.head()
    finally:
        for s in stores:
            await s.close()


async def test_rotate_keys_reencrypts_every_secret_and_is_rerunnable(backend: Backend) -> None:
    url = await backend.empty_url()
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    first = await Store.open(settings=store_settings(url, encryption_keys=[old]))
    await first.upgrade()
    teams = [await make_team(first, webhook_secret=f"secret-{i}") for i in range(5)]
    await make_team(first)  # no secret: nothing to rotate
    await first.close()

    both = await Store.open(settings=store_settings(url, encryption_keys=[new, old]))
    progress: list[tuple[int, int]] = []
    assert (
        await both.rotate_keys(batch_size=2, on_progress=lambda d, t: progress.append((d, t))) == 5
    )
    assert progress[-1] == (5, 5)
    assert await both.rotate_keys() == 0
    await both.close()

    only_new = await Store.open(settings=store_settings(url, encryption_keys=[new]))
    only_old = await Store.open(settings=store_settings(url, encryption_keys=[old]))
    try:
        async with only_new.session() as s:
            rows = (await s.execute(sa.select(table_of(Team)).order_by(sa.text("name")))).all()
        secrets = {
            only_new.cipher.decrypt(r.webhook_secret_ciphertext)
            for r in rows
            if r.webhook_secret_ciphertext is not None
        }
        assert secrets == {f"secret-{i}" for i in range(len(teams))}
        assert {r.webhook_secret_key_version for r in rows} == {
            only_new.cipher.primary_version,
            None,
        }
        with pytest.raises(CredentialError, match="none of the configured encryption keys"):
            only_old.cipher.decrypt(
                rows[0].webhook_secret_ciphertext or rows[1].webhook_secret_ciphertext
            )
    finally:
        await only_new.close()
        await only_old.close()
