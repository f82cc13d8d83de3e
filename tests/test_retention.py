from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import sqlalchemy as sa

from skillstore.db.base import table_of
from skillstore.db.types import utcnow
from skillstore.models import AuditLog, RetentionPolicy
from skillstore.store import Store
from tests.factories import make_agent, make_team


async def test_four_workers_erase_old_rows_exactly_once(committed_store: Store) -> None:
    store = committed_store
    team = await make_team(store)
    agent = await make_agent(store, team)
    old, new = utcnow() - timedelta(days=40), utcnow()
    async with store.session(team_id=team.id) as s:
        await s.execute(
            sa.insert(table_of(RetentionPolicy)).values(
                id=uuid.uuid4(), team_id=team.id, agent_logs_days=30, audit_days=30
            )
        )
        for when in [old] * 7 + [new] * 3:
            await s.agent_logs.create(
                {"agent_id": agent.id, "message": "secret-log-line", "created_at": when}
            )
        for when in [old] * 5 + [new] * 2:
            await s.execute(
                sa.insert(table_of(AuditLog)).values(
                    id=uuid.uuid4(),
                    event_type="user.login",
                    action="login",
                    team_id=team.id,
                    ip_address="198.51.100.9",
                    details={"k": "v"},
                    timestamp=when,
                )
            )
    audit = table_of(AuditLog)
    mine = sa.select(audit).where(audit.c.team_id == team.id)
    async with store.session() as s:
        before = len((await s.execute(mine)).all())
    runs = await asyncio.gather(*(store.apply_retention(batch_size=2) for _ in range(4)))
    assert sum(r.get("agent_log", 0) for r in runs) == 7
    assert sum(r.get("audit_log", 0) for r in runs) == 5
    assert await store.apply_retention() == {}  # idempotent
    async with store.session(team_id=team.id) as s:
        assert await s.agent_logs.count() == 3
        rows = (await s.execute(mine)).all()
        assert len(rows) == before  # the trail keeps its count
        assert sum(r.erasure_id is not None for r in rows) == 5
