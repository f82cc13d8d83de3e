"""The generic repository: CRUD over one table, returning ``…Read`` models.

Repositories never commit: the `StoreSession` owns the unit of work. Each call is as few
statements as the operation needs, prepared once per store (`skillstore.db.statements`),
and the ``Read`` model is built once from the row: values the database returns were
validated on the way in and are not validated again.

Refusals leave the unit of work usable without a SAVEPOINT per write:
- ``create`` is one ``INSERT … SELECT … WHERE EXISTS (referenced row in this team) ON
  CONFLICT DO NOTHING RETURNING id``: no row back means a missing reference or a
  taken unique key, and only then does a second query find out which, for the message.
- ``update`` is one ``UPDATE … WHERE id = :id AND team_id = :team [AND version =
  :expected] [AND EXISTS …] RETURNING …``; the version predicate is what makes
  optimistic locking hold under concurrency (a read-check-write in Python would let two
  writers both win). A patch touching a unique key runs in a savepoint (only the
  database can say whether the key is free), and one touching the fields of a
  cross-field rule (`merged_fields`) reads the row first to validate the merged result.
- ``delete`` runs in a savepoint only where another table refers to this one without
  cascading (only the database knows what refers to a row).

Tenant-scoped repositories add ``team_id = :team_id`` to every statement and stamp it on
every row; another team's row is simply not found.
"""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import sqlalchemy as sa
from sqlmodel import SQLModel

from skillstore._pydantic import plain, trusted
from skillstore.db import jsonfilter
from skillstore.db.base import table_of
from skillstore.db.sql import insert_or_nothing
from skillstore.db.types import JSONDocument, utcnow
from skillstore.errors import (
    ConcurrentUpdateError,
    ConflictError,
    DatabaseError,
    NotFoundError,
    TenantRequiredError,
    ValidationError,
)
from skillstore.secret import secret_text

if TYPE_CHECKING:
    from skillstore.authz import Actor
    from skillstore.db.statements import Prepared
    from skillstore.db.unit import UnitOfWork
    from skillstore.store import Store

TableT = TypeVar("TableT", bound=SQLModel)
CreateT = TypeVar("CreateT", bound=SQLModel)
UpdateT = TypeVar("UpdateT", bound=SQLModel)
ReadT = TypeVar("ReadT", bound=SQLModel)
ModelT = TypeVar("ModelT", bound=SQLModel)

MAX_LIMIT = 10_000


@dataclass(frozen=True)
class RepoContext:
    """What every repository of one session shares."""

    uow: UnitOfWork
    team_id: uuid.UUID | None
    store: Store
    durable: list[tuple[sa.Table, dict[str, Any]]] = dataclasses.field(default_factory=list)
    """Rows that must outlive a rollback of this unit of work (audit of refused requests);
    the session writes them again in a fresh transaction if it rolls back."""
    actor: Actor | None = None
    """Who the session acts for (`skillstore.authz`); ``None``: the service."""


def coerce(data: ModelT | Mapping[str, Any], model: type[ModelT]) -> ModelT:
    """Accept a model instance or a plain mapping; validate the mapping into ``model``."""
    if isinstance(data, model):
        return data
    if isinstance(data, Mapping):
        return model.model_validate(dict(data))
    raise ValidationError(
        f"expected {model.__name__} or a mapping of its fields, got {type(data).__name__}"
    )


def column_of(table: sa.Table, field: str) -> sa.Column[Any]:
    """The column a model field is stored in (``metadata_`` is stored as ``metadata``)."""
    return table.c[field] if field in table.c else table.c[field.rstrip("_")]


def restricting(table: sa.Table) -> list[tuple[str, str]]:
    """The (table, column) foreign keys that refer to ``table`` without cascading its
    deletes: where a delete can be refused."""
    from skillstore.models import load_all

    load_all()  # every table, so every foreign key, is known
    return [
        (other.name, fk.parent.name)
        for other in (table.metadata.sorted_tables if table.metadata else ())
        for fk in other.foreign_keys
        if fk.column.table is table and (fk.ondelete or "").upper() not in {"CASCADE", "SET NULL"}
    ]


def archive_column(table: sa.Table) -> str | None:
    """The column saying a row is archived: ``archived_at``, or a ``status`` whose values
    include ``archived`` (agents, workflows, memories, clients); None if there is none."""
    if "archived_at" in table.c:
        return "archived_at"
    status = table.c.get("status")
    if status is not None and "archived" in getattr(status.type, "enums", ()):
        return "status"
    return None


