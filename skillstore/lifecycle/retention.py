"""Retention: each team's `RetentionPolicy` applied in batches (`Store.apply_retention`).

Every batch is its own unit of work choosing at most ``batch_size`` rows by id, so a run
can be interrupted and re-run (idempotent) and several workers can run at once: a row
another worker already deleted is simply not deleted again, and audit entries are
blanked only while ``erasure_id`` is NULL, so none is redacted twice. Ordinary rows are
deleted (SQLite's ``secure_delete`` zeroes them); append-only audit entries are redacted
under a ``retention`` erasure record, so the trail keeps its count and times.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from skillstore.db.base import table_of
from skillstore.db.types import utcnow
from skillstore.lifecycle.erase import Eraser
from skillstore.models.erasure import ErasureKind

if TYPE_CHECKING:
    from skillstore.store import Store


def _targets() -> list[tuple[str, type[Any], str]]:
    from skillstore.models import AgentLog, AgentMetric, Execution, Memory, Message

    return [
        ("executions_days", Execution, "created_at"),
        ("agent_logs_days", AgentLog, "created_at"),
        ("metrics_days", AgentMetric, "recorded_at"),
        ("messages_days", Message, "created_at"),
        ("expired_memories_days", Memory, "expires_at"),
    ]


async def apply_retention(store: Store, *, batch_size: int = 500) -> dict[str, int]:
    """Erase what every team's policy says is too old; rows erased, by table."""
    from skillstore.models import AuditLog, RetentionPolicy

    policies = table_of(RetentionPolicy)
    async with store.session(readonly=True) as s:
        rows = (await s.execute(sa.select(policies))).mappings().all()
    done: dict[str, int] = {}
    now = utcnow()
    for policy in rows:
        team_id: uuid.UUID = policy["team_id"]
        for field, model, column in _targets():
            if policy[field] is None:
                continue
            table = table_of(model)
            cutoff = now - timedelta(days=int(policy[field]))
            old = sa.and_(table.c.team_id == team_id, table.c[column] < cutoff)
            while n := await _delete_batch(store, table, old, batch_size):
                done[table.name] = done.get(table.name, 0) + n
        if policy["audit_days"] is not None:
            audit = table_of(AuditLog)
            cutoff = now - timedelta(days=int(policy["audit_days"]))
            old = sa.and_(audit.c.team_id == team_id, audit.c.timestamp < cutoff)
            while n := await _redact_batch(store, team_id, audit, old, batch_size):
                done[audit.name] = done.get(audit.name, 0) + n
    return done


async def _delete_batch(
    store: Store, table: sa.Table, where: sa.ColumnElement[bool], limit: int
) -> int:
    async with store.session() as s:
        ids = sa.select(table.c.id).where(where).limit(limit).scalar_subquery()
        result = await s.execute(sa.delete(table).where(table.c.id.in_(ids)))
        return int(getattr(result, "rowcount", 0) or 0)


async def _redact_batch(
    store: Store, team_id: uuid.UUID, table: sa.Table, where: sa.ColumnElement[bool], limit: int
) -> int:
    from skillstore.models import AuditLog

    async with store.session() as s:
        ctx = s._ctx
        await ctx.uow.begin_write()
        pending = sa.and_(where, table.c.erasure_id.is_(None))
        ids = (await s.execute(sa.select(table.c.id).where(pending).limit(limit))).scalars().all()
        if not ids:
            return 0
        eraser = Eraser(ctx, ErasureKind.RETENTION, None, team_id)
        await eraser.open(reason="retention")
        n = await eraser.redact(AuditLog, table.c.id.in_(list(ids)))
        await eraser.close()
        return n
