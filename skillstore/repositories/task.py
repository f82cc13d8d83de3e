"""Tasks (with their status state machine), escalations and task artifacts.

A status change is one guarded UPDATE like every other edit (``WHERE version = :read``),
so two agents finishing the same task at once cannot both win: the loser gets
`ConcurrentUpdateError` and, on re-reading, sees the task already final. Escalating a
task and recording the escalation are separate calls on purpose: a task may be
escalated more than once, and an escalation may be logged without parking the task.
"""

from __future__ import annotations

import uuid
from typing import Any

from skillstore.db.states import check_transition
from skillstore.db.types import utcnow
from skillstore.errors import ConcurrentUpdateError, InvalidTransitionError, ValidationError
from skillstore.models.agent import AgentConfig
from skillstore.models.client import Client
from skillstore.models.task import (
    FINISHED,
    TASK_TRANSITIONS,
    Escalation,
    EscalationBase,
    EscalationCreate,
    EscalationRead,
    EscalationUpdate,
    Task,
    TaskArtifact,
    TaskArtifactBase,
    TaskArtifactCreate,
    TaskArtifactRead,
    TaskArtifactUpdate,
    TaskBase,
    TaskCreate,
    TaskRead,
    TaskStatus,
    TaskUpdate,
    parse_status,
)
from skillstore.models.tenancy import User
from skillstore.repositories.base import TenantRepository


class TaskRepository(TenantRepository[Task, TaskCreate, TaskUpdate, TaskRead]):
    """Tasks of the session's team; status moves through `transition` only."""

    model = Task
    read_model = TaskRead
    base_model = TaskBase
    create_model = TaskCreate
    update_model = TaskUpdate
    references = {"client_id": Client, "agent_id": AgentConfig}

    async def transition(
        self,
        id: uuid.UUID,
        status: TaskStatus | str,
        *,
        output: dict[str, Any] | None = None,
        expected_version: int | None = None,
    ) -> TaskRead:
        """Move task ``id`` to ``status`` (and record its ``output``), if the move is legal.

        Reaching completed, failed or cancelled stamps ``completed_at``; a failed task
        queued again clears it.

        Raises:
            ValidationError: ``status`` is not a task status.
            InvalidTransitionError: the state machine does not allow the move.
            ConcurrentUpdateError: the task changed since ``expected_version`` (or while
                this call ran).
            NotFoundError: no such task in this team.
        """
        new = parse_status(status)
        row = await self._values(id, "status", "version")
        if expected_version is not None and row["version"] != expected_version:
            raise ConcurrentUpdateError(
                f"task {id} is at version {row['version']}, not {expected_version}; "
                "re-read it and decide again"
            )
        check_transition(f"task {id}", TASK_TRANSITIONS, row["status"], new)
        values: dict[str, Any] = {
            "status": new,
            "completed_at": utcnow() if new in FINISHED else None,
        }
        if output is not None:
            values["output"] = output
        return await self._apply(id, values, expected_version=row["version"])


class EscalationRepository(
    TenantRepository[Escalation, EscalationCreate, EscalationUpdate, EscalationRead]
):
    """Escalations of tasks to people; `resolve` closes one."""

    model = Escalation
    read_model = EscalationRead
    base_model = EscalationBase
    create_model = EscalationCreate
    update_model = EscalationUpdate
    references = {"task_id": Task, "assignee_id": User}

    async def resolve(self, id: uuid.UUID, *, resolution: str | None = None) -> EscalationRead:
        """Mark escalation ``id`` resolved now (twice is an `InvalidTransitionError`)."""
        resolved_at = (await self._values(id, "resolved_at"))["resolved_at"]
        if resolved_at is not None:
            raise InvalidTransitionError(
                f"escalation {id} was already resolved at {resolved_at.isoformat()}; "
                "open a new escalation instead"
            )
        if resolution is not None and len(resolution) > 10_000:
            raise ValidationError("resolution must be at most 10000 characters")
        return await self._apply(id, {"resolved_at": utcnow(), "resolution": resolution})

    async def open_for(self, task_id: uuid.UUID) -> list[EscalationRead]:
        """The task's unresolved escalations, newest first."""
        return await self.find(task_id=task_id, resolved_at=None)


class TaskArtifactRepository(
    TenantRepository[TaskArtifact, TaskArtifactCreate, TaskArtifactUpdate, TaskArtifactRead]
):
    """What tasks produced: files, links, inline content."""

    model = TaskArtifact
    read_model = TaskArtifactRead
    base_model = TaskArtifactBase
    create_model = TaskArtifactCreate
    update_model = TaskArtifactUpdate
    references = {"task_id": Task}
    merged_fields = frozenset({"uri", "content"})
