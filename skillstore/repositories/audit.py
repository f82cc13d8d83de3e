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

from skillstore.errors import AppendOnlyError, ValidationError
from skillstore.models.audit import AuditLog, AuditLogBase, AuditLogCreate, AuditLogRead
from skillstore.repositories.base import RepoContext, Repository


class AuditRepository(Repository[AuditLog, AuditLogCreate, AuditLogCreate, AuditLogRead]):
    """Append-only audit entries; scoped to the session's team when it has one."""

    model = AuditLog
    read_model = AuditLogRead
    base_model = AuditLogBase
    create_model = AuditLogCreate
    update_model = AuditLogCreate

    def __init__(self, ctx: RepoContext) -> None:
        super().__init__(ctx)
        self.tenant = ctx.team_id is not None  # type: ignore[misc]  # per session, see above

    def _order(self) -> list[sa.ColumnElement[Any]]:
        return [self.table.c.timestamp.desc(), self.table.c.id.desc()]

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
        values = await self._insert(entry, {} if self.tenant else {"team_id": None})
        if durable:
            self._ctx.durable.append((self.table, values))
        return self._read_of(values)

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
        given = {
            "resource_type": resource_type,
            "resource_id": resource_id,
            "user_id": user_id,
            "event_type": event_type,
        }
        shape, params = self._filters({k: v for k, v in given.items() if v is not None})
        bounds = (since is not None, until is not None)
        timestamp = self.table.c.timestamp

        def build() -> sa.Executable:
            where = self._where(shape)
            if since is not None:
                where.append(timestamp >= sa.bindparam("since", type_=timestamp.type))
            if until is not None:
                where.append(timestamp < sa.bindparam("until", type_=timestamp.type))
            query = sa.select(*self._read_columns()).where(*where)
            return query.order_by(*self._order()).limit(sa.bindparam("limit"))

        prepared = self._statement("query", build, shape, bounds)
        params.update(limit=limit, since=since, until=until)
        return self._reads(prepared, await self._uow.rows(prepared, self._params(**params)))

    async def update(
        self,
        id: uuid.UUID,
        data: AuditLogCreate | Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> NoReturn:
        """Refused: audit entries are never changed."""
        raise AppendOnlyError("audit_log is append-only; record a new entry instead")

    async def delete(self, id: uuid.UUID) -> NoReturn:
        """Refused: audit entries are never deleted."""
        raise AppendOnlyError("audit_log is append-only; entries cannot be deleted")
