"""The generic repository: CRUD over one table, returning ``…Read`` models.

Repositories never commit: the `StoreSession` owns the transaction. Every write runs in a
SAVEPOINT, so a refused write (a unique key, a check, a stale version) leaves nothing
behind and the session stays usable. Tenant-scoped repositories add one predicate to
every read and one value to every write; another team's row is simply not found.

Updates are a single ``UPDATE … WHERE id = :id AND version = :read_version RETURNING``:
the version predicate is what makes optimistic locking hold under concurrency (a
read-check-write in Python would let two writers both win).
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import SQLModel

from skillstore.crypto import Cipher
from skillstore.db.base import IdMixin, table_of
from skillstore.db.translate import translated
from skillstore.errors import (
    ConcurrentUpdateError,
    NotFoundError,
    TenantRequiredError,
    ValidationError,
)
from skillstore.settings import StoreSettings

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from skillstore.embedding import Embedder

TableT = TypeVar("TableT", bound=IdMixin)
ReadT = TypeVar("ReadT", bound=SQLModel)
ModelT = TypeVar("ModelT", bound=SQLModel)


@dataclass(frozen=True)
class RepoContext:
    """What every repository of one session shares."""

    session: AsyncSession
    team_id: uuid.UUID | None
    cipher: Cipher
    settings: StoreSettings
    dialect: str
    durable: list[tuple[sa.Table, dict[str, Any]]] = dataclasses.field(default_factory=list)
    """Rows that must outlive a rollback of this unit of work (audit of refused requests);
    the session writes them again in a fresh transaction if it rolls back."""
    embedder: Embedder | None = None
    """Turns text into vectors where a caller gives text instead of an embedding."""


def coerce(data: ModelT | Mapping[str, Any], model: type[ModelT]) -> ModelT:
    """Accept a model instance or a plain mapping; validate the mapping into ``model``."""
    if isinstance(data, model):
        return data
    if isinstance(data, Mapping):
        return model.model_validate(dict(data))
    raise ValidationError(
        f"expected {model.__name__} or a mapping of its fields, got {type(data).__name__}"
    )


class Repository(Generic[TableT, ReadT]):
    """CRUD over ``model``; subclasses set the class attributes and add domain operations.

    Attributes:
        model: the table model.
        read_model: what every method returns.
        base_model: the validated field set, used to re-validate a row after a patch.
        create_model / update_model: the accepted inputs (a mapping is validated into them).
        secret_fields: write-only input field → column prefix of its
            ``<prefix>ciphertext`` / ``<prefix>key_version`` pair.
        write_only: other input fields that are never stored as given (see `_derived`).
        references: column → table model whose row it must point to (checked in the
            caller's team for tenant-scoped tables, so no row can link across tenants).
    """

    model: ClassVar[type[Any]]
    read_model: ClassVar[type[Any]]
    base_model: ClassVar[type[Any]]
    create_model: ClassVar[type[Any]]
    update_model: ClassVar[type[Any]]
    secret_fields: ClassVar[Mapping[str, str]] = {}
    write_only: ClassVar[frozenset[str]] = frozenset()
    references: ClassVar[Mapping[str, type[Any]]] = {}

    def __init__(self, ctx: RepoContext) -> None:
        self._ctx = ctx
        self._session = ctx.session

    # ---- hooks for tenant scoping -------------------------------------------------------
    def _scope(self) -> list[sa.ColumnElement[bool]]:
        """Predicates added to every read and write."""
        return []

    def _stamp(self) -> dict[str, Any]:
        """Values added to every new row."""
        return {}

    # ---- helpers ------------------------------------------------------------------------
    @asynccontextmanager
    async def _write(self) -> AsyncIterator[None]:
        """A SAVEPOINT around one write; any failure rolls it back and is translated."""
        with translated():
            async with self._session.begin_nested():
                yield

    def _to_read(self, row: TableT) -> ReadT:
        result: ReadT = self.read_model.model_validate(row)
        return result

    def _derived(self, data: SQLModel) -> dict[str, Any]:
        """Column values computed from write-only input (ciphertexts; hashes in subclasses)."""
        return self._encrypt(data)

    def _encrypt(self, data: SQLModel) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field, prefix in self.secret_fields.items():
            secret = getattr(data, field, None)
            if secret is None:
                continue
            plain = secret.get_secret_value() if isinstance(secret, SecretStr) else str(secret)
            ciphertext, key_version = self._ctx.cipher.encrypt(plain)
            values[f"{prefix}ciphertext"] = ciphertext
            values[f"{prefix}key_version"] = key_version
        return values

    def _column(self, name: str) -> sa.ColumnElement[Any]:
        table = table_of(self.model)
        if name not in table.c:
            raise ValidationError(
                f"{self.model.__name__} has no column {name!r}; filter on one of: "
                + ", ".join(sorted(table.c.keys()))
            )
        column: sa.ColumnElement[Any] = getattr(self.model, name)
        return column

    def _filters(self, filters: Mapping[str, Any]) -> Iterator[sa.ColumnElement[bool]]:
        for name, value in filters.items():
            column = self._column(name)
            if value is None:
                yield column.is_(None)
            elif isinstance(value, list | tuple | set | frozenset):
                yield column.in_(list(value))
            else:
                yield column == value

    def _order(self) -> list[sa.ColumnElement[Any]]:
        table = table_of(self.model)
        order = [self.model.created_at.desc()] if "created_at" in table.c else []
        return [*order, self.model.id.desc()]

    async def _check_references(self, values: Mapping[str, Any]) -> None:
        for column, target in self.references.items():
            ref = values.get(column)
            if ref is None:
                continue
            stmt = sa.select(sa.func.count()).select_from(target).where(target.id == ref)
            if "team_id" in table_of(target).c and self._ctx.team_id is not None:
                stmt = stmt.where(target.team_id == self._ctx.team_id)
            with translated():
                found = (await self._session.execute(stmt)).scalar_one()
            if not found:
                raise NotFoundError(
                    f"{column} {ref} does not name a {target.__name__} in this team; "
                    "create it first or check the id"
                )

    async def _get_row(self, id: uuid.UUID) -> TableT:
        stmt = sa.select(self.model).where(self.model.id == id, *self._scope())
        with translated():
            row: TableT | None = (await self._session.execute(stmt)).scalars().one_or_none()
        if row is None:
            raise NotFoundError(f"{self.model.__name__} {id} not found")
        return row

    # ---- CRUD ---------------------------------------------------------------------------
    async def create(self, data: Any, **extra: Any) -> ReadT:
        """Validate ``data`` (a ``…Create`` model or a mapping), insert it, return the Read."""
        row = await self._insert(coerce(data, self.create_model), extra)
        return self._to_read(row)

    async def _insert(self, data: SQLModel, extra: Mapping[str, Any]) -> TableT:
        update = {**self._derived(data), **extra, **self._stamp()}
        row: TableT = self.model.model_validate(data, update=update)
        await self._check_references(row.model_dump())
        async with self._write():
            self._session.add(row)
            await self._session.flush()
        return row

    async def get(self, id: uuid.UUID) -> ReadT | None:
        """The row with ``id`` (in this team, if tenant-scoped), or ``None``."""
        try:
            return self._to_read(await self._get_row(id))
        except NotFoundError:
            return None

    async def find(self, *, limit: int = 50, offset: int = 0, **filters: Any) -> list[ReadT]:
        """Rows whose columns equal ``filters`` (a list means "any of"), newest first."""
        if not 0 < limit <= 10_000 or offset < 0:
            raise ValidationError("limit must be 1-10000 and offset must not be negative")
        stmt = (
            sa.select(self.model)
            .where(*self._scope(), *self._filters(filters))
            .order_by(*self._order())
            .limit(limit)
            .offset(offset)
        )
        with translated():
            rows: Sequence[TableT] = (await self._session.execute(stmt)).scalars().all()
        return [self._to_read(row) for row in rows]

    async def count(self, **filters: Any) -> int:
        """How many rows match ``filters``."""
        stmt = (
            sa.select(sa.func.count())
            .select_from(self.model)
            .where(*self._scope(), *self._filters(filters))
        )
        with translated():
            return int((await self._session.execute(stmt)).scalar_one())

    async def update(
        self, id: uuid.UUID, data: Any, *, expected_version: int | None = None
    ) -> ReadT:
        """Apply the fields set on ``data``; with ``expected_version``, only if unchanged.

        Raises:
            NotFoundError: no such row in this team.
            ConcurrentUpdateError: the row's version is not ``expected_version``, or it
                changed between this read and the write.
            ValidationError: the patched row breaks a rule.
        """
        patch = coerce(data, self.update_model)
        row = await self._get_row(id)
        version = getattr(row, "version", None)
        if expected_version is not None and version != expected_version:
            raise ConcurrentUpdateError(
                f"{self.model.__name__} {id} is at version {version}, not {expected_version}; "
                "re-read it and apply the change again"
            )
        write_only = set(self.secret_fields) | self.write_only
        changes = patch.model_dump(exclude_unset=True, exclude=write_only)
        merged = self.base_model.model_validate({**row.model_dump(), **changes})
        values = {name: getattr(merged, name) for name in changes}
        values.update(self._derived(patch))
        return self._to_read(await self._apply(row, values))

    async def _apply(self, row: TableT, values: Mapping[str, Any]) -> TableT:
        """Write ``values`` to ``row`` in one guarded UPDATE and return the fresh row."""
        await self._check_references(values)
        model = self.model
        stmt = sa.update(model).where(model.id == row.id, *self._scope()).values(**values)
        version = getattr(row, "version", None)
        if version is not None:
            stmt = stmt.where(model.version == version).values(version=version + 1)
        async with self._write():
            result = await self._session.execute(
                stmt.returning(model),
                execution_options={"synchronize_session": False, "populate_existing": True},
            )
            fresh: TableT | None = result.scalars().one_or_none()
        if fresh is None:
            raise ConcurrentUpdateError(
                f"{model.__name__} {row.id} was changed by someone else while this update ran; "
                "re-read it and apply the change again"
            )
        return fresh

    async def delete(self, id: uuid.UUID) -> bool:
        """Delete the row; ``False`` if there was none (in this team)."""
        stmt = sa.delete(self.model).where(self.model.id == id, *self._scope())
        async with self._write():
            result = await self._session.execute(stmt)
        return bool(getattr(result, "rowcount", 0))


class TenantRepository(Repository[TableT, ReadT]):
    """A repository over a table with ``team_id``: every read filtered, every write stamped."""

    def __init__(self, ctx: RepoContext) -> None:
        if ctx.team_id is None:
            raise TenantRequiredError(
                f"{type(self).__name__} is tenant-scoped: open the session with "
                "store.session(team_id=...)"
            )
        super().__init__(ctx)
        self.team_id: uuid.UUID = ctx.team_id

    def _scope(self) -> list[sa.ColumnElement[bool]]:
        return [self.model.team_id == self.team_id]

    def _stamp(self) -> dict[str, Any]:
        return {"team_id": self.team_id}
