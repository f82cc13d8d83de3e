"""Agent configurations: the one source of truth for an agent (seed 000 + seed 003 AgentDNA).

Seed 000's ``AgentConfig`` (skills, triggers, schedule, integrations, sharing) and seed
003's ``AgentDNA`` (personality, model, memory, boundaries, skill name lists) describe
the same thing, so they are one table; ``AgentConfigRead`` is the AgentDNA. The rules
that need nothing but the values (cron, unique skills, slug, "scheduled needs a
schedule") live on `AgentConfigBase`, so they run on create, on update (the repository
re-validates the merged row) and on import. The integration-id rule needs the store's
settings, which a model does not have, so the repository checks it before any SQL.
"""

from __future__ import annotations

import enum
import uuid
from datetime import UTC, datetime
from typing import Self

import sqlalchemy as sa
from croniter import CroniterError, croniter
from pydantic import computed_field, field_validator, model_validator
from sqlmodel import Field

from skillstore.db.base import IdMixin, Schema, TeamScopedMixin, TimestampMixin, VersionMixin
from skillstore.db.types import PydanticJSON, StrList, enum_type
from skillstore.models.agent_documents import (
    AgentBoundaries,
    AgentMemoryConfig,
    AgentModelConfig,
    AgentPersonality,
    SkillReference,
)
from skillstore.models.tenancy import check_slug


class AgentStatus(enum.StrEnum):
    """Lifecycle of an agent; ``archived`` is the soft delete (data kept)."""

    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    ARCHIVED = "archived"


class SharingLevel(enum.StrEnum):
    """Who may see and use an agent."""

    PRIVATE = "private"
    TEAM = "team"
    PUBLIC = "public"


class TriggerType(enum.StrEnum):
    """What starts a run (agents and executions share the type)."""

    ON_DEMAND = "on_demand"
    SCHEDULED = "scheduled"
    WEBHOOK = "webhook"
    EVENT = "event"


def check_cron(value: str | None) -> str | None:
    """A cron expression croniter can schedule and that fires at all, or ``None``.

    ``0 0 30 2 *`` is well formed but names a day that never comes: it is refused here,
    not when a worker asks for the next run.
    """
    if value is None:
        return None
    if not croniter.is_valid(value):
        raise ValueError(
            f"cron expression {value!r} is not valid; use five fields "
            "'minute hour day-of-month month day-of-week', e.g. '0 9 * * 1-5'"
        )
    try:
        croniter(value, datetime(2000, 1, 1, tzinfo=UTC)).get_next(datetime)
    except (CroniterError, ValueError, OverflowError):
        raise ValueError(
            f"cron expression {value!r} never fires; check its day and month"
        ) from None
    return value


def check_skills(skills: list[SkillReference]) -> list[SkillReference]:
    """Refuse repeated skill orders or names; return the skills in execution order."""
    for attribute in ("order", "name"):
        values = [getattr(s, attribute) for s in skills]
        repeated = sorted({str(v) for v in values if values.count(v) > 1})
        if repeated:
            raise ValueError(f"skill {attribute}s must be unique; repeated: {', '.join(repeated)}")
    return sorted(skills, key=lambda s: s.order)


