"""Webhooks: the encrypted signing secret, and `verify` for inbound calls.

`verify` checks, in this order, that the hook is enabled, that the source address is in
the allowlist, that the signature is the HMAC-SHA256 of ``"<timestamp>.<nonce>." + body``
under the hook's secret, compared in constant time (``hmac.compare_digest``), that the
signed timestamp is within ``webhook_tolerance_s`` of now, and that the nonce was not
used before: it is inserted into ``webhook_nonce`` (primary key: webhook and nonce), so
of two calls with one nonce, even concurrent ones, exactly one gets in. A nonce is kept
until its timestamp leaves the tolerance (after that the timestamp alone refuses a
replay) and swept by the next verification of the same hook. Every refusal is written
to the audit log as a durable entry, so it survives even though `verify` raises and the
caller's unit of work then rolls back.

Rejected: a nonce without a timestamp (the table would grow forever), a timestamp
without a nonce (a replay inside the window would pass).
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
import secrets
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from skillstore.db.base import table_of
from skillstore.db.sql import insert_or_nothing
from skillstore.db.types import utcnow
from skillstore.errors import ValidationError, WebhookVerificationError
from skillstore.models.audit import AuditEvent
from skillstore.models.webhook import (
    Webhook,
    WebhookBase,
    WebhookCreate,
    WebhookNonce,
    WebhookRead,
    WebhookUpdate,
)
from skillstore.models.workflow import Workflow
from skillstore.repositories.audit import AuditRepository
from skillstore.repositories.base import TenantRepository

_NONCE = re.compile(r"^[A-Za-z0-9._~+/=-]{8,128}$")


def sign(
    secret: str, body: bytes, *, timestamp: int | None = None, nonce: str | None = None
) -> str:
    """``sha256=<hex HMAC-SHA256>`` of ``"<timestamp>.<nonce>." + body``, what `verify`
    checks; without ``timestamp`` and ``nonce``, of the body alone (the earlier form,
    which `verify` no longer accepts)."""
    if (timestamp is None) != (nonce is None):
        raise ValidationError("sign the timestamp and the nonce together, or neither")
    signed = body if nonce is None else f"{timestamp}.{nonce}.".encode() + body
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def sign_call(
    secret: str, body: bytes, *, timestamp: int | None = None, nonce: str | None = None
) -> dict[str, Any]:
    """What a caller sends with ``body``: ``timestamp`` (now, in Unix seconds, unless
    given), a fresh random ``nonce`` unless given, and their ``signature``; the keys are
    `verify`'s arguments: ``verify(id, source_ip=ip, body=body, **sign_call(s, body))``."""
    timestamp = int(time.time()) if timestamp is None else timestamp
    nonce = secrets.token_urlsafe(16) if nonce is None else nonce
    signature = sign(secret, body, timestamp=timestamp, nonce=nonce)
    return {"timestamp": timestamp, "nonce": nonce, "signature": signature}


def _ip_allowed(source_ip: str, allowed: list[str]) -> bool:
    if not allowed:
        return True
    try:
        address = ipaddress.ip_address(source_ip.strip())
    except ValueError:
        return False
    return any(address in ipaddress.ip_network(network) for network in allowed)


