from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from skillstore.db.types import utcnow
from skillstore.errors import NotFoundError, ValidationError
from skillstore.models import Schedule, ScheduleRead, ScheduleType, TeamRead
from skillstore.store import Store
from tests.factories import make_agent, make_team, make_workflow


async def new_schedule(store: Store, team: TeamRead, **fields: Any) -> ScheduleRead:
    data: dict[str, Any] = {"type": "cron", "expression": "* * * * *"}
    if "agent_id" not in fields and "workflow_id" not in fields:
        data["agent_id"] = (await make_agent(store, team)).id
    data.update(fields)
    async with store.session(team_id=team.id) as s:
        return await s.schedules.create(data)


async def count_schedules(store: Store) -> int:
    async with store.session() as s:
        return int((await s.execute(sa.select(sa.func.count()).select_from(Schedule))).scalar_one())


async def test_cron_next_run_is_computed_in_the_schedules_timezone(store: Store) -> None:
    team = await make_team(store)
    before = utcnow()
    daily = await new_schedule(store, team, expression="30 9 * * *", timezone="Europe/Berlin")
    assert daily.next_run_at is not None and daily.next_run_at.utcoffset() == timedelta(0)
    local = daily.next_run_at.astimezone(ZoneInfo("Europe/Berlin"))
    assert (local.hour, local.minute) == (9, 30)
    assert before < daily.next_run_at <= before + timedelta(days=1)


async def test_interval_next_run_and_recomputation_on_update(store: Store) -> None:
    team = await make_team(store)
    flow = await make_workflow(store, team)
    before = utcnow()
    every = await new_schedule(
        store, team, agent_id=None, workflow_id=flow.id, type="interval", expression="15m"
    )
    assert every.next_run_at is not None
    assert before + timedelta(minutes=15) <= every.next_run_at <= utcnow() + timedelta(minutes=15)
    async with store.session(team_id=team.id) as s:
        hourly = await s.schedules.update(every.id, {"expression": "2h"})
        renamed = await s.schedules.update(every.id, {"input": {"k": 1}})
    assert hourly.next_run_at is not None and hourly.next_run_at >= before + timedelta(hours=2)
    assert renamed.next_run_at == hourly.next_run_at and renamed.input == {"k": 1}


@pytest.mark.parametrize(
    ("fields", "field", "hint"),
    [
        ({"expression": "61 * * * *"}, "expression", "five fields"),
        ({"expression": "every day"}, "expression", "five fields"),
        ({"type": "interval", "expression": "0"}, "expression", "greater than zero"),
        ({"type": "interval", "expression": "-5"}, "expression", "positive number"),
        ({"timezone": "Mars/Olympus"}, "timezone", "IANA"),
        ({"agent_id": None}, "(model)", "workflow_id or agent_id"),
    ],
)
async def test_bad_schedule_is_refused_and_stores_nothing(
    store: Store, fields: dict[str, Any], field: str, hint: str
) -> None:
    team = await make_team(store)
    before = await count_schedules(store)
    with pytest.raises(ValidationError) as info:
        await new_schedule(store, team, **fields)
    assert [e["field"] for e in info.value.errors] == [field]
    assert hint in str(info.value)
    assert await count_schedules(store) == before


async def test_schedule_cannot_target_another_teams_workflow(store: Store) -> None:
    team, other = await make_team(store), await make_team(store)
    flow = await make_workflow(store, other)
    with pytest.raises(NotFoundError, match="workflow_id"):
        await new_schedule(store, team, agent_id=None, workflow_id=flow.id)


async def test_claim_due_advances_and_leases(store: Store) -> None:
    team = await make_team(store)
    due = await new_schedule(store, team)
    await new_schedule(store, team, enabled=False)
    await new_schedule(store, team, type="interval", expression="1d")
    now = utcnow() + timedelta(minutes=2)
    async with store.session(team_id=team.id) as s:
        claimed = await s.schedules.claim_due(now, lease=timedelta(minutes=10))
        assert [c.id for c in claimed] == [due.id]
        got = claimed[0]
        assert got.last_run_at == now and got.lease_expires_at == now + timedelta(minutes=10)
        assert got.next_run_at is not None and got.next_run_at > now
        assert await s.schedules.claim_due(now) == []
        # Due again, but the lease still holds until released.
        assert await s.schedules.claim_due(got.next_run_at) == []
        await s.schedules.release(due.id)
        assert [c.id for c in await s.schedules.claim_due(got.next_run_at)] == [due.id]


async def test_claim_due_refuses_bad_arguments(store: Store) -> None:
    team = await make_team(store)
    async with store.session(team_id=team.id) as s:
        with pytest.raises(ValidationError, match="limit"):
            await s.schedules.claim_due(limit=0)
        with pytest.raises(ValidationError, match="lease"):
            await s.schedules.claim_due(lease=timedelta(0))


async def test_interval_claim_keeps_phase_and_skips_missed_runs(store: Store) -> None:
    team = await make_team(store)
    every = await new_schedule(store, team, type=ScheduleType.INTERVAL, expression="10m")
    assert every.next_run_at is not None
    async with store.session(team_id=team.id) as s:
        on_time = await s.schedules.claim_due(every.next_run_at + timedelta(seconds=1))
        assert on_time[0].next_run_at == every.next_run_at + timedelta(minutes=10)
        await s.schedules.release(every.id)
        late_now = every.next_run_at + timedelta(hours=5)
        late = await s.schedules.claim_due(late_now)
        assert late[0].next_run_at == late_now + timedelta(minutes=10)


async def test_concurrent_workers_never_claim_a_schedule_twice(committed_store: Store) -> None:
    team = await make_team(committed_store)
    made = [await new_schedule(committed_store, team) for _ in range(12)]
    now = datetime.now(UTC) + timedelta(minutes=5)

    async def worker() -> list[uuid.UUID]:
        mine: list[uuid.UUID] = []
        while True:
            async with committed_store.session(team_id=team.id) as s:
                batch = await s.schedules.claim_due(now, limit=3)
                await asyncio.sleep(0.01)  # hold the claim while others try
            if not batch:
                return mine
            mine += [b.id for b in batch]

    results = await asyncio.gather(*(worker() for _ in range(6)))
    counts = Counter(i for ids in results for i in ids)
    assert set(counts) == {m.id for m in made}
    assert max(counts.values()) == 1
