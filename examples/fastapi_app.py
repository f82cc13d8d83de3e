"""A FastAPI service on skillstore: sign-up, teams, agents CRUD and memory search.

Run it (from a checkout: ``pip install '.[fastapi,openai]' uvicorn``)::

    skillstore db upgrade
    uvicorn examples.fastapi_app:app

Routes are declared at import time, as FastAPI applications are written; the store is
opened in the lifespan and handed to the routes through the lifespan state, where
``Store.session_dependency()`` finds it. Each request gets one `StoreSession` scoped to
the ``{team_id}`` in its path; it commits when the endpoint returns and rolls back if it
raises. skillstore's errors map to HTTP: `NotFoundError` → 404, `ConflictError` /
`ConcurrentUpdateError` / `InvalidTransitionError` → 409, `ValidationError` (and
`EmbeddingError`) → 422 with one ``loc`` per field, as FastAPI's own 422s. Who may act
for which team is this application's job (an auth dependency); here the acting user
comes from an ``X-User-Id`` header to keep the example short.
"""

# No ``from __future__ import annotations``: FastAPI must see the Annotated dependencies.
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Header, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel

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
    TeamCreate,
    TeamMembershipRead,
    TeamRead,
    UserCreate,
    UserRead,
    UserRole,
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
    """Answer a `SkillstoreError` with its status and its message (which never holds secrets).

    A `ValidationError` lists each field as FastAPI's own 422s do (``loc``, ``msg``)."""
    status = next((code for kind, code in STATUS.items() if isinstance(exc, kind)), 500)
    body: dict[str, object] = {"detail": str(exc), "error": type(exc).__name__}
    if isinstance(exc, ValidationError) and exc.errors:
        body["detail"] = [
            {"loc": ["body", *str(e["field"]).split(".")], "msg": e["message"]} for e in exc.errors
        ]
    return JSONResponse(body, status_code=status)


async def request_invalid(request: Request, exc: Exception) -> JSONResponse:
    """FastAPI's 422, with one ``loc`` per field and without echoing the input.

    skillstore's input models raise its `ValidationError` (a `ValueError` listing every
    field) from inside Pydantic, so FastAPI sees one error at the body; it is expanded
    here. The input is left out: a sign-up body holds a password."""
    assert isinstance(exc, RequestValidationError)
    detail = []
    for error in exc.errors():
        cause = error.get("ctx", {}).get("error")
        fields = cause.errors if isinstance(cause, ValidationError) else []
        for field in fields or [{"field": "", "message": error["msg"]}]:
            path = [part for part in str(field["field"]).split(".") if part]
            detail.append({"loc": [*error["loc"], *path], "msg": field["message"]})
    return JSONResponse({"detail": detail, "error": "ValidationError"}, status_code=422)


Session = Annotated[StoreSession, Depends(Store.session_dependency())]
Global = Annotated[StoreSession, Depends(Store.session_dependency(team_from="none"))]
UserId = Annotated[uuid.UUID, Header(alias="X-User-Id")]
router = APIRouter()


class NewMember(BaseModel, extra="forbid"):
    user_id: uuid.UUID
    role: UserRole = UserRole.MEMBER


@router.post("/users", status_code=201)
async def sign_up(s: Global, data: UserCreate) -> UserRead:
    return await s.users.create(data)


@router.post("/teams", status_code=201)
async def create_team(s: Global, data: TeamCreate, user_id: UserId) -> TeamRead:
    return await s.teams.create(data, owner_id=user_id)


@router.get("/teams/{team_id}/members")
async def list_members(s: Global, team_id: uuid.UUID) -> list[TeamMembershipRead]:
    return await s.teams.members(team_id)


@router.post("/teams/{team_id}/members", status_code=201)
async def add_member(
    s: Global, team_id: uuid.UUID, data: NewMember, user_id: UserId
) -> TeamMembershipRead:
    return await s.teams.add_member(team_id, data.user_id, data.role, actor_id=user_id)


@router.post("/teams/{team_id}/agents", status_code=201)
async def create_agent(s: Session, data: AgentConfigCreate, user_id: UserId) -> AgentConfigRead:
    return await s.agents.create(data, created_by=user_id)


@router.get("/teams/{team_id}/agents")
async def list_agents(s: Session, limit: int = 50, offset: int = 0) -> list[AgentConfigRead]:
    return await s.agents.find(limit=limit, offset=offset)


@router.get("/teams/{team_id}/agents/{agent_id}")
async def get_agent(s: Session, agent_id: uuid.UUID) -> AgentConfigRead:
    agent = await s.agents.get(agent_id)
    if agent is None:
        raise NotFoundError(f"agent {agent_id} not found in this team")
    return agent


@router.patch("/teams/{team_id}/agents/{agent_id}")
async def update_agent(
    s: Session, agent_id: uuid.UUID, data: AgentConfigUpdate, expected_version: int | None = None
) -> AgentConfigRead:
    return await s.agents.update(agent_id, data, expected_version=expected_version)


@router.delete("/teams/{team_id}/agents/{agent_id}", status_code=204)
async def delete_agent(s: Session, agent_id: uuid.UUID) -> Response:
    if not await s.agents.delete(agent_id):
        raise NotFoundError(f"agent {agent_id} not found in this team")
    return Response(status_code=204)


@router.post("/teams/{team_id}/memories", status_code=201)
async def add_memory(s: Session, data: MemoryCreate) -> MemoryRead:
    return await s.memories.add(data)


@router.get("/teams/{team_id}/memories/search")
async def search_memories(
    s: Session, q: str, k: int = 10, agent_id: uuid.UUID | None = None
) -> list[MemoryHit]:
    return await s.memories.search_text(q, k=k, agent_id=agent_id)


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Store]]:
    """Open the store from ``SKILLSTORE_*`` for the app's life; routes find it in the state."""
    settings = StoreSettings()
    # The local hashing embedder keeps the example self-contained; with
    # SKILLSTORE_EMBEDDING_API_KEY set, Store.open() uses the OpenAI-compatible one instead.
    embedder = (
        None if settings.embedding_api_key else HashingEmbedder(settings.embedding_dimensions)
    )
    async with await Store.open(settings=settings, embedder=embedder) as store:
        yield {"store": store}


def create_app(store: Store | None = None) -> FastAPI:
    """The application: on ``store`` when given (tests pass theirs), else opened in the
    lifespan from the environment."""
    app = FastAPI(title="skillstore example", lifespan=None if store else lifespan)
    if store is not None:
        app.state.store = store
    app.add_exception_handler(SkillstoreError, skillstore_error)
    app.add_exception_handler(RequestValidationError, request_invalid)
    app.include_router(router)
    return app


app = create_app()
"""The ASGI application for ``uvicorn examples.fastapi_app:app`` (store from SKILLSTORE_*)."""
