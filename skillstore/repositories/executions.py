"""Executions: creation, the guarded status machine, and newest-first keyset pages.

``transition`` checks the move against `ALLOWED_TRANSITIONS`, computes the timestamps,
and writes everything in one ``UPDATE … WHERE version = :read`` (the base repository's
`_apply`): of two workers moving the same execution, only one can match the version, so
they cannot both win. Locking the row first (``SELECT … FOR UPDATE``) was rejected:
SQLite has no row locks, and the version predicate gives the same guarantee on both.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa

from skillstore.db.states import check_transition, parse_enum
from skillstore.db.types import utcnow
from skillstore.errors import ConflictError, ValidationError
from skillstore.models.agent import AgentConfig
from skillstore.models.execution import (
    ALLOWED_TRANSITIONS,
    FINISHED,
    Execution,
    ExecutionBase,
    ExecutionCreate,
    ExecutionPage,
    ExecutionRead,
    ExecutionStatus,
    ExecutionUpdate,
)
from skillstore.models.workflow import Workflow
from skillstore.repositories.base import TenantRepository, coerce
from skillstore.repositories.keyset import decode_cursor, encode_cursor, older_than

KEY_INDEX = "ix_execution_team_id_idempotency_key"


class ExecutionRepository(
    TenantRepository[Execution, ExecutionCreate, ExecutionUpdate, ExecutionRead]
):
    """Runs of agents and workflows in one team."""

    model = Execution
    read_model = ExecutionRead
    base_model = ExecutionBase
    create_model = ExecutionCreate
    update_model = ExecutionUpdate
    references = {"agent_id": AgentConfig, "workflow_id": Workflow}
    merged_fields = frozenset({"agent_id", "workflow_id"})

    async def create(
        self, data: ExecutionCreate | Mapping[str, Any], *, idempotency_key: str | None = None
    ) -> ExecutionRead:
        """Create a pending execution; with ``idempotency_key``, at most one per key in
        the team: a repeated key returns the execution made first (whatever ``data`` is).

        Of concurrent creators with one key exactly one row is written: the insert is
        ``ON CONFLICT DO NOTHING`` against the unique (team, key) index, and a loser
        reads the winner's row.
        """
        if idempotency_key is None:
            return await super().create(data)
        if not isinstance(idempotency_key, str) or not 1 <= len(idempotency_key) <= 255:
            raise ValidationError("idempotency_key: expected 1-255 characters")
        checked = coerce(data, ExecutionCreate)
        existing = await self._by_key(idempotency_key)
        if existing is not None:
            return existing
        try:
            values = await self._insert(checked, {"idempotency_key": idempotency_key})
        except ConflictError as exc:
            if exc.constraint != KEY_INDEX:
                raise
            winner = await self._by_key(idempotency_key)
            if winner is None:
                raise
            return winner
        return self._read_of(values)

    async def _by_key(self, key: str) -> ExecutionRead | None:
        found = await self.find(idempotency_key=key, limit=1)
        return found[0] if found else None

    async def transition(
        self,
        id: uuid.UUID,
        status: ExecutionStatus | str,
        *,
        output: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> ExecutionRead:
        """Move the execution to ``status``, stamping its times; ``output``/``error`` if given.

        Raises:
            NotFoundError: no such execution in this team.
            InvalidTransitionError: the state machine does not allow the move.
            ConcurrentUpdateError: another worker moved or changed it first.
        """
        target = parse_enum(ExecutionStatus, status, "execution status")
        row = await self._values(id, "status", "started_at", "version")
        check_transition(f"execution {id}", ALLOWED_TRANSITIONS, row["status"], target)
        now = utcnow()
        started_at = row["started_at"]
        values: dict[str, Any] = {"status": target}
        if target is ExecutionStatus.RUNNING and started_at is None:
            values["started_at"] = now
        if target in FINISHED:
            values["finished_at"] = now
            if started_at is not None:
                values["duration_ms"] = int((now - started_at).total_seconds() * 1000)
        if target is ExecutionStatus.RETRYING:
            values.update(finished_at=None, duration_ms=None)
        if output is not None:
            values["output"] = output
        if error is not None:
            values["error"] = error
        return await self._apply(id, values, expected_version=row["version"])

    async def page(
        self,
        *,
        agent_id: uuid.UUID | None = None,
        workflow_id: uuid.UUID | None = None,
        status: ExecutionStatus | Sequence[ExecutionStatus] | None = None,
        limit: int = 50,
        after: str | None = None,
    ) -> ExecutionPage:
        """Executions newest first, filtered; ``after`` is the previous page's ``next_cursor``."""
        if not 0 < limit <= 1000:
            raise ValidationError("limit must be between 1 and 1000")
        given = {"agent_id": agent_id, "workflow_id": workflow_id, "status": status}
        shape, params = self._filters({k: v for k, v in given.items() if v is not None})
        if after is not None:
            params["after_at"], params["after_id"] = decode_cursor(after)

        def build() -> sa.Executable:
            where = self._where(shape)
            if after is not None:
                where.append(older_than(self.table))
            query = sa.select(*self._read_columns()).where(*where).order_by(*self._order())
            return query.limit(sa.bindparam("limit"))

        prepared = self._statement("page", build, shape, after is not None)
        rows = await self._uow.rows(prepared, self._params(limit=limit + 1, **params))
        items = self._reads(prepared, rows[:limit])
        more = len(rows) > limit
        cursor = encode_cursor(items[-1].created_at, items[-1].id) if more else None
        return ExecutionPage(items=items, next_cursor=cursor)
