"""Webhooks (seed 001): an inbound URL that starts a workflow when a caller proves itself.

The shared secret is encrypted at rest (``secret_ciphertext`` + ``secret_key_version``)
and is write-only: it enters on `WebhookCreate`/`WebhookUpdate` and leaves only as an
HMAC comparison inside `WebhookRepository.verify`. The allowlist holds IPs and CIDR
networks, validated and normalised with ``ipaddress`` (``10.0.0.7/24`` is stored as
``10.0.0.0/24``; a bare address becomes a /32 or /128); an empty list allows any source.
"""

from __future__ import annotations

import ipaddress
import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import SecretStr, field_validator
from sqlmodel import Field

from skillstore.db.base import IdMixin, Schema, TeamScopedMixin, TimestampMixin
from skillstore.db.types import JSON, Ciphertext, StrList, UTCDateTime
from skillstore.secret import Secret, secret_text


def check_networks(values: list[str] | None) -> list[str] | None:
    """Normalise IPs/CIDRs, or refuse the first one ``ipaddress`` cannot read."""
    if values is None:
        return None
    networks: list[str] = []
    for value in values:
        try:
            networks.append(str(ipaddress.ip_network(value.strip(), strict=False)))
        except ValueError:
            raise ValueError(
                f"{value!r} is not an IP address or CIDR network (e.g. 203.0.113.7, "
                "10.0.0.0/8, 2001:db8::/32)"
            ) from None
    return networks


def check_secret(value: SecretStr | str | None) -> SecretStr | str | None:
    """A signing secret long enough that it cannot be guessed."""
    if value is not None and not 16 <= len(secret_text(value)) <= 512:
        raise ValueError("webhook secret must be 16 to 512 characters long")
    return value


# Fields a caller may set on a webhook.
class WebhookBase(Schema):
    workflow_id: uuid.UUID = Field(foreign_key="workflow.id", ondelete="CASCADE", index=True)
    allowed_ips: list[str] = Field(default_factory=list, sa_type=StrList)
    input_mapping: dict[str, Any] = Field(default_factory=dict, sa_type=JSON)
    enabled: bool = True

    _networks = field_validator("allowed_ips")(check_networks)


# The table: + team, timestamps and the encrypted secret.
class Webhook(TimestampMixin, WebhookBase, TeamScopedMixin, IdMixin, table=True):
    secret_ciphertext: str = Field(sa_type=Ciphertext, repr=False)
    secret_key_version: str = Field(max_length=32, repr=False)


# Input: the signing secret is write-only.
class WebhookCreate(WebhookBase):
    secret: Secret = Field(repr=False)

    _secret = field_validator("secret")(check_secret)


# Output: never the secret.
class WebhookRead(WebhookBase):
    id: uuid.UUID
    team_id: uuid.UUID
    created_at: datetime
    updated_at: datetime


# Patch: a new secret replaces the old one.
class WebhookUpdate(Schema):
    allowed_ips: list[str] | None = None
    input_mapping: dict[str, Any] | None = None
    enabled: bool | None = None
    secret: Secret | None = Field(default=None, repr=False)

    _networks = field_validator("allowed_ips")(check_networks)
    _secret = field_validator("secret")(check_secret)


# A nonce a verified call used, kept until its timestamp leaves the tolerance (then a
# replay is refused by its timestamp, and the row is swept).
class WebhookNonce(Schema, table=True):
    __tablename__ = "webhook_nonce"
    __table_args__ = (sa.Index("ix_webhook_nonce_expires_at", "expires_at"),)

    webhook_id: uuid.UUID = Field(foreign_key="webhook.id", ondelete="CASCADE", primary_key=True)
    nonce: str = Field(max_length=128, primary_key=True)
    expires_at: datetime = Field(sa_type=UTCDateTime)
