from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from skillstore.db.base import table_of
from skillstore.db.types import utcnow
from skillstore.errors import (
    ConcurrentUpdateError,
    InvalidTransitionError,
    NotFoundError,
    ValidationError,
)
from skillstore.models import (
    AgentConfigRead,
    Execution,
    ExecutionRead,
    ExecutionStatus,
    TeamRead,
    TriggerType,
)
from skillstore.models.execution import ALLOWED_TRANSITIONS
from skillstore.store import Store
from tests.factories import count_rows, make_agent, make_team, make_workflow

S = ExecutionStatus

# The moves the issue and seed 001 call for, written out independently of the code's table.
LEGAL = {
    (S.PENDING, S.QUEUED),
    (S.PENDING, S.RUNNING),
    (S.PENDING, S.CANCELLED),
    (S.QUEUED, S.RUNNING),
    (S.QUEUED, S.CANCELLED),
    (S.QUEUED, S.TIMED_OUT),
    (S.RUNNING, S.PAUSED),
    (S.RUNNING, S.COMPLETED),
    (S.RUNNING, S.FAILED),
    (S.RUNNING, S.CANCELLED),
    (S.RUNNING, S.TIMED_OUT),
    (S.PAUSED, S.RUNNING),
    (S.PAUSED, S.CANCELLED),
    (S.PAUSED, S.TIMED_OUT),
    (S.FAILED, S.RETRYING),
    (S.RETRYING, S.RUNNING),
    (S.RETRYING, S.CANCELLED),
}

# A way to reach each status from ``pending``.
PATH = {
    S.PENDING: [],
    S.QUEUED: [S.QUEUED],
    S.RUNNING: [S.RUNNING],
    S.PAUSED: [S.RUNNING, S.PAUSED],
    S.COMPLETED: [S.RUNNING, S.COMPLETED],
    S.FAILED: [S.RUNNING, S.FAILED],
    S.CANCELLED: [S.CANCELLED],
    S.RETRYING: [S.RUNNING, S.FAILED, S.RETRYING],
    S.TIMED_OUT: [S.RUNNING, S.TIMED_OUT],
}


async def setup(store: Store) -> tuple[TeamRead, AgentConfigRead]:
    team = await make_team(store)
    return team, await make_agent(store, team)


async def execution_at(store: Store, status: ExecutionStatus) -> ExecutionRead:
    team, agent = await setup(store)
    async with store.session(team_id=team.id) as s:
        execution = await s.executions.create({"agent_id": agent.id, "input": {"q": "hi"}})
        for step in PATH[status]:
            execution = await s.executions.transition(execution.id, step)
    assert execution.status is status
    return execution


def test_the_state_machine_is_exactly_the_specified_one() -> None:
    table = {(a, b) for a, targets in ALLOWED_TRANSITIONS.items() for b in targets}
    assert table == LEGAL
    assert set(ALLOWED_TRANSITIONS) == set(ExecutionStatus)
    assert not ALLOWED_TRANSITIONS[S.COMPLETED] | ALLOWED_TRANSITIONS[S.CANCELLED]
    assert not ALLOWED_TRANSITIONS[S.TIMED_OUT]


async def test_create_starts_pending_with_defaults(store: Store) -> None:
    team, agent = await setup(store)
    flow = await make_workflow(store, team)
    async with store.session(team_id=team.id) as s:
        created = await s.executions.create({"agent_id": agent.id, "trigger_type": "webhook"})
        workflow_only = await s.executions.create({"workflow_id": flow.id})
        assert await s.executions.get(created.id) == created
    assert (created.status, created.mode, created.trigger_type) == (
        S.PENDING,
        "manual",
        TriggerType.WEBHOOK,
    )
    assert (created.input, created.node_logs, created.output, created.error) == ({}, [], None, None)
    assert created.started_at is None and created.finished_at is None and created.version == 1
    assert workflow_only.agent_id is None


