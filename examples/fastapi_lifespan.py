"""The README's FastAPI example with its imports: routes declared at import time, the
store opened in the lifespan (``uvicorn examples.fastapi_lifespan:app``). The test suite
runs it on both backends and type-checks it."""

# No ``from __future__ import annotations``: FastAPI resolves the Annotated alias at import.
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Annotated

from fastapi import Depends, FastAPI

from skillstore import AgentConfigRead, Store, StoreSession

Session = Annotated[StoreSession, Depends(Store.session_dependency())]


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Store]]:
    async with await Store.open() as store:
        yield {"store": store}


app = FastAPI(lifespan=lifespan)


@app.get("/teams/{team_id}/agents")
async def agents(s: Session) -> list[AgentConfigRead]:
    return await s.agents.find()
