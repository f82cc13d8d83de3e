"""Hostile input and faults: every refusal is a `SkillstoreError`, the same on both
backends, the session stays usable and nothing half-written stays behind."""

from __future__ import annotations

import asyncio
import inspect
import typing
import uuid
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from skillstore import models
from skillstore.db.base import Schema, table_of
from skillstore.db.sql import insert_or_nothing
from skillstore.errors import (
    AppendOnlyError,
    NotFoundError,
    SkillstoreError,
    ValidationError,
)
from skillstore.models import AuditLog, ClientProfileEntry, MemoryLog
from skillstore.settings import StoreSettings
from skillstore.store import Store, StoreSession
from tests.factories import make_agent, make_team
from tests.memory_data import clustered, dim, memory, memory_team

HOSTILE_TEXT = {"NUL": "a\x00b", "lone surrogate": "x\udfff"}


def _creates() -> list[type[Schema]]:
    models.load_all()
    return [
        cls
        for name in models.__all__
        if name.endswith("Create")
        and inspect.isclass(cls := getattr(models, name))
        and issubclass(cls, Schema)
    ]


def _fields_of(model: type[Schema], kind: type) -> list[str]:
    hints = typing.get_type_hints(model)
    return [
        name
        for name, info in model.model_fields.items()
        if name != "embedding"
        and (hints[name] is kind or kind in typing.get_args(hints[name]))
        and info.alias is None
    ]


@pytest.mark.parametrize("model", _creates(), ids=lambda m: m.__name__)
@pytest.mark.parametrize("hostile", list(HOSTILE_TEXT), ids=str)
def test_every_text_field_refuses_text_no_backend_stores_alike(
    model: type[Schema], hostile: str
) -> None:
    for field in _fields_of(model, str):
        with pytest.raises(ValidationError, match=field):
            model.model_validate({field: HOSTILE_TEXT[hostile]})


@pytest.mark.parametrize("model", _creates(), ids=lambda m: m.__name__)
def test_every_integer_field_is_32_bits_and_every_document_is_finite(model: type[Schema]) -> None:
    for field in _fields_of(model, int):
        with pytest.raises(ValidationError, match=f"{field}: .*(32 bits|less than)"):
            model.model_validate({field: 2**31})
    for field in _fields_of(model, dict):
        for value in ({"x": float("nan")}, {"x": 2**63}, {"x": ["\x00"]}):
            with pytest.raises(ValidationError, match=field):
                model.model_validate({field: value})


async def test_hostile_values_are_refused_before_any_sql_on_both_backends(store: Store) -> None:
    team = await make_team(store)
    agent = await make_agent(store, team)
    v = clustered(2, dim(store))
    async with store.session(team_id=team.id) as s:
        attempts: list[Callable[[], Any]] = [
            lambda: s.memories.add(memory(v[0], content="a\x00b")),
            lambda: s.memories.add(memory(v[0], metadata={"n": float("inf")})),
            lambda: s.executions.create({"agent_id": agent.id, "input": {"x": float("nan")}}),
            lambda: s.executions.create({"agent_id": agent.id, "input_tokens": 2**31}),
            lambda: s.memories.add(memory(v[0], expires_at=datetime(2999, 1, 1))),
            lambda: s.agents.update(agent.id, {"tagline": "x\udfff"}),
            lambda: s.documents.add_many(
                [{"document_id": "d", "content": "c", "embedding": [0.0] * dim(store)}]
            ),
        ]
        for attempt in attempts:
            with pytest.raises(ValidationError):  # EmbeddingError is one too
                await attempt()
        original = await s.memories.add(memory(v[1]))
        with pytest.raises(ValidationError, match="reason"):
            await s.memories.supersede(original.id, memory(v[0]), reason="r" * 5000)
        assert await s.memories.count() == 1 and await s.executions.count() == 0
        assert await s.documents.count() == 0
        assert [e.action for e in await s.memories.history(original.id)] == ["created"]


