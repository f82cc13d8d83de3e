"""Users, teams and memberships: the tenancy root every other aggregate hangs from.

Emails are stored lower-cased so uniqueness and login are case-insensitive without a
functional index (which autogenerate cannot compare). Passwords arrive only on
`UserCreate` and leave only as a bcrypt hash on the table; the hash is kept out of
``repr`` and of `UserRead`. The team webhook secret is encrypted at rest like every
other secret (see `Ciphertext`).
"""

from __future__ import annotations

import enum
import re
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import EmailStr, SecretStr, field_validator
from sqlmodel import Field

from skillstore.db.base import CreatedAtMixin, IdMixin, Schema, TimestampMixin
from skillstore.db.types import JSON, Ciphertext, StrList, enum_type
from skillstore.secret import Secret, secret_text

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
_SLUG = re.compile(SLUG_PATTERN)


def check_slug(value: str) -> str:
    """Validate a URL-safe slug: lower-case letters, digits and inner hyphens, ≤ 64 chars."""
    if not _SLUG.match(value):
        raise ValueError(
            "slug must be 1-64 lower-case letters, digits or hyphens, not starting or "
            f"ending with a hyphen (got {value!r})"
        )
    return value


def check_password(value: SecretStr | str | None) -> SecretStr | str | None:
    """bcrypt reads at most 72 bytes; refuse what it would silently truncate."""
    if value is not None and not 8 <= len(secret_text(value).encode()) <= 72:
        raise ValueError("password must be 8 to 72 bytes long (bcrypt's limit)")
    return value


class UserRole(enum.StrEnum):
    """What a member may do in a team."""

    OWNER = "owner"
    ADMIN = "admin"
    MEMBER = "member"
    VIEWER = "viewer"


# Fields a caller may set on a user.
class UserBase(Schema):
    email: EmailStr = Field(max_length=320, unique=True)
    display_name: str = Field(min_length=1, max_length=200)
    is_active: bool = True

    @field_validator("email", mode="after")
    @classmethod
    def _lower_email(cls, value: str) -> str:
        return value.lower()


# The table: adds the password hash, never exposed.
class User(TimestampMixin, UserBase, IdMixin, table=True):
    __table_args__ = (
        sa.CheckConstraint("email LIKE '%_@_%' AND email = lower(email)", name="email_format"),
    )

    email: str = Field(max_length=320, unique=True)
    password_hash: str = Field(repr=False, max_length=128)


# Input: the plain password is write-only.
class UserCreate(UserBase):
    password: Secret

    _password = field_validator("password")(check_password)


# Output: no password, no hash.
class UserRead(UserBase):
    id: uuid.UUID
    created_at: datetime
    updated_at: datetime


# Patch: only fields sent are applied; a new password is hashed by the repository.
class UserUpdate(Schema):
    email: EmailStr | None = None
    display_name: str | None = Field(default=None, min_length=1, max_length=200)
    is_active: bool | None = None
    password: Secret | None = None

    _password = field_validator("password")(check_password)


# Fields a caller may set on a team.
class TeamBase(Schema):
    name: str = Field(min_length=1, max_length=200)
    slug: str = Field(max_length=64, unique=True)
    settings: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    shared_skill_names: list[str] = Field(default_factory=list, sa_type=StrList)
    webhook_url: str | None = Field(default=None, max_length=2048)
    conversation_retention_days: int | None = Field(default=None, ge=1, le=36500)

    @field_validator("slug")
    @classmethod
    def _slug_format(cls, value: str) -> str:
        return check_slug(value)


# The table: the owner and the encrypted webhook secret.
class Team(TimestampMixin, TeamBase, IdMixin, table=True):
    __table_args__ = (
        sa.CheckConstraint(
            "conversation_retention_days IS NULL OR conversation_retention_days >= 1",
            name="retention_positive",
        ),
    )

    owner_id: uuid.UUID = Field(foreign_key="user.id", ondelete="RESTRICT", index=True)
    webhook_secret_ciphertext: str | None = Field(default=None, sa_type=Ciphertext, repr=False)
    webhook_secret_key_version: str | None = Field(default=None, max_length=32, repr=False)


# Input: the webhook secret is write-only.
class TeamCreate(TeamBase):
    webhook_secret: Secret | None = None


# Output: whether a webhook secret is set, never the secret.
class TeamRead(TeamBase):
    id: uuid.UUID
    owner_id: uuid.UUID
    has_webhook_secret: bool = False
    created_at: datetime
    updated_at: datetime


# Patch.
class TeamUpdate(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    settings: dict[str, Any] | None = None
    shared_skill_names: list[str] | None = None
    webhook_url: str | None = None
    webhook_secret: Secret | None = None
    conversation_retention_days: int | None = Field(default=None, ge=1, le=36500)


# A user's role in a team (one per user and team).
class TeamMembershipBase(Schema):
    role: UserRole = Field(default=UserRole.MEMBER, sa_type=enum_type(UserRole, "user_role"))


class TeamMembership(CreatedAtMixin, TeamMembershipBase, IdMixin, table=True):
    __table_args__ = (sa.UniqueConstraint("user_id", "team_id"),)

    user_id: uuid.UUID = Field(foreign_key="user.id", ondelete="CASCADE", index=True)
    team_id: uuid.UUID = Field(foreign_key="team.id", ondelete="CASCADE", index=True)


class TeamMembershipCreate(TeamMembershipBase):
    user_id: uuid.UUID
    team_id: uuid.UUID


class TeamMembershipRead(TeamMembershipBase):
    id: uuid.UUID
    user_id: uuid.UUID
    team_id: uuid.UUID
    created_at: datetime


class TeamMembershipUpdate(Schema):
    role: UserRole | None = None
