"""Agent logs and metrics, and the per-agent hourly/daily metric aggregation.

The aggregation must give the same numbers on SQLite and PostgreSQL. Doing it in SQL
was rejected: SQLite has no percentile function, and the two backends sum floats
differently (PostgreSQL in scan order, SQLite with compensated summation), so ``avg``
could differ in its last digits. Instead one indexed range scan streams
``(agent, time, value)`` and Python buckets them on UTC boundaries and computes the
statistics: ``avg`` from an exactly rounded sum (`math.fsum`, independent of order) and
``p95`` by nearest rank. The numbers are identical by construction.
"""

from __future__ import annotations

import math
import uuid
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from skillstore.db.states import parse_enum
from skillstore.models.agent import AgentConfig
from skillstore.models.observability import (
    AgentLog,
    AgentLogBase,
    AgentLogCreate,
    AgentLogRead,
    AgentLogUpdate,
    AgentMetric,
    AgentMetricBase,
    AgentMetricCreate,
    AgentMetricRead,
    AgentMetricUpdate,
    MetricBucket,
    MetricBucketSize,
)
from skillstore.repositories.base import TenantRepository, coerce


def bucket_start(moment: datetime, size: MetricBucketSize) -> datetime:
    """The start of the UTC hour or day that ``moment`` (timezone-aware, UTC) falls in."""
    start = moment.replace(minute=0, second=0, microsecond=0)
    return start.replace(hour=0) if size is MetricBucketSize.DAY else start


def nearest_rank(sorted_values: Sequence[float], percent: int) -> float:
    """The nearest-rank percentile: ``sorted_values[ceil(percent/100 * n) - 1]``."""
    rank = -(-percent * len(sorted_values) // 100)  # ceil in integers: exact for every n
    return sorted_values[max(rank, 1) - 1]


def summarize(agent_id: uuid.UUID, name: str, start: datetime, values: list[float]) -> MetricBucket:
    """Count, mean, min, max and p95 of one bucket's values."""
    ordered = sorted(values)
    return MetricBucket(
        agent_id=agent_id,
        name=name,
        bucket_start=start,
        count=len(ordered),
        avg=math.fsum(ordered) / len(ordered),
        min=ordered[0],
        max=ordered[-1],
        p95=nearest_rank(ordered, 95),
    )


class AgentLogRepository(TenantRepository[AgentLog, AgentLogCreate, AgentLogUpdate, AgentLogRead]):
    """Log lines of the team's agents, newest first."""

    model = AgentLog
    read_model = AgentLogRead
    base_model = AgentLogBase
    create_model = AgentLogCreate
    update_model = AgentLogUpdate
    references = {"agent_id": AgentConfig}

    async def prune(self, before: datetime) -> int:
        """Delete log lines written before ``before``; return how many."""
        table = self.table

        def build() -> sa.Executable:
            cut = sa.bindparam("before", type_=table.c.created_at.type)
            return (
                sa.delete(table)
                .where(table.c.created_at < cut, *self._scope())
                .returning(table.c.id)
            )

        return len(
            await self._uow.rows(self._statement("prune", build), self._params(before=before))
        )


class AgentMetricRepository(
    TenantRepository[AgentMetric, AgentMetricCreate, AgentMetricUpdate, AgentMetricRead]
):
    """Measurements of the team's agents, and their aggregation per hour or day."""

    model = AgentMetric
    read_model = AgentMetricRead
    base_model = AgentMetricBase
    create_model = AgentMetricCreate
    update_model = AgentMetricUpdate
    references = {"agent_id": AgentConfig}

    def _order(self) -> list[sa.ColumnElement[Any]]:
        return [self.table.c.recorded_at.desc(), self.table.c.id.desc()]

    async def record_many(
        self, metrics: Sequence[AgentMetricCreate | Mapping[str, Any]]
    ) -> list[AgentMetricRead]:
        """Store many measurements in one step: all of them, or (on any error) none."""
        rows = await self._insert_many([coerce(m, AgentMetricCreate) for m in metrics])
        return [self._read_of(r) for r in rows]

    async def aggregate(
        self,
        name: str,
        *,
        bucket: MetricBucketSize | str = MetricBucketSize.HOUR,
        agent_id: uuid.UUID | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> list[MetricBucket]:
        """Metric ``name`` per agent per UTC hour or day, ordered by agent and time.

        Args:
            name: the metric.
            bucket: ``"hour"`` or ``"day"``.
            agent_id: only this agent (default: every agent of the team).
            since: first instant included (timezone-aware).
            until: first instant excluded (timezone-aware).

        Raises:
            ValidationError: an unknown bucket size or a naive datetime.
        """
        size = parse_enum(MetricBucketSize, bucket, "bucket size")
        c = self.table.c
        shape = (agent_id is not None, since is not None, until is not None)

        def build() -> sa.Executable:
            stamp = c.recorded_at.type
            where = [c.name == sa.bindparam("name"), *self._scope()]
            if agent_id is not None:
                where.append(c.agent_id == sa.bindparam("agent_id"))
            if since is not None:
                where.append(c.recorded_at >= sa.bindparam("since", type_=stamp))
            if until is not None:
                where.append(c.recorded_at < sa.bindparam("until", type_=stamp))
            return sa.select(c.agent_id, c.recorded_at, c.value).where(*where)

        prepared = self._statement("aggregate", build, shape)
        params = self._params(name=name, agent_id=agent_id, since=since, until=until)
        buckets: defaultdict[tuple[uuid.UUID, datetime], list[float]] = defaultdict(list)
        async for rows in self._uow.stream(prepared, params):
            for agent, recorded_at, value in rows:
                buckets[(agent, bucket_start(recorded_at, size))].append(value)
        return [
            summarize(agent, name, start, values)
            for (agent, start), values in sorted(buckets.items(), key=lambda kv: kv[0])
        ]