class WebhookRepository(TenantRepository[Webhook, WebhookCreate, WebhookUpdate, WebhookRead]):
    """Webhooks of the session's team."""

    model = Webhook
    read_model = WebhookRead
    base_model = WebhookBase
    create_model = WebhookCreate
    update_model = WebhookUpdate
    secret_fields = {"secret": "secret_"}
    references = {"workflow_id": Workflow}

    async def verify(
        self,
        webhook_id: uuid.UUID,
        *,
        source_ip: str,
        signature: str,
        body: bytes,
        timestamp: int,
        nonce: str,
    ) -> WebhookRead:
        """Return the webhook if this call may trigger it; otherwise audit and raise.

        ``signature`` is ``sha256=<hex>`` (or the bare hex) of ``"<timestamp>.<nonce>."``
        followed by the raw request ``body`` (see `sign_call`); ``timestamp`` is Unix
        seconds, ``nonce`` 8-128 URL-safe characters, used once.

        Raises:
            NotFoundError: no such webhook in this team.
            ValidationError: the timestamp or nonce is malformed.
            WebhookVerificationError: disabled, source IP not allowed, bad signature,
                a timestamp outside the tolerance, or a nonce already used.
        """
        if not isinstance(timestamp, int) or isinstance(timestamp, bool):
            raise ValidationError("timestamp: expected Unix seconds as an int")
        if not isinstance(nonce, str) or not _NONCE.match(nonce):
            raise ValidationError("nonce: expected 8-128 URL-safe characters")
        names = (*WebhookRead.model_fields, "secret_ciphertext")
        values = await self._values(webhook_id, *names)
        row = self._read_of(values)
        refusal: tuple[str, str] | None = None
        if not row.enabled:
            refusal = ("disabled", f"webhook {row.id} is disabled; enable it to accept calls")
        elif not _ip_allowed(source_ip, row.allowed_ips):
            refusal = (
                "ip_not_allowed",
                f"source address {source_ip!r} is not in webhook {row.id}'s allowlist",
            )
        else:
            secret = self._store.cipher.decrypt(values["secret_ciphertext"])
            expected = sign(secret, body, timestamp=timestamp, nonce=nonce)
            given = signature.strip()
            given = given if given.startswith("sha256=") else "sha256=" + given
            if not hmac.compare_digest(given.encode(), expected.encode()):
                refusal = (
                    "bad_signature",
                    f"signature does not match webhook {row.id}'s secret; sign "
                    "'<timestamp>.<nonce>.' + the raw body with HMAC-SHA256 and send "
                    "'sha256=<hex digest>' (see sign_call)",
                )
            else:
                refusal = await self._fresh(row.id, timestamp, nonce)
        if refusal is None:
            return row
        reason, message = refusal
        await self._audit_refusal(row, source_ip, reason)
        raise WebhookVerificationError(message, reason=reason)

    async def _fresh(
        self, webhook_id: uuid.UUID, timestamp: int, nonce: str
    ) -> tuple[str, str] | None:
        """Refuse a stale timestamp or a used nonce; otherwise remember the nonce."""
        tolerance = self._store.settings.webhook_tolerance_s
        now = utcnow()
        if abs(now.timestamp() - timestamp) > tolerance:
            return (
                "stale_timestamp",
                f"the call's timestamp is more than {tolerance} s from now; sign each call "
                "with the current time",
            )
        table = table_of(WebhookNonce)

        def sweep() -> sa.Executable:
            return sa.delete(table).where(
                table.c.webhook_id == sa.bindparam("webhook"),
                table.c.expires_at < sa.bindparam("now", type_=table.c.expires_at.type),
            )

        def remember() -> sa.Executable:
            insert = insert_or_nothing(self._store.engine.dialect, table)
            values = {c.key: sa.bindparam(c.key, type_=c.type) for c in table.columns}
            return insert.values(values).on_conflict_do_nothing().returning(table.c.nonce)

        await self._uow.begin_write()
        await self._uow.rows(
            self._statement("sweep-nonces", sweep), {"webhook": webhook_id, "now": now}
        )
        expires_at = datetime.fromtimestamp(timestamp, UTC) + timedelta(seconds=tolerance)
        params = {"webhook_id": webhook_id, "nonce": nonce, "expires_at": expires_at}
        if await self._uow.one(self._statement("remember-nonce", remember), params) is None:
            return (
                "replayed_nonce",
                f"nonce {nonce!r} was already used for webhook {webhook_id}; send each call "
                "with a fresh nonce",
            )
        return None

    async def _audit_refusal(self, row: WebhookRead, source_ip: str, reason: str) -> None:
        try:
            address: str | None = str(ipaddress.ip_address(source_ip.strip()))
        except ValueError:
            address = None
        await AuditRepository(self._ctx).record(
            AuditEvent.WEBHOOK_VERIFICATION_FAILED,
            action="verify",
            resource_type="webhook",
            resource_id=row.id,
            details={"reason": reason, "workflow_id": str(row.workflow_id)},
            ip_address=address,
            success=False,
            durable=True,
        )
