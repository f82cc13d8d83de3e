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
from typing import Any

import sqlalchemy as sa
from sqlmodel import col

from skillstore.db.translate import translated
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


class ClientRepository(TenantRepository[Client, ClientRead]):
    """Clients of the session's team and their profiles."""

    model = Client
    read_model = ClientRead
    base_model = ClientBase
    create_model = ClientCreate
    update_model = ClientUpdate

    async def append_profile(
        self, client_id: uuid.UUID, data: Any, *, source: str | None = None
    ) -> ClientProfileEntryRead:
        """Append a profile change: ``data`` is a JSON Merge Patch (``None`` removes a key).

        ``data`` may be a dict or a `ClientProfileEntryCreate` (which carries ``source``).

        Raises:
            NotFoundError: no such client in this team.
            ValidationError: ``data`` is not a JSON object.
        """
        if not isinstance(data, ClientProfileEntryCreate):
            data = coerce({"data": data, "source": source}, ClientProfileEntryCreate)
        await self._lock(client_id)
        entry = ClientProfileEntry.model_validate(
            data,
            update={
                "client_id": client_id,
                "sequence": await self._last_sequence(client_id) + 1,
                **self._stamp(),
            },
        )
        async with self._write():
            self._session.add(entry)
            await self._session.flush()
        return ClientProfileEntryRead.model_validate(entry)

    async def profile_history(self, client_id: uuid.UUID) -> list[ClientProfileEntryRead]:
        """Every profile entry of the client, oldest first."""
        await self._get_row(client_id)
        stmt = (
            sa.select(ClientProfileEntry)
            .where(col(ClientProfileEntry.client_id) == client_id, *self._entry_scope())
            .order_by(col(ClientProfileEntry.sequence))
        )
        with translated():
            rows = (await self._session.execute(stmt)).scalars().all()
        return [ClientProfileEntryRead.model_validate(r) for r in rows]

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
        row = await self._get_row(id)
        if row.archived_at is not None:
            return self._to_read(row)
        return self._to_read(await self._apply(row, {"archived_at": utcnow()}))

    async def delete(self, id: uuid.UUID) -> bool:
        """Delete a client with no profile history; one with history must be archived.

        Raises:
            ConflictError: the client has profile entries (append-only, so they and the
                client stay); use `archive`.
        """
        count = sa.select(sa.func.count()).where(
            col(ClientProfileEntry.client_id) == id, *self._entry_scope()
        )
        with translated():
            entries = int((await self._session.execute(count)).scalar_one())
        if entries:
            raise ConflictError(
                f"client {id} has {entries} append-only profile entries, which cannot be "
                "deleted; archive it with clients.archive(id) instead",
                constraint="fk_client_profile_entry_client_id_client",
            )
        return await super().delete(id)

    async def _lock(self, client_id: uuid.UUID) -> None:
        stmt = sa.select(col(Client.id)).where(col(Client.id) == client_id, *self._scope())
        with translated():
            found = (await self._session.execute(stmt.with_for_update())).scalar_one_or_none()
        if found is None:
            raise NotFoundError(f"Client {client_id} not found")

    async def _last_sequence(self, client_id: uuid.UUID) -> int:
        stmt = sa.select(sa.func.coalesce(sa.func.max(col(ClientProfileEntry.sequence)), 0)).where(
            col(ClientProfileEntry.client_id) == client_id
        )
        with translated():
            return int((await self._session.execute(stmt)).scalar_one())

    def _entry_scope(self) -> list[sa.ColumnElement[bool]]:
        return [col(ClientProfileEntry.team_id) == self.team_id]


class FeedbackRepository(TenantRepository[FeedbackEntry, FeedbackEntryRead]):
    """Ratings and comments on tasks and messages."""

    model = FeedbackEntry
    read_model = FeedbackEntryRead
    base_model = FeedbackEntryBase
    create_model = FeedbackEntryCreate
    update_model = FeedbackEntryUpdate
    references = {"task_id": Task, "author_id": User, "message_id": Message}

    async def average_rating(self, **filters: Any) -> float | None:
        """The mean rating of the entries matching ``filters`` (``None`` when there are none)."""
        stmt = sa.select(sa.func.avg(col(FeedbackEntry.rating))).where(
            *self._scope(), *self._filters(filters)
        )
        with translated():
            value = (await self._session.execute(stmt)).scalar_one()
        return None if value is None else float(value)
