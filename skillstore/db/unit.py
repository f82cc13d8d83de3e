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
statement a caller runs through SQLAlchemy (`StoreSession.execute`) runs inside the same
transaction. It begins with the first write, not the first statement:

- Reads before it run on their own, each seeing what was committed when it started:
  exactly what a PostgreSQL ``READ COMMITTED`` transaction gives between two of its
  statements, without the two round trips of ``BEGIN`` and ``COMMIT``. A request that
  only reads costs one round trip per statement, and on SQLite it never takes the write
  lock (a reader waits for no writer, in WAL mode not even on a long one).
- The first write begins the transaction: ``BEGIN`` on PostgreSQL, ``BEGIN IMMEDIATE``
  on SQLite, so that writers queue on the busy timeout instead of failing to upgrade a
  read lock. Repository methods that must read and write atomically begin it before
  they read (`begin_write`); searches that set transaction-local settings
  (``SET LOCAL``) or use a server-side cursor begin a read transaction (`begin_read`).

Refusals never poison a unit of work: repositories detect unique conflicts and missing
references without a failing statement (``ON CONFLICT DO NOTHING``, guarded
``UPDATE … RETURNING``) and wrap what the database alone can refuse in a `savepoint`.
If a statement fails inside the transaction anyway, the unit of work is marked failed:
every later statement, and its end, raise an error saying it was rolled back
(PostgreSQL has aborted the transaction; SQLite is held to the same rule, so both
backends give one answer).

Dead connections: there is no pre-ping round trip per checkout. When the first
statement on a checked-out connection finds it dead (the server restarted), the
connection is invalidated and the statement sent once more on a fresh one; nothing had
been sent on it yet, so the retry is safe.

Cleanup survives cancellation: rollback and release run shielded, so a cancelled unit
of work never returns a connection mid-transaction or leaves SQLite's write lock held.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from typing import Any, Literal, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from skillstore.db.statements import Prepared, target_of
from skillstore.db.translate import translate_driver_error
from skillstore.errors import DatabaseError, PoolTimeoutError, SkillstoreError

_NO_PARAMS: Mapping[str, Any] = {}
T = TypeVar("T")


def _closed(exc: BaseException) -> bool:
    # aiosqlite raises a bare ValueError once its connection's thread has stopped.
    return type(exc) is ValueError and "closed" in str(exc).lower()


def _driver_error(exc: BaseException) -> bool:
    root = type(exc).__module__.split(".")[0]
    return root in {"asyncpg", "sqlite3", "aiosqlite"} or isinstance(exc, OSError) or _closed(exc)


def _dead(exc: BaseException) -> bool:
    """Whether ``exc`` says the connection itself is gone (not that a statement failed)."""
    if isinstance(exc, ConnectionError | OSError) or _closed(exc):
        return True
    names = {t.__name__ for t in type(exc).__mro__}
    if names & {"ConnectionDoesNotExistError", "ConnectionFailureError", "AdminShutdownError"}:
        return True
    return "InterfaceError" in names and "closed" in str(exc)


