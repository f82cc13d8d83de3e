"""`Store.session_dependency`: a `StoreSession` per request, for FastAPI's ``Depends``.

The dependency is an async generator: the session opens before the endpoint runs,
commits after it returns and rolls back if it raises, so one request is one unit of
work. The team comes from a path parameter (``/teams/{team_id}/...``, the default) or
a header (e.g. ``X-Team-Id``), or there is none (a global session). It is a plain
parameter on purpose: *which* teams a caller may use is the application's
authorisation, checked in its own dependency, not something a persistence library
can know. FastAPI is imported only when a dependency is built, so ``import
skillstore`` never needs it.

Routes are declared when a module is imported, and the store is opened in the app's
lifespan, later. So the dependency can be built on the class, ``Store.session_dependency()``,
and then finds the store per request: in the lifespan state (``yield {"store": store}``,
which Starlette copies into ``request.state``) or on ``app.state.store``. Built on an
open store, ``store.session_dependency()`` uses that one.
"""

from __future__ import annotations

import inspect
import uuid
from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any, Literal, Protocol

from skillstore.errors import SkillstoreError

if TYPE_CHECKING:
    from skillstore.store import Store, StoreSession

TeamSource = Literal["path", "header", "none"]
Dependency = Callable[..., AsyncIterator["StoreSession"]]


class DependencyFactory(Protocol):
    """What ``Store.session_dependency`` is, on the class and on an instance."""

    def __call__(
        self, *, team_from: TeamSource = "path", name: str = "team_id", state_key: str = "store"
    ) -> Dependency: ...


class SessionDependency:
    """The descriptor behind ``Store.session_dependency``: bound to a store when read from
    one, looking the store up per request when read from the class."""

    def __get__(self, instance: Store | None, owner: type[Store]) -> DependencyFactory:
        def factory(
            *, team_from: TeamSource = "path", name: str = "team_id", state_key: str = "store"
        ) -> Dependency:
            return session_dependency(instance, team_from=team_from, name=name, state_key=state_key)

        factory.__doc__ = SESSION_DEPENDENCY_DOC
        return factory


SESSION_DEPENDENCY_DOC = """A FastAPI dependency: one `StoreSession` per request (needs fastapi).

The session commits after the endpoint returns and rolls back if it raises.
``team_from`` says where the team id is read: the path parameter ``name``
(``/teams/{team_id}/agents``), the header ``name`` (e.g. ``"X-Team-Id"``), or
``"none"`` for a global session. Check that the caller may use that team in your
own dependency; the store only scopes to it. Called on the class
(``Store.session_dependency()``), the store is found per request under
``state_key`` in the lifespan state or on ``app.state``.

Example::

    Session = Annotated[StoreSession, Depends(Store.session_dependency())]

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, Store]]:
        async with await Store.open() as store:
            yield {"store": store}

    @app.get("/teams/{team_id}/agents")
    async def agents(s: Session) -> list[AgentConfigRead]:
        return await s.agents.find()
"""


def session_dependency(
    store: Store | None, *, team_from: TeamSource, name: str, state_key: str
) -> Dependency:
    """Build the dependency; see `Store.session_dependency`."""
    from fastapi import Header, Path, Request

    async def dependency(request: Request, **params: Any) -> AsyncIterator[StoreSession]:
        team_id: uuid.UUID | None = params.get("team_id")
        async with _store_of(request, state_key, store).session(team_id=team_id) as session:
            yield session

    parameters = [
        inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=Request)
    ]
    if team_from != "none":
        default = Path(alias=name) if team_from == "path" else Header(alias=name)
        parameters.append(
            inspect.Parameter(
                "team_id", inspect.Parameter.KEYWORD_ONLY, default=default, annotation=uuid.UUID
            )
        )
    # FastAPI reads the parameters it must resolve from the signature.
    dependency.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    return dependency


def _store_of(request: Any, key: str, bound: Store | None) -> Store:
    from skillstore.store import Store

    if bound is not None:
        return bound
    for state in (request.state, request.app.state):
        found = getattr(state, key, None)
        if isinstance(found, Store):
            return found
    raise SkillstoreError(
        f"no open Store for this request: yield {{{key!r}: store}} from the app's lifespan, "
        f"or set app.state.{key} = store (or build the dependency on an open store)"
    )
