"""What agents report about themselves: log lines and numeric metrics.

Both are written far more often than read, so each has one composite index that serves
its query (an agent's recent logs; a metric of an agent over a time range) instead of an
index per column. Metric values must be finite: NaN would poison every aggregate and
SQLite stores it as NULL. Logs are not append-only: they are pruned by retention.
"""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, FiniteFloat
from sqlmodel import Field

from skillstore.db.base import CreatedAtMixin, IdMixin, Schema, TeamScopedMixin
from skillstore.db.types import JSON, UTCDateTime, enum_type, utcnow


class LogLevel(enum.StrEnum):
    """Severity of an agent log line (the stdlib ``logging`` names)."""

    DEBUG = "debug"
    INFO = "info"
    WARNING = "warning"
    ERROR = "error"
    CRITICAL = "critical"


# Fields a caller may set on a log line.
class AgentLogBase(Schema):
    agent_id: uuid.UUID = Field(foreign_key="agent_config.id", ondelete="CASCADE")
    level: LogLevel = Field(default=LogLevel.INFO, sa_type=enum_type(LogLevel, "log_level"))
    message: str = Field(min_length=1, max_length=100_000)
    extra: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)


# The table.
class AgentLog(CreatedAtMixin, AgentLogBase, TeamScopedMixin, IdMixin, table=True):
    __table_args__ = (sa.Index("ix_agent_log_recent", "team_id", "agent_id", "created_at"),)


# Input: agents that ship buffered lines pass the time each was logged.
class AgentLogCreate(AgentLogBase):
    created_at: datetime = Field(default_factory=utcnow)


# Output.
class AgentLogRead(AgentLogBase):
    id: uuid.UUID
    team_id: uuid.UUID
    created_at: datetime


# Patch (log lines are rarely edited; extra may be enriched later).
class AgentLogUpdate(Schema):
    level: LogLevel | None = None
    extra: dict[str, Any] | None = None


# Fields a caller may set on one measurement.
class AgentMetricBase(Schema):
    agent_id: uuid.UUID = Field(foreign_key="agent_config.id", ondelete="CASCADE")
    name: str = Field(min_length=1, max_length=200)
    value: FiniteFloat
    unit: str | None = Field(default=None, max_length=32)
    recorded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# The table.
class AgentMetric(AgentMetricBase, TeamScopedMixin, IdMixin, table=True):
    __table_args__ = (
        sa.Index("ix_agent_metric_series", "team_id", "name", "agent_id", "recorded_at"),
    )


# Input.
class AgentMetricCreate(AgentMetricBase):
    pass


# Output.
class AgentMetricRead(AgentMetricBase):
    id: uuid.UUID
    team_id: uuid.UUID


# Patch (a mis-recorded value can be corrected).
class AgentMetricUpdate(Schema):
    value: FiniteFloat | None = None
    unit: str | None = Field(default=None, max_length=32)


class MetricBucketSize(enum.StrEnum):
    """The width of an aggregation bucket; buckets start on UTC hour or day boundaries."""

    HOUR = "hour"
    DAY = "day"


class MetricBucket(BaseModel):
    """One metric of one agent over one bucket: count, mean, extremes and p95.

    ``p95`` is the nearest-rank 95th percentile: the smallest value with at least 95% of
    the bucket's values at or below it (``sorted[ceil(0.95 * count) - 1]``), always one
    of the recorded values.
    """

    agent_id: uuid.UUID
    name: str
    bucket_start: datetime
    count: int
    avg: float
    min: float
    max: float
    p95: float