@pytest.mark.parametrize("expression", ["0 0 30 2 *", "0 0 31 4 *"])
async def test_a_cron_expression_that_never_fires_is_refused(store: Store, expression: str) -> None:
    team = await make_team(store)
    agent = await make_agent(store, team)
    async with store.session(team_id=team.id) as s:
        with pytest.raises(ValidationError, match="never fires"):
            await s.schedules.create(
                {"agent_id": agent.id, "type": "cron", "expression": expression}
            )
        with pytest.raises(ValidationError, match="never fires"):
            await s.agents.update(agent.id, {"trigger_type": "scheduled", "schedule": expression})
        with pytest.raises(ValidationError, match="ten years"):
            await s.schedules.create(
                {"agent_id": agent.id, "type": "interval", "expression": "9999999999d"}
            )
        assert await s.schedules.count() == 0


async def test_unknown_enum_values_are_validation_errors(store: Store) -> None:
    team_id = await memory_team(store)
    async with store.session(team_id=team_id) as s:
        made = await s.memories.add(memory(clustered(1, dim(store))[0]))
        with pytest.raises(ValidationError, match="unknown memory tier 'lukewarm'"):
            await s.memories.set_tier(made.id, "lukewarm")
        with pytest.raises(ValidationError, match="unknown memory status 'bogus'"):
            await s.memories.set_status(made.id, "bogus")
        assert (await s.memories.get(made.id)) == made


async def test_links_are_checked_in_team_on_update_too(store: Store) -> None:
    mine, theirs = await memory_team(store), await memory_team(store)
    v = clustered(2, dim(store))
    async with store.session(team_id=theirs) as s:
        foreign = await s.memories.add(memory(v[0]))
    async with store.session(team_id=mine) as s:
        own = await s.memories.add(memory(v[1]))
        with pytest.raises(NotFoundError, match="not in this team"):
            await s.memories.update(own.id, {"related_to": [foreign.id]})
        with pytest.raises(NotFoundError, match="not in this team"):
            await s.memories.add(memory(v[1], related_to=[foreign.id]))
        with pytest.raises(NotFoundError, match="not in this team"):
            await s.memories.add(memory(v[1], source_message_ids=[uuid.uuid4()]))
        assert (await s.memories.get(own.id)) == own and await s.memories.count() == 1


@pytest.mark.parametrize(
    "model", [AuditLog, MemoryLog, ClientProfileEntry], ids=lambda m: m.__name__
)
async def test_append_only_rows_cannot_be_replaced_or_upserted(
    store: Store, model: type[Any]
) -> None:
    table = table_of(model)
    async with store.session() as s:
        row = (await s.execute(sa.select(table).limit(1))).first()
    if row is None:  # make one row through the library
        team = await make_team(store)
        async with store.session(team_id=team.id) as s:
            if model is ClientProfileEntry:
                client = await s.clients.create({"name": "c"})
                await s.clients.append_profile(client.id, {"a": 1})
            elif model is MemoryLog:
                await s.memories.add(memory(clustered(1, dim(store))[0]))
            else:
                await s.audit.record("test.event", action="probe")
        async with store.session() as s:
            row = (await s.execute(sa.select(table).limit(1))).one()
    values = dict(row._mapping)
    if store.dialect == "sqlite":
        replace: sa.Executable = sa.insert(table).prefix_with("OR REPLACE").values(values)
    else:
        replace = postgresql.insert(table).values(values).on_conflict_do_nothing()
    upsert = insert_or_nothing(store.engine.dialect, table).values(values)
    overwrite = upsert.on_conflict_do_update(
        index_elements=[table.c.id], set_={"id": upsert.excluded.id}
    )
    async with store.session() as s:
        with pytest.raises(AppendOnlyError):
            await s.execute(overwrite)
        if store.dialect == "sqlite":
            with pytest.raises(AppendOnlyError):
                await s.execute(replace)
        again = (await s.execute(sa.select(table).where(table.c.id == values["id"]))).one()
        assert dict(again._mapping) == values


