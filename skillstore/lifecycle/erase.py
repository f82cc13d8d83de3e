"""Erasure that keeps append-only history honest: the audited redaction path.

Chosen over crypto-shredding: shredding needs every personal column encrypted under a
per-user or per-team data key, which would make content unsearchable by the database
(lexical search, metadata filters, JSON queries) and every read pay a decryption. The
redaction path keeps the data plain and makes forgetting explicit instead: an erasure
opens an ``erasure`` record, and the append-only triggers let an UPDATE through only
when it names that open record and blanks exactly the personal columns
(`skillstore.db.schema.REDACTED`), nothing else. Ids, actions, timestamps and the number
of entries survive, so the history stays countable and ordered; its personal payload
does not. Ordinary tables are simply deleted from (SQLite zeroes freed space with
``secure_delete``; `Store.checkpoint` empties the WAL).

Rejected: deleting history rows (the trail would lose its count); a session flag that
disables the triggers (anything could use it, and it would leave no record).
"""

from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa

from skillstore.db.base import table_of
from skillstore.db.schema import REDACTED
from skillstore.db.translate import translated
from skillstore.db.types import utcnow
from skillstore.errors import NotFoundError
from skillstore.models.erasure import Erasure, ErasureKind, ErasureRead
from skillstore.repositories.base import RepoContext

ERASED_DISPLAY_NAME = "erased user"


class Eraser:
    """One erasure: opens its record, redacts and deletes, then closes it."""

    def __init__(
        self,
        ctx: RepoContext,
        kind: ErasureKind,
        subject_id: uuid.UUID | None,
        team_id: uuid.UUID | None,
    ) -> None:
        self._ctx = ctx
        self.id = uuid.uuid4()
        self.kind = kind
        self.subject_id = subject_id
        self.team_id = team_id
        self.counts: dict[str, dict[str, int]] = {}

    async def run(self, statement: sa.Executable) -> sa.Result[Any]:
        with translated():
            return await self._ctx.uow.execute(statement)

    async def open(self, reason: str | None = None) -> None:
        table = table_of(Erasure)
        await self.run(
            sa.insert(table).values(
                id=self.id,
                kind=self.kind.value,
                subject_id=self.subject_id,
                team_id=self.team_id,
                reason=reason,
                counts={},
                started_at=utcnow(),
            )
        )

    def _count(self, table: sa.Table, what: str, n: int) -> int:
        if n:
            entry = self.counts.setdefault(table.name, {})
            entry[what] = entry.get(what, 0) + n
        return n

    async def redact(self, model: type[Any], where: sa.ColumnElement[bool]) -> int:
        """Blank the personal columns of the rows of append-only ``model`` matching ``where``."""
        table = table_of(model)
        blanks = dict(table.info[REDACTED])
        statement = (
            sa.update(table)
            .where(where, table.c.erasure_id.is_(None))
            .values(erasure_id=self.id, **blanks)
        )
        result = await self.run(statement)
        return self._count(table, "redacted", int(getattr(result, "rowcount", 0) or 0))

    async def delete(self, model: type[Any], where: sa.ColumnElement[bool]) -> int:
        table = table_of(model)
        result = await self.run(sa.delete(table).where(where))
        return self._count(table, "deleted", int(getattr(result, "rowcount", 0) or 0))

    async def update(self, model: type[Any], where: sa.ColumnElement[bool], **values: Any) -> int:
        table = table_of(model)
        result = await self.run(sa.update(table).where(where).values(**values))
        return self._count(table, "cleared", int(getattr(result, "rowcount", 0) or 0))

    async def close(self) -> ErasureRead:
        from skillstore.models.audit import AuditLog

        audit = table_of(AuditLog)
        await self.run(
            sa.insert(audit).values(
                id=uuid.uuid4(),
                event_type=f"{self.kind.value}.erased",
                action="erase",
                resource_type=self.kind.value,
                resource_id=self.subject_id,
                team_id=None,
                details={"erasure_id": str(self.id)},
                success=True,
                timestamp=utcnow(),
            )
        )
        table = table_of(Erasure)
        finished = utcnow()
        await self.run(
            sa.update(table)
            .where(table.c.id == self.id)
            .values(finished_at=finished, counts=self.counts)
        )
        self._ctx.store.caches.clear()  # no erased vector stays in this process's memory
        return ErasureRead(
            id=self.id,
            kind=self.kind,
            subject_id=self.subject_id,
            team_id=self.team_id,
            counts=self.counts,
            started_at=finished,
            finished_at=finished,
        )


async def erase_user(ctx: RepoContext, user_id: uuid.UUID) -> ErasureRead:
    """Forget user ``user_id`` (see `UserRepository.erase`)."""
    from skillstore.models import (
        AuditLog,
        Conversation,
        Credential,
        Escalation,
        FeedbackEntry,
        Memory,
        MemoryLog,
        TeamMembership,
        User,
        Workflow,
    )

    users = table_of(User)
    eraser = Eraser(ctx, ErasureKind.USER, user_id, None)
    found = (await eraser.run(sa.select(users.c.email).where(users.c.id == user_id))).first()
    if found is None:
        raise NotFoundError(f"user {user_id} not found")
    email = str(found[0])
    await eraser.open()
    memory, log = table_of(Memory), table_of(MemoryLog)
    theirs = sa.select(memory.c.id).where(memory.c.user_id == user_id)
    await eraser.redact(MemoryLog, sa.or_(log.c.user_id == user_id, log.c.memory_id.in_(theirs)))
    await eraser.delete(Memory, memory.c.user_id == user_id)
    await eraser.delete(Conversation, table_of(Conversation).c.user_id == user_id)
    await eraser.delete(FeedbackEntry, table_of(FeedbackEntry).c.author_id == user_id)
    await eraser.delete(TeamMembership, table_of(TeamMembership).c.user_id == user_id)
    for model, column in (
        (Credential, "created_by"),
        (Escalation, "assignee_id"),
        (Workflow, "owner_id"),
    ):
        await eraser.update(model, table_of(model).c[column] == user_id, **{column: None})
    audit = table_of(AuditLog)
    await eraser.redact(
        AuditLog,
        sa.or_(
            audit.c.user_id == user_id,
            audit.c.resource_id == user_id,
            sa.cast(audit.c.details, sa.Text).contains(email, autoescape=True),
        ),
    )
    # The row stays as a tombstone: authored agents and owned teams keep pointing at it.
    await eraser.update(
        User,
        users.c.id == user_id,
        email=f"erased-{user_id.hex}@erased.invalid",
        display_name=ERASED_DISPLAY_NAME,
        is_active=False,
        password_hash="!",
        updated_at=utcnow(),
    )
    return await eraser.close()


async def erase_team(ctx: RepoContext, team_id: uuid.UUID) -> ErasureRead:
    """Delete team ``team_id`` and everything it owns; blank its append-only history."""
    from skillstore.models import AuditLog, ClientProfileEntry, MemoryLog, Team

    teams = table_of(Team)
    eraser = Eraser(ctx, ErasureKind.TEAM, team_id, team_id)
    if (await eraser.run(sa.select(teams.c.id).where(teams.c.id == team_id))).first() is None:
        raise NotFoundError(f"team {team_id} not found")
    await eraser.open()
    for model in (MemoryLog, AuditLog, ClientProfileEntry):
        await eraser.redact(model, table_of(model).c.team_id == team_id)
    await eraser.delete(ClientProfileEntry, table_of(ClientProfileEntry).c.team_id == team_id)
    await eraser.delete(Team, teams.c.id == team_id)
    return await eraser.close()
