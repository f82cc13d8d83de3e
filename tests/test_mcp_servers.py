from __future__ import annotations

import json
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col

from skillstore.db.base import table_of
from skillstore.errors import ConflictError, ValidationError
from skillstore.models import AuditEvent, McpServer, McpServerCreate, McpServerRead, TeamRead
from skillstore.store import Store
from tests.factories import make_team

ENV = {"GITHUB_TOKEN": "ghp-very-secret", "API_KEY": "sk-also-secret"}


async def new_server(store: Store, team: TeamRead, **fields: Any) -> McpServerRead:
    data: dict[str, Any] = {"name": "github", "command": "npx", "args": ["-y", "gh"], "env": ENV}
    data.update(fields)
    async with store.session(team_id=team.id) as s:
        return await s.mcp_servers.create(data)


async def test_env_values_are_encrypted_and_only_names_are_read(store: Store) -> None:
    team = await make_team(store)
    server = await new_server(store, team)
    assert server.env_keys == ["API_KEY", "GITHUB_TOKEN"]
    shown = (
        repr(server)
        + server.model_dump_json()
        + repr(McpServerCreate.model_validate({"name": "n", "command": "c", "env": ENV}))
    )
    assert not any(secret in shown for secret in ENV.values())
    async with store.session() as s:
        row = (
            await s.execute(sa.select(table_of(McpServer)).where(col(McpServer.id) == server.id))
        ).one()
    assert not any(secret in repr(tuple(row)) for secret in ENV.values())
    assert json.loads(store.cipher.decrypt(row.env_ciphertext)) == ENV


async def test_reveal_env_returns_the_values_and_is_audited(store: Store) -> None:
    team = await make_team(store)
    server = await new_server(store, team)
    async with store.session(team_id=team.id) as s:
        assert await s.mcp_servers.reveal_env(server.id) == ENV
        (entry,) = await s.audit.query(resource_id=server.id)
    assert entry.event_type == AuditEvent.MCP_ENV_REVEALED
    assert entry.details == {"keys": ["API_KEY", "GITHUB_TOKEN"]}


async def test_update_replaces_the_environment(store: Store) -> None:
    team = await make_team(store)
    server = await new_server(store, team)
    async with store.session(team_id=team.id) as s:
        changed = await s.mcp_servers.update(server.id, {"env": {"ONLY": "x"}, "tool_count": 3})
        assert changed.env_keys == ["ONLY"] and changed.tool_count == 3
        assert await s.mcp_servers.reveal_env(server.id) == {"ONLY": "x"}
        cleared = await s.mcp_servers.update(server.id, {"env": {}})
        assert cleared.env_keys == [] and await s.mcp_servers.reveal_env(server.id) == {}
        renamed = await s.mcp_servers.update(server.id, {"name": "gh"})
        assert renamed.env_keys == [] and renamed.status == server.status


async def test_names_are_unique_per_team(store: Store) -> None:
    team, other = await make_team(store), await make_team(store)
    await new_server(store, team)
    with pytest.raises(ConflictError, match="already exists"):
        await new_server(store, team)
    await new_server(store, other)
    async with store.session(team_id=team.id) as s:
        assert await s.mcp_servers.count() == 1
        found = await s.mcp_servers.get_by_name("github")
        assert found is not None and found.team_id == team.id


@pytest.mark.parametrize(
    ("fields", "field"),
    [({"env": {"1BAD": "x"}}, "env"), ({"tool_count": -1}, "tool_count"), ({"name": ""}, "name")],
)
async def test_bad_server_input_is_refused(
    store: Store, fields: dict[str, Any], field: str
) -> None:
    team = await make_team(store)
    with pytest.raises(ValidationError) as info:
        await new_server(store, team, **fields)
    assert [e["field"] for e in info.value.errors] == [field]
    async with store.session(team_id=team.id) as s:
        assert await s.mcp_servers.count() == 0
