"""examples/fastapi_app.py end to end over HTTP (httpx's ASGI transport), on both backends."""

# No ``from __future__ import annotations``: FastAPI must resolve the local Annotated aliases.
import uuid
from collections.abc import AsyncIterator
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient

from examples import fastapi_app as example
from examples.fastapi_app import create_app
from skillstore import AgentConfig, SkillstoreError, Store, StoreSession
from tests.backends import TEST_DIMENSIONS, TEST_KEY, Backend
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


@pytest.fixture
async def migrated_url(backend: Backend) -> str:
    return await backend.migrated_url()


def test_routes_declared_at_import_find_the_store_opened_in_the_lifespan(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SKILLSTORE_DATABASE_URL", migrated_url)
    monkeypatch.setenv("SKILLSTORE_ENCRYPTION_KEYS", TEST_KEY)
    monkeypatch.setenv("SKILLSTORE_EMBEDDING_DIMENSIONS", str(TEST_DIMENSIONS))
    monkeypatch.setenv("SKILLSTORE_BCRYPT_ROUNDS", "4")
    paths = set(example.app.openapi()["paths"])
    assert {"/users", "/teams", "/teams/{team_id}/agents", "/teams/{team_id}/members"} <= paths
    with TestClient(example.create_app()) as client:  # runs the lifespan: Store.open from env
        user = client.post(
            "/users",
            json={"email": "ada@example.com", "display_name": "Ada", "password": "correct-horse-1"},
        )
        assert user.status_code == 201, user.text
        assert "password" not in user.json()
        owner = {"X-User-Id": user.json()["id"]}
        team = client.post("/teams", json={"name": "Ada's", "slug": "adas"}, headers=owner)
        assert team.status_code == 201, team.text
        team_id = team.json()["id"]
        friend = client.post(
            "/users",
            json={"email": "bo@example.com", "display_name": "Bo", "password": "correct-horse-2"},
        ).json()
        added = client.post(
            f"/teams/{team_id}/members", json={"user_id": friend["id"]}, headers=owner
        )
        assert added.status_code == 201, added.text
        roles = {m["user_id"]: m["role"] for m in client.get(f"/teams/{team_id}/members").json()}
        assert roles == {user.json()["id"]: "owner", friend["id"]: "member"}
        agent = client.post(f"/teams/{team_id}/agents", json=agent_data(), headers=owner)
        assert agent.status_code == 201, agent.text
        assert client.get(f"/teams/{team_id}/agents").json()[0]["id"] == agent.json()["id"]


def test_a_request_without_an_open_store_says_how_to_provide_one() -> None:
    app = FastAPI()
    app.add_exception_handler(SkillstoreError, example.skillstore_error)
    app.include_router(example.router)
    with TestClient(app) as client:
        response = client.get(f"/teams/{uuid.uuid4()}/agents")
    assert response.status_code == 500
    assert "yield {'store': store} from the app's lifespan" in response.json()["detail"]


async def test_422s_point_at_each_field(client: httpx.AsyncClient, embedding_store: Store) -> None:
    team = await make_team(embedding_store)
    base, author = f"/teams/{team.id}/agents", {"X-User-Id": str(team.owner_id)}
    unknown = await client.post(base, json={**agent_data(), "nmae": "x"}, headers=author)
    assert unknown.status_code == 422
    assert ["body", "nmae"] in [e["loc"] for e in unknown.json()["detail"]]
    short = await client.post(
        "/users", json={"email": "not-an-email", "display_name": "", "password": "x"}
    )
    assert short.status_code == 422
    locs = [e["loc"] for e in short.json()["detail"]]
    assert ["body", "email"] in locs
    assert ["body", "display_name"] in locs
    assert ["body", "password"] in locs
    assert "not-an-email" not in short.text  # the input (a password, often) is not echoed
    no_owner = await client.post("/teams", json={"name": "t", "slug": "t"})
    assert no_owner.status_code == 422  # the X-User-Id header is required
    assert ["header", "X-User-Id"] in [e["loc"] for e in no_owner.json()["detail"]]


def test_the_readme_app_opens_its_store_in_the_lifespan(
    migrated_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from examples import fastapi_lifespan

    monkeypatch.setenv("SKILLSTORE_DATABASE_URL", migrated_url)
    monkeypatch.setenv("SKILLSTORE_EMBEDDING_DIMENSIONS", str(TEST_DIMENSIONS))
    assert "/teams/{team_id}/agents" in fastapi_lifespan.app.openapi()["paths"]
    with TestClient(fastapi_lifespan.app) as client:  # runs the lifespan, as uvicorn does
        response = client.get(f"/teams/{uuid.uuid4()}/agents")
        assert (response.status_code, response.json()) == (200, [])
        assert client.get("/teams/not-a-uuid/agents").status_code == 422
