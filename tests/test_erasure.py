from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import make_url

from skillstore.db.base import metadata
from skillstore.errors import AppendOnlyError
from skillstore.models import MemoryType, load_all
from skillstore.store import Store
from tests.backends import TEST_DIMENSIONS
from tests.factories import make_agent, make_team, make_user

SSN = "SSN-078-05-1120-alice"
IP = "203.0.113.77"
PROFILE = "allergic-to-penicillin-zz9"
VEC = [1.0] + [0.0] * (TEST_DIMENSIONS - 1)


async def scan(store: Store, needles: list[str]) -> list[str]:
    """Every table row (as text) and, on SQLite, the database file and WAL, searched."""
    load_all()
    hits: list[str] = []
    async with store.session() as s:
        for table in metadata.sorted_tables:
            rows = (await s.execute(sa.select(table))).all()
            for row in rows:
                text = " ".join(str(v) for v in row)
                hits += [f"{table.name}: {n}" for n in needles if n in text]
    if store.dialect == "sqlite":
        await store.checkpoint()
        path = Path(make_url(store.settings.database_url).database or "")
        for file in (path, Path(f"{path}-wal")):
            if file.exists():
                data = file.read_bytes()
                hits += [f"{file.name}: {n}" for n in needles if n.encode() in data]
    return hits


async def personal_data(store: Store) -> tuple[uuid.UUID, uuid.UUID, str]:
    user = await make_user(store, email=f"alice-{uuid.uuid4().hex[:6]}@example.com")
    team = await make_team(store, owner=user)
    agent = await make_agent(store, team, author=user.id)
    async with store.session(team_id=team.id) as s:
        kept = await s.memories.add(
            {
                "content": f"{SSN} kept",
                "memory_type": MemoryType.SEMANTIC,
                "user_id": user.id,
                "embedding": VEC,
            }
        )
        gone = await s.memories.add(
            {
                "content": f"{SSN} deleted",
                "memory_type": MemoryType.SEMANTIC,
                "user_id": user.id,
                "embedding": VEC,
            }
        )
        await s.memories.delete(gone.id)
        await s.memories.update(kept.id, {"importance": 7})
        await s.audit.record(
            "user.login", action="login", user_id=user.id, ip_address=IP, details={"ssn": SSN}
        )
        client = await s.clients.create({"name": "C"})
        await s.clients.append_profile(client.id, {"data": {"note": PROFILE}})
        del agent
    return user.id, team.id, user.email


async def test_user_erasure_leaves_no_readable_byte_and_keeps_the_chain(
    committed_store: Store,
) -> None:
    store = committed_store
    user_id, team_id, email = await personal_data(store)
    async with store.session(team_id=team_id) as s:
        events_before = len(await s.audit.find(limit=1000))
    assert await scan(store, [SSN, email, IP])
    async with store.session() as s:
        erased = await s.users.erase(user_id)
    assert erased.counts["memory_log"]["redacted"] >= 3
    assert await scan(store, [SSN, email, IP]) == []
    async with store.session(team_id=team_id) as s:
        assert len(await s.audit.find(limit=1000)) == events_before
        logs = (await s.execute(sa.text("SELECT count(*) FROM memory_log"))).scalar_one()
        assert logs >= 4  # created, created, deleted, updated: every event survives
        tombstone = await s.users.get(user_id)
        assert tombstone is not None and not tombstone.is_active
        assert await s.agents.count() == 1  # the authored agent stays
        with pytest.raises(AppendOnlyError):  # outside an erasure, history is still fixed
            await s.execute(sa.text("UPDATE memory_log SET reason = NULL"))
        with pytest.raises(AppendOnlyError):
            await s.execute(sa.text("UPDATE erasure SET reason = 'x'"))


async def test_team_erasure_deletes_what_it_owns_in_one_unit(committed_store: Store) -> None:
    store = committed_store
    _, team_id, _ = await personal_data(store)
    erased = await store.erase_team(team_id)
    assert erased.counts["client_profile_entry"] == {"redacted": 1, "deleted": 1}
    assert await scan(store, [SSN, PROFILE, IP]) == []
    async with store.session() as s:
        assert await s.teams.get(team_id) is None
        left = (await s.execute(sa.text("SELECT count(*) FROM memory_log"))).scalar_one()
        assert left >= 4


async def test_deleting_a_team_with_client_history_succeeds(committed_store: Store) -> None:
    _, team_id, _ = await personal_data(committed_store)
    async with committed_store.session() as s:
        assert await s.teams.delete(team_id) is True
        assert await s.teams.delete(team_id) is False


async def test_a_raw_redaction_without_an_open_erasure_is_refused(committed_store: Store) -> None:
    await personal_data(committed_store)
    async with committed_store.session() as s:
        with pytest.raises(AppendOnlyError):
            await s.execute(sa.text("UPDATE audit_log SET details = '{}', ip_address = NULL"))
        with pytest.raises(AppendOnlyError):
            await s.execute(sa.text("DELETE FROM client_profile_entry"))