async def test_bad_executions_are_refused_and_nothing_stored(store: Store) -> None:
    team, _ = await setup(store)
    foreign = await make_agent(store, await make_team(store))
    before = await count_rows(store, Execution)
    async with store.session(team_id=team.id) as s:
        with pytest.raises(ValidationError, match="agent_id, a workflow_id or both"):
            await s.executions.create({"input": {}})
        with pytest.raises(NotFoundError, match="agent_id"):
            await s.executions.create({"agent_id": foreign.id})
        with pytest.raises(ValidationError, match="input_tokens"):
            await s.executions.create({"workflow_id": uuid.uuid4(), "input_tokens": -1})
        with pytest.raises(ValidationError, match="trigger_type"):
            await s.executions.create({"workflow_id": uuid.uuid4(), "trigger_type": "telepathy"})
    assert await count_rows(store, Execution) == before


@pytest.mark.parametrize(("source", "target"), sorted(LEGAL))
async def test_every_legal_transition_is_applied(
    store: Store, source: ExecutionStatus, target: ExecutionStatus
) -> None:
    execution = await execution_at(store, source)
    async with store.session(team_id=execution.team_id) as s:
        moved = await s.executions.transition(execution.id, target.value)
        assert await s.executions.get(execution.id) == moved
    assert moved.status is target and moved.version == execution.version + 1


@pytest.mark.parametrize(
    ("source", "target"),
    [
        (S.COMPLETED, S.RUNNING),
        (S.CANCELLED, S.RUNNING),
        (S.TIMED_OUT, S.RETRYING),
        (S.FAILED, S.COMPLETED),
        (S.PENDING, S.COMPLETED),
        (S.PENDING, S.PAUSED),
        (S.PAUSED, S.COMPLETED),
        (S.QUEUED, S.FAILED),
        (S.RETRYING, S.COMPLETED),
        (S.RUNNING, S.RUNNING),
    ],
)
async def test_illegal_transitions_name_both_states_and_change_nothing(
    store: Store, source: ExecutionStatus, target: ExecutionStatus
) -> None:
    execution = await execution_at(store, source)
    async with store.session(team_id=execution.team_id) as s:
        with pytest.raises(InvalidTransitionError) as info:
            await s.executions.transition(execution.id, target)
        assert await s.executions.get(execution.id) == execution
    message = str(info.value)
    assert f"from {source.value} to {target.value}" in message
    assert f"allowed from {source.value}:" in message


async def test_transition_stamps_times_duration_output_and_error(store: Store) -> None:
    execution = await execution_at(store, S.PENDING)
    async with store.session(team_id=execution.team_id) as s:
        running = await s.executions.transition(execution.id, S.RUNNING)
        assert running.started_at is not None and running.finished_at is None
        paused = await s.executions.transition(execution.id, S.PAUSED)
        resumed = await s.executions.transition(execution.id, S.RUNNING)
        assert paused.started_at == resumed.started_at == running.started_at
        failed = await s.executions.transition(execution.id, S.FAILED, error="tool timed out")
        assert failed.finished_at is not None and failed.duration_ms is not None
        expected = (failed.finished_at - running.started_at) / timedelta(milliseconds=1)
        assert failed.duration_ms == int(expected) and failed.error == "tool timed out"
        retrying = await s.executions.transition(execution.id, S.RETRYING)
        assert retrying.finished_at is None and retrying.duration_ms is None
        await s.executions.transition(execution.id, S.RUNNING)
        done = await s.executions.transition(execution.id, S.COMPLETED, output={"answer": 42})
    assert done.output == {"answer": 42} and done.started_at == running.started_at
    assert done.finished_at is not None and done.finished_at >= failed.finished_at
    assert done.duration_ms is not None and done.duration_ms >= failed.duration_ms


async def test_cancelling_before_start_has_no_duration(store: Store) -> None:
    execution = await execution_at(store, S.PENDING)
    async with store.session(team_id=execution.team_id) as s:
        cancelled = await s.executions.transition(execution.id, "cancelled")
    assert cancelled.finished_at is not None and cancelled.duration_ms is None


async def test_unknown_status_and_other_teams_execution_are_refused(store: Store) -> None:
    execution = await execution_at(store, S.PENDING)
    async with store.session(team_id=execution.team_id) as s:
        with pytest.raises(ValidationError, match=r"unknown execution status 'done'.*completed"):
            await s.executions.transition(execution.id, "done")
    other = await make_team(store)
    async with store.session(team_id=other.id) as s:
        with pytest.raises(NotFoundError):
            await s.executions.transition(execution.id, S.RUNNING)


