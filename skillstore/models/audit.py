"""The audit log: who did what to which resource, when, from where, and whether it worked.

Append-only: database triggers refuse UPDATE and DELETE on both backends, so a row, once
written, is evidence. That is also why ``user_id``, ``resource_id`` and ``team_id`` are
plain columns without foreign keys: ``ON DELETE SET NULL`` or ``CASCADE`` would make the
referenced row's delete fail against the triggers, and ``RESTRICT`` would make users and
teams undeletable. ``event_type`` is free text (with `AuditEvent` naming the events
skillstore writes itself) rather than a native enum, so services can record their own
events without a migration.
"""

from __future__ import annotations

import enum
import ipaddress
import re
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import field_validator
from sqlmodel import Field

from skillstore.db.base import IdMixin, Schema
from skillstore.db.schema import APPEND_ONLY, DELETABLE, REDACTED
from skillstore.db.types import JSON, UTCDateTime, utcnow

_EVENT = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")


class AuditEvent(enum.StrEnum):
    """The events skillstore records on its own (services may record others)."""

    MEMBERSHIP_ADDED = "membership.added"
    MEMBERSHIP_ROLE_CHANGED = "membership.role_changed"
    MEMBERSHIP_REMOVED = "membership.removed"
    KEYS_ROTATED = "keys.rotated"
    WEBHOOK_VERIFICATION_FAILED = "webhook.verification_failed"
    CREDENTIAL_REVEALED = "credential.revealed"
    MCP_ENV_REVEALED = "mcp_server.env_revealed"


def check_ip(value: str | None) -> str | None:
    """Normalise an IPv4/IPv6 address, or refuse it."""
    if value is None:
        return None
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ValueError(f"{value!r} is not an IPv4 or IPv6 address") from None


# Fields a caller may set on an audit entry.
class AuditLogBase(Schema):
    event_type: str = Field(max_length=64)
    action: str = Field(min_length=1, max_length=64)
    user_id: uuid.UUID | None = Field(default=None, index=True)
    resource_type: str | None = Field(default=None, max_length=64)
    resource_id: uuid.UUID | None = None
    details: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    ip_address: str | None = Field(default=None, max_length=45)
    success: bool = True

    _ip = field_validator("ip_address")(check_ip)

    @field_validator("event_type")
    @classmethod
    def _event_format(cls, value: str) -> str:
        if not _EVENT.match(value):
            raise ValueError(
                "event_type must be dotted lower-case words such as 'membership.added' "
                f"(got {value!r})"
            )
        return value


# The table: append-only; the team (if any) is stamped by the repository.
class AuditLog(AuditLogBase, IdMixin, table=True):
    __table_args__ = (
        sa.Index("ix_audit_log_resource", "resource_type", "resource_id"),
        sa.Index("ix_audit_log_team_id_timestamp", "team_id", "timestamp"),
        {
            "info": {
                APPEND_ONLY: True,
                DELETABLE: False,
                REDACTED: {"details": {}, "ip_address": None},
            }
        },
    )

    erasure_id: uuid.UUID | None = Field(default=None, index=True)

    team_id: uuid.UUID | None = None
    timestamp: datetime = Field(
        default_factory=utcnow,
        sa_type=UTCDateTime,
        sa_column_kwargs={"server_default": sa.text("CURRENT_TIMESTAMP"), "nullable": False},
        index=True,
    )


# Input.
class AuditLogCreate(AuditLogBase):
    pass


# Output.
class AuditLogRead(AuditLogBase):
    id: uuid.UUID
    erasure_id: uuid.UUID | None = None
    team_id: uuid.UUID | None
    timestamp: datetime
