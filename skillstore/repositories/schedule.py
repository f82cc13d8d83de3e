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
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

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
_REFRESH = {"synchronize_session": False, "populate_existing": True}


def following(row: Schedule | ScheduleBase, seen: datetime | None, now: datetime) -> datetime:
    """The next run after ``now``; intervals keep their phase from ``seen`` when they can."""
    if row.type is ScheduleType.INTERVAL and seen is not None:
        step = parse_interval(row.expression)
        return seen + step if seen + step > now else now + step
    return next_run(row.type, row.expression, row.timezone, now)


class ScheduleRepository(TenantRepository[Schedule, ScheduleRead]):
    """Schedules of the session's team."""

    model = Schedule
    read_model = ScheduleRead
    base_model = ScheduleBase
    create_model = ScheduleCreate
    update_model = ScheduleUpdate
    references = {"workflow_id": Workflow, "agent_id": AgentConfig}

    async def create(self, data: Any, **extra: Any) -> ScheduleRead:
        """Create the schedule with its first ``next_run_at``."""
        schedule = coerce(data, ScheduleCreate)
        first = following(schedule, None, utcnow())
        return await super().create(schedule, next_run_at=first, **extra)

    async def _apply(self, row: Schedule, values: Any) -> Schedule:
        if _TIMING & set(values):
            merged = ScheduleBase.model_validate({**row.model_dump(), **values})
            values = {**values, "next_run_at": following(merged, None, utcnow())}
        return await super()._apply(row, values)

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
        next_at, leased = col(Schedule.next_run_at), col(Schedule.lease_expires_at)
        due = (
            sa.select(Schedule)
            .where(
                *self._scope(),
                col(Schedule.enabled).is_(True),
                next_at <= now,
                sa.or_(leased.is_(None), leased <= now),
            )
            .order_by(next_at, col(Schedule.id))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        claimed: list[ScheduleRead] = []
        async with self._write():
            rows = (await self._session.execute(due)).scalars().all()
            for row in rows:
                seen = row.next_run_at
                advance = (
                    sa.update(Schedule)
                    .where(col(Schedule.id) == row.id, next_at == seen)
                    .values(
                        next_run_at=following(row, seen, now),
                        last_run_at=now,
                        lease_expires_at=now + lease,
                    )
                    .returning(Schedule)
                )
                won = (await self._session.execute(advance, execution_options=_REFRESH)).first()
                if won is not None:
                    claimed.append(self._to_read(won[0]))
        return claimed

    async def release(self, id: uuid.UUID) -> ScheduleRead:
        """End a claimed run's lease early (the run finished)."""
        return self._to_read(
            await super()._apply(await self._get_row(id), {"lease_expires_at": None})
        )
