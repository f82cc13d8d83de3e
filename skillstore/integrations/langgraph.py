"""`SkillstoreSaver`: LangGraph's checkpointer on skillstore's database, per team.

A graph compiled with ``checkpointer=SkillstoreSaver(store, team_id=...)`` keeps its
checkpoints in the same database, pool and migrations as everything else of the team
(tables ``checkpoint``, ``checkpoint_blob``, ``checkpoint_write``:
`skillstore.models.checkpoint`). Every statement filters or stamps ``team_id``, so two
teams' threads of the same ``thread_id`` never meet, and a deleted team takes its
checkpoints with it. Channel values are stored once per ``(channel, version)``: a step
writes the channels it changed, not the whole state. Values go through the saver's
``serde`` (LangGraph's ``JsonPlusSerializer`` unless given).

The async methods (what ``ainvoke``/``astream`` use) run on your store; the sync ones
on a store of their own with the same settings (`skillstore.integrations._sync`).
"""

from __future__ import annotations

import builtins
import uuid
from collections.abc import AsyncIterator, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from skillstore.errors import ValidationError
from skillstore.integrations import _checkpoint_sql as sql
from skillstore.integrations._sync import SyncRunner
from skillstore.integrations.langgraph_store import SkillstoreStore

if TYPE_CHECKING:
    from collections.abc import Callable

    from skillstore.db.unit import UnitOfWork
    from skillstore.store import Store, StoreSession

__all__ = ["SkillstoreSaver", "SkillstoreStore"]

CHECKPOINTS, BLOBS, WRITES = sql.CHECKPOINTS, sql.BLOBS, sql.WRITES


