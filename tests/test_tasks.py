from __future__ import annotations

import asyncio
import uuid

import pytest

from skillstore.errors import (
    ConcurrentUpdateError,
    InvalidTransitionError,
    NotFoundError,
    TenantRequiredError,
    ValidationError,
)
from skillstore.models import (
    TASK_TRANSITIONS,
    Escalation,
    Task,
    TaskArtifact,
    TaskCreate,
    TaskRead,
    TaskStatus,
)
from skillstore.store import Store
from tests.factories import count_rows, make_agent, make_team, make_user


async def new_task(store: Store, team_id: uuid.UUID, **fields: object) -> TaskRead:
    async with store.session(team_id=team_id) as s:
        return await s.tasks.create({"title": "Write report", **fields})


async def test_task_is_created_pending_with_its_fields(store: Store) -> None:
    team = await make_team(store)
    agent_id = (await make_agent(store, team)).id
    task = await new_task(store, team.id, agent_id=agent_id, priority=5, input={"q": "x"})
    assert (task.status, task.version, task.priority) == (TaskStatus.PENDING, 1, 5)
    assert task.agent_id == agent_id and task.input == {"q": "x"} and task.completed_at is None
    async with store.session(team_id=team.id) as s:
        assert await s.tasks.find(status=TaskStatus.PENDING) == [task]
        assert await s.tasks.find(status="completed") == []


async def test_legal_transitions_stamp_completion_and_output(store: Store) -> None:
    team = await make_team(store)
    task = await new_task(store, team.id)
    async with store.session(team_id=team.id) as s:
        started = await s.tasks.transition(task.id, "in_progress")
        done = await s.tasks.transition(task.id, TaskStatus.COMPLETED, output={"answer": 42})
    assert (started.status, started.version, started.completed_at) == (
        TaskStatus.IN_PROGRESS,
        2,
        None,
    )
    assert done.status is TaskStatus.COMPLETED and done.version == 3
    assert done.output == {"answer": 42} and done.completed_at is not None


async def test_failed_task_requeued_clears_completion(store: Store) -> None:
    team = await make_team(store)
    task = await new_task(store, team.id, status="in_progress")
    async with store.session(team_id=team.id) as s:
        failed = await s.tasks.transition(task.id, "failed")
        again = await s.tasks.transition(task.id, "pending")
    assert failed.completed_at is not None and again.completed_at is None


@pytest.mark.parametrize(
    ("path", "illegal"),
    [
        ([TaskStatus.IN_PROGRESS, TaskStatus.COMPLETED], TaskStatus.IN_PROGRESS),
        ([TaskStatus.CANCELLED], TaskStatus.PENDING),
        ([], TaskStatus.COMPLETED),
    ],
)
async def test_illegal_transition_names_both_states_and_changes_nothing(
    store: Store, path: list[TaskStatus], illegal: TaskStatus
) -> None:
    team = await make_team(store)
    task = await new_task(store, team.id)
    async with store.session(team_id=team.id) as s:
        for status in path:
            task = await s.tasks.transition(task.id, status)
        with pytest.raises(InvalidTransitionError) as info:
            await s.tasks.transition(task.id, illegal)
        assert await s.tasks.get(task.id) == task
    assert f"from {task.status.value} to {illegal.value}" in str(info.value)


def test_every_status_has_transition_rules() -> None:
    assert set(TASK_TRANSITIONS) == set(TaskStatus)
    assert not TASK_TRANSITIONS[TaskStatus.COMPLETED]


async def test_unknown_status_is_refused_and_nothing_stored(store: Store) -> None:
    team = await make_team(store)
    task = await new_task(store, team.id)
    before = await count_rows(store, Task)
    async with store.session(team_id=team.id) as s:
        with pytest.raises(ValidationError, match=r"unknown task status 'done'.*in_progress"):
            await s.tasks.transition(task.id, "done")
        with pytest.raises(ValidationError, match="status"):
            await s.tasks.create({"title": "t", "status": "done"})
        with pytest.raises(ValidationError, match=r"tasks\.transition"):
            await s.tasks.create({"title": "t", "status": "completed"})
        assert await s.tasks.get(task.id) == task
    assert await count_rows(store, Task) == before


async def test_status_cannot_be_patched(store: Store) -> None:
    team = await make_team(store)
    task = await new_task(store, team.id)
    async with store.session(team_id=team.id) as s:
        with pytest.raises(ValidationError, match=r"tasks\.transition"):
            await s.tasks.update(task.id, {"status": "completed"})
        patched = await s.tasks.update(task.id, {"title": "Renamed", "priority": 1})
    assert (patched.title, patched.priority, patched.status) == ("Renamed", 1, TaskStatus.PENDING)


async def test_bad_task_fields_are_refused(store: Store) -> None:
    team = await make_team(store)
    before = await count_rows(store, Task)
    async with store.session(team_id=team.id) as s:
        for bad in ({"priority": 6}, {"priority": 0}, {"title": ""}):
            with pytest.raises(ValidationError, match=next(iter(bad))):
                await s.tasks.create({"title": "t", **bad})
    assert await count_rows(store, Task) == before


