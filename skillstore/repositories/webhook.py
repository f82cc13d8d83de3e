"""Webhooks: the encrypted signing secret, and `verify` for inbound calls.

`verify` checks, in this order, that the hook is enabled, that the source address is in
the allowlist, and that the signature is the HMAC-SHA256 of the raw body under the
hook's secret, compared in constant time (``hmac.compare_digest``). Every refusal is
written to the audit log as a durable entry, so it survives even though `verify` raises
and the caller's unit of work then rolls back.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import uuid

from skillstore.errors import WebhookVerificationError
from skillstore.models.audit import AuditEvent
from skillstore.models.webhook import (
    Webhook,
    WebhookBase,
    WebhookCreate,
    WebhookRead,
    WebhookUpdate,
)
from skillstore.models.workflow import Workflow
from skillstore.repositories.audit import AuditRepository
from skillstore.repositories.base import TenantRepository


def sign(secret: str, body: bytes) -> str:
    """The signature a caller sends: ``sha256=<hex HMAC-SHA256 of body>``."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


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
        self, webhook_id: uuid.UUID, *, source_ip: str, signature: str, body: bytes
    ) -> WebhookRead:
        """Return the webhook if this call may trigger it; otherwise audit and raise.

        ``signature`` is ``sha256=<hex>`` (or the bare hex) of the raw request ``body``.

        Raises:
            NotFoundError: no such webhook in this team.
            WebhookVerificationError: disabled, source IP not allowed, or bad signature.
        """
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
            expected = sign(self._store.cipher.decrypt(values["secret_ciphertext"]), body)
            given = signature.strip()
            given = given if given.startswith("sha256=") else "sha256=" + given
            if not hmac.compare_digest(given.encode(), expected.encode()):
                refusal = (
                    "bad_signature",
                    f"signature does not match webhook {row.id}'s secret; sign the raw body "
                    "with HMAC-SHA256 and send 'sha256=<hex digest>'",
                )
        if refusal is None:
            return row
        reason, message = refusal
        await self._audit_refusal(row, source_ip, reason)
        raise WebhookVerificationError(message, reason=reason)

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