def archived(table: sa.Table) -> sa.ColumnElement[bool]:
    """Whether a row of ``table`` is archived (see `archive_column`)."""
    column = archive_column(table)
    if column == "archived_at":
        return table.c.archived_at.is_not(None)
    if column == "status":
        return table.c.status == "archived"
    return sa.false()


class Repository(Generic[TableT, CreateT, UpdateT, ReadT]):
    """CRUD over ``model``; subclasses set the class attributes and add domain operations.

    Attributes:
        model: the table model.
        read_model: what every method returns.
        base_model: the validated field set (checks a merged row, see `merged_fields`).
        create_model / update_model: the accepted inputs (a mapping is validated into them).
        secret_fields: write-only input field → column prefix of its
            ``<prefix>ciphertext`` / ``<prefix>key_version`` pair.
        write_only: other input fields that are never stored as given (see `_derived`).
        references: column → table model whose row it must point to (checked in the
            caller's team for tenant-scoped tables, so no row can link across tenants).
        merged_fields: fields that a cross-field rule of ``base_model`` reads: a patch
            touching one is validated as the merged row before it is written.
        public_when: the column and value that make a row readable from every team
            (``sharing_level = 'public'`` agents), through reads that ask for it.
    """

    model: ClassVar[type[Any]]
    read_model: ClassVar[type[Any]]
    base_model: ClassVar[type[Any]]
    create_model: ClassVar[type[Any]]
    update_model: ClassVar[type[Any]]
    secret_fields: ClassVar[Mapping[str, str]] = {}
    write_only: ClassVar[frozenset[str]] = frozenset()
    references: ClassVar[Mapping[str, type[Any]]] = {}
    merged_fields: ClassVar[frozenset[str]] = frozenset()
    tenant: ClassVar[bool] = False
    public_when: ClassVar[tuple[str, str] | None] = None
    """(column, value) marking a row every team may read (not write), where there is one."""

    def __init__(self, ctx: RepoContext) -> None:
        self._ctx = ctx
        self._uow = ctx.uow
        self._store = ctx.store
        self.table: sa.Table = table_of(self.model)

    # ---- statements ---------------------------------------------------------------------
    def _statement(self, name: str, build: Callable[[], sa.Executable], *shape: Any) -> Prepared:
        """The statement ``name`` of this repository for ``shape``, prepared once per store."""
        return self._store.statements.get((type(self), self.tenant, name, *shape), build)

    def _scope(self) -> list[sa.ColumnElement[bool]]:
        """Predicates added to every statement (``team_id = :team_id`` when tenant-scoped)."""
        return [self.table.c.team_id == sa.bindparam("team_id")] if self.tenant else []

    def _params(self, **values: Any) -> dict[str, Any]:
        """``values`` plus the scope's parameters."""
        if self.tenant:
            values["team_id"] = self._ctx.team_id
        return values

    def _stamp(self) -> dict[str, Any]:
        """Values added to every new row."""
        return {"team_id": self._ctx.team_id} if self.tenant else {}

    def _read_columns(self) -> list[sa.ColumnElement[Any]]:
        """What a SELECT returns to build one `read_model` (in its field order)."""
        return [column_of(self.table, f).label(f) for f in self.read_model.model_fields]

    def _to_read(self, row: Sequence[Any], names: Sequence[str]) -> ReadT:
        """The Read model of a row of trusted values (no validation)."""
        return self._reads_of(names, [row])[0]

    def _reads(self, prepared: Prepared, rows: Iterable[Sequence[Any]]) -> list[ReadT]:
        return self._reads_of(prepared.columns, rows)

    def _reads_of(self, names: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[ReadT]:
        read = self.read_model
        is_plain = self._store.statements.memo(("plain", read), lambda: plain(read))
        return [
            trusted(read, dict(zip(names, row, strict=True)), is_plain=is_plain) for row in rows
        ]

    # ---- values -------------------------------------------------------------------------
    def _derived(self, data: SQLModel) -> dict[str, Any]:
        """Column values computed from write-only input (ciphertexts; hashes in subclasses)."""
        return self._encrypt(data)

    def _encrypt(self, data: SQLModel) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for field, prefix in self.secret_fields.items():
            secret = getattr(data, field, None)
            if secret is None:
                continue
            plain = secret_text(secret)
            ciphertext, key_version = self._store.cipher.encrypt(plain)
            values[f"{prefix}ciphertext"] = ciphertext
            values[f"{prefix}key_version"] = key_version
        return values

    def _row(self, data: SQLModel, extra: Mapping[str, Any]) -> dict[str, Any]:
        """Every column value of a new row, by column: the validated input, what is derived
        from it, ``extra``, the stamp, and the table model's defaults for the rest."""
        table = self.table
        skip = set(self.secret_fields) | self.write_only
        values = {
            column_of(table, f).key: getattr(data, f)
            for f in type(data).model_fields
            if f not in skip
        }
        values.update(self._derived(data))
        values.update(extra)
        values.update(self._stamp())
        if values.get("id") is None:
            values["id"] = uuid.uuid4()
        now = utcnow()
        for field, info in self.model.model_fields.items():
            key = column_of(table, field).key
            if key not in values:
                if key in {"created_at", "updated_at"}:
                    values[key] = now
                elif not info.is_required():
                    values[key] = info.get_default(call_default_factory=True)
        missing = [c.key for c in table.columns if c.key not in values]
        if missing:
            raise ValidationError(f"{self.model.__name__} needs {', '.join(missing)}")
        return values

    def _read_of(self, values: Mapping[str, Any]) -> ReadT:
        """The Read model of a row just written from ``values`` (by column)."""
        names = list(self.read_model.model_fields)
        return self._to_read([values[column_of(self.table, n).key] for n in names], names)

    # ---- CRUD ---------------------------------------------------------------------------
    async def create(self, data: CreateT | Mapping[str, Any]) -> ReadT:
        """Validate ``data`` (a ``…Create`` model or a mapping), insert it, return the Read."""
        return self._read_of(await self._insert(coerce(data, self.create_model), {}))

    async def _insert(self, data: SQLModel, extra: Mapping[str, Any]) -> dict[str, Any]:
        """Insert the row for ``data`` (see the module docstring); its values."""
        values = self._row(data, extra)
        refs = tuple(c for c in self.references if values.get(c) is not None)
        columns = tuple(sorted(values))
        prepared = self._statement(
            "insert", lambda: self._insert_statement(columns, refs), columns, refs
        )
        params = {f"v_{c}": values[c] for c in columns}
        params.update({f"r_{c}": values[c] for c in refs})
        if self.tenant and refs:
            params["team_id"] = self._ctx.team_id
        if await self._uow.one(prepared, params) is None:
            await self._explain_refused(values, refs)
        return values

    async def _insert_many(
        self, datas: Sequence[SQLModel], extra: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Insert many rows at once, all or none; their values, in order.

        Every row is built (and so validated) first, each distinct reference is checked
        once, and the rows go in with one driver call inside a savepoint.
        """
        rows = [self._row(d, extra or {}) for d in datas]
        if not rows:
            return rows
        refs: dict[str, set[Any]] = {}
        for row in rows:
            for column in self.references:
                if row.get(column) is not None:
                    refs.setdefault(column, set()).add(row[column])
        for column, ids in refs.items():
            for ref in ids:
                await self._require_references({column: ref})
        columns = tuple(sorted(rows[0]))

        def build() -> sa.Executable:
            table = self.table
            values = {c: sa.bindparam(f"v_{c}", type_=table.c[c].type) for c in columns}
            return sa.insert(table).values(values)

        prepared = self._statement("insert-many", build, columns)
        async with self._uow.savepoint():
            await self._uow.run_many(prepared, [{f"v_{c}": r[c] for c in columns} for r in rows])
        return rows

    def _insert_statement(self, columns: Sequence[str], refs: Sequence[str]) -> sa.Executable:
        table = self.table
        binds = [sa.bindparam(f"v_{c}", type_=table.c[c].type) for c in columns]
        insert = insert_or_nothing(self._store.engine.dialect, table)
        if refs:
            guarded = sa.select(*binds).where(*self._reference_checks(refs))
            stmt = insert.from_select(list(columns), guarded, include_defaults=False)
        else:
            stmt = insert.values(dict(zip(columns, binds, strict=True)))
        return stmt.on_conflict_do_nothing().returning(table.c.id)

    def _reference_checks(self, refs: Iterable[str]) -> list[sa.ColumnElement[bool]]:
        """``EXISTS`` per referenced row (in this team, for tenant-scoped targets)."""
        checks: list[sa.ColumnElement[bool]] = []
        for column in refs:
            target = table_of(self.references[column])
            where = [target.c.id == sa.bindparam(f"r_{column}", type_=target.c.id.type)]
            if "team_id" in target.c and self.tenant:
                where.append(target.c.team_id == sa.bindparam("team_id"))
            checks.append(sa.exists().where(*where))
        return checks

    async def _explain_refused(self, values: Mapping[str, Any], refs: Iterable[str]) -> None:
        """Raise why an insert or update wrote nothing: a missing reference or a taken key."""
        await self._require_references({c: values[c] for c in refs})
        unique: list[sa.Index | sa.UniqueConstraint | sa.PrimaryKeyConstraint] = [
            *(k for k in self.table.constraints if isinstance(k, sa.UniqueConstraint)),
            *(k for k in self.table.constraints if isinstance(k, sa.PrimaryKeyConstraint)),
            *(i for i in self.table.indexes if i.unique),
        ]
        for constraint in unique:
            cols = [c for c in constraint.columns if isinstance(c, sa.Column)]
            # A NULL never collides with anything: such a key cannot be the one taken.
            if not all(values.get(c.key) is not None for c in cols):
                continue
            taken = sa.select(sa.literal(1)).where(*(c == values[c.key] for c in cols))
            if await self._uow.one(self._store.statements.once(taken.limit(1))):
                name = constraint.name if isinstance(constraint.name, str) else None
                what = ", ".join(c.key for c in cols)
                raise ConflictError(
                    f"a {self.model.__name__} with the same {what} already exists"
                    f"{f' ({name})' if name else ''}; choose another value",
                    constraint=name,
                )
        raise DatabaseError(f"the database refused to write the {self.model.__name__}")

    async def _require_references(self, refs: Mapping[str, Any]) -> None:
        for column, ref in refs.items():
            target = table_of(self.references[column])
            where = [target.c.id == ref]
            if "team_id" in target.c and self.tenant:
                where.append(target.c.team_id == self._ctx.team_id)
            probe = sa.select(sa.literal(1)).select_from(target).where(*where).limit(1)
            if await self._uow.one(self._store.statements.once(probe)) is None:
                raise NotFoundError(
                    f"{column} {ref} does not name a {self.references[column].__name__} in "
                    "this team; create it first or check the id"
                )

    KEPT_ON_REPLACE = frozenset({"id", "team_id", "created_at", "created_by", "owner_id"})
    """Columns an `upsert` that replaces a row leaves as they were."""

    async def upsert(self, data: CreateT | Mapping[str, Any]) -> ReadT:
        """Create the row with ``data.id``, or replace the one this team has with that id,
        in one statement (``INSERT … ON CONFLICT (id) DO UPDATE``); the row as stored.

        A replaced row keeps its creation time and author and, where rows have one,
        moves to the next version.

        Raises:
            ValidationError: ``data`` has no ``id``.
            ConflictError: the id is another team's, or the row takes a unique key
                another row has.
            NotFoundError: a reference it sets is missing.
        """
        checked = coerce(data, self.create_model)
        if getattr(checked, "id", None) is None:
            raise ValidationError(
                f"upsert needs the {self.model.__name__}'s id: set id on the "
                f"{self.create_model.__name__} (use create() to let the store choose one)"
            )
        return await self._upsert(checked, {})

    async def _upsert(self, data: SQLModel, extra: Mapping[str, Any]) -> ReadT:
        values = self._row(data, extra)
        refs = tuple(c for c in self.references if values.get(c) is not None)
        columns = tuple(sorted(values))
        prepared = self._statement(
            "upsert", lambda: self._upsert_statement(columns, refs), columns, refs
        )
        params = {f"v_{c}": values[c] for c in columns}
        params.update({f"r_{c}": values[c] for c in refs})
        if self.tenant:
            params["team_id"] = self._ctx.team_id
        async with self._uow.savepoint():  # another unique key can only be told by trying
            row = await self._uow.one(prepared, params)
        if row is None:
            await self._require_references({c: values[c] for c in refs})
            raise ConflictError(
                f"{self.model.__name__} {values['id']} exists but not in this team; choose "
                "another id",
                constraint=f"pk_{self.table.name}",
            )
        return self._to_read(row, prepared.columns)

    def _upsert_statement(self, columns: Sequence[str], refs: Sequence[str]) -> sa.Executable:
        table = self.table
        binds = [sa.bindparam(f"v_{c}", type_=table.c[c].type) for c in columns]
        insert = insert_or_nothing(self._store.engine.dialect, table)
        if refs:
            guarded = sa.select(*binds).where(*self._reference_checks(refs))
            stmt = insert.from_select(list(columns), guarded, include_defaults=False)
        else:
            stmt = insert.values(dict(zip(columns, binds, strict=True)))
        replaced: dict[str, sa.ColumnElement[Any]] = {
            c: stmt.excluded[c] for c in columns if c not in self.KEPT_ON_REPLACE
        }
        if "version" in table.c:
            replaced["version"] = table.c.version + 1
        where = [table.c.team_id == stmt.excluded.team_id] if self.tenant else []
        upsert = stmt.on_conflict_do_update(
            index_elements=[table.c.id], set_=replaced, where=sa.and_(sa.true(), *where)
        )
        return upsert.returning(*self._read_columns())

    async def get(self, id: uuid.UUID) -> ReadT | None:
        """The row with ``id`` (in this team, if tenant-scoped), or ``None``."""
        prepared = self._statement("get", self._get_statement)
        row = await self._uow.one(prepared, self._params(id=id))
        return None if row is None else self._to_read(row, prepared.columns)

    def _get_statement(self) -> sa.Executable:
        return sa.select(*self._read_columns()).where(
            self.table.c.id == sa.bindparam("id"), *self._scope()
        )

    async def _values(self, id: uuid.UUID, *names: str) -> dict[str, Any]:
        """Columns ``names`` of row ``id`` (in this team), including ones no Read model
        shows (ciphertexts); `NotFoundError` when there is no such row."""
        table = self.table

        def build() -> sa.Executable:
            where = [table.c.id == sa.bindparam("id"), *self._scope()]
            return sa.select(*(table.c[n] for n in names)).where(*where)

        row = await self._uow.one(self._statement("values", build, names), self._params(id=id))
        if row is None:
            raise NotFoundError(f"{self.model.__name__} {id} not found")
        return dict(zip(names, row, strict=True))

    async def _require(self, id: uuid.UUID) -> ReadT:
        found = await self.get(id)
        if found is None:
            raise NotFoundError(f"{self.model.__name__} {id} not found")
        return found

    def _filters(self, filters: Mapping[str, Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The shape of ``filters`` (column, kind) and their parameters: equality, any of a
        list, NULL, or JSON containment for an object on a JSON column (``metadata``)."""
        shape: list[tuple[str, Any]] = []
        params: dict[str, Any] = {}
        for name in sorted(filters):
            if name not in self.table.c:
                raise ValidationError(
                    f"{self.model.__name__} has no column {name!r}; filter on one of: "
                    + ", ".join(sorted(self.table.c.keys()))
                )
            value = filters[name]
            if value is None:
                shape.append((name, "null"))
            elif isinstance(self.table.c[name].type, JSONDocument):  # e.g. metadata={...}
                shape.append((name, ("contains", jsonfilter.shape(value))))
                params.update(jsonfilter.contains_params(f"f_{name}", value))
            elif isinstance(value, list | tuple | set | frozenset):
                shape.append((name, "in"))
                params[f"f_{name}"] = list(value)
            else:
                shape.append((name, "eq"))
                params[f"f_{name}"] = value
        return tuple(shape), params

    def _where(
        self, shape: Iterable[tuple[str, Any]], *, public: bool = False
    ) -> list[sa.ColumnElement[bool]]:
        where = self._scope()
        if public and where and self.public_when is not None:
            flag, value = self.public_when
            where = [sa.or_(*where, self.table.c[flag] == value)]
        for name, kind in shape:
            column = self.table.c[name]
            if kind == "live":
                where.append(sa.not_(archived(self.table)))
            elif isinstance(kind, tuple):  # ("contains", shape): JSON containment
                where.append(jsonfilter.JSONContains(column, kind[1], f"f_{name}"))
            elif kind == "null":
                where.append(column.is_(None))
            elif kind == "in":
                where.append(column.in_(sa.bindparam(f"f_{name}", expanding=True)))
            else:
                where.append(column == sa.bindparam(f"f_{name}"))
        return where

    def _live(
        self, shape: tuple[Any, ...], filters: Mapping[str, Any], include_archived: bool
    ) -> tuple[Any, ...]:
        """``shape`` plus "not archived", unless asked for archived rows (or filtering on
        the column that says so: a caller asking for ``status="archived"`` means it)."""
        column = archive_column(self.table)
        if include_archived or column is None or column in filters:
            return shape
        return (*shape, (column, "live"))

    def _order(self) -> list[sa.ColumnElement[Any]]:
        table = self.table
        order = [table.c.created_at.desc()] if "created_at" in table.c else []
        return [*order, table.c.id.desc()]

    async def find(
        self, *, limit: int = 50, offset: int = 0, include_archived: bool = False, **filters: Any
    ) -> list[ReadT]:
        """Rows whose columns equal ``filters`` (a list means "any of"), newest first.

        Archived rows (an ``archived`` status, or ``archived_at`` set) are left out
        unless ``include_archived=True`` or a filter names that column.
        """
        return await self._find(limit, offset, include_archived, filters)

    async def _find(
        self,
        limit: int,
        offset: int,
        include_archived: bool,
        filters: Mapping[str, Any],
        *,
        public: bool = False,
    ) -> list[ReadT]:
        if not 0 < limit <= MAX_LIMIT or offset < 0:
            raise ValidationError(f"limit must be 1-{MAX_LIMIT} and offset must not be negative")
        shape, params = self._filters(filters)
        shape = self._live(shape, filters, include_archived)

        def build() -> sa.Executable:
            return (
                sa.select(*self._read_columns())
                .where(*self._where(shape, public=public))
                .order_by(*self._order())
                .limit(sa.bindparam("limit"))
                .offset(sa.bindparam("offset"))
            )

        prepared = self._statement("find", build, shape, public)
        rows = await self._uow.rows(prepared, self._params(limit=limit, offset=offset, **params))
        return self._reads(prepared, rows)

    async def count(self, *, include_archived: bool = False, **filters: Any) -> int:
        """How many rows match ``filters`` (archived ones only if asked, as in `find`)."""
        shape, params = self._filters(filters)
        shape = self._live(shape, filters, include_archived)

        def build() -> sa.Executable:
            return sa.select(sa.func.count()).select_from(self.table).where(*self._where(shape))

        prepared = self._statement("count", build, shape)
        return int(await self._uow.scalar(prepared, self._params(**params)) or 0)

    async def update(
        self,
        id: uuid.UUID,
        data: UpdateT | Mapping[str, Any],
        *,
        expected_version: int | None = None,
    ) -> ReadT:
        """Apply the fields set on ``data``; with ``expected_version``, only if unchanged.

        Raises:
            NotFoundError: no such row in this team (or a reference it sets is missing).
            ConcurrentUpdateError: the row's version is not ``expected_version``, or it
                changed between this read and the write.
            ValidationError: the patched row breaks a rule.
            ConflictError: the patch takes a unique key another row has.
        """
        patch = coerce(data, self.update_model)
        skip = set(self.secret_fields) | self.write_only
        changes = {f: getattr(patch, f) for f in patch.model_fields_set if f not in skip}
        changes.update(self._derived(patch))
        if changes.keys() & self.merged_fields:
            current = await self._require(id)
            version = getattr(current, "version", None)
            if expected_version is not None and version != expected_version:
                raise self._stale(id, version, expected_version)
            merged = {f: getattr(current, f) for f in self.base_model.model_fields}
            self.base_model.model_validate({**merged, **changes})
            expected_version = version
        return await self._apply(id, changes, expected_version=expected_version)

    def _stale(self, id: uuid.UUID, version: Any, expected: int) -> ConcurrentUpdateError:
        return ConcurrentUpdateError(
            f"{self.model.__name__} {id} is at version {version}, not {expected}; "
            "re-read it and apply the change again"
        )

    async def _apply(
        self, id: uuid.UUID, changes: Mapping[str, Any], *, expected_version: int | None = None
    ) -> ReadT:
        """Write ``changes`` to row ``id`` in one guarded UPDATE and return the fresh row."""
        table = self.table
        columns = tuple(sorted(column_of(table, f).key for f in changes))
        values = {column_of(table, f).key: v for f, v in changes.items()}
        if "updated_at" in table.c and "updated_at" not in values:
            values["updated_at"] = utcnow()
            columns = tuple(sorted({*columns, "updated_at"}))
        if not values and "version" not in table.c:  # nothing to write
            return await self._require(id)
        refs = tuple(c for c in self.references if values.get(c) is not None)
        guarded = expected_version is not None and "version" in table.c
        shape = (columns, refs, guarded)
        prepared = self._statement("update", lambda: self._update_statement(*shape), *shape)
        params = self._params(id=id, **{f"v_{c}": values[c] for c in columns})
        params.update({f"r_{c}": values[c] for c in refs})
        if guarded:
            params["expected_version"] = expected_version
        unique = any(
            isinstance(k, sa.UniqueConstraint) and {c.key for c in k.columns} & set(columns)
            for k in table.constraints
        )
        if unique:
            async with self._uow.savepoint():
                row = await self._uow.one(prepared, params)
        else:
            row = await self._uow.one(prepared, params)
        if row is None:
            await self._explain_unchanged(id, expected_version, {c: values[c] for c in refs})
        assert row is not None
        return self._to_read(row, prepared.columns)

    def _update_statement(
        self, columns: Sequence[str], refs: Sequence[str], guarded: bool
    ) -> sa.Executable:
        table = self.table
        sets: dict[str, Any] = {c: sa.bindparam(f"v_{c}", type_=table.c[c].type) for c in columns}
        where = [table.c.id == sa.bindparam("id"), *self._scope(), *self._reference_checks(refs)]
        if "version" in table.c:
            sets["version"] = table.c.version + 1
            if guarded:
                where.append(table.c.version == sa.bindparam("expected_version"))
        return sa.update(table).where(*where).values(sets).returning(*self._read_columns())

    async def _explain_unchanged(
        self, id: uuid.UUID, expected_version: int | None, refs: Mapping[str, Any]
    ) -> None:
        current = await self._require(id)
        await self._require_references(refs)
        version = getattr(current, "version", None)
        if expected_version is not None and version != expected_version:
            raise self._stale(id, version, expected_version)
        raise ConcurrentUpdateError(
            f"{self.model.__name__} {id} was changed by someone else while this update ran; "
            "re-read it and apply the change again"
        )

    async def delete(self, id: uuid.UUID) -> bool:
        """Delete the row; ``False`` if there was none (in this team)."""

        def build() -> sa.Executable:
            where = [self.table.c.id == sa.bindparam("id"), *self._scope()]
            return sa.delete(self.table).where(*where).returning(self.table.c.id)

        prepared = self._statement("delete", build)
        referring = self._store.statements.memo(
            ("restricting", self.table.name), lambda: restricting(self.table)
        )
        if not referring:
            return await self._uow.one(prepared, self._params(id=id)) is not None
        try:
            async with self._uow.savepoint():
                row = await self._uow.one(prepared, self._params(id=id))
        except ConflictError:  # a foreign key refused it: say which rows still refer
            await self._refuse_referenced(id, referring)
            raise
        return row is not None

    async def _refuse_referenced(self, id: uuid.UUID, referring: Sequence[tuple[str, str]]) -> None:
        """Raise `ConflictError` naming the rows that refer to row ``id``."""
        found = []
        for table_name, column in referring:
            other = self.table.metadata.tables[table_name]
            probe = sa.select(sa.func.count()).select_from(other).where(other.c[column] == id)
            count = int(await self._uow.scalar(self._store.statements.once(probe)) or 0)
            if count:
                found.append(f"{count} {table_name} row{'s' if count > 1 else ''} ({column})")
        if found:
            raise ConflictError(
                f"{self.model.__name__} {id} is still referred to by {', '.join(found)}; "
                "delete those rows or point them elsewhere first",
                constraint=None,
            )


class TenantRepository(Repository[TableT, CreateT, UpdateT, ReadT]):
    """A repository over a table with ``team_id``: every read filtered, every write stamped."""

    tenant = True

    def __init__(self, ctx: RepoContext) -> None:
        if ctx.team_id is None:
            raise TenantRequiredError(
                f"{type(self).__name__} is tenant-scoped: open the session with "
                "store.session(team_id=...)"
            )
        super().__init__(ctx)
        self.team_id: uuid.UUID = ctx.team_id