class Connections:
    """A store's connections between units of work, in front of SQLAlchemy's pool.

    Checking a connection out of SQLAlchemy's pool and back in costs two greenlet
    switches and the pool's event machinery: 30-50 us on the machine the benchmarks ran
    on, as much as a whole SQLite read. Up to ``keep`` connections wait here instead, as
    already checked out; more than that go back to the pool, which still bounds how many
    there are (``pool_size + pool_overflow``) and raises when none is free in time. A
    connection that died while it waited is found by its first statement and replaced
    (see `UnitOfWork`).
    """

    def __init__(self, engine: AsyncEngine, keep: int, *, exhausted: str = "") -> None:
        self.engine = engine
        self._keep = keep
        self._idle: list[AsyncConnection] = []
        self._exhausted = exhausted
        """What to say when the pool has no connection free in time (its limits)."""

    async def take(self) -> AsyncConnection:
        """A connection for one unit of work; `PoolTimeoutError` when the pool is
        exhausted for ``pool_timeout`` seconds."""
        if self._idle:
            return self._idle.pop()
        conn = self.engine.connect()
        try:
            await conn.start()
        except sa.exc.TimeoutError:
            raise PoolTimeoutError(
                f"no database connection became free in time ({self._exhausted}): every "
                "pooled connection is in a unit of work; keep units of work short, or raise "
                "SKILLSTORE_POOL_SIZE / SKILLSTORE_POOL_OVERFLOW / SKILLSTORE_POOL_TIMEOUT"
            ) from None
        return conn

    async def give(self, conn: AsyncConnection) -> None:
        """Take back a connection with nothing open on it."""
        if len(self._idle) < self._keep:
            self._idle.append(conn)
        else:
            await conn.close()

    async def close(self) -> None:
        """Give every waiting connection back to the pool."""
        idle, self._idle = self._idle, []
        for conn in idle:
            await conn.close()


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
        self,
        connections: Connections,
        *,
        bind: AsyncConnection | None = None,
        readonly: bool = False,
        guard: Callable[[str | None], None] | None = None,
        commit_token: bool = False,
    ) -> None:
        self._connections = connections
        self._want_token = commit_token and bind is None
        self.commit_token: str | None = None
        """PostgreSQL, with ``commit_token=True``: the WAL position after this unit of
        work's commit, once it committed a write (`skillstore.db.replicas`)."""
        self._bind = bind
        self.readonly = readonly
        self.guard = guard
        """Called with the table before every write is sent; raises to refuse it (the
        actor's role check, `skillstore.authz`)."""
        self.sqlite = connections.engine.dialect.name == "sqlite"
        self._conn: AsyncConnection | None = None
        self._raw: Any = None
        self._fresh = False
        """Nothing has been sent yet on the connection just checked out."""
        self._tx: Literal["read", "write"] | None = None
        self._failed: str | None = None
        self._savepoints = 0
        self.info: dict[str, Any] = {}
        """Per-unit scratch space (e.g. settings already applied to this transaction)."""

    # ---- connection and transaction -----------------------------------------------------
    async def _checkout(self) -> None:
        if self._bind is not None:
            self._conn = self._bind
        else:
            self._conn = await self._connections.take()
            self._fresh = True
        # The pooled DBAPI connection's driver connection, without another greenlet hop.
        assert self._conn.sync_connection is not None
        self._raw = self._conn.sync_connection.connection.driver_connection

    @property
    def connection_info(self) -> dict[str, Any]:
        """The pooled connection's ``info`` (what its connect hook recorded), once a
        statement has run."""
        assert self._conn is not None and self._conn.sync_connection is not None
        info: dict[str, Any] = self._conn.sync_connection.connection.info
        return info

    async def _call(self, send: Callable[[], Awaitable[T]], what: str) -> T:
        """One driver call; on a connection that died in the pool, once more on a new one.

        A failure is translated to a `SkillstoreError`; inside the transaction (not a
        savepoint) it also marks the unit of work failed.
        """
        if self._conn is None:
            await self._checkout()
        try:
            if self._fresh and not self.sqlite and self._raw.is_closed():
                raise ConnectionError("the pooled connection was closed")
            try:
                return await send()
            except Exception as exc:
                if not (self._fresh and _dead(exc)):
                    raise
                await self._discard()
                await self._checkout()
                return await send()
            finally:
                self._fresh = False
        except Exception as exc:
            if not _driver_error(exc):
                raise
            error = translate_driver_error(exc, what)
            if self._tx is not None and not self._savepoints:
                self._failed = (
                    f"an earlier statement of this unit of work failed ({error}); it was "
                    "rolled back: open a new store.session() and try again"
                )
            raise error from exc

    async def _send(self, sql: str) -> None:
        # ``self._raw`` is read when the call is made: a retry may have replaced it.
        if self.sqlite:
            await self._call(lambda: self._raw.execute_fetchall(sql), sql)
        else:
            await self._call(lambda: self._raw.execute(sql), sql)

    def _check(self, write: bool) -> None:
        if self._failed is not None:
            raise DatabaseError(self._failed)
        if write and self.readonly:
            raise SkillstoreError(
                "this session is read-only (store.session(readonly=True)); open a read-write "
                "session to write"
            )

    def _allow(self, table: str | None) -> None:
        """Ask the guard whether a write to ``table`` may be sent."""
        self._check(write=True)
        if self.guard is not None:
            self.guard(table)

    async def _begin(self, kind: Literal["read", "write"]) -> None:
        if self._bind is not None:
            sql = f"SAVEPOINT uow_{id(self)}"
        elif self.sqlite:
            sql = "BEGIN IMMEDIATE" if kind == "write" else "BEGIN"
        else:
            sql = "BEGIN"
        await self._send(sql)
        self._tx = kind

    async def begin_write(self) -> None:
        """Begin the transaction as a writing one, before reading what it writes (SQLite:
        take the write lock now)."""
        self._check(write=True)
        if self._tx == "write":
            return
        if self._tx == "read":
            if not self.sqlite or self._bind is not None:
                self._tx = "write"
                return
            # SQLite cannot upgrade a read transaction reliably: end it (it wrote nothing).
            if self._savepoints:
                raise RuntimeError("a savepoint opened for reading cannot write")
            await self._send("COMMIT")
            self._tx = None
        await self._begin("write")

    async def begin_read(self) -> None:
        """Begin a transaction for statements that need one but write nothing
        (transaction-local settings, server-side cursors)."""
        self._check(write=False)
        if self._tx is None:
            await self._begin("read")

    async def _ensure(self, *, write: bool) -> None:
        if write:
            await self.begin_write()
            return
        self._check(write=False)
        if self._bind is not None and self._tx is None:
            await self._begin("read")

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
            if commit and self._tx is not None:
                wrote = self._tx == "write"
                await self._send(self._end_sql(commit=True))
                self._tx = None
                if wrote and self._want_token and not self.sqlite:
                    lsn = "SELECT pg_current_wal_lsn()::text"
                    self.commit_token = await self._call(lambda: self._raw.fetchval(lsn), lsn)
            if self._tx is None:
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
        self._failed = None  # ending it is what a failed unit of work is waiting for
        try:
            if self._tx is not None and self._raw is not None:
                await self._send(self._end_sql(commit=False))
                if self._bind is not None:
                    await self._send(f"RELEASE SAVEPOINT uow_{id(self)}")
            self._tx = None
        except BaseException:
            await self._discard()
            raise
        finally:
            if self._tx is not None:
                await self._discard()
        await self._release()

    async def _release(self) -> None:
        """Give the connection back (nothing is open on it)."""
        conn, self._conn, self._raw = self._conn, None, None
        if conn is not None and conn is not self._bind:
            await self._connections.give(conn)

    # ---- statements -------------------------------------------------------------------
    async def rows(
        self, prepared: Prepared, params: Mapping[str, Any] = _NO_PARAMS
    ) -> list[tuple[Any, ...]]:
        """Run ``prepared`` with ``params``; the rows it returns (none for plain DML)."""
        sql, args = prepared.bind(params)
        if prepared.writes:
            self._allow(prepared.target)
        await self._ensure(write=prepared.writes)
        if self.sqlite:
            records = await self._call(lambda: self._raw.execute_fetchall(sql, args), sql)
        else:
            records = await self._call(lambda: self._raw.fetch(sql, *args), sql)
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

    async def stream(
        self, prepared: Prepared, params: Mapping[str, Any] = _NO_PARAMS, *, chunk: int = 1000
    ) -> AsyncIterator[list[tuple[Any, ...]]]:
        """The rows of ``prepared`` in chunks of up to ``chunk``, read as they are used
        (a server-side cursor on PostgreSQL, ``fetchmany`` on SQLite): constant memory."""
        sql, args = prepared.bind(params)
        if prepared.writes:
            self._allow(prepared.target)
        await self._ensure(write=prepared.writes)
        await self.begin_read()  # a cursor lives in a transaction
        if self.sqlite:
            cursor = await self._call(lambda: self._raw.execute(sql, args), sql)
            try:
                while batch := await self._call(lambda: cursor.fetchmany(chunk), sql):
                    yield prepared.rows(batch)
            finally:
                await cursor.close()
            return
        cursor = await self._call(lambda: self._raw.cursor(sql, *args), sql)
        while batch := await self._call(lambda: cursor.fetch(chunk), sql):
            yield prepared.rows(batch)

    async def executemany(self, prepared: Prepared, rows: Sequence[Sequence[Any]]) -> None:
        """Run ``prepared`` once per row of positional driver values (one driver call)."""
        assert prepared.sql is not None
        sql = prepared.sql
        self._allow(prepared.target)
        await self.begin_write()
        await self._call(lambda: self._raw.executemany(sql, rows), sql)

    async def run_many(self, prepared: Prepared, params: Sequence[Mapping[str, Any]]) -> None:
        """Run ``prepared`` once per parameter set, converted as `rows` would convert them."""
        await self.executemany(prepared, [prepared.bind(p)[1] for p in params])

    async def copy(self, table: str, columns: Sequence[str], source: Any) -> None:
        """PostgreSQL binary ``COPY table (columns) FROM STDIN`` from an async iterator of
        payload chunks (`skillstore.db.pgcopy`)."""
        self._allow(table)
        await self.begin_write()
        await self._call(
            lambda: self._raw.copy_to_table(
                table, source=source, columns=list(columns), format="binary"
            ),
            f"COPY {table}",
        )

    @asynccontextmanager
    async def savepoint(self, *, write: bool = True) -> AsyncIterator[None]:
        """A SAVEPOINT: if the block fails, only what it did is undone and the unit of
        work goes on (for statements the database alone can refuse). ``write=False``
        for a block that only reads (SQLite then keeps a deferred transaction)."""
        if write:
            await self.begin_write()
        else:
            await self.begin_read()
        self._savepoints += 1
        name = f"sp_{self._savepoints}"
        try:
            await self._send(f"SAVEPOINT {name}")
        except BaseException:
            self._savepoints -= 1
            raise
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
        await self._send(f"RELEASE SAVEPOINT {name}")

    async def execute(
        self, statement: sa.Executable, params: Mapping[str, Any] | None = None
    ) -> sa.Result[Any]:
        """Run any SQLAlchemy statement through SQLAlchemy itself (in a savepoint when a
        transaction is open, so that its failure undoes only itself)."""
        write = not isinstance(statement, sa.Select)
        if write:
            self._allow(target_of(statement))
        self._check(write)
        if write or self._tx is not None or self._bind is not None:
            async with self.savepoint(write=write):
                assert self._conn is not None
                return await self._conn.execute(statement, params)
        if self._conn is None:
            await self._checkout()
        assert self._conn is not None
        self._fresh = False
        return await self._conn.execute(statement, params)


__all__ = ["Connections", "UnitOfWork", "uncancellable"]
