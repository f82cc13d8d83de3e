"""The statements `SkillstoreSaver` runs on every graph step, built once per store.

They go through the store's prepared-statement cache (``store.statements``) and the
session's unit of work, as the repositories' do: one driver call each, no savepoint
(``ON CONFLICT`` decides what an insert does, so nothing here needs one to be undone).
Every statement binds ``team``: the tenant guard.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from skillstore.db.base import table_of
from skillstore.models.checkpoint import LangGraphBlob, LangGraphCheckpoint, LangGraphWrite

CHECKPOINTS = table_of(LangGraphCheckpoint)
BLOBS = table_of(LangGraphBlob)
WRITES = table_of(LangGraphWrite)


class CheckpointRow(NamedTuple):
    thread_id: str
    checkpoint_ns: str
    checkpoint_id: str
    parent_checkpoint_id: str | None
    type: str
    checkpoint: bytes
    metadata_type: str
    metadata: bytes


CHECKPOINT_COLUMNS = [
    CHECKPOINTS.c[name]
    for name in (
        "thread_id",
        "checkpoint_ns",
        "checkpoint_id",
        "parent_checkpoint_id",
        "type",
        "checkpoint",
        "metadata_type",
        "metadata",
    )
]  # in CheckpointRow's order


def thread(table: sa.Table) -> list[sa.ColumnElement[bool]]:
    """The bound tenant, thread and namespace of ``table``'s rows."""
    return [
        table.c.team_id == sa.bindparam("team"),
        table.c.thread_id == sa.bindparam("thread"),
        table.c.checkpoint_ns == sa.bindparam("ns"),
    ]


def latest() -> sa.Executable:
    query = sa.select(*CHECKPOINT_COLUMNS).where(*thread(CHECKPOINTS))
    return query.order_by(CHECKPOINTS.c.checkpoint_id.desc()).limit(1)


def by_id() -> sa.Executable:
    where = CHECKPOINTS.c.checkpoint_id == sa.bindparam("checkpoint")
    return sa.select(*CHECKPOINT_COLUMNS).where(*thread(CHECKPOINTS), where)


def blobs() -> sa.Executable:
    columns = (BLOBS.c.channel, BLOBS.c.version, BLOBS.c.type, BLOBS.c.blob)
    channels = BLOBS.c.channel.in_(sa.bindparam("channels", expanding=True))
    return sa.select(*columns).where(*thread(BLOBS), channels)


def writes() -> sa.Executable:
    columns = (WRITES.c.task_id, WRITES.c.channel, WRITES.c.type, WRITES.c.blob)
    where = WRITES.c.checkpoint_id == sa.bindparam("checkpoint")
    order = (WRITES.c.task_path, WRITES.c.task_id, WRITES.c.idx)
    return sa.select(*columns).where(*thread(WRITES), where).order_by(*order)


def insert(dialect: str, table: sa.Table, *, replace: bool) -> sa.Executable:
    """``INSERT`` of one row, every column bound by its name, ``ON CONFLICT (primary key)
    DO NOTHING`` (or ``DO UPDATE`` the other columns, when ``replace``)."""
    values = {c.name: sa.bindparam(c.name, type_=c.type) for c in table.columns}
    keys = [c.name for c in table.primary_key.columns]
    others = [c.name for c in table.columns if c.name not in keys]
    if dialect == "postgresql":
        pg = postgresql.insert(table).values(values)
        if not replace:
            return pg.on_conflict_do_nothing(index_elements=keys)
        return pg.on_conflict_do_update(
            index_elements=keys, set_={name: pg.excluded[name] for name in others}
        )
    lite = sqlite.insert(table).values(values)
    if not replace:
        return lite.on_conflict_do_nothing(index_elements=keys)
    return lite.on_conflict_do_update(
        index_elements=keys, set_={name: lite.excluded[name] for name in others}
    )


def row_of(values: Any) -> CheckpointRow:
    return CheckpointRow(*values)
