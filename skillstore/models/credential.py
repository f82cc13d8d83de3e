"""Credentials: integration secrets, encrypted at rest (seed 000 credentials, seed 001 secrets).

The secret arrives only on `CredentialCreate` / `CredentialUpdate` (a write-only
``SecretStr``), is stored only as a Fernet token in ``ciphertext`` next to the
``key_version`` that made it, and leaves only through ``credentials.reveal``. Because
``ciphertext`` is a `Ciphertext` column, `Store.rotate_keys` re-encrypts it with no
registration. Seed 001 keyed secrets by name alone; here a name is unique per team.
"""

from __future__ import annotations

import uuid
from datetime import datetime

import sqlalchemy as sa
from pydantic import SecretStr, field_validator
from sqlmodel import Field

from skillstore.db.base import IdMixin, Schema, TeamScopedMixin, TimestampMixin
from skillstore.db.types import Ciphertext, UTCDateTime
from skillstore.secret import Secret, secret_text


def check_secret(value: SecretStr | str | None) -> SecretStr | str | None:
    """An empty secret is almost always a mistake in the caller's configuration."""
    if value is not None and not secret_text(value):
        raise ValueError("secret must not be empty")
    return value


# Fields a caller may set on a credential (never the secret itself: see CredentialCreate).
class CredentialBase(Schema):
    name: str = Field(min_length=1, max_length=200)
    integration_id: str = Field(min_length=1, max_length=100, index=True)
    expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# The table: the ciphertext and its key version, never shown in repr.
class Credential(TimestampMixin, CredentialBase, TeamScopedMixin, IdMixin, table=True):
    __table_args__ = (sa.UniqueConstraint("team_id", "name"),)

    ciphertext: str = Field(sa_type=Ciphertext, repr=False)
    key_version: str = Field(max_length=32, repr=False)
    created_by: uuid.UUID | None = Field(
        default=None, foreign_key="user.id", ondelete="SET NULL", index=True
    )
    last_used_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# Input: the secret is write-only.
class CredentialCreate(CredentialBase):
    secret: Secret

    _secret = field_validator("secret")(check_secret)


# Output: which key encrypted it and when it was used, never the secret.
class CredentialRead(CredentialBase):
    id: uuid.UUID
    team_id: uuid.UUID
    key_version: str
    created_by: uuid.UUID | None
    last_used_at: datetime | None
    created_at: datetime
    updated_at: datetime


# Patch: a new secret is encrypted under the current key.
class CredentialUpdate(Schema):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    integration_id: str | None = Field(default=None, min_length=1, max_length=100)
    expires_at: datetime | None = None
    secret: Secret | None = None

    _secret = field_validator("secret")(check_secret)
