"""Clients, their append-only profile history, and feedback.

Appending locks the client's row (``SELECT … FOR UPDATE``; SQLite's writers are serialised
anyway) and takes the next ``sequence`` number, so concurrent appends to one client
queue for the length of one insert and the history keeps one total order; the
``(client_id, sequence)`` unique key is the backstop. Retrying on a unique-key collision
was rejected: under contention a writer can lose any number of times. A client with
history is archived, never deleted (see `skillstore.models.client`).
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from skillstore.db.base import table_of
from skillstore.db.types import utcnow
from skillstore.errors import ConflictError, NotFoundError
from skillstore.models.client import (
    Client,
    ClientBase,
    ClientCreate,
    ClientProfile,
    ClientProfileEntry,
    ClientProfileEntryCreate,
    ClientProfileEntryRead,
    ClientRead,
    ClientUpdate,
    fold_profile,
)
from skillstore.models.conversation import Message
from skillstore.models.feedback import (
    FeedbackEntry,
    FeedbackEntryBase,
    FeedbackEntryCreate,
    FeedbackEntryRead,
    FeedbackEntryUpdate,
)
from skillstore.models.task import Task
from skillstore.models.tenancy import User
from skillstore.repositories.base import TenantRepository, coerce

_ENTRY = table_of(ClientProfileEntry)
_ENTRY_FIELDS = tuple(ClientProfileEntryRead.model_fields)


class ClientRepository(TenantRepository[Client, ClientCreate, ClientUpdate, ClientRead]):
    """Clients of the session's team and their profiles."""

    model = Client
    read_model = ClientRead
    base_model = ClientBase
    create_model = ClientCreate
    update_model = ClientUpdate

    async def append_profile(
        self,
        client_id: uuid.UUID,
        data: ClientProfileEntryCreate | Mapping[str, Any],
        *,
        source: str | None = None,
    ) -> ClientProfileEntryRead:
        """Append a profile change: ``data`` is a JSON Merge Patch (``None`` removes a key).

        ``data`` may be a dict or a `ClientProfileEntryCreate` (which carries ``source``).

        Raises:
            NotFoundError: no such client in this team.
            ValidationError: ``data`` is not a JSON object.
        """
        if not isinstance(data, ClientProfileEntryCreate):
            data = coerce({"data": data, "source": source}, ClientProfileEntryCreate)
        await self._uow.begin_write()
        if (
            await self._uow.one(self._statement("lock", self._lock), self._params(id=client_id))
            is None
        ):
            raise NotFoundError(f"Client {client_id} not found")
        entry = {
            **data.model_dump(),
            "id": uuid.uuid4(),
            "client_id": client_id,
            "created_at": utcnow(),
            "team_id": self.team_id,
            "erasure_id": None,
        }
        prepared = self._statement("append-entry", self._append)
        sequence = await self._uow.scalar(prepared, {f"v_{k}": v for k, v in entry.items()})
        read: ClientProfileEntryRead = ClientProfileEntryRead.model_construct(
            **entry, sequence=sequence
        )
        return read

    def _lock(self) -> sa.Executable:
        table = self.table
        where = [table.c.id == sa.bindparam("id"), *self._scope()]
        return sa.select(table.c.id).where(*where).with_for_update()

    def _append(self) -> sa.Executable:
        c = _ENTRY.c
        columns = [n for n in _ENTRY_FIELDS if n != "sequence"]
        binds = [sa.bindparam(f"v_{n}", type_=c[n].type) for n in columns]
        # The next number, read under the client's row lock (serialised on SQLite anyway).
        following = (
            sa.select(sa.func.coalesce(sa.func.max(c.sequence), 0) + 1)
            .where(c.client_id == sa.bindparam("v_client_id", type_=c.client_id.type))
            .scalar_subquery()
        )
        rows = sa.select(*binds, following)
        return (
            sa.insert(_ENTRY)
            .from_select([*columns, "sequence"], rows, include_defaults=False)
            .returning(c.sequence)
        )

    async def profile_history(self, client_id: uuid.UUID) -> list[ClientProfileEntryRead]:
        """Every profile entry of the client, oldest first."""
        await self._values(client_id, "id")

        def build() -> sa.Executable:
            c = _ENTRY.c
            return (
                sa.select(*(c[n] for n in _ENTRY_FIELDS))
                .where(c.client_id == sa.bindparam("client"), c.team_id == sa.bindparam("team_id"))
                .order_by(c.sequence)
            )

        rows = await self._uow.rows(
            self._statement("history", build), self._params(client=client_id)
        )
        return [
            ClientProfileEntryRead.model_construct(**dict(zip(_ENTRY_FIELDS, r, strict=True)))
            for r in rows
        ]

    async def profile(self, client_id: uuid.UUID) -> ClientProfile:
        """The client's current profile: its entries folded in order."""
        history = await self.profile_history(client_id)
        return ClientProfile(
            client_id=client_id,
            data=fold_profile(entry.data for entry in history),
            sequence=history[-1].sequence if history else 0,
            updated_at=history[-1].created_at if history else None,
        )

    async def archive(self, id: uuid.UUID) -> ClientRead:
        """Archive the client (the way to retire one with profile history); idempotent."""
        current = await self._require(id)
        if current.archived_at is not None:
            return current
        return await self._apply(id, {"archived_at": utcnow()})

    async def delete(self, id: uuid.UUID) -> bool:
        """Delete a client with no profile history; one with history must be archived.

        Raises:
            ConflictError: the client has profile entries (append-only, so they and the
                client stay); use `archive`.
        """

        def build() -> sa.Executable:
            c = _ENTRY.c
            where = [c.client_id == sa.bindparam("id"), c.team_id == sa.bindparam("team_id")]
            return sa.select(sa.func.count()).select_from(_ENTRY).where(*where)

        entries = int(
            await self._uow.scalar(self._statement("entries", build), self._params(id=id))
        )
        if entries:
            raise ConflictError(
                f"client {id} has {entries} append-only profile entries, which cannot be "
                "deleted; archive it with clients.archive(id) instead",
                constraint="fk_client_profile_entry_client_id_client",
            )
        return await super().delete(id)


class FeedbackRepository(
    TenantRepository[FeedbackEntry, FeedbackEntryCreate, FeedbackEntryUpdate, FeedbackEntryRead]
):
    """Ratings and comments on tasks and messages."""

    model = FeedbackEntry
    read_model = FeedbackEntryRead
    base_model = FeedbackEntryBase
    create_model = FeedbackEntryCreate
    update_model = FeedbackEntryUpdate
    references = {"task_id": Task, "author_id": User, "message_id": Message}
    merged_fields = frozenset({"task_id", "message_id"})

    async def average_rating(self, **filters: Any) -> float | None:
        """The mean rating of the entries matching ``filters`` (``None`` when there are none)."""
        shape, params = self._filters(filters)

        def build() -> sa.Executable:
            return sa.select(sa.func.avg(self.table.c.rating)).where(*self._where(shape))

        value = await self._uow.scalar(
            self._statement("average", build, shape), self._params(**params)
        )
        return None if value is None else float(value)