class SkillstoreSaver(BaseCheckpointSaver[str]):
    """A LangGraph checkpointer for one team (see the module docstring)."""

    def __init__(
        self, store: Store, *, team_id: uuid.UUID, serde: SerializerProtocol | None = None
    ) -> None:
        super().__init__(serde=serde)
        self.store, self.team_id = store, team_id
        self._sync = SyncRunner(store)

    def close(self) -> None:
        """Close the store the sync methods use (the async ones use yours)."""
        self._sync.close()

    # ---- async: the methods LangGraph's async runtime calls ---------------------------
    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await self._get_tuple(self.store, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,  # LangGraph names it so
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        for found in await self._list(self.store, config, filter, before, limit):
            yield found

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await self._put(self.store, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await self._put_writes(self.store, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await self._delete_thread(self.store, thread_id)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint, write and value of a thread to another (same team)."""
        async with self.store.session(team_id=self.team_id) as s:
            for table in (BLOBS, CHECKPOINTS, WRITES):
                columns = [c for c in table.columns if c.name != "thread_id"]
                copied = sa.select(sa.literal(str(target_thread_id)), *columns).where(
                    *self._mine(table, source_thread_id)
                )
                names = ["thread_id", *(c.name for c in columns)]
                await s.execute(sa.insert(table).from_select(names, copied))

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """Drop all but each namespace's latest checkpoint (``"keep_latest"``), or every
        checkpoint (``"delete"``), of the threads, with the writes and values only the
        dropped ones used."""
        if strategy not in ("keep_latest", "delete"):
            raise ValidationError(
                f"prune strategy must be 'keep_latest' or 'delete', not {strategy!r}"
            )
        async with self.store.session(team_id=self.team_id) as s:
            for thread_id in thread_ids:
                if strategy == "delete":
                    for table in (WRITES, BLOBS, CHECKPOINTS):
                        await s.execute(sa.delete(table).where(*self._mine(table, thread_id)))
                    continue
                await self._keep_latest(s, str(thread_id))

    async def _keep_latest(self, s: StoreSession, thread_id: str) -> None:
        latest = (
            sa.select(CHECKPOINTS.c.checkpoint_ns, sa.func.max(CHECKPOINTS.c.checkpoint_id))
            .where(*self._mine(CHECKPOINTS, thread_id))
            .group_by(CHECKPOINTS.c.checkpoint_ns)
        )
        for ns, keep in [tuple(r) for r in (await s.execute(latest)).all()]:
            row = (
                await s.execute(
                    sa.select(CHECKPOINTS.c.type, CHECKPOINTS.c.checkpoint).where(
                        *self._mine(CHECKPOINTS, thread_id, ns), CHECKPOINTS.c.checkpoint_id == keep
                    )
                )
            ).one()
            kept: Checkpoint = self.serde.loads_typed((row.type, row.checkpoint))
            for table in (WRITES, CHECKPOINTS):
                await s.execute(
                    sa.delete(table).where(
                        *self._mine(table, thread_id, ns), table.c.checkpoint_id != keep
                    )
                )
            in_use = [
                sa.and_(BLOBS.c.channel == channel, BLOBS.c.version == str(version))
                for channel, version in kept["channel_versions"].items()
            ]
            unused = sa.not_(sa.or_(*in_use)) if in_use else sa.true()
            await s.execute(sa.delete(BLOBS).where(*self._mine(BLOBS, thread_id, ns), unused))

    # ---- sync: the same on the saver's own store ---------------------------------------
    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return self._sync.run(lambda store: self._get_tuple(store, config))

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,  # LangGraph names it so
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        yield from self._sync.run(lambda store: self._list(store, config, filter, before, limit))

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return self._sync.run(
            lambda store: self._put(store, config, checkpoint, metadata, new_versions)
        )

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        self._sync.run(lambda store: self._put_writes(store, config, writes, task_id, task_path))

    def delete_thread(self, thread_id: str) -> None:
        self._sync.run(lambda store: self._delete_thread(store, thread_id))

    # ---- the statements ----------------------------------------------------------------
    def _mine(
        self, table: sa.Table, thread_id: object, ns: str | None = None
    ) -> builtins.list[Any]:
        where = [table.c.team_id == self.team_id, table.c.thread_id == str(thread_id)]
        return where if ns is None else [*where, table.c.checkpoint_ns == ns]

    async def _get_tuple(self, store: Store, config: RunnableConfig) -> CheckpointTuple | None:
        conf = config["configurable"]
        params = {"team": self.team_id, "thread": str(conf["thread_id"])}
        params["ns"] = conf.get("checkpoint_ns", "")
        if checkpoint_id := get_checkpoint_id(config):
            params["checkpoint"] = checkpoint_id
            prepared = store.statements.get(("langgraph", "by_id"), sql.by_id)
        else:
            prepared = store.statements.get(("langgraph", "latest"), sql.latest)
        async with store.session(team_id=self.team_id, readonly=True) as s:
            found = await unit_of(s).one(prepared, params)
            return None if found is None else await self._tuple(s, sql.row_of(found))

    async def _list(
        self,
        store: Store,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> builtins.list[CheckpointTuple]:
        query = sa.select(*sql.CHECKPOINT_COLUMNS).where(CHECKPOINTS.c.team_id == self.team_id)
        if config is not None:
            conf = config["configurable"]
            query = query.where(CHECKPOINTS.c.thread_id == str(conf["thread_id"]))
            if (ns := conf.get("checkpoint_ns")) is not None:
                query = query.where(CHECKPOINTS.c.checkpoint_ns == ns)
            if checkpoint_id := get_checkpoint_id(config):
                query = query.where(CHECKPOINTS.c.checkpoint_id == checkpoint_id)
        if before is not None and (before_id := get_checkpoint_id(before)):
            query = query.where(CHECKPOINTS.c.checkpoint_id < before_id)
        query = query.order_by(
            CHECKPOINTS.c.thread_id, CHECKPOINTS.c.checkpoint_ns, CHECKPOINTS.c.checkpoint_id.desc()
        )
        found: builtins.list[CheckpointTuple] = []
        async with store.session(team_id=self.team_id, readonly=True) as s:
            for row in map(sql.row_of, (await s.execute(query)).all()):
                if limit is not None and len(found) >= limit:
                    break
                metadata = self.serde.loads_typed((row.metadata_type, row.metadata))
                if filter and any(metadata.get(k) != v for k, v in filter.items()):
                    continue
                found.append(await self._tuple(s, row, metadata))
        return found

    async def _tuple(
        self, s: StoreSession, row: sql.CheckpointRow, metadata: CheckpointMetadata | None = None
    ) -> CheckpointTuple:
        checkpoint: Checkpoint = self.serde.loads_typed((row.type, row.checkpoint))
        versions = {channel: str(v) for channel, v in checkpoint["channel_versions"].items()}
        uow, statements = unit_of(s), self.store.statements
        params = {"team": self.team_id, "thread": row.thread_id, "ns": row.checkpoint_ns}
        values: dict[str, Any] = {}
        if versions:
            blobs = statements.get(("langgraph", "blobs"), sql.blobs)
            for channel, version, kind, blob in await uow.rows(
                blobs, {**params, "channels": list(versions)}
            ):
                if versions.get(channel) == version and kind != "empty":
                    values[channel] = self.serde.loads_typed((kind, blob))
        writes = statements.get(("langgraph", "writes"), sql.writes)
        pending = [
            (task_id, channel, self.serde.loads_typed((kind, blob)))
            for task_id, channel, kind, blob in await uow.rows(
                writes, {**params, "checkpoint": row.checkpoint_id}
            )
        ]
        where = {"thread_id": row.thread_id, "checkpoint_ns": row.checkpoint_ns}
        return CheckpointTuple(
            config={"configurable": {**where, "checkpoint_id": row.checkpoint_id}},
            checkpoint={**checkpoint, "channel_values": values},
            metadata=metadata or self.serde.loads_typed((row.metadata_type, row.metadata)),
            parent_config=(
                {"configurable": {**where, "checkpoint_id": row.parent_checkpoint_id}}
                if row.parent_checkpoint_id
                else None
            ),
            pending_writes=pending,
        )

    async def _put(
        self,
        store: Store,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        conf = config["configurable"]
        thread_id, ns = str(conf["thread_id"]), conf.get("checkpoint_ns", "")
        stored = dict(checkpoint)
        values: dict[str, Any] = stored.pop("channel_values", {})  # type: ignore[assignment]
        key = {"team_id": self.team_id, "thread_id": thread_id, "checkpoint_ns": ns}
        blobs = []
        for channel, version in new_versions.items():
            kind, blob = (
                self.serde.dumps_typed(values[channel]) if channel in values else ("empty", None)
            )
            blobs.append(
                {**key, "channel": channel, "version": str(version), "type": kind, "blob": blob}
            )
        kind, data = self.serde.dumps_typed(stored)
        meta_kind, meta = self.serde.dumps_typed(get_checkpoint_metadata(config, metadata))
        row = {
            **key,
            "checkpoint_id": checkpoint["id"],
            "parent_checkpoint_id": conf.get("checkpoint_id"),
            "type": kind,
            "checkpoint": data,
            "metadata_type": meta_kind,
            "metadata": meta,
        }
        statements = store.statements
        async with store.session(team_id=self.team_id) as s:
            uow = unit_of(s)
            if blobs:
                insert = statements.get(("langgraph", "put_blob"), self._insert(store, BLOBS))
                await uow.run_many(insert, blobs)
            upsert = statements.get(
                ("langgraph", "put_checkpoint"), self._insert(store, CHECKPOINTS, replace=True)
            )
            await uow.rows(upsert, row)
        return {
            "configurable": {
                "thread_id": thread_id,
                "checkpoint_ns": ns,
                "checkpoint_id": checkpoint["id"],
            }
        }

    async def _put_writes(
        self,
        store: Store,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str,
    ) -> None:
        if not writes:
            return
        conf = config["configurable"]
        key = {
            "team_id": self.team_id,
            "thread_id": str(conf["thread_id"]),
            "checkpoint_ns": conf.get("checkpoint_ns", ""),
            "checkpoint_id": conf["checkpoint_id"],
            "task_id": task_id,
            "task_path": task_path,
        }
        rows = []
        for idx, (channel, value) in enumerate(writes):
            kind, blob = self.serde.dumps_typed(value)
            index = WRITES_IDX_MAP.get(channel, idx)
            rows.append({**key, "idx": index, "channel": channel, "type": kind, "blob": blob})
        # Special writes (errors, interrupts: negative indexes) replace; the rest are kept.
        replace = all(channel in WRITES_IDX_MAP for channel, _ in writes)
        name = ("langgraph", "put_writes", replace)
        insert = store.statements.get(name, self._insert(store, WRITES, replace=replace))
        async with store.session(team_id=self.team_id) as s:
            await unit_of(s).run_many(insert, rows)

    async def _delete_thread(self, store: Store, thread_id: str) -> None:
        async with store.session(team_id=self.team_id) as s:
            for table in (WRITES, BLOBS, CHECKPOINTS):
                await s.execute(sa.delete(table).where(*self._mine(table, thread_id)))

    @staticmethod
    def _insert(
        store: Store, table: sa.Table, *, replace: bool = False
    ) -> Callable[[], sa.Executable]:
        return lambda: sql.insert(store.dialect, table, replace=replace)


def unit_of(s: StoreSession) -> UnitOfWork:
    """The session's unit of work: prepared statements run there with one driver call."""
    return s._ctx.uow