async def test_stale_version_is_refused(store: Store) -> None:
    team = await make_team(store)
    task = await new_task(store, team.id)
    async with store.session(team_id=team.id) as s:
        await s.tasks.transition(task.id, "in_progress", expected_version=1)
        with pytest.raises(ConcurrentUpdateError, match="version 2, not 1"):
            await s.tasks.transition(task.id, "completed", expected_version=1)
        current = await s.tasks.get(task.id)
    assert current is not None and current.status is TaskStatus.IN_PROGRESS


async def test_concurrent_transitions_let_exactly_one_win(committed_store: Store) -> None:
    team = await make_team(committed_store)
    task = await new_task(committed_store, team.id, status="in_progress")

    async def finish(status: TaskStatus) -> TaskRead:
        async with committed_store.session(team_id=team.id) as s:
            return await s.tasks.transition(task.id, status)

    results = await asyncio.gather(
        finish(TaskStatus.COMPLETED), finish(TaskStatus.FAILED), return_exceptions=True
    )
    winners = [r for r in results if isinstance(r, TaskRead)]
    losers = [r for r in results if not isinstance(r, TaskRead)]
    assert len(winners) == 1 and len(losers) == 1
    assert isinstance(losers[0], ConcurrentUpdateError | InvalidTransitionError)
    async with committed_store.session(team_id=team.id) as s:
        final = await s.tasks.get(task.id)
    assert final is not None and final.status is winners[0].status and final.version == 2


async def test_tasks_are_tenant_scoped(store: Store) -> None:
    team, other = await make_team(store), await make_team(store)
    task = await new_task(store, team.id)
    async with store.session(team_id=other.id) as s:
        assert await s.tasks.get(task.id) is None
        with pytest.raises(NotFoundError):
            await s.tasks.transition(task.id, "in_progress")
    async with store.session() as s:
        with pytest.raises(TenantRequiredError):
            _ = s.tasks


async def test_task_client_must_be_in_the_team(store: Store) -> None:
    team, other = await make_team(store), await make_team(store)
    async with store.session(team_id=other.id) as s:
        foreign = await s.clients.create({"name": "Other's client"})
    before = await count_rows(store, Task)
    with pytest.raises(NotFoundError, match="client_id"):
        await new_task(store, team.id, client_id=foreign.id)
    assert await count_rows(store, Task) == before
    async with store.session(team_id=team.id) as s:
        mine = await s.clients.create({"name": "Mine"})
    assert (await new_task(store, team.id, client_id=mine.id)).client_id == mine.id


async def test_escalation_is_opened_and_resolved_once(store: Store) -> None:
    team = await make_team(store)
    person = await make_user(store)
    task = await new_task(store, team.id)
    async with store.session(team_id=team.id) as s:
        esc = await s.escalations.create(
            {
                "task_id": task.id,
                "reason": "needs approval",
                "escalated_to": "billing",
                "assignee_id": person.id,
            }
        )
        assert [e.id for e in await s.escalations.open_for(task.id)] == [esc.id]
        resolved = await s.escalations.resolve(esc.id, resolution="approved")
        assert resolved.resolved_at is not None and resolved.resolution == "approved"
        assert await s.escalations.open_for(task.id) == []
        with pytest.raises(InvalidTransitionError, match="already resolved"):
            await s.escalations.resolve(esc.id)


async def test_escalation_of_missing_task_stores_nothing(store: Store) -> None:
    team = await make_team(store)
    before = await count_rows(store, Escalation)
    async with store.session(team_id=team.id) as s:
        with pytest.raises(NotFoundError, match="task_id"):
            await s.escalations.create(
                {"task_id": uuid.uuid4(), "reason": "r", "escalated_to": "ops"}
            )
    assert await count_rows(store, Escalation) == before


async def test_artifact_needs_uri_or_content(store: Store) -> None:
    team = await make_team(store)
    task = await new_task(store, team.id)
    before = await count_rows(store, TaskArtifact)
    async with store.session(team_id=team.id) as s:
        with pytest.raises(ValidationError, match="uri or content"):
            await s.artifacts.create({"task_id": task.id, "kind": "report"})
        art = await s.artifacts.create(
            {"task_id": task.id, "kind": "report", "uri": "s3://b/r.pdf", "meta": {"pages": 3}}
        )
        with pytest.raises(ValidationError, match="uri or content"):
            await s.artifacts.update(art.id, {"uri": None})
    assert art.meta == {"pages": 3}
    assert await count_rows(store, TaskArtifact) == before + 1


async def test_deleting_a_task_removes_its_escalations_and_artifacts(store: Store) -> None:
    team = await make_team(store)
    task = await new_task(store, team.id)
    async with store.session(team_id=team.id) as s:
        await s.escalations.create({"task_id": task.id, "reason": "r", "escalated_to": "ops"})
        await s.artifacts.create({"task_id": task.id, "kind": "note", "content": "hi"})
        assert await s.tasks.delete(task.id)
        assert await s.escalations.count(task_id=task.id) == 0
        assert await s.artifacts.count(task_id=task.id) == 0


def test_task_create_defaults() -> None:
    data = TaskCreate(title="t")
    assert (data.status, data.priority, data.input) == (TaskStatus.PENDING, 3, {})