# Fields a caller may set on an agent configuration, with every rule that needs no settings.
class AgentConfigBase(Schema):
    name: str = Field(min_length=1, max_length=200)
    slug: str = Field(max_length=64)
    tagline: str = Field(default="", max_length=300)
    description: str = Field(default="", sa_type=sa.Text)
    avatar_emoji: str = Field(default="", max_length=32)
    status: AgentStatus = Field(
        default=AgentStatus.DRAFT, sa_type=enum_type(AgentStatus, "agent_status")
    )
    sharing_level: SharingLevel = Field(
        default=SharingLevel.PRIVATE, sa_type=enum_type(SharingLevel, "sharing_level")
    )
    trigger_type: TriggerType = Field(
        default=TriggerType.ON_DEMAND, sa_type=enum_type(TriggerType, "trigger_type")
    )
    schedule: str | None = Field(default=None, max_length=200)
    skills: list[SkillReference] = Field(
        default_factory=list, sa_type=PydanticJSON(list[SkillReference])
    )
    integrations: list[str] = Field(default_factory=list, sa_type=StrList)
    shared_skill_names: list[str] = Field(default_factory=list, sa_type=StrList)
    custom_skill_names: list[str] = Field(default_factory=list, sa_type=StrList)
    disabled_skill_names: list[str] = Field(default_factory=list, sa_type=StrList)
    personality: AgentPersonality = Field(sa_type=PydanticJSON(AgentPersonality))
    model: AgentModelConfig = Field(
        default_factory=AgentModelConfig, sa_type=PydanticJSON(AgentModelConfig)
    )
    memory: AgentMemoryConfig = Field(
        default_factory=AgentMemoryConfig, sa_type=PydanticJSON(AgentMemoryConfig)
    )
    boundaries: AgentBoundaries = Field(
        default_factory=AgentBoundaries, sa_type=PydanticJSON(AgentBoundaries)
    )

    _slug = field_validator("slug")(check_slug)
    _cron = field_validator("schedule")(check_cron)
    _skills = field_validator("skills")(check_skills)

    @model_validator(mode="after")
    def _scheduled_needs_schedule(self) -> Self:
        if self.trigger_type == TriggerType.SCHEDULED and not self.schedule:
            raise ValueError("trigger_type 'scheduled' needs a cron schedule, e.g. '0 9 * * 1-5'")
        return self


# The table: + team, author and optimistic-locking version.
class AgentConfig(
    TimestampMixin, VersionMixin, AgentConfigBase, TeamScopedMixin, IdMixin, table=True
):
    __table_args__ = (
        sa.UniqueConstraint("team_id", "slug"),
        sa.Index("ix_agent_config_team_id_status", "team_id", "status"),
        sa.CheckConstraint(
            "trigger_type != 'scheduled' OR schedule IS NOT NULL", name="scheduled_has_schedule"
        ),
    )

    created_by: uuid.UUID = Field(foreign_key="user.id", ondelete="RESTRICT", index=True)


# Input: everything on the base (and, for agents synced from elsewhere, their id); the
# author is passed to the repository.
class AgentConfigCreate(AgentConfigBase):
    id: uuid.UUID | None = None
    """A caller-chosen id (rows synced from elsewhere keep theirs); a new one if None."""


# Output: seed 003's AgentDNA.
class AgentConfigRead(AgentConfigBase):
    id: uuid.UUID
    team_id: uuid.UUID
    created_by: uuid.UUID
    version: int
    created_at: datetime
    updated_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def effective_skills(self) -> list[str]:
        """Skills the agent can use: shared + custom - disabled, first occurrence kept."""
        disabled = set(self.disabled_skill_names)
        names = [*self.shared_skill_names, *self.custom_skill_names]
        return [n for n in dict.fromkeys(names) if n not in disabled]


# Patch: only fields sent are applied; the merged row is validated again.
class AgentConfigUpdate(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    slug: str | None = None
    tagline: str | None = Field(default=None, max_length=300)
    description: str | None = None
    avatar_emoji: str | None = Field(default=None, max_length=32)
    status: AgentStatus | None = None
    sharing_level: SharingLevel | None = None
    trigger_type: TriggerType | None = None
    schedule: str | None = None
    skills: list[SkillReference] | None = None
    integrations: list[str] | None = None
    shared_skill_names: list[str] | None = None
    custom_skill_names: list[str] | None = None
    disabled_skill_names: list[str] | None = None
    personality: AgentPersonality | None = None
    model: AgentModelConfig | None = None
    memory: AgentMemoryConfig | None = None
    boundaries: AgentBoundaries | None = None
