"""`UnitOfWork`: one pooled connection and its transaction, and the one place statements run.

Every repository call ends here: a `Prepared` statement (`skillstore.db.statements`)
bound to this call's values and sent with one driver call on the connection the pool
gave this unit of work (asyncpg's ``fetch``, aiosqlite's ``execute_fetchall``: one
round trip, one thread hop). Driver-level calls are worth it here and only here: the
same statement through ``AsyncConnection.execute`` measured 2x the raw driver on
PostgreSQL and 3.5x on SQLite (four thread hops per statement) before any model was
built. Bulk paths (``COPY`` on PostgreSQL, ``executemany`` on SQLite) are here for the
same reason.

The transaction is this class's own, not SQLAlchemy's: the engine's connections are in
SQLAlchemy's ``AUTOCOMMIT`` mode and this class sends ``BEGIN``/``COMMIT`` itself, so a
statement a caller runs through SQLAlchemy (`StoreSession.execute`) runs inside the
same transaction. It begins with the first statement:

- PostgreSQL: ``BEGIN`` (``BEGIN READ ONLY`` for a read-only unit of work).
- SQLite: ``BEGIN`` (deferred: readers never take the write lock) until the first
  write, which starts ``BEGIN IMMEDIATE`` so that writers queue on the busy timeout
  instead of failing to upgrade a read lock. A unit of work that reads and then writes
  ends its read transaction first (``COMMIT`` of nothing, then ``BEGIN IMMEDIATE``):
  between them another writer may commit, exactly as between two statements of a
  PostgreSQL ``READ COMMITTED`` transaction. Repository methods that must read and
  write atomically say so first (`begin_write`).

Refusals never poison a unit of work: repositories detect unique conflicts and missing
references without a failing statement (``ON CONFLICT DO NOTHING``, guarded
``UPDATE … RETURNING``) and wrap what the database alone can refuse in a `savepoint`.
If a statement fails outside one anyway, the unit of work is marked failed: every later
statement, and its end, raise an error saying it was rolled back (PostgreSQL has
aborted the transaction; SQLite behaves the same, so both backends give one answer).

Dead connections: there is no pre-ping round trip per checkout. When the first
statement of a unit of work finds its pooled connection dead (the server restarted),
the connection is invalidated and the statement retried once on a fresh one; nothing
had been sent in that transaction yet, so the retry is safe.

Cleanup survives cancellation: rollback and release run shielded, so a cancelled unit
of work never returns a connection mid-transaction or leaves SQLite's write lock held.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Coroutine, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from skillstore.db.statements import Prepared
from skillstore.db.translate import translate_driver_error
from skillstore.errors import DatabaseError, SkillstoreError

_NO_PARAMS: Mapping[str, Any] = {}


def _driver_error(exc: BaseException) -> bool:
    root = type(exc).__module__.split(".")[0]
    return root in {"asyncpg", "sqlite3", "aiosqlite"}


def _dead(exc: BaseException) -> bool:
    """Whether ``exc`` says the connection itself is gone (not that a statement failed)."""
    if isinstance(exc, ConnectionError | OSError):
        return True
    names = {t.__name__ for t in type(exc).__mro__}
    if names & {"ConnectionDoesNotExistError", "ConnectionFailureError", "AdminShutdownError"}:
        return True
    return "InterfaceError" in names and "closed" in str(exc)


async def uncancellable(work: Awaitable[Any]) -> None:
    """Run ``work`` to the end even if the caller is cancelled meanwhile (then re-raise)."""
    task = asyncio.ensure_future(work)
    try:
        await asyncio.shield(task)
    except asyncio.CancelledError:
        await asyncio.wait([task])
        raise


class UnitOfWork:
    """One unit of work on one connection; see the module docstring."""

    def __init__(
        self, engine: AsyncEngine, *, bind: AsyncConnection | None = None, readonly: bool = False
    ) -> None:
        self._engine = engine
        self._bind = bind
        self.readonly = readonly
        self.sqlite = engine.dialect.name == "sqlite"
        self._conn: AsyncConnection | None = None
        self._raw: Any = None
        self._open: str | None = None
        """None before the first statement, then ``"read"`` or ``"write"``."""
        self._failed: str | None = None
        self._savepoints = 0
        self.info: dict[str, Any] = {}
        """Per-unit scratch space (e.g. settings already applied to this transaction)."""

    # ---- connection and transaction -----------------------------------------------------
    async def connection(self) -> AsyncConnection:
        """The SQLAlchemy connection, inside this unit of work's transaction."""
        await self._ensure(write=False)
        assert self._conn is not None
        return self._conn

    async def _checkout(self) -> None:
        if self._bind is not None:
            self._conn = self._bind
        else:
            conn = self._engine.connect()
            await conn.start()
            self._conn = conn
        # The pooled DBAPI connection's driver connection, without another greenlet hop.
        self._raw = self._conn.sync_connection.connection.driver_connection  # type: ignore[union-attr]

    async def _send(self, sql: str) -> None:
        if self.sqlite:
            await self._raw.execute_fetchall(sql)
        else:
            await self._raw.execute(sql)

    def _begin_sql(self, write: bool) -> str:
        if self._bind is not None:
            return f"SAVEPOINT uow_{id(self)}"
        if self.sqlite:
            return "BEGIN IMMEDIATE" if write else "BEGIN"
        return "BEGIN READ ONLY" if self.readonly else "BEGIN"

    async def _ensure(self, *, write: bool) -> None:
        """Begin the transaction (or move SQLite's from reading to writing)."""
        if self._failed is not None:
            raise DatabaseError(self._failed)
        if write and self.readonly:
            raise SkillstoreError(
                "this session is read-only (store.session(readonly=True)); open a read-write "
                "session to write"
            )
        if self._open == "write" or (self._open == "read" and not (write and self.sqlite)):
            return
        if self._open == "read":  # SQLite, first write after reads: see the module docstring
            if self._savepoints:
                raise RuntimeError(
                    "a savepoint opened for reading cannot write; open it for writing"
                )
            if self._bind is None:
                await self._guarded(self._send("COMMIT"))
                self._open = None
            else:
                self._open = "write"
                return
        try:
            await self._start(write)
        except BaseException as exc:
            if _driver_error(exc) or isinstance(exc, OSError):
                raise translate_driver_error(_as_exception(exc), "BEGIN") from exc
            raise
        self._open = "write" if write or not self.sqlite else "read"

    async def _start(self, write: bool) -> None:
        if self._conn is None:
            await self._checkout()
        try:
            if not self.sqlite and self._raw.is_closed():
                raise ConnectionError("the pooled connection was closed")
            await self._send(self._begin_sql(write))
        except Exception as exc:
            if self._bind is not None or not _dead(exc):
                raise
            await self._discard()
            await self._checkout()
            await self._send(self._begin_sql(write))

    @property
    def connection_info(self) -> dict[str, Any]:
        """The pooled connection's ``info`` (what its connect hook recorded), once a
        statement has run."""
        assert self._conn is not None and self._conn.sync_connection is not None
        info: dict[str, Any] = self._conn.sync_connection.connection.info
        return info

    async def begin_write(self) -> None:
        """Start the transaction as a writing one (SQLite: take the write lock now)."""
        await self._ensure(write=True)

    async def _discard(self) -> None:
        """Throw away a connection that cannot be trusted (dead, or its state unknown)."""
        conn, self._conn, self._raw = self._conn, None, None
        if conn is not None and conn is not self._bind:
            try:
                await conn.invalidate()
            finally:
                await conn.close()

    async def finish(self, *, commit: bool) -> None:
        """End the unit of work: commit (or roll back) and give the connection back."""
        if self._conn is None:
            return
        try:
            if commit and self._failed is not None:
                raise DatabaseError(self._failed)
            if commit and self._open is not None:
                await self._guarded(self._send(self._end_sql(commit=True)))
                self._open = None
            if self._open is None:
                await self._release()
                return
        except BaseException:
            await uncancellable(self._abandon())
            raise
        await uncancellable(self._abandon())

    def _end_sql(self, *, commit: bool) -> str:
        if self._bind is not None:
            name = f"uow_{id(self)}"
            return f"RELEASE SAVEPOINT {name}" if commit else f"ROLLBACK TO SAVEPOINT {name}"
        return "COMMIT" if commit else "ROLLBACK"

    async def _abandon(self) -> None:
        """Roll back what is open and release the connection; on any doubt, discard it."""
        try:
            if self._open is not None and self._raw is not None:
                await self._send(self._end_sql(commit=False))
                if self._bind is not None:
                    await self._send(f"RELEASE SAVEPOINT uow_{id(self)}")
            self._open = None
        except BaseException:
            await self._discard()
            raise
        finally:
            if self._open is not None:
                await self._discard()
        await self._release()

    async def _release(self) -> None:
        """Give the connection back to the pool (nothing is open on it)."""
        conn, self._conn, self._raw = self._conn, None, None
        if conn is not None and conn is not self._bind:
            await conn.close()

    # ---- statements -------------------------------------------------------------------
    async def rows(
        self, prepared: Prepared, params: Mapping[str, Any] = _NO_PARAMS
    ) -> list[tuple[Any, ...]]:
        """Run ``prepared`` with ``params``; the rows it returns (none for plain DML)."""
        sql, args = prepared.bind(params)
        await self._ensure(write=prepared.writes)
        records = await self._guarded(self._fetch(sql, args), sql)
        return prepared.rows(records)

    async def one(
        self, prepared: Prepared, params: Mapping[str, Any] = _NO_PARAMS
    ) -> tuple[Any, ...] | None:
        """The first row ``prepared`` returns, or None."""
        found = await self.rows(prepared, params)
        return found[0] if found else None

    async def scalar(self, prepared: Prepared, params: Mapping[str, Any] = _NO_PARAMS) -> Any:
        """The first column of the first row, or None."""
        row = await self.one(prepared, params)
        return None if row is None else row[0]

    async def _fetch(self, sql: str, args: list[Any]) -> Sequence[Sequence[Any]]:
        if self.sqlite:
            result: Sequence[Sequence[Any]] = await self._raw.execute_fetchall(sql, args)
            return result
        return await self._raw.fetch(sql, *args)  # type: ignore[no-any-return]

    async def stream(
        self, prepared: Prepared, params: Mapping[str, Any] = _NO_PARAMS, *, chunk: int = 1000
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        """The rows of ``prepared`` in chunks of up to ``chunk``, read as they are used
        (a server-side cursor on PostgreSQL, ``fetchmany`` on SQLite): constant memory."""
        sql, args = prepared.bind(params)
        await self._ensure(write=prepared.writes)
        if self.sqlite:
            cursor = await self._guarded(self._raw.execute(sql, args), sql)
            try:
                while batch := await self._guarded(cursor.fetchmany(chunk), sql):
                    yield prepared.rows(batch)
            finally:
                await cursor.close()
            return
        records = self._raw.cursor(sql, *args, prefetch=chunk)
        batch = []
        async for record in records:
            batch.append(record)
            if len(batch) >= chunk:
                yield prepared.rows(batch)
                batch = []
        if batch:
            yield prepared.rows(batch)

    async def executemany(self, prepared: Prepared, rows: Sequence[Sequence[Any]]) -> None:
        """Run ``prepared`` once per row of positional driver values (one driver call)."""
        assert prepared.sql is not None
        await self._ensure(write=True)
        await self._guarded(self._raw.executemany(prepared.sql, rows), prepared.sql)

    async def run_many(self, prepared: Prepared, params: Sequence[Mapping[str, Any]]) -> None:
        """Run ``prepared`` once per parameter set, converted as `rows` would convert them."""
        await self.executemany(prepared, [prepared.bind(p)[1] for p in params])

    async def copy(self, table: str, columns: Sequence[str], source: Any) -> None:
        """PostgreSQL binary ``COPY table (columns) FROM STDIN`` from an async iterator of
        payload chunks (`skillstore.db.pgcopy`)."""
        await self._ensure(write=True)
        await self._guarded(
            self._raw.copy_to_table(table, source=source, columns=list(columns), format="binary"),
            f"COPY {table}",
        )

    async def _guarded(self, work: Coroutine[Any, Any, Any], what: str = "") -> Any:
        """Await a driver call; a failure is translated, and outside a savepoint it marks
        the unit of work failed."""
        try:
            return await work
        except Exception as exc:
            if not (_driver_error(exc) or isinstance(exc, OSError)):
                raise
            error = translate_driver_error(exc, what)
            if not self._savepoints:
                self._failed = (
                    f"an earlier statement of this unit of work failed ({error}); it was "
                    "rolled back: open a new store.session() and try again"
                )
            raise error from exc

    @asynccontextmanager
    async def savepoint(self, *, write: bool = True) -> AsyncIterator[None]:
        """A SAVEPOINT: if the block fails, only what it did is undone and the unit of
        work goes on (for statements the database alone can refuse). ``write=False``
        for a block that only reads (SQLite then keeps its deferred transaction)."""
        await self._ensure(write=write)
        self._savepoints += 1
        name = f"sp_{self._savepoints}"
        await self._guarded(self._send(f"SAVEPOINT {name}"))
        try:
            yield
        except BaseException:
            try:
                await uncancellable(self._send(f"ROLLBACK TO SAVEPOINT {name}"))
                await self._send(f"RELEASE SAVEPOINT {name}")
            finally:
                self._savepoints -= 1
            raise
        self._savepoints -= 1
        await self._guarded(self._send(f"RELEASE SAVEPOINT {name}"))

    async def execute(
        self, statement: sa.Executable, params: Mapping[str, Any] | None = None
    ) -> sa.Result[Any]:
        """Run any SQLAlchemy statement through SQLAlchemy itself, in a savepoint."""
        async with self.savepoint(write=not isinstance(statement, sa.Select)):
            assert self._conn is not None
            return await self._conn.execute(statement, params)


def _as_exception(exc: BaseException) -> Exception:
    return exc if isinstance(exc, Exception) else Exception(str(exc))


__all__ = ["UnitOfWork", "uncancellable"]
