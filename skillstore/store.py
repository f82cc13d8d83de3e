"""`Store` (engine, sessions, cipher, migrations) and `StoreSession` (one unit of work).

A session commits when its ``async with`` block ends and rolls back on any exception;
repositories never commit. Repositories hang off the session as properties, built (and
their modules imported) on first use, so a tenant-scoped one fails with
`TenantRequiredError` exactly where it is used without a team, and a process that only
stores memories never imports the workflow models.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from functools import cached_property
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from skillstore._fastapi import SessionDependency
from skillstore.db import replicas
from skillstore.db.engine import create_engine
from skillstore.db.replicas import Replica, Replicas, parse_lsn
from skillstore.db.statements import Statements
from skillstore.db.translate import translated
from skillstore.db.unit import Connections, UnitOfWork
from skillstore.db.urls import parse_url
from skillstore.embedding import Embedder, embedder_from_settings
from skillstore.errors import (
    BackendNotSupportedError,
    CredentialError,
    DatabaseError,
    EmbeddingError,
    SkillstoreError,
    TenantRequiredError,
    ValidationError,
)
from skillstore.repositories.base import RepoContext
from skillstore.settings import StoreSettings, hide_password

if TYPE_CHECKING:
    from skillstore.authz import Actor
    from skillstore.crypto import Cipher
    from skillstore.models.erasure import ErasureRead
    from skillstore.models.tenancy import UserRole
    from skillstore.repositories.agents import AgentRepository
    from skillstore.repositories.audit import AuditRepository
    from skillstore.repositories.client import ClientRepository, FeedbackRepository
    from skillstore.repositories.conversation import ConversationRepository, MessageRepository
    from skillstore.repositories.credentials import CredentialRepository
    from skillstore.repositories.executions import ExecutionRepository
    from skillstore.repositories.knowledge import DocumentRepository, SkillFileRepository
    from skillstore.repositories.mcp_server import McpServerRepository
    from skillstore.repositories.memory import MemoryRepository
    from skillstore.repositories.observability import AgentLogRepository, AgentMetricRepository
    from skillstore.repositories.schedule import ScheduleRepository
    from skillstore.repositories.task import (
        EscalationRepository,
        TaskArtifactRepository,
        TaskRepository,
    )
    from skillstore.repositories.tenancy import TeamRepository, UserRepository
    from skillstore.repositories.webhook import WebhookRepository
    from skillstore.repositories.workflow import WorkflowRepository


class StoreSession:
    """One unit of work: the repositories of the contract, sharing one transaction."""

    def __init__(self, ctx: RepoContext) -> None:
        self._ctx = ctx

    @property
    def team_id(self) -> uuid.UUID | None:
        """The team this session is scoped to, if any."""
        return self._ctx.team_id

    @property
    def actor(self) -> uuid.UUID | None:
        """The user this session acts for (``store.session(actor=...)``), if any."""
        return None if self._ctx.actor is None else self._ctx.actor.user_id

    @property
    def role(self) -> UserRole | None:
        """The actor's role in the session's team (``None`` without an actor)."""
        return None if self._ctx.actor is None else self._ctx.actor.role

    @property
    def readonly(self) -> bool:
        """Whether this session refuses writes."""
        return self._ctx.uow.readonly

    @property
    def commit_token(self) -> str | None:
        """After a read-write session that wrote and committed (PostgreSQL, with
        ``replica_urls`` set): the position of its commit, for
        ``store.session(readonly=True, after=token)``. Opaque; None otherwise."""
        return self._ctx.uow.commit_token

    async def execute(
        self, statement: sa.Executable, params: Mapping[str, Any] | None = None
    ) -> sa.Result[Any]:
        """Run any SQLAlchemy statement in this unit of work (through SQLAlchemy itself).

        It runs in a SAVEPOINT: if it fails, the error is translated and the rest of the
        unit of work is unaffected.
        """
        with translated():
            return await self._ctx.uow.execute(statement, params)

    @cached_property
    def users(self) -> UserRepository:
        """Users (global)."""
        from skillstore.repositories.tenancy import UserRepository

        return UserRepository(self._ctx)

    @cached_property
    def teams(self) -> TeamRepository:
        """Teams and memberships (global)."""
        from skillstore.repositories.tenancy import TeamRepository

        return TeamRepository(self._ctx)

    @cached_property
    def agents(self) -> AgentRepository:
        """Agent configurations (tenant-scoped)."""
        from skillstore.repositories.agents import AgentRepository

        return AgentRepository(self._ctx)

    @cached_property
    def credentials(self) -> CredentialRepository:
        """Encrypted credentials (tenant-scoped)."""
        from skillstore.repositories.credentials import CredentialRepository

        return CredentialRepository(self._ctx)

    @cached_property
    def executions(self) -> ExecutionRepository:
        """Agent and workflow runs (tenant-scoped)."""
        from skillstore.repositories.executions import ExecutionRepository

        return ExecutionRepository(self._ctx)

    @cached_property
    def conversations(self) -> ConversationRepository:
        """Conversations (tenant)."""
        from skillstore.repositories.conversation import ConversationRepository

        return ConversationRepository(self._ctx)

    @cached_property
    def messages(self) -> MessageRepository:
        """Messages; `append` keeps the conversation's counters exact (tenant)."""
        from skillstore.repositories.conversation import MessageRepository

        return MessageRepository(self._ctx)

    @cached_property
    def workflows(self) -> WorkflowRepository:
        """Workflows (tenant)."""
        from skillstore.repositories.workflow import WorkflowRepository

        return WorkflowRepository(self._ctx)

    @cached_property
    def schedules(self) -> ScheduleRepository:
        """Schedules and `claim_due` (tenant)."""
        from skillstore.repositories.schedule import ScheduleRepository

        return ScheduleRepository(self._ctx)

    @cached_property
    def webhooks(self) -> WebhookRepository:
        """Webhooks and `verify` (tenant)."""
        from skillstore.repositories.webhook import WebhookRepository

        return WebhookRepository(self._ctx)

    @cached_property
    def mcp_servers(self) -> McpServerRepository:
        """MCP servers (tenant)."""
        from skillstore.repositories.mcp_server import McpServerRepository

        return McpServerRepository(self._ctx)

    @cached_property
    def audit(self) -> AuditRepository:
        """The audit log: the team's entries in a tenant session, every entry in a global one."""
        from skillstore.repositories.audit import AuditRepository

        return AuditRepository(self._ctx)

    @cached_property
    def memories(self) -> MemoryRepository:
        """Long-term memories: search, versions, history, tags, scored retrieval (tenant)."""
        from skillstore.repositories.memory import MemoryRepository

        return MemoryRepository(self._ctx)

    @cached_property
    def tasks(self) -> TaskRepository:
        """Tasks and their status state machine (tenant)."""
        from skillstore.repositories.task import TaskRepository

        return TaskRepository(self._ctx)

    @cached_property
    def escalations(self) -> EscalationRepository:
        """Escalations of tasks to people (tenant)."""
        from skillstore.repositories.task import EscalationRepository

        return EscalationRepository(self._ctx)

    @cached_property
    def artifacts(self) -> TaskArtifactRepository:
        """What tasks produced (tenant)."""
        from skillstore.repositories.task import TaskArtifactRepository

        return TaskArtifactRepository(self._ctx)

    @cached_property
    def clients(self) -> ClientRepository:
        """Clients and their append-only profiles (tenant)."""
        from skillstore.repositories.client import ClientRepository

        return ClientRepository(self._ctx)

    @cached_property
    def feedback(self) -> FeedbackRepository:
        """Ratings of tasks and messages (tenant)."""
        from skillstore.repositories.client import FeedbackRepository

        return FeedbackRepository(self._ctx)

    @cached_property
    def documents(self) -> DocumentRepository:
        """Document chunks with embeddings (tenant)."""
        from skillstore.repositories.knowledge import DocumentRepository

        return DocumentRepository(self._ctx)

    @cached_property
    def skill_files(self) -> SkillFileRepository:
        """Skill files and their embeddings (tenant)."""
        from skillstore.repositories.knowledge import SkillFileRepository

        return SkillFileRepository(self._ctx)

    @cached_property
    def agent_logs(self) -> AgentLogRepository:
        """Agents' log lines (tenant)."""
        from skillstore.repositories.observability import AgentLogRepository

        return AgentLogRepository(self._ctx)

    @cached_property
    def agent_metrics(self) -> AgentMetricRepository:
        """Agents' metrics and their hourly/daily aggregation (tenant)."""
        from skillstore.repositories.observability import AgentMetricRepository

        return AgentMetricRepository(self._ctx)


