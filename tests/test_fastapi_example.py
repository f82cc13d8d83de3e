"""examples/fastapi_app.py end to end over HTTP (httpx's ASGI transport), on both backends."""

# No ``from __future__ import annotations``: FastAPI must resolve the local Annotated aliases.
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI

from examples.fastapi_app import create_app
from skillstore import AgentConfig, Store, StoreSession
from tests.factories import agent_data, count_rows, make_team


@pytest.fixture
async def client(embedding_store: Store) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=create_app(embedding_store))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        yield client


async def test_agents_crud_over_http(client: httpx.AsyncClient, embedding_store: Store) -> None:
    team = await make_team(embedding_store)
    base, author = f"/teams/{team.id}/agents", {"X-User-Id": str(team.owner_id)}
    created = await client.post(base, json=agent_data(name="Kyra"), headers=author)
    assert created.status_code == 201, created.text
    agent = created.json()
    assert agent["name"] == "Kyra"
    assert agent["team_id"] == str(team.id)

    listed = await client.get(base)
    assert [a["id"] for a in listed.json()] == [agent["id"]]
    assert (await client.get(f"{base}/{agent['id']}")).json()["slug"] == agent["slug"]

    patched = await client.patch(
        f"{base}/{agent['id']}", json={"tagline": "helps"}, params={"expected_version": 1}
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["tagline"] == "helps"
    stale = await client.patch(
        f"{base}/{agent['id']}", json={"tagline": "again"}, params={"expected_version": 1}
    )
    assert stale.status_code == 409
    assert stale.json()["error"] == "ConcurrentUpdateError"

    assert (await client.delete(f"{base}/{agent['id']}")).status_code == 204
    assert (await client.get(f"{base}/{agent['id']}")).status_code == 404
    assert (await client.delete(f"{base}/{agent['id']}")).status_code == 404


async def test_errors_map_to_http_statuses_and_store_nothing(
    client: httpx.AsyncClient, embedding_store: Store
) -> None:
    team, other = await make_team(embedding_store), await make_team(embedding_store)
    base, author = f"/teams/{team.id}/agents", {"X-User-Id": str(team.owner_id)}
    first = await client.post(base, json=agent_data(slug="kyra"), headers=author)
    assert first.status_code == 201
    before = await count_rows(embedding_store, AgentConfig)

    duplicate = await client.post(base, json=agent_data(slug="kyra"), headers=author)
    assert duplicate.status_code == 409
    assert "slug" in duplicate.json()["detail"]

    invalid = await client.post(base, json=agent_data(slug="Not A Slug"), headers=author)
    assert invalid.status_code == 422
    assert "slug" in invalid.text

    elsewhere = await client.get(f"/teams/{other.id}/agents/{first.json()['id']}")
    assert elsewhere.status_code == 404
    assert await count_rows(embedding_store, AgentConfig) == before


async def test_memory_search_over_http(client: httpx.AsyncClient, embedding_store: Store) -> None:
    team = await make_team(embedding_store)
    base = f"/teams/{team.id}/memories"
    for content in ("Dana prefers email", "deploys happen on Tuesdays", "the invoice was late"):
        response = await client.post(base, json={"content": content, "memory_type": "semantic"})
        assert response.status_code == 201, response.text
    hits = await client.get(f"{base}/search", params={"q": "when do deploys happen", "k": 2})
    assert hits.status_code == 200
    assert hits.json()[0]["memory"]["content"] == "deploys happen on Tuesdays"
    assert 0 < hits.json()[0]["similarity"] <= 1

    bad = await client.post(
        base, json={"content": "x", "memory_type": "semantic", "importance": 11}
    )
    assert bad.status_code == 422


async def test_a_failing_endpoint_rolls_its_session_back(embedding_store: Store) -> None:
    team = await make_team(embedding_store)
    app = FastAPI()

    Session = Annotated[StoreSession, Depends(embedding_store.session_dependency())]

    @app.post("/teams/{team_id}/boom")
    async def boom(s: Session) -> None:
        await s.agents.create(agent_data(), created_by=team.owner_id)
        raise RuntimeError("after the write")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        assert (await client.post(f"/teams/{team.id}/boom")).status_code == 500
    assert await count_rows(embedding_store, AgentConfig) == 0


async def test_session_dependency_reads_the_team_from_a_header(embedding_store: Store) -> None:
    team = await make_team(embedding_store)
    app = FastAPI()
    dependency = embedding_store.session_dependency(team_from="header", name="X-Team-Id")
    Session = Annotated[StoreSession, Depends(dependency)]

    @app.get("/whoami")
    async def whoami(s: Session) -> str:
        return str(s.team_id)

    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        ok = await client.get("/whoami", headers={"X-Team-Id": str(team.id)})
        assert ok.json() == str(team.id)
        missing = await client.get("/whoami")
        assert missing.status_code == 422
        bad = await client.get("/whoami", headers={"X-Team-Id": "not-a-uuid"})
        assert bad.status_code == 422
    assert uuid.UUID(ok.json()) == team.id
