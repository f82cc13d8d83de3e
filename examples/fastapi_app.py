"""A FastAPI service on skillstore: agents CRUD and memory search, per team.

Run it (with ``pip install 'skillstore[fastapi,openai]' uvicorn``)::

    skillstore db upgrade
    uvicorn examples.fastapi_app:app

Each request gets one `StoreSession` scoped to the ``{team_id}`` in its path; it commits
when the endpoint returns and rolls back if it raises. skillstore's errors map to HTTP:
`NotFoundError` → 404, `ConflictError` / `ConcurrentUpdateError` /
`InvalidTransitionError` → 409, `ValidationError` (and `EmbeddingError`) → 422. Who may
act for which team is this application's job (an auth dependency); here the acting user
comes from an ``X-User-Id`` header to keep the example short.
"""

# No ``from __future__ import annotations``: FastAPI must see the Annotated dependencies
# declared inside create_app, which a string annotation would hide from it.
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI, Header, Request, Response
from fastapi.responses import JSONResponse

from skillstore import (
    AgentConfigCreate,
    AgentConfigRead,
    AgentConfigUpdate,
    ConcurrentUpdateError,
    ConflictError,
    HashingEmbedder,
    InvalidTransitionError,
    MemoryCreate,
    MemoryHit,
    MemoryRead,
    NotFoundError,
    SkillstoreError,
    Store,
    StoreSession,
    StoreSettings,
    ValidationError,
)

STATUS = {
    NotFoundError: 404,
    ConflictError: 409,
    ConcurrentUpdateError: 409,
    InvalidTransitionError: 409,
    ValidationError: 422,
}


async def skillstore_error(request: Request, exc: Exception) -> JSONResponse:
    """Answer a `SkillstoreError` with its status and its message (which never holds secrets)."""
    status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 500)
    return JSONResponse({"detail": str(exc), "error": type(exc).__name__}, status_code=status)


def create_app(store: Store) -> FastAPI:
    """The application, on an open ``store`` (tests pass theirs; `app` opens one)."""
    app = FastAPI(title="skillstore example")
    app.add_exception_handler(SkillstoreError, skillstore_error)
    Session = Annotated[StoreSession, Depends(store.session_dependency())]
    UserId = Annotated[uuid.UUID, Header(alias="X-User-Id")]

    @app.post("/teams/{team_id}/agents", status_code=201)
    async def create_agent(s: Session, data: AgentConfigCreate, user_id: UserId) -> AgentConfigRead:
        return await s.agents.create(data, created_by=user_id)

    @app.get("/teams/{team_id}/agents")
    async def list_agents(s: Session, limit: int = 50, offset: int = 0) -> list[AgentConfigRead]:
        return await s.agents.find(limit=limit, offset=offset)

    @app.get("/teams/{team_id}/agents/{agent_id}")
    async def get_agent(s: Session, agent_id: uuid.UUID) -> AgentConfigRead:
        agent = await s.agents.get(agent_id)
        if agent is None:
            raise NotFoundError(f"agent {agent_id} not found in this team")
        return agent

    @app.patch("/teams/{team_id}/agents/{agent_id}")
    async def update_agent(
        s: Session,
        agent_id: uuid.UUID,
        data: AgentConfigUpdate,
        expected_version: int | None = None,
    ) -> AgentConfigRead:
        return await s.agents.update(agent_id, data, expected_version=expected_version)

    @app.delete("/teams/{team_id}/agents/{agent_id}", status_code=204)
    async def delete_agent(s: Session, agent_id: uuid.UUID) -> Response:
        if not await s.agents.delete(agent_id):
            raise NotFoundError(f"agent {agent_id} not found in this team")
        return Response(status_code=204)

    @app.post("/teams/{team_id}/memories", status_code=201)
    async def add_memory(s: Session, data: MemoryCreate) -> MemoryRead:
        return await s.memories.add(data)

    @app.get("/teams/{team_id}/memories/search")
    async def search_memories(
        s: Session, q: str, k: int = 10, agent_id: uuid.UUID | None = None
    ) -> list[MemoryHit]:
        return await s.memories.search_text(q, k=k, agent_id=agent_id)

    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    settings = StoreSettings()
    # The local hashing embedder keeps the example self-contained; with
    # SKILLSTORE_EMBEDDING_API_KEY set, Store.open() uses the OpenAI-compatible one instead.
    embedder = (
        None if settings.embedding_api_key else HashingEmbedder(settings.embedding_dimensions)
    )
    store = await Store.open(settings=settings, embedder=embedder)
    app.mount("/", create_app(store))
    yield
    await store.close()


app = FastAPI(lifespan=_lifespan)
"""The ASGI application for ``uvicorn examples.fastapi_app:app`` (store from SKILLSTORE_*)."""
