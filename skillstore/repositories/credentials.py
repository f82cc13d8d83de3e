"""Credentials: the secret is encrypted on the way in and comes out only through `reveal`.

Encryption itself is the base repository's (``secret_fields``), so every encrypted field
in the store works the same way and `Store.rotate_keys` covers it. ``reveal`` is the one
place that decrypts; it refuses expired credentials and stamps ``last_used_at`` (without
touching ``updated_at``, which records changes, not use).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from skillstore.db.types import utcnow
from skillstore.errors import CredentialError
from skillstore.models.audit import AuditEvent
from skillstore.models.credential import (
    Credential,
    CredentialBase,
    CredentialCreate,
    CredentialRead,
    CredentialUpdate,
)
from skillstore.models.tenancy import User
from skillstore.repositories._checks import require_known_integrations
from skillstore.repositories.audit import AuditRepository
from skillstore.repositories.base import TenantRepository, coerce


class CredentialRepository(
    TenantRepository[Credential, CredentialCreate, CredentialUpdate, CredentialRead]
):
    """Encrypted credentials of one team."""

    model = Credential
    read_model = CredentialRead
    base_model = CredentialBase
    create_model = CredentialCreate
    update_model = CredentialUpdate
    secret_fields = {"secret": ""}
    references = {"created_by": User}

    async def create(
        self, data: CredentialCreate | Mapping[str, Any], *, created_by: uuid.UUID | None = None
    ) -> CredentialRead:
        """Encrypt and store a credential.

        Raises:
            ValidationError: bad input or an unknown integration id.
            ConflictError: the name is taken in this team.
            CredentialError: no encryption key is configured.
        """
        credential = coerce(data, CredentialCreate)
        require_known_integrations([credential.integration_id], self._store.settings)
        return self._read_of(await self._insert(credential, {"created_by": created_by}))

    async def update(
        self,
        id: uuid.UUID,
        data: CredentialUpdate | Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> CredentialRead:
        """Apply a patch; a new ``secret`` is encrypted under the current key."""
        patch = coerce(data, CredentialUpdate)
        if patch.integration_id is not None:
            require_known_integrations([patch.integration_id], self._store.settings)
        return await super().update(id, patch, expected_version=expected_version)

    async def get_by_name(self, name: str) -> CredentialRead | None:
        """The credential with this name in this team, or ``None``."""
        found = await self.find(name=name, limit=1)
        return found[0] if found else None

    async def reveal(self, id: uuid.UUID, *, actor_id: uuid.UUID | None = None) -> str:
        """Decrypt the secret and record the use (``last_used_at`` and the audit log).

        Raises:
            NotFoundError: no such credential in this team.
            CredentialError: it has expired, or no configured key can decrypt it (the
                stored ciphertext is left as it was).
        """
        row = await self._values(id, "name", "expires_at", "ciphertext", "updated_at")
        now = utcnow()
        expires_at = row["expires_at"]
        if expires_at is not None and expires_at <= now:
            raise CredentialError(
                f"credential {row['name']!r} expired at {expires_at.isoformat()}; store a new "
                "secret or a later expires_at with credentials.update()"
            )
        audit = AuditRepository(self._ctx)
        try:
            secret = self._store.cipher.decrypt(row["ciphertext"])
        except CredentialError as exc:
            await audit.record(
                AuditEvent.CREDENTIAL_REVEALED,
                action="reveal",
                user_id=actor_id,
                resource_type="credential",
                resource_id=id,
                success=False,
                durable=True,
            )
            raise CredentialError(f"credential {row['name']!r}: {exc}") from None
        await self._apply(id, {"last_used_at": now, "updated_at": row["updated_at"]})
        await audit.record(
            AuditEvent.CREDENTIAL_REVEALED,
            action="reveal",
            user_id=actor_id,
            resource_type="credential",
            resource_id=id,
        )
        return secret