class Store:
    """The entry point: ``store = await Store.open(url)``, then ``store.session(...)``."""

    def __init__(
        self,
        engine: AsyncEngine,
        settings: StoreSettings,
        *,
        bind: AsyncConnection | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        """Wrap an engine made by `skillstore.db.engine.create_engine`.

        ``bind``: run every session as a SAVEPOINT inside this connection's open
        transaction (SQLAlchemy's "join a session into an external transaction" recipe,
        for tests that roll everything back). The connection comes from ``engine``, whose
        connections are in ``AUTOCOMMIT`` mode, so its owner begins (and ends) that
        transaction with a ``BEGIN`` of its own.
        """
        if embedder is not None:
            if embedder.dimensions != settings.embedding_dimensions:
                raise EmbeddingError(
                    f"the embedder makes {embedder.dimensions}-dimensional vectors but the "
                    f"store uses {settings.embedding_dimensions}; build the embedder with "
                    "dimensions=settings.embedding_dimensions or change "
                    "SKILLSTORE_EMBEDDING_DIMENSIONS before migrating"
                )
            # Rows record the model that embedded them and searches compare only vectors
            # of one model, so the embedder's name must be the store's.
            settings = settings.model_copy(update={"embedding_model": embedder.model})
        self.engine = engine
        self.settings = settings
        self.embedder = embedder
        self._bind = bind
        self._owns_engine = False
        self._closed = False
        check_scaling_settings(engine.dialect.name, settings)
        limits = (
            f"pool_size={settings.pool_size}, pool_overflow={settings.pool_overflow}, "
            f"pool_timeout={settings.pool_timeout:g} s"
        )
        self.connections = Connections(engine, keep=settings.pool_size, exhausted=limits)
        """Connections waiting between units of work (`skillstore.db.unit.Connections`)."""
        self.replicas = Replicas(
            [
                Replica(
                    engine := create_engine(
                        settings, url=url, connect_timeout=replicas.CONNECT_TIMEOUT_S
                    ),
                    Connections(engine, keep=settings.pool_size, exhausted=limits),
                    name=hide_password(url),
                )
                for url in settings.replica_urls
            ],
            max_lag_s=settings.replica_max_lag_s,
            wait_s=settings.replica_wait_s,
        )
        """Where read-only sessions run (`skillstore.db.replicas`); empty without
        ``replica_urls``."""
        self.statements = Statements(engine.dialect)
        """Statements prepared for this store's database (`skillstore.db.statements`)."""
        self.caches: dict[str, Any] = {}
        """What this store keeps between sessions besides statements (vector search's
        plans and SQLite's in-memory vectors), by owner."""

    def __repr__(self) -> str:
        return f"Store(dialect={self.dialect!r})"

    @cached_property
    def cipher(self) -> Cipher:
        """Encrypts and decrypts secrets with ``settings.encryption_keys``."""
        from skillstore.crypto import Cipher

        return Cipher(self.settings.encryption_keys)

    @classmethod
    async def open(
        cls,
        url: str | None = None,
        *,
        settings: StoreSettings | None = None,
        embedder: Embedder | None = None,
    ) -> Store:
        """Open a store: ``url`` wins over ``settings.database_url``, then ``SKILLSTORE_*``.

        ``embedder`` lets repositories take text where they take vectors; without one,
        an `OpenAIEmbedder` is used when ``embedding_api_key`` or ``embedding_base_url``
        is set. The embedder's ``model`` becomes ``settings.embedding_model``.

        Raises:
            BackendNotSupportedError: the URL names a backend other than SQLite/PostgreSQL.
            DatabaseError: the database cannot be reached.
            EmbeddingError: the embedder's dimension is not ``embedding_dimensions``.
        """
        if not isinstance(url, str | None):
            raise ValidationError(
                f"Store.open takes a database URL, got {type(url).__name__}; "
                "pass settings as Store.open(settings=...)"
            )
        settings = settings if settings is not None else StoreSettings()
        if url is not None:
            settings = settings.model_copy(update={"database_url": url})
        embedder = embedder if embedder is not None else embedder_from_settings(settings)
        engine = create_engine(settings)
        try:
            await ping(engine)
            store = cls(engine, settings, embedder=embedder)
            store._owns_engine = True
            return store
        except BaseException:
            await engine.dispose()
            raise

    @property
    def dialect(self) -> str:
        """``"sqlite"`` or ``"postgresql"``."""
        return self.engine.dialect.name

    async def upgrade(self, revision: str = "head") -> None:
        """Migrate the database to ``revision`` (idempotent; serialised across replicas)."""
        from skillstore import _migrate

        await _migrate.upgrade(self.settings, revision)
        # Connections opened before the migration may predate the vector type's codec.
        await self.connections.close()
        await self.engine.dispose()

    @asynccontextmanager
    async def session(
        self,
        team_id: uuid.UUID | None = None,
        *,
        readonly: bool = False,
        actor: uuid.UUID | None = None,
        after: str | None = None,
    ) -> AsyncIterator[StoreSession]:
        """A unit of work; scoped to ``team_id`` when given. Commits on success.

        ``readonly=True`` refuses writes (and on SQLite never takes the write lock, as no
        session that only reads does). With ``replica_urls`` it runs on a replica,
        round-robin, skipping replicas that are down or lag by more than
        ``replica_max_lag_s``, else on the primary; ``after`` (a `StoreSession.commit_token`)
        picks only a replica that has replayed that commit, waiting up to
        ``replica_wait_s``. ``actor``: the user the session acts for, whose role in
        ``team_id`` every write is checked against (`skillstore.authz`); without one, the
        session is the service's and nothing is checked. On an exception it rolls back,
        then writes again (and commits) only the audit entries recorded as durable, such
        as refused webhook calls.

        Raises:
            ForbiddenError: ``actor`` is not an active member of the team (at the start),
                or a write needs a role the actor lacks.
            TenantRequiredError: ``actor`` without ``team_id``.
        """
        if self._closed:
            raise SkillstoreError("this store is closed; open another with Store.open(...)")
        if after is not None and not readonly:
            raise ValidationError(
                "after= is for read-only sessions: session(readonly=True, after=token)"
            )
        connections = self.connections
        if readonly and self.replicas and self._bind is None:
            connections = await self.replicas.pick(after) or self.connections
        elif after is not None:
            parse_lsn(after)  # refused alike with or without replicas
        uow = UnitOfWork(
            connections,
            bind=self._bind,
            readonly=readonly,
            commit_token=bool(self.replicas) and not readonly,
        )
        ctx = RepoContext(uow, team_id, self)
        try:
            if actor is not None:
                found = await self._actor(uow, team_id, actor)
                uow.guard = found.check_write
                ctx = RepoContext(uow, team_id, self, actor=found)
            yield StoreSession(ctx)
        except BaseException:
            with translated():
                await uow.finish(commit=False)
            if ctx.durable:
                await self._write_durable(ctx.durable)
            raise
        with translated():
            await uow.finish(commit=True)

    async def _actor(self, uow: UnitOfWork, team_id: uuid.UUID | None, user_id: uuid.UUID) -> Actor:
        """The actor's active membership in ``team_id`` (one indexed read)."""
        from skillstore.authz import Actor, not_a_member, secret_tables
        from skillstore.db.base import table_of
        from skillstore.models.tenancy import TeamMembership, User, UserRole

        if team_id is None:
            raise TenantRequiredError(
                "a session with actor= acts in one team: open it with "
                "store.session(team_id=..., actor=...)"
            )
        if not isinstance(user_id, uuid.UUID):
            raise ValidationError(f"actor must be a user id (UUID), got {type(user_id).__name__}")
        membership, user = table_of(TeamMembership), table_of(User)

        def build() -> sa.Executable:
            return (
                sa.select(membership.c.role)
                .join(user, user.c.id == membership.c.user_id)
                .where(
                    membership.c.team_id == sa.bindparam("team"),
                    membership.c.user_id == sa.bindparam("user"),
                    user.c.is_active.is_(True),
                )
            )

        role = await uow.scalar(
            self.statements.get(("actor-role",), build), {"team": team_id, "user": user_id}
        )
        if role is None:
            raise not_a_member(user_id, team_id)
        secrets = self.statements.memo(("secret-tables",), secret_tables)
        return Actor(user_id=user_id, team_id=team_id, role=UserRole(role), secrets=secrets)

    async def _write_durable(self, rows: list[tuple[sa.Table, dict[str, Any]]]) -> None:
        """Write rows that must outlive the rollback that just happened, and commit them."""
        uow = UnitOfWork(self.connections, bind=self._bind)
        try:
            for table, values in rows:
                await uow.rows(self.statements.once(sa.insert(table).values(values)))
        except BaseException:
            await uow.finish(commit=False)
            raise
        await uow.finish(commit=True)

    # A FastAPI dependency per request; on the class, it finds the store in the lifespan
    # state (see `skillstore._fastapi`).
    session_dependency = SessionDependency()

    async def rotate_keys(
        self, *, batch_size: int = 500, on_progress: Callable[[int, int], None] | None = None
    ) -> int:
        """Re-encrypt every encrypted column under the first key; return rows re-encrypted.

        Works in batches, committing each, so it is safe to interrupt and re-run. Every
        ``Ciphertext`` column in the metadata is included automatically. Each run, finished
        or failed, leaves one ``keys.rotated`` entry in the audit log.
        """
        from skillstore.db.base import metadata
        from skillstore.db.types import encrypted_columns
        from skillstore.models import load_all

        load_all()  # every table: every encrypted column

        primary = self.cipher.primary_version  # no key: CredentialError saying how to add one
        columns = list(encrypted_columns(metadata))
        total = sum([await self._count_stale(c, v) for c, v in columns])
        done = 0
        try:
            for column, version in columns:
                while batch := await self._rotate_batch(column, version, batch_size):
                    done += batch
                    if on_progress is not None:
                        on_progress(done, total)
        except CredentialError:
            await self._audit_rotation(primary, done, success=False)
            raise
        await self._audit_rotation(primary, done, success=True)
        return done

    async def _audit_rotation(self, key_version: str, rows: int, *, success: bool) -> None:
        from skillstore.models.audit import AuditEvent

        async with self.session() as s:
            await s.audit.record(
                AuditEvent.KEYS_ROTATED,
                action="rotate",
                details={"key_version": key_version, "rows": rows},
                success=success,
            )

    def _stale(self, column: sa.Column[Any], version: sa.Column[Any]) -> sa.ColumnElement[bool]:
        """Rows holding a value of ``column`` not encrypted under the primary key."""
        primary = self.cipher.primary_version
        return sa.and_(column.is_not(None), sa.or_(version.is_(None), version != primary))

    async def _count_stale(self, column: sa.Column[Any], version: sa.Column[Any]) -> int:
        query = sa.select(sa.func.count()).select_from(column.table)
        async with self.session() as s:
            result = await s.execute(query.where(self._stale(column, version)))
            return int(result.scalar_one())

    async def _rotate_batch(
        self, column: sa.Column[Any], version: sa.Column[Any], limit: int
    ) -> int:
        """Re-encrypt up to ``limit`` stale values of ``column`` in one committed batch."""
        table = column.table
        query = sa.select(table.c.id, column).where(self._stale(column, version)).limit(limit)
        async with self.session() as s:
            rows: list[Any] = list((await s.execute(query)).all())
            for row in rows:
                row_id, ciphertext = row[0], row[1]
                try:
                    new, key_version = self.cipher.rotate(ciphertext)
                except CredentialError as exc:
                    raise CredentialError(f"{table.name} {row_id}: {exc}") from None
                await s.execute(
                    sa.update(table)
                    .where(table.c.id == row_id)
                    .values({column.name: new, version.name: key_version})
                )
            return len(rows)

    async def erase_team(self, team_id: uuid.UUID) -> ErasureRead:
        """Delete team ``team_id`` and everything it owns in one unit of work, blanking
        (not deleting) its append-only history, then `checkpoint`. Returns the erasure
        record (what was deleted and redacted, table by table).

        Raises:
            NotFoundError: no such team.
        """
        from skillstore.lifecycle.erase import erase_team

        async with self.session() as s:
            await s._ctx.uow.begin_write()
            erased = await erase_team(s._ctx, team_id)
        await self.checkpoint()
        return erased

    async def apply_retention(self, *, batch_size: int = 500) -> dict[str, int]:
        """Apply every team's `RetentionPolicy`: delete old executions, agent logs,
        metrics, messages and long-expired memories, and blank old audit entries, in
        committed batches; rows erased, by table. Idempotent and safe to run from
        several workers at once (`skillstore.lifecycle.retention`)."""
        from skillstore.lifecycle.retention import apply_retention

        done = await apply_retention(self, batch_size=batch_size)
        await self.checkpoint()
        return done

    async def checkpoint(self) -> None:
        """SQLite: copy the WAL into the database file and truncate it, so that pages an
        erasure overwrote are gone from the WAL too. PostgreSQL: nothing (dead row
        versions are reclaimed by VACUUM; run ``VACUUM FULL`` to rewrite the files)."""
        if self.dialect != "sqlite" or self._bind is not None:
            return
        with translated():
            async with self.engine.connect() as conn:
                await conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")

    async def close(self) -> None:
        """Give back the connections this store holds and, for a store made by `open`,
        close the engine's pool (an engine passed in belongs to whoever made it)."""
        self._closed = True
        await self.connections.close()
        await self.replicas.close()
        if self._owns_engine:
            await self.engine.dispose()

    async def __aenter__(self) -> Store:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()


def check_scaling_settings(dialect: str, settings: StoreSettings) -> None:
    """Refuse read-replica and pooler settings where they cannot apply (SQLite), or a
    replica that is not PostgreSQL: silently ignoring them would read from the wrong place."""
    chosen = settings.model_fields_set & {
        "replica_urls",
        "replica_max_lag_s",
        "replica_wait_s",
        "transaction_pooler",
    }
    if dialect == "sqlite" and (settings.replica_urls or settings.transaction_pooler or chosen):
        raise BackendNotSupportedError(
            f"{', '.join(sorted(chosen)) or 'replica_urls'}: read replicas and transaction "
            "poolers need PostgreSQL; on SQLite readers never wait for the writer anyway "
            "(store.session(readonly=True)), so leave SKILLSTORE_REPLICA_URLS and "
            "SKILLSTORE_TRANSACTION_POOLER unset"
        )
    for url in settings.replica_urls:
        if parse_url(url)[0].get_backend_name() != "postgresql":
            raise BackendNotSupportedError(
                f"replica {hide_password(url)}: a read replica must be a PostgreSQL URL"
            )


async def ping(engine: AsyncEngine) -> None:
    """Connect once, so a bad URL or an unreachable server fails here with one clear line."""
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
    except (OSError, sa.exc.SQLAlchemyError) as exc:
        reason = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        raise DatabaseError(
            f"cannot connect to {engine.url.render_as_string(hide_password=True)}: {reason}"
        ) from exc
