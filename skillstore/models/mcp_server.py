"""MCP servers (seed 001): the tool servers an agent may launch, one name per team.

The environment handed to the server process usually holds API keys, so the whole
mapping is encrypted as one JSON ciphertext (``env_ciphertext`` + ``env_key_version``)
and only its variable names are stored in clear (``env_keys``), which is all `McpServerRead`
shows. One ciphertext per variable was rejected: the server always needs all of them at
once, and one token is one decryption and one row to rotate.
"""

from __future__ import annotations

import enum
import re
import uuid
from datetime import datetime

import sqlalchemy as sa
from pydantic import SecretStr, field_validator
from sqlmodel import Field

from skillstore.db.base import IdMixin, Schema, TeamScopedMixin, TimestampMixin
from skillstore.db.types import Ciphertext, StrList, enum_type
from skillstore.secret import Secret

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


class McpServerStatus(enum.StrEnum):
    """The server's last known connection state."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    ERROR = "error"


def check_env(
    value: dict[str, SecretStr | str] | None,
) -> dict[str, SecretStr | str] | None:
    """Environment variable names must be names a shell accepts."""
    for name in value or {}:
        if not _ENV_NAME.match(name):
            raise ValueError(
                f"environment variable name {name!r} must be letters, digits and "
                "underscores, not starting with a digit"
            )
    return value


# Fields a caller may set on an MCP server.
class McpServerBase(Schema):
    name: str = Field(min_length=1, max_length=200)
    command: str = Field(min_length=1, max_length=1000)
    args: list[str] = Field(default_factory=list, sa_type=StrList)
    status: McpServerStatus = Field(
        default=McpServerStatus.DISCONNECTED,
        sa_type=enum_type(McpServerStatus, "mcp_server_status"),
    )
    tool_count: int = Field(default=0, ge=0)


# The table: + team, timestamps, the encrypted environment and its variable names.
class McpServer(TimestampMixin, McpServerBase, TeamScopedMixin, IdMixin, table=True):
    __table_args__ = (
        sa.UniqueConstraint("team_id", "name"),
        sa.CheckConstraint("tool_count >= 0", name="tool_count_not_negative"),
    )

    env_keys: list[str] = Field(default_factory=list, sa_type=StrList)
    env_ciphertext: str | None = Field(default=None, sa_type=Ciphertext, repr=False)
    env_key_version: str | None = Field(default=None, max_length=32, repr=False)


# Input: the environment's values are write-only secrets.
class McpServerCreate(McpServerBase):
    env: dict[str, Secret] = Field(default_factory=dict, repr=False)

    _env = field_validator("env")(check_env)


# Output: the environment's variable names, never its values.
class McpServerRead(McpServerBase):
    id: uuid.UUID
    team_id: uuid.UUID
    env_keys: list[str]
    created_at: datetime
    updated_at: datetime


# Patch: a new ``env`` replaces the whole environment.
class McpServerUpdate(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    command: str | None = Field(default=None, min_length=1, max_length=1000)
    args: list[str] | None = None
    status: McpServerStatus | None = None
    tool_count: int | None = Field(default=None, ge=0)
    env: dict[str, Secret] | None = Field(default=None, repr=False)

    _env = field_validator("env")(check_env)
