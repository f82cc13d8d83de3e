"""The audit log: `record` one event, `query` by resource, user, event and time range.

The repository works in both kinds of session. In a tenant session it sees and writes
only its team's rows, like any tenant repository. In a global session it sees every row:
that session is already the operator's scope (it reaches every user and team), and some
events belong to no team at all (key rotation). A per-team repository only was rejected
because membership changes and key rotation happen in global sessions.

Rows are written with a plain INSERT inside the caller's transaction, so an audited
change and its audit row commit or roll back together. A refused request (a webhook that
failed verification) must leave its row even when the caller's unit of work rolls back:
``record(..., durable=True)`` also hands the row to the session, which writes it again in
a fresh transaction after a rollback (see `Store.session`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime
from typing import Any, NoReturn

import sqlalchemy as sa
from sqlmodel import col

from skillstore.db.base import table_of
from skillstore.db.translate import translated
from skillstore.errors import AppendOnlyError, ValidationError
from skillstore.models.audit import AuditLog, AuditLogBase, AuditLogCreate, AuditLogRead
from skillstore.repositories.base import Repository


class AuditRepository(Repository[AuditLog, AuditLogRead]):
    """Append-only audit entries; scoped to the session's team when it has one."""

    model = AuditLog
    read_model = AuditLogRead
    base_model = AuditLogBase
    create_model = AuditLogCreate
    update_model = AuditLogCreate

    def _scope(self) -> list[sa.ColumnElement[bool]]:
        team = self._ctx.team_id
        return [] if team is None else [col(AuditLog.team_id) == team]

    def _stamp(self) -> dict[str, Any]:
        team = self._ctx.team_id
        return {} if team is None else {"team_id": team}

    def _order(self) -> list[sa.ColumnElement[Any]]:
        return [col(AuditLog.timestamp).desc(), col(AuditLog.id).desc()]

    async def record(
        self,
        event_type: str,
        *,
        action: str,
        user_id: uuid.UUID | None = None,
        resource_type: str | None = None,
        resource_id: uuid.UUID | None = None,
        details: Mapping[str, Any] | None = None,
        ip_address: str | None = None,
        success: bool = True,
        durable: bool = False,
    ) -> AuditLogRead:
        """Append one entry in the current transaction and return it.

        Args:
            event_type: dotted name, e.g. ``AuditEvent.CREDENTIAL_REVEALED``.
            action: the verb (``reveal``, ``rotate``, ``verify``…).
            user_id: who acted, when known.
            durable: keep the entry even if this unit of work rolls back.
        """
        entry = AuditLogCreate(
            event_type=event_type,
            action=action,
            user_id=user_id,
            resource_type=resource_type,
            resource_id=resource_id,
            details=dict(details or {}),
            ip_address=ip_address,
            success=success,
        )
        row = AuditLog.model_validate(entry, update=self._stamp())
        table = table_of(AuditLog)
        values = {c.name: getattr(row, c.name) for c in table.columns}
        async with self._write():
            await self._session.execute(sa.insert(table).values(values))
        if durable:
            self._ctx.durable.append((table, values))
        return AuditLogRead.model_validate(row)

    async def query(
        self,
        *,
        resource_type: str | None = None,
        resource_id: uuid.UUID | None = None,
        user_id: uuid.UUID | None = None,
        event_type: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
    ) -> list[AuditLogRead]:
        """Entries matching every given filter, newest first; ``since <= t < until``."""
        if not 0 < limit <= 10_000:
            raise ValidationError("limit must be 1-10000")
        filters = {
            "resource_type": resource_type,
            "resource_id": resource_id,
            "user_id": user_id,
            "event_type": event_type,
        }
        stmt = sa.select(AuditLog).where(
            *self._scope(),
            *self._filters({k: v for k, v in filters.items() if v is not None}),
        )
        if since is not None:
            stmt = stmt.where(col(AuditLog.timestamp) >= since)
        if until is not None:
            stmt = stmt.where(col(AuditLog.timestamp) < until)
        with translated():
            rows = (await self._session.execute(stmt.order_by(*self._order()).limit(limit))).all()
        return [self._to_read(row[0]) for row in rows]

    async def update(
        self, id: uuid.UUID, data: Any, *, expected_version: int | None = None
    ) -> NoReturn:
        """Refused: audit entries are never changed."""
        raise AppendOnlyError("audit_log is append-only; record a new entry instead")

    async def delete(self, id: uuid.UUID) -> NoReturn:
        """Refused: audit entries are never deleted."""
        raise AppendOnlyError("audit_log is append-only; entries cannot be deleted")