async def test_progress_and_usage_update_without_touching_the_status(store: Store) -> None:
    execution = await execution_at(store, S.RUNNING)
    async with store.session(team_id=execution.team_id) as s:
        updated = await s.executions.update(
            execution.id,
            {"node_logs": [{"node": "search", "ok": True}], "input_tokens": 120, "cost_usd": 0.01},
        )
        with pytest.raises(ValidationError, match="output_tokens"):
            await s.executions.update(execution.id, {"output_tokens": -5})
    assert updated.node_logs == [{"node": "search", "ok": True}]
    assert (updated.input_tokens, updated.output_tokens, updated.cost_usd) == (120, 0, 0.01)
    assert updated.status is S.RUNNING and updated.version == execution.version + 1


async def test_two_workers_cannot_both_move_an_execution(committed_store: Store) -> None:
    execution = await execution_at(committed_store, S.RUNNING)

    async def move(target: ExecutionStatus) -> ExecutionRead:
        async with committed_store.session(team_id=execution.team_id) as s:
            return await s.executions.transition(execution.id, target)

    results = await asyncio.gather(move(S.COMPLETED), move(S.FAILED), return_exceptions=True)
    winners = [r for r in results if isinstance(r, ExecutionRead)]
    losers = [r for r in results if isinstance(r, BaseException)]
    assert len(winners) == 1 and len(losers) == 1, results
    # Whoever reads after the winner committed sees a final state; whoever read before loses
    # the version race. Either way the loser changed nothing.
    assert isinstance(losers[0], ConcurrentUpdateError | InvalidTransitionError)
    async with committed_store.session(team_id=execution.team_id) as s:
        final = await s.executions.get(execution.id)
    assert final == winners[0] and final.version == execution.version + 1


async def test_pages_are_newest_first_and_cover_every_row_once(store: Store) -> None:
    team, agent = await setup(store)
    other_agent = await make_agent(store, team)
    same_moment = utcnow()
    async with store.session(team_id=team.id) as s:
        for i in range(7):
            made = await s.executions.create({"agent_id": agent.id, "input": {"i": i}})
            if i % 2:  # Four share one created_at, so the id must break the tie.
                table = table_of(Execution)
                await s.execute(
                    sa.update(table).where(table.c.id == made.id).values(created_at=same_moment)
                )
        await s.executions.create({"agent_id": other_agent.id})
        expected = await s.executions.find(agent_id=agent.id)
        seen: list[ExecutionRead] = []
        cursor: str | None = None
        pages = 0
        while True:
            page = await s.executions.page(agent_id=agent.id, limit=3, after=cursor)
            seen.extend(page.items)
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break
    assert len(expected) == 7 and pages == 3
    assert [e.id for e in seen] == [e.id for e in expected]
    keys = [(e.created_at, e.id.hex) for e in seen]
    assert keys == sorted(keys, reverse=True)


async def test_pages_filter_by_status_and_workflow(store: Store) -> None:
    team, agent = await setup(store)
    workflow = (await make_workflow(store, team)).id
    async with store.session(team_id=team.id) as s:
        running = await s.executions.create({"agent_id": agent.id})
        running = await s.executions.transition(running.id, S.RUNNING)
        queued = await s.executions.create({"workflow_id": workflow})
        queued = await s.executions.transition(queued.id, S.QUEUED)
        await s.executions.create({"agent_id": agent.id})
        assert (await s.executions.page(status=S.RUNNING)).items == [running]
        both = await s.executions.page(status=[S.RUNNING, S.QUEUED])
        assert [e.id for e in both.items] == [queued.id, running.id]
        assert (await s.executions.page(workflow_id=workflow)).items == [queued]
        assert (await s.executions.page(agent_id=uuid.uuid4())).items == []
        with pytest.raises(ValidationError, match="next_cursor"):
            await s.executions.page(after="not-a-cursor")
        with pytest.raises(ValidationError, match="limit"):
            await s.executions.page(limit=0)


async def test_deleting_an_agent_deletes_its_executions(store: Store) -> None:
    execution = await execution_at(store, S.RUNNING)
    assert execution.agent_id is not None
    async with store.session(team_id=execution.team_id) as s:
        assert await s.agents.delete(execution.agent_id)
        assert await s.executions.get(execution.id) is None