async def test_cancelled_units_of_work_release_their_locks(committed_store: Store) -> None:
    store = committed_store
    team_id = await memory_team(store)
    v = clustered(1, dim(store))[0]

    async def write() -> None:
        async with store.session(team_id=team_id) as s:
            await s.memories.add(memory(v))
            await asyncio.sleep(1)  # still holding the write transaction

    for delay in [0.001 * i for i in range(1, 31)]:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(write(), delay)
    # Nothing was committed, and the lock is free: the next writer does not wait.
    started = asyncio.get_running_loop().time()
    async with store.session(team_id=team_id) as s:
        await s.memories.add(memory(v))
        assert await s.memories.count() == 1
    assert asyncio.get_running_loop().time() - started < 1.0
    if store.dialect == "postgresql":
        async with store.session() as s:
            stuck = await s.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND state LIKE 'idle in transaction%'"
                )
            )
            assert stuck.scalar_one() == 0


def test_the_database_password_is_not_in_the_settings_repr() -> None:
    settings = StoreSettings(database_url="postgresql+asyncpg://app:s3cr3t-pw@db.example/x")
    assert "s3cr3t-pw" not in repr(settings) + str(settings)
    assert "app:***@db.example" in repr(settings)


async def test_a_closed_store_refuses_sessions(committed_store: Store) -> None:
    other = await Store.open(settings=committed_store.settings)
    await other.close()
    with pytest.raises(SkillstoreError, match="store is closed"):
        async with other.session():
            pass


HOSTILE: dict[str, list[Any]] = {
    "str": ["\x00", "x\udfff", "", "a" * 100_000],
    "int": [2**63, -(2**31) - 1, 0],
    "float": [float("nan"), float("inf")],
    "uuid": [uuid.UUID(int=0), uuid.uuid4()],
    "mapping": [{"\x00": 1}, {"x": float("nan")}, {"bad key": object()}, {}],
    "sequence": [["\x00"], [float("nan")], []],
    "other": [None, "\x00"],
}


def _values(annotation: Any) -> list[Any]:
    text = str(annotation)
    if "Mapping" in text or "Create" in text or "Update" in text or "Context" in text:
        return HOSTILE["mapping"]
    if "Sequence" in text or "Iterable" in text or "list" in text:
        return HOSTILE["sequence"]
    if "UUID" in text:
        return HOSTILE["uuid"]
    if "float" in text:
        return HOSTILE["float"]
    if "int" in text:
        return HOSTILE["int"]
    if "str" in text or "Enum" in text or "Tier" in text or "Status" in text:
        return HOSTILE["str"]
    return HOSTILE["other"]


async def test_no_public_repository_method_lets_anything_but_a_skillstore_error_escape(
    store: Store,
) -> None:
    team = await make_team(store)
    escaped: list[str] = []
    tried = 0
    for repo_name in ("users", "teams", *_tenant_repositories()):
        async with store.session(team_id=None if repo_name in ("users", "teams") else team.id) as s:
            repo = getattr(s, repo_name)
            for name, method in inspect.getmembers(repo, inspect.iscoroutinefunction):
                if name.startswith("_"):
                    continue
                signature = inspect.signature(method)
                required = [
                    p
                    for p in signature.parameters.values()
                    if p.default is inspect.Parameter.empty
                    and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
                ]
                for i in range(len(HOSTILE["str"])):
                    args = {}
                    for p in required:
                        options = _values(p.annotation)
                        args[p.name] = options[i % len(options)]
                    tried += 1
                    try:
                        result = method(**args)
                        if inspect.isasyncgen(result):
                            async for _ in result:
                                pass
                        else:
                            await result
                    except SkillstoreError:
                        pass
                    except Exception as exc:
                        escaped.append(f"{repo_name}.{name}({args!r}): {type(exc).__name__}: {exc}")
                    # The session is still usable after whatever happened.
                    await (s.users if repo_name in ("users", "teams") else s.agents).count()
    assert tried > 200 and escaped == [], "\n".join(escaped)


def _tenant_repositories() -> list[str]:
    return [
        "agents", "credentials", "executions", "conversations", "messages", "workflows",
        "schedules", "webhooks", "mcp_servers", "audit", "memories", "tasks", "escalations",
        "artifacts", "clients", "feedback", "documents", "skill_files", "agent_logs",
        "agent_metrics",
    ]  # fmt: skip


def test_every_repository_of_a_session_is_driven() -> None:
    sessions = {
        name for name, member in vars(StoreSession).items()
        if hasattr(member, "func") and not name.startswith("_")
    }  # fmt: skip
    assert sessions == {"users", "teams", *_tenant_repositories()}
