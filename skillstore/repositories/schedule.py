"""Schedules: ``next_run_at`` kept current, and `claim_due` for competing workers.

`claim_due` is one code path on both backends. It selects due rows ``FOR UPDATE SKIP
LOCKED`` — on PostgreSQL a worker skips rows another worker holds, so workers never wait
on each other; SQLite has no row locks and SQLAlchemy renders no clause there — then
advances each row with ``UPDATE … WHERE id = :id AND next_run_at = :seen``. The row
count says whether this worker won: on PostgreSQL it always does (it holds the lock); on
SQLite writers are serialised by ``BEGIN IMMEDIATE`` and the condition makes a stale
read harmless. The claim also sets a lease, so a run that is still going when the next
occurrence comes due is not handed out again until the lease expires or is released.

Missed occurrences are not replayed: a schedule that was due several times while no
worker ran fires once, then continues from now.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa

from skillstore.db.types import utcnow
from skillstore.errors import ValidationError
from skillstore.models.agent import AgentConfig
from skillstore.models.schedule import (
    Schedule,
    ScheduleBase,
    ScheduleCreate,
    ScheduleRead,
    ScheduleType,
    ScheduleUpdate,
    next_run,
    parse_interval,
)
from skillstore.models.workflow import Workflow
from skillstore.repositories.base import TenantRepository, coerce

_TIMING = frozenset({"type", "expression", "timezone", "enabled"})


def following(row: ScheduleBase | ScheduleRead, seen: datetime | None, now: datetime) -> datetime:
    """The next run after ``now``; intervals keep their phase from ``seen`` when they can."""
    if row.type is ScheduleType.INTERVAL and seen is not None:
        step = parse_interval(row.expression)
        return seen + step if seen + step > now else now + step
    return next_run(row.type, row.expression, row.timezone, now)


class ScheduleRepository(TenantRepository[Schedule, ScheduleCreate, ScheduleUpdate, ScheduleRead]):
    """Schedules of the session's team."""

    model = Schedule
    read_model = ScheduleRead
    base_model = ScheduleBase
    create_model = ScheduleCreate
    update_model = ScheduleUpdate
    references = {"workflow_id": Workflow, "agent_id": AgentConfig}
    merged_fields = _TIMING | {"workflow_id", "agent_id"}

    async def create(self, data: ScheduleCreate | Mapping[str, Any]) -> ScheduleRead:
        """Create the schedule with its first ``next_run_at``."""
        schedule = coerce(data, ScheduleCreate)
        first = following(schedule, None, utcnow())
        return self._read_of(await self._insert(schedule, {"next_run_at": first}))

    async def update(
        self,
        id: uuid.UUID,
        data: ScheduleUpdate | Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> ScheduleRead:
        """Apply a patch; a change of timing recomputes ``next_run_at``."""
        patch = coerce(data, ScheduleUpdate)
        if not patch.model_fields_set & _TIMING:
            return await super().update(id, patch, expected_version=expected_version)
        current = await self._require(id)
        changes = {f: getattr(patch, f) for f in patch.model_fields_set}
        merged = {f: getattr(current, f) for f in ScheduleBase.model_fields}
        checked = ScheduleBase.model_validate({**merged, **changes})
        changes["next_run_at"] = following(checked, None, utcnow())
        return await self._apply(id, changes)

    async def claim_due(
        self,
        now: datetime | None = None,
        *,
        limit: int = 10,
        lease: timedelta = timedelta(minutes=5),
    ) -> list[ScheduleRead]:
        """Hand out up to ``limit`` due schedules, each to exactly one caller.

        Each returned schedule has been advanced (``next_run_at`` is its next occurrence,
        ``last_run_at`` is ``now``) and leased until ``now + lease``, all in the caller's
        transaction: if that rolls back, the schedules are due again.
        """
        if not 0 < limit <= 1000:
            raise ValidationError("limit must be 1-1000")
        if lease <= timedelta(0):
            raise ValidationError("lease must be a positive timedelta")
        now = now or utcnow()
        await self._uow.begin_write()
        due = self._statement("due", self._due)
        rows = await self._uow.rows(due, self._params(now=now, limit=limit))
        advance = self._statement("advance", self._advance)
        claimed: list[ScheduleRead] = []
        for schedule in self._reads(due, rows):
            seen = schedule.next_run_at
            params = self._params(
                id=schedule.id,
                seen=seen,
                next_run_at=following(schedule, seen, now),
                now=now,
                lease=now + lease,
            )
            won = await self._uow.one(advance, params)
            if won is not None:
                claimed.append(self._to_read(won, advance.columns))
        return claimed

    def _due(self) -> sa.Executable:
        c = self.table.c
        now = sa.bindparam("now", type_=c.next_run_at.type)
        return (
            sa.select(*self._read_columns())
            .where(
                *self._scope(),
                c.enabled.is_(True),
                c.next_run_at <= now,
                sa.or_(c.lease_expires_at.is_(None), c.lease_expires_at <= now),
            )
            .order_by(c.next_run_at, c.id)
            .limit(sa.bindparam("limit"))
            .with_for_update(skip_locked=True)
        )

    def _advance(self) -> sa.Executable:
        # The condition on next_run_at makes a stale read harmless: on SQLite (no row
        # locks) a second worker that read the same row matches nothing.
        c = self.table.c
        stamp = c.next_run_at.type
        return (
            sa.update(self.table)
            .where(
                c.id == sa.bindparam("id"),
                *self._scope(),
                c.next_run_at == sa.bindparam("seen", type_=stamp),
            )
            .values(
                next_run_at=sa.bindparam("next_run_at", type_=stamp),
                last_run_at=sa.bindparam("now", type_=stamp),
                lease_expires_at=sa.bindparam("lease", type_=stamp),
                updated_at=sa.bindparam("now", type_=stamp),
            )
            .returning(*self._read_columns())
        )

    async def release(self, id: uuid.UUID) -> ScheduleRead:
        """End a claimed run's lease early (the run finished)."""
        return await self._apply(id, {"lease_expires_at": None})
