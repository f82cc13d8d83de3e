"""Code a user must not be able to write: each marked line is a mypy error (checked by
tests/test_typing.py, with mypy's default settings and no plugin, as in a user's project)."""

from __future__ import annotations

import uuid

from skillstore import (
    AgentConfigUpdate,
    MemoryCreate,
    MemoryType,
    Store,
    TeamCreate,
    UserCreate,
)


async def misuse(store: Store, vec: list[float]) -> None:
    async with store.session() as s:
        await s.users.create(TeamCreate(name="Acme", slug="acme"))  # error: arg-type
        UserCreate(email="a@example.com", passwrd="x", display_name="A")  # error: call-arg
        await s.users.get("not-a-uuid")  # error: arg-type
    async with store.session(team_id=uuid.uuid4()) as s:
        bad = MemoryCreate(content=1, memory_type=MemoryType.SEMANTIC)  # error: arg-type
        await s.memories.add(bad)
        await s.memories.search(vec, kk=10)  # error: call-arg
        memory = MemoryCreate(content="x", memory_type=MemoryType.SEMANTIC)
        await s.agents.update(uuid.uuid4(), memory)  # error: arg-type
        hits = await s.memories.search(vec)
        print(hits[0].memory.contnt)  # error: attr-defined
        await s.agents.update(uuid.uuid4(), AgentConfigUpdate(name=3))  # error: arg-type
        found: list[str] = await s.agents.find()  # error: assignment
        print(found)
