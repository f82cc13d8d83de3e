"""Schedules (seed 001): run a workflow or an agent on a cron expression or an interval.

``next_run_at`` is computed by skillstore (croniter, in the schedule's IANA time zone,
stored in UTC), never set by callers, so "cron in Europe/Berlin" keeps firing at the same
wall-clock time across daylight-saving changes. Intervals are written as a number of
seconds or with a unit (``90``, ``30s``, ``15m``, ``6h``, ``1d``); ISO-8601 durations were
rejected as harder to type and needing another parser. ``lease_expires_at`` is set when
a worker claims the schedule (see `ScheduleRepository.claim_due`).
"""

from __future__ import annotations

import enum
import re
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any, Self
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from croniter import croniter
from pydantic import ValidationInfo, field_validator, model_validator
from sqlmodel import Field

from skillstore.db.base import IdMixin, Schema, TeamScopedMixin, TimestampMixin
from skillstore.db.types import JSON, UTCDateTime, enum_type
from skillstore.models.agent import check_cron

_INTERVAL = re.compile(r"^\s*(?P<n>\d+)\s*(?P<unit>[smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class ScheduleType(enum.StrEnum):
    """How ``expression`` is read."""

    CRON = "cron"
    INTERVAL = "interval"


MAX_INTERVAL_SECONDS = 3650 * 86400
"""Ten years: anything longer is a mistake, and far enough is past what a date can hold."""


def parse_interval(expression: str) -> timedelta:
    """``"15m"`` → 15 minutes; refuse anything that is not a positive interval."""
    match = _INTERVAL.match(expression)
    if not match:
        raise ValueError(
            f"interval {expression!r} must be a positive number of seconds, optionally with "
            "a unit: 90, 30s, 15m, 6h, 1d"
        )
    seconds = int(match["n"]) * _UNIT_SECONDS[match["unit"]]
    if seconds <= 0:
        raise ValueError(f"interval {expression!r} must be greater than zero")
    if seconds > MAX_INTERVAL_SECONDS:
        raise ValueError(f"interval {expression!r} is longer than ten years; use at most 3650d")
    return timedelta(seconds=seconds)


def check_timezone(value: str) -> str:
    """An IANA time zone name that zoneinfo knows (``Europe/Berlin``, ``UTC``)."""
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {value!r}; use an IANA name such as 'UTC' or 'Europe/Berlin'"
        ) from None
    return value


def next_run(type_: ScheduleType, expression: str, timezone: str, after: datetime) -> datetime:
    """The first run strictly after ``after``, in UTC (cron is evaluated in ``timezone``)."""
    if type_ is ScheduleType.INTERVAL:
        return after.astimezone(UTC) + parse_interval(expression)
    local = after.astimezone(ZoneInfo(timezone))
    found: datetime = croniter(expression, local).get_next(datetime)
    return found.astimezone(UTC)


# Fields a caller may set on a schedule.
class ScheduleBase(Schema):
    workflow_id: uuid.UUID | None = Field(
        default=None, foreign_key="workflow.id", ondelete="CASCADE", index=True
    )
    agent_id: uuid.UUID | None = Field(
        default=None, foreign_key="agent_config.id", ondelete="CASCADE", index=True
    )
    type: ScheduleType = Field(sa_type=enum_type(ScheduleType, "schedule_type"))
    expression: str = Field(min_length=1, max_length=200)
    timezone: str = Field(default="UTC", max_length=64)
    input: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    enabled: bool = True

    _timezone = field_validator("timezone")(check_timezone)

    @field_validator("expression")
    @classmethod
    def _expression(cls, value: str, info: ValidationInfo) -> str:
        kind = info.data.get("type")
        if kind is ScheduleType.INTERVAL:
            parse_interval(value)
        elif kind is ScheduleType.CRON:
            check_cron(value)
        return value

    @model_validator(mode="after")
    def _one_target(self) -> Self:
        if (self.workflow_id is None) == (self.agent_id is None):
            raise ValueError("a schedule runs exactly one target: set workflow_id or agent_id")
        return self


# The table: + team, timestamps and the run bookkeeping only skillstore writes.
class Schedule(TimestampMixin, ScheduleBase, TeamScopedMixin, IdMixin, table=True):
    __table_args__ = (
        sa.CheckConstraint(
            "(workflow_id IS NULL) <> (agent_id IS NULL)", name="exactly_one_target"
        ),
        sa.Index("ix_schedule_due", "enabled", "next_run_at"),
    )

    last_run_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    next_run_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    lease_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# Input.
class ScheduleCreate(ScheduleBase):
    pass


# Output.
class ScheduleRead(ScheduleBase):
    id: uuid.UUID
    team_id: uuid.UUID
    last_run_at: datetime | None
    next_run_at: datetime | None
    lease_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime


# Patch: a changed timing recomputes next_run_at.
class ScheduleUpdate(Schema):
    type: ScheduleType | None = None
    expression: str | None = Field(default=None, min_length=1, max_length=200)
    timezone: str | None = Field(default=None, max_length=64)
    input: dict[str, Any] | None = None
    enabled: bool | None = None
